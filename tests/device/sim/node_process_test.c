/*
 * Host-only test of the tinyfleet-node executable: started with --stdio it
 * answers HELLO (after garbage) and PING on its stdout and exits at end of
 * input; restarted on the same state directory it keeps its hardware id; a
 * new directory gives a new one; bad flags exit with status 2 and a message;
 * with --listen 127.0.0.1:0 it prints its port and serves one TCP connection
 * after another until SIGTERM.
 * Usage: test_node_process <tinyfleet-node> <scratch directory>
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "link/tn_link.h"
#include "node_runner.h"
#include "tn_test.h"

static const char* g_node;
static char g_dir_a[512];
static char g_dir_b[512];

typedef node_run_result run_result;

/* Runs the node with `args` (NULL-terminated, after argv[0]), feeding
 * `input` on stdin (see node_run). */
static void run_node(const char* const* args, const uint8_t* input,
                     size_t input_len, run_result* r) {
  TN_REQUIRE(node_run(g_node, args, input, input_len, r) == 0);
}

/* Appends an encoded request frame to buf at *len. */
static void append_frame(uint8_t* buf, size_t* len, uint8_t type, uint16_t seq,
                         const uint8_t* p, size_t n) {
  tn_link_frame f = {type, 0, seq, (uint16_t)n, p, 0};
  size_t w = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, buf + *len, 256, &w), TN_OK);
  *len += w;
}

static size_t hello_request(uint8_t* buf, uint16_t seq) {
  const uint8_t h[3] = {TN_LINK_VERSION, 0x00, 0x04};
  size_t len = 0;
  append_frame(buf, &len, TN_LINK_MSG_HELLO, seq, h, 3);
  return len;
}

/* Decodes every frame in out; copies the HELLO reply (if any) into *reply
 * and returns the number of frames. */
static size_t parse_responses(const uint8_t* out, size_t len,
                              tn_link_hello_reply* reply, uint8_t* types,
                              uint16_t* seqs, size_t max) {
  static tn_link_decoder dec;
  tn_link_decoder_init(&dec);
  size_t count = 0;
  while (len > 0) {
    size_t used = 0;
    const tn_link_frame* f = NULL;
    TN_CHECK_STATUS(tn_link_decoder_feed(&dec, out, len, &used, &f), TN_OK);
    if (used == 0) break;
    out += used;
    len -= used;
    if (f == NULL) continue;
    if (count < max) {
      types[count] = f->type;
      seqs[count] = f->seq;
    }
    ++count;
    if (f->type == TN_LINK_MSG_HELLO_REPLY && reply != NULL) {
      TN_CHECK_STATUS(
          tn_link_hello_reply_decode(f->payload, f->payload_len, reply), TN_OK);
    }
  }
  return count;
}

