/*
 * Host-only test of sealed telemetry from the tinyfleet-node executable over
 * TCP, the test playing agent and gateway: the node reports its public key,
 * takes the gateway key and device id, then sends TELEMETRY requests that
 * the gateway side opens; restarted on the same state directory it still
 * holds both keys and continues its record counter after the block reserved
 * before the restart. The waits for the node's frames are bounded only to
 * end a hung run; no assertion depends on timing.
 * Usage: test_node_telemetry_process <tinyfleet-node> <scratch directory>
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
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
#include "secure/tn_secure.h"
#include "telemetry/tn_telemetry.h"
#include "tn_test.h"

static const char* g_node;
static char g_dir[512];

static const char kDeviceId[] = "dev-processtest000000001";
static const char kGatewayPrivate[] =
    "45f1a00da462cbec8bbcb5f83c74715c9ae22bb5946112cdc12b42ac39b619b9";
/* Ends a hung run; a healthy node answers in milliseconds. */
#define GIVE_UP_MS 30000

typedef struct node_proc {
  pid_t pid;
  int fd; /* TCP connection */
  tn_link_decoder dec;
  uint8_t buf[4096];
  size_t buf_len;
  size_t buf_pos;
} node_proc;

static void hex(const char* h, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = h[2 * i + (size_t)k];
      v = v * 16u + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
    }
    out[i] = (uint8_t)v;
  }
}

/* Starts the node listening on an ephemeral port and connects to it. */
static int start_node(node_proc* p) {
  memset(p, 0, sizeof(*p));
  int out_pipe[2];
  if (pipe(out_pipe) != 0) return 0;
  p->pid = fork();
  if (p->pid < 0) return 0;
  if (p->pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    close(out_pipe[0]);
    execl(g_node, g_node, "--state-dir", g_dir, "--telemetry-interval-ms",
          "100", "--listen", "127.0.0.1:0", (char*)NULL);
    _exit(127);
  }
  close(out_pipe[1]);
  char line[32];
  size_t n = 0;
  while (n + 1 < sizeof(line)) {
    char c;
    if (read(out_pipe[0], &c, 1) != 1 || c == '\n') break;
    line[n++] = c;
  }
  line[n] = '\0';
  close(out_pipe[0]);
  unsigned port = (unsigned)strtoul(line, NULL, 10);
  if (port == 0 || port > 65535) return 0;
  p->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(p->fd, (const struct sockaddr*)&addr, sizeof(addr)) != 0) {
    return 0;
  }
  tn_link_decoder_init(&p->dec);
  return 1;
}