TN_TEST(stdio_hello_identity_and_restart) {
  static run_result r;
  uint8_t input[512];
  size_t len = 0;
  const char* junk = "\x55\xAA garbage";
  memcpy(input, junk, strlen(junk));
  len += strlen(junk);
  len += hello_request(input + len, 40);
  const uint8_t ping[4] = {1, 2, 3, 4};
  append_frame(input, &len, TN_LINK_MSG_PING, 41, ping, 4);

  const char* args1[] = {"--state-dir", g_dir_a,   "--profile",
                         "gap9",        "--stdio", NULL};
  run_node(args1, input, len, &r);
  TN_CHECK_EQ(r.exit_code, 0);
  tn_link_hello_reply first;
  memset(&first, 0, sizeof(first));
  uint8_t types[4];
  uint16_t seqs[4];
  size_t n = parse_responses(r.out, r.out_len, &first, types, seqs, 4);
  TN_REQUIRE(n == 2);
  TN_CHECK_EQ(types[0], TN_LINK_MSG_HELLO_REPLY);
  TN_CHECK_EQ(seqs[0], 40);
  TN_CHECK_EQ(types[1], TN_LINK_MSG_PONG);
  TN_CHECK_EQ(seqs[1], 41);
  TN_CHECK_EQ(first.target, TN_TARGET_GAP9);
  TN_CHECK_EQ(first.slot_count, 2);
  TN_CHECK(strlen(first.firmware_version) > 0);
  TN_CHECK(strstr(r.err, "boot 1") != NULL);

  /* The identity file exists in the state directory. */
  char path[600];
  snprintf(path, sizeof(path), "%s/identity.bin", g_dir_a);
  struct stat st;
  TN_CHECK_EQ(stat(path, &st), 0);

  /* Restart on the same directory: same id, the profile as now given. */
  const char* args2[] = {"--stdio", "--state-dir", g_dir_a, NULL};
  len = hello_request(input, 1);
  run_node(args2, input, len, &r);
  TN_CHECK_EQ(r.exit_code, 0);
  tn_link_hello_reply second;
  memset(&second, 0, sizeof(second));
  TN_CHECK_EQ(parse_responses(r.out, r.out_len, &second, types, seqs, 4), 1);
  TN_CHECK(memcmp(first.hardware_id, second.hardware_id, 16) == 0);
  TN_CHECK_EQ(second.target, TN_TARGET_HOST);
  TN_CHECK(strstr(r.err, "boot 2") != NULL);

  /* Another directory: another node. */
  const char* args3[] = {"--state-dir",        g_dir_b,    "--stdio",
                         "--firmware-version", "fw-b 9.9", NULL};
  run_node(args3, input, len, &r);
  TN_CHECK_EQ(r.exit_code, 0);
  tn_link_hello_reply third;
  memset(&third, 0, sizeof(third));
  TN_CHECK_EQ(parse_responses(r.out, r.out_len, &third, types, seqs, 4), 1);
  TN_CHECK(memcmp(first.hardware_id, third.hardware_id, 16) != 0);
  TN_CHECK(strcmp(third.firmware_version, "fw-b 9.9") == 0);
}

TN_TEST(bad_flags_exit_with_usage_errors) {
  static run_result r;
  struct {
    const char* args[8];
    const char* message;
  } cases[] = {
      {{"--stdio", NULL}, "--state-dir is required"},
      {{"--state-dir", g_dir_a, NULL}, "exactly one of --stdio and --listen"},
      {{"--state-dir", g_dir_a, "--stdio", "--listen", "127.0.0.1:0", NULL},
       "exactly one of --stdio and --listen"},
      {{"--state-dir", g_dir_a, "--stdio", "--profile", "gap7", NULL},
       "--profile must be gap8, gap9 or host"},
      {{"--state-dir", g_dir_a, "--listen", "localhost", NULL},
       "--listen wants HOST:PORT"},
      {{"--state-dir", g_dir_a, "--listen", "127.0.0.1:70000", NULL},
       "--listen wants HOST:PORT"},
      {{"--state-dir", g_dir_a, "--stdio", "--firmware-version", "", NULL},
       "--firmware-version must be"},
      {{"--state-dir", g_dir_a, "--stdio", "--bogus", NULL},
       "unknown argument '--bogus'"},
      {{"--state-dir", NULL}, "--state-dir needs a value"},
  };
  for (size_t i = 0; i < TN_ARRAY_SIZE(cases); ++i) {
    run_node(cases[i].args, NULL, 0, &r);
    TN_CHECK_EQ(r.exit_code, 2);
    TN_CHECK_EQ(r.out_len, 0);
    if (strstr(r.err, cases[i].message) == NULL) {
      printf("  case %lu: stderr was: %s\n", (unsigned long)i, r.err);
      TN_CHECK(strstr(r.err, cases[i].message) != NULL);
    }
  }
}

/* Sends a HELLO on a fresh TCP connection to port and returns its reply. */
static void tcp_hello(unsigned port, uint16_t seq, tn_link_hello_reply* reply) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  TN_REQUIRE(fd >= 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    close(fd);
    TN_REQUIRE(0);
  }
  uint8_t req[64];
  size_t len = hello_request(req, seq);
  TN_CHECK_EQ(write(fd, req, len), (ssize_t)len);
  static tn_link_decoder dec;
  tn_link_decoder_init(&dec);
  int got = 0;
  while (!got) {
    uint8_t buf[512];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    size_t off = 0;
    while (off < (size_t)n) {
      size_t used = 0;
      const tn_link_frame* f = NULL;
      TN_CHECK_STATUS(
          tn_link_decoder_feed(&dec, buf + off, (size_t)n - off, &used, &f),
          TN_OK);
      off += used;
      if (f != NULL) {
        TN_CHECK_EQ(f->type, TN_LINK_MSG_HELLO_REPLY);
        TN_CHECK_EQ(f->seq, seq);
        TN_CHECK_STATUS(
            tn_link_hello_reply_decode(f->payload, f->payload_len, reply),
            TN_OK);
        got = 1;
      }
    }
  }
  TN_CHECK(got);
  close(fd);
}

TN_TEST(tcp_listen_serves_connections_in_turn) {
  int out_pipe[2];
  TN_REQUIRE(pipe(out_pipe) == 0);
  pid_t pid = fork();
  TN_REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    close(out_pipe[0]);
    execl(g_node, g_node, "--state-dir", g_dir_a, "--profile", "gap8",
          "--listen", "127.0.0.1:0", (char*)NULL);
    _exit(127);
  }
  close(out_pipe[1]);
  /* The first line on stdout is the bound port. */
  char line[32];
  size_t n = 0;
  while (n + 1 < sizeof(line)) {
    char c;
    if (read(out_pipe[0], &c, 1) != 1 || c == '\n') break;
    line[n++] = c;
  }
  line[n] = '\0';
  unsigned port = (unsigned)strtoul(line, NULL, 10);
  TN_CHECK(port > 0 && port < 65536);
  if (port > 0 && port < 65536) {
    tn_link_hello_reply a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    tcp_hello(port, 1, &a);
    tcp_hello(port, 2, &b); /* the next connection, after the first closed */
    TN_CHECK_EQ(a.target, TN_TARGET_GAP8);
    TN_CHECK(memcmp(a.hardware_id, b.hardware_id, 16) == 0);
    TN_CHECK(a.hardware_id[0] != 0 || a.hardware_id[1] != 0 ||
             a.hardware_id[2] != 0 || a.hardware_id[3] != 0);
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  TN_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(out_pipe[0]);
}

/* Removes the state the node wrote (known file names only). */
static void remove_state(const char* dir) {
  static const char* const kFiles[] = {"identity.bin", "slots.bin", "boot.bin"};
  char path[600];
  for (size_t i = 0; i < TN_ARRAY_SIZE(kFiles); ++i) {
    snprintf(path, sizeof(path), "%s/%s", dir, kFiles[i]);
    unlink(path);
  }
  rmdir(dir);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <tinyfleet-node> <scratch dir>\n", argv[0]);
    return 2;
  }
  g_node = argv[1];
  mkdir(argv[2], 0700);
  char base[400];
  snprintf(base, sizeof(base), "%s/nodeXXXXXX", argv[2]);
  if (mkdtemp(base) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(g_dir_a, sizeof(g_dir_a), "%s/a", base);
  snprintf(g_dir_b, sizeof(g_dir_b), "%s/b", base);
  signal(SIGPIPE, SIG_IGN);
  static const tn_test_case cases[] = {
      TN_CASE(stdio_hello_identity_and_restart),
      TN_CASE(bad_flags_exit_with_usage_errors),
      TN_CASE(tcp_listen_serves_connections_in_turn),
  };
  int rc = tn_test_main(cases, TN_ARRAY_SIZE(cases));
  remove_state(g_dir_a);
  remove_state(g_dir_b);
  rmdir(base);
  return rc;
}