static void stop_node(node_proc* p) {
  if (p->fd > 0) close(p->fd);
  if (p->pid > 0) {
    kill(p->pid, SIGTERM);
    int status = 0;
    waitpid(p->pid, &status, 0);
    TN_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
}

static void send_frame(node_proc* p, uint8_t type, uint8_t flags, uint16_t seq,
                       const uint8_t* payload, size_t len) {
  uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  size_t n = 0;
  tn_link_frame f = {type, flags, seq, (uint16_t)len, payload, 0};
  TN_CHECK_STATUS(tn_link_frame_encode(&f, wire, sizeof(wire), &n), TN_OK);
  TN_CHECK_EQ(write(p->fd, wire, n), (long long)n);
}

/* Next frame from the node (copied into *f / payload); 0 on end of stream
 * or when nothing arrives within GIVE_UP_MS. */
static int next_frame(node_proc* p, tn_link_frame* f, uint8_t* payload) {
  for (;;) {
    while (p->buf_pos < p->buf_len) {
      size_t used = 0;
      const tn_link_frame* got = NULL;
      tn_status st = tn_link_decoder_feed(&p->dec, p->buf + p->buf_pos,
                                          p->buf_len - p->buf_pos, &used, &got);
      p->buf_pos += used;
      TN_CHECK_STATUS(st, TN_OK);
      if (got != NULL) {
        *f = *got;
        memcpy(payload, got->payload, got->payload_len);
        f->payload = payload;
        return 1;
      }
    }
    struct pollfd pfd = {p->fd, POLLIN, 0};
    if (poll(&pfd, 1, GIVE_UP_MS) <= 0) return 0;
    ssize_t n = read(p->fd, p->buf, sizeof(p->buf));
    if (n <= 0) return 0;
    p->buf_len = (size_t)n;
    p->buf_pos = 0;
  }
}

/* Sends a request and returns its response, skipping the node's own
 * requests that arrive meanwhile (answered with ACK). */
static int call(node_proc* p, uint8_t type, uint8_t flags, uint16_t seq,
                const uint8_t* payload, size_t len, tn_link_frame* resp,
                uint8_t* resp_payload) {
  send_frame(p, type, flags, seq, payload, len);
  for (int i = 0; i < 100; ++i) {
    if (!next_frame(p, resp, resp_payload)) return 0;
    if (resp->flags & TN_LINK_FLAG_RESPONSE) return resp->seq == seq;
  }
  return 0;
}

static void hello(node_proc* p) {
  uint8_t hp[3];
  size_t n = 0;
  tn_link_hello h = {1, 1024};
  TN_CHECK_STATUS(tn_link_hello_encode(&h, hp, sizeof(hp), &n), TN_OK);
  tn_link_frame r;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_REQUIRE(call(p, TN_LINK_MSG_HELLO, 0, 1, hp, n, &r, rp));
  TN_CHECK_EQ(r.type, TN_LINK_MSG_HELLO_REPLY);
  tn_link_hello_reply reply;
  TN_CHECK_STATUS(tn_link_hello_reply_decode(r.payload, r.payload_len, &reply),
                  TN_OK);
  TN_CHECK(reply.capabilities & TN_LINK_CAP_TELEMETRY);
}

static void key_info(node_proc* p, uint16_t seq, tn_link_key_info_reply* out) {
  tn_link_frame r;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  memset(out, 0, sizeof(*out));
  TN_REQUIRE(call(p, TN_LINK_MSG_KEY_INFO, 0, seq, NULL, 0, &r, rp));
  TN_CHECK_EQ(r.type, TN_LINK_MSG_KEY_INFO_REPLY);
  TN_CHECK_STATUS(tn_link_key_info_reply_decode(r.payload, r.payload_len, out),
                  TN_OK);
}

/* Waits for a TELEMETRY request, ACKs it, opens it; returns its counter. */
static uint64_t receive_record(node_proc* p, const tn_seal_key* key,
                               tn_telemetry_record* rec) {
  tn_link_frame f;
  uint8_t payload[TN_LINK_MAX_PAYLOAD];
  for (int i = 0; i < 100; ++i) {
    if (!next_frame(p, &f, payload)) return 0;
    if (f.type == TN_LINK_MSG_TELEMETRY) break;
  }
  if (f.type != TN_LINK_MSG_TELEMETRY) return 0;
  TN_CHECK_EQ(f.flags, TN_LINK_FLAG_ACK_REQUESTED);
  tn_link_ack ack = {f.seq, TN_LINK_MSG_TELEMETRY, 0};
  uint8_t ap[5];
  size_t an = 0;
  TN_CHECK_STATUS(tn_link_ack_encode(&ack, ap, sizeof(ap), &an), TN_OK);
  send_frame(p, TN_LINK_MSG_ACK, TN_LINK_FLAG_RESPONSE, f.seq, ap, an);
  tn_link_telemetry m;
  TN_CHECK_STATUS(tn_link_telemetry_decode(f.payload, f.payload_len, &m),
                  TN_OK);
  uint8_t plain[TN_SEAL_MAX_PLAINTEXT];
  size_t plain_len = 0;
  uint64_t counter = 0;
  TN_CHECK_STATUS(tn_seal_open(key, m.record, m.record_len, plain,
                               sizeof(plain), &plain_len, &counter),
                  TN_OK);
  TN_CHECK_EQ(m.record_counter, (uint32_t)counter);
  TN_CHECK_STATUS(tn_telemetry_record_decode(plain, plain_len, rec), TN_OK);
  return counter;
}

TN_TEST(sealed_telemetry_from_the_process) {
  uint8_t gateway_private[32];
  uint8_t gateway_public[65];
  hex(kGatewayPrivate, gateway_private, 32);
  TN_CHECK_STATUS(tn_p256_public_key(gateway_private, gateway_public), TN_OK);

  static node_proc p;
  TN_REQUIRE(start_node(&p));
  hello(&p);
  tn_link_key_info_reply info;
  key_info(&p, 2, &info);
  TN_CHECK_EQ(info.key_state, TN_LINK_KEY_STATE_NONE);
  uint8_t node_public[65];
  memcpy(node_public, info.node_public_key, 65);

  tn_seal_key key;
  TN_CHECK_STATUS(tn_seal_derive_gateway_side(gateway_private, node_public,
                                              (const uint8_t*)kDeviceId,
                                              strlen(kDeviceId), &key),
                  TN_OK);
  tn_link_set_gateway_key m;
  memset(&m, 0, sizeof(m));
  memcpy(m.gateway_public_key, gateway_public, 65);
  strcpy(m.device_id, kDeviceId);
  uint8_t sp[128];
  size_t sn = 0;
  TN_CHECK_STATUS(tn_link_set_gateway_key_encode(&m, sp, sizeof(sp), &sn),
                  TN_OK);
  tn_link_frame r;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_REQUIRE(call(&p, TN_LINK_MSG_SET_GATEWAY_KEY, TN_LINK_FLAG_ACK_REQUESTED,
                  3, sp, sn, &r, rp));
  TN_CHECK_EQ(r.type, TN_LINK_MSG_ACK);

  tn_telemetry_record rec;
  uint64_t first = receive_record(&p, &key, &rec);
  TN_CHECK(first == 1);
  TN_CHECK_EQ(rec.boot_count, 1);
  uint64_t second = receive_record(&p, &key, &rec);
  TN_CHECK(second == 2);
  stop_node(&p);

  /* Restarted: both keys kept, counters continue after the block. */
  TN_REQUIRE(start_node(&p));
  hello(&p);
  key_info(&p, 2, &info);
  TN_CHECK_EQ(info.key_state, TN_LINK_KEY_STATE_SEALING);
  TN_CHECK(memcmp(info.node_public_key, node_public, 65) == 0);
  TN_CHECK(memcmp(info.gateway_key_id, key.key_id, 8) == 0);
  TN_CHECK(strcmp(info.device_id, kDeviceId) == 0);
  uint64_t after = receive_record(&p, &key, &rec);
  TN_CHECK(after == TN_SEAL_COUNTER_BLOCK_DEFAULT + 1u);
  TN_CHECK_EQ(rec.boot_count, 2);
  stop_node(&p);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s tinyfleet-node scratch-dir\n", argv[0]);
    return 2;
  }
  g_node = argv[1];
  mkdir(argv[2], 0700);
  snprintf(g_dir, sizeof(g_dir), "%s/telemetry-%ld", argv[2], (long)getpid());
  signal(SIGPIPE, SIG_IGN);
  static const tn_test_case cases[] = {
      TN_CASE(sealed_telemetry_from_the_process),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
