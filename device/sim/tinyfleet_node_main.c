/*
 * tinyfleet-node: the virtual node as its own process. It keeps its identity
 * in a state directory (created with a random hardware id on the first
 * start, reused afterwards) and speaks the node link either on stdin/stdout
 * or on a TCP listening socket, one connection at a time. When the build has
 * a crypto port it also serves the telemetry key agreement and sends a
 * sealed telemetry record per interval once a gateway key is set. It takes
 * model updates into two slots kept as files in the state directory
 * (slot0.bin, slot1.bin). Given a data shard (--shard FILE --user N, a
 * feature data set and one of its users) it trains the model of its running
 * slot when its agent sends a training job. This file is the only POSIX
 * code of the virtual
 * node: it parses the flags, provides entropy, the monotonic clock, the
 * byte transport and the memory for model updates, and wires them to
 * tn_sim.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "link/tn_link.h"
#include "sim/tn_sim.h"

#define EXIT_USAGE 2
/* How often the node looks at its clock while the link is idle. */
#define TICK_MS 50
/* Model slots: two of a GAP9's size by default. */
#define SLOT_COUNT 2u
#define SLOT_SIZE_MIN 4096u
#define SLOT_SIZE_MAX (16u * 1024u * 1024u)
/* Arena for the self-test of an activated model (a model needing more is
 * refused at MODEL_COMMIT). */
#define MODEL_ARENA_BYTES (4u * 1024u * 1024u)
/* Training: the job's workspace, the largest global tail, the error
 * feedback of sparse updates, and records per user. */
#define TRAIN_WORKSPACE_BYTES (8u * 1024u * 1024u)
#define TRAIN_TAIL_BYTES (1024u * 1024u)
#define TRAIN_RESIDUAL_FLOATS (256u * 1024u)
#define SHARD_MAX_RECORDS 65536u

static volatile sig_atomic_t g_stop = 0;

static void on_stop_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void usage(FILE* out) {
  fprintf(out,
          "usage: tinyfleet-node --state-dir DIR [--profile gap8|gap9|host]\n"
          "                      [--firmware-version TEXT]\n"
          "                      [--telemetry-interval-ms N]\n"
          "                      [--slot-size BYTES]\n"
          "                      [--accept-unsigned-models]\n"
          "                      [--shard FILE.tnfs --user N]\n"
          "                      (--stdio | --listen HOST:PORT)\n"
          "\n"
          "  --state-dir DIR      identity and slot state; created on first "
          "start\n"
          "  --profile P          target profile reported in HELLO (default "
          "host)\n"
          "  --firmware-version T firmware version string (1..32 printable "
          "characters)\n"
          "  --telemetry-interval-ms N\n"
          "                       sealed telemetry reporting interval, "
          "1..86400000 ms\n"
          "                       (default 60000)\n"
          "  --slot-size BYTES    size of each of the two model slots, "
          "4096..16777216\n"
          "                       (default 1048576)\n"
          "  --accept-unsigned-models\n"
          "                       development only: also take model blobs "
          "without a\n"
          "                       signature (signed ones are still "
          "verified)\n"
          "  --shard FILE --user N\n"
          "                       local data for training jobs: the records "
          "of user N\n"
          "                       (split \"users\") of a feature data set; "
          "every 4th is\n"
          "                       held out for evaluation\n"
          "  --stdio              speak the link on stdin/stdout\n"
          "  --listen HOST:PORT   speak the link over TCP, one connection at a "
          "time;\n"
          "                       with port 0 the bound port is printed on "
          "stdout\n");
}

static tn_status urandom_entropy(void* ctx, uint8_t* out, size_t len) {
  (void)ctx;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return TN_ERR_STORAGE;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, out + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return TN_ERR_STORAGE;
    }
    got += (size_t)n;
  }
  close(fd);
  return TN_OK;
}

/* Writes all bytes to the file descriptor in ctx. */
static tn_status fd_write(void* ctx, const uint8_t* data, size_t len) {
  int fd = *(const int*)ctx;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return TN_ERR_STATE;
    done += (size_t)n;
  }
  return TN_OK;
}

/* Milliseconds on the monotonic clock since the first call. */
static uint64_t monotonic_ms(void) {
  static struct timespec start;
  static int started = 0;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (!started) {
    start = now;
    started = 1;
  }
  int64_t ms = (int64_t)(now.tv_sec - start.tv_sec) * 1000 +
               (now.tv_nsec - start.tv_nsec) / 1000000;
  return ms < 0 ? 0 : (uint64_t)ms;
}

/* Gives the node its turn to send its own requests (telemetry). */
static int poll_node(tn_sim_node* node, int out_fd) {
  const uint8_t* frame = NULL;
  size_t len = 0;
  tn_status st = tn_sim_node_poll(node, monotonic_ms(), &frame, &len);
  if (st == TN_OK && len > 0) st = fd_write(&out_fd, frame, len);
  if (st != TN_OK) {
    fprintf(stderr, "tinyfleet-node: telemetry: %s\n", tn_status_str(st));
    return -1;
  }
  return 0;
}

/* Serves the link on in_fd/out_fd until end of input, a write failure or a
 * stop signal, polling the node at least every TICK_MS. Returns 0 at end of
 * input, -1 otherwise. */
static int serve(tn_sim_node* node, tn_link_decoder* dec, int in_fd,
                 int out_fd) {
  uint8_t buf[4096];
  tn_sim_node_link_reset(node);
  tn_link_decoder_init(dec);
  while (!g_stop) {
    if (poll_node(node, out_fd) != 0) return -1;
    struct pollfd pfd = {in_fd, POLLIN, 0};
    int ready = poll(&pfd, 1, tn_sim_node_busy(node) ? 0 : TICK_MS);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      fprintf(stderr, "tinyfleet-node: poll: %s\n", strerror(errno));
      return -1;
    }
    if (ready == 0) continue;
    ssize_t n = read(in_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fprintf(stderr, "tinyfleet-node: read: %s\n", strerror(errno));
      return -1;
    }
    if (n == 0) return 0;
    tn_status st =
        tn_sim_node_receive(node, dec, buf, (size_t)n, fd_write, &out_fd);
    if (st != TN_OK) {
      fprintf(stderr, "tinyfleet-node: link: %s\n", tn_status_str(st));
      return -1;
    }
  }
  return -1;
}

/* Reads a whole file into a new heap buffer (*size bytes); NULL on
 * failure. */
static uint8_t* read_whole_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  uint8_t* buf = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n > 0 && fseek(f, 0, SEEK_SET) == 0) buf = (uint8_t*)malloc((size_t)n);
  if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = buf != NULL ? (size_t)n : 0;
  return buf;
}

/* Parses a decimal count in [lo, hi]; returns 0 on success. */
static int parse_u32(const char* s, uint32_t lo, uint32_t hi, uint32_t* out) {
  size_t n = strlen(s);
  if (n == 0 || n > 10) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10u + (uint64_t)(s[i] - '0');
  }
  if (v < lo || v > hi) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Splits "HOST:PORT" (HOST may be "[v6addr]"). Returns 0 on success. */
static int split_host_port(const char* arg, char* host, size_t host_cap,
                           char* port, size_t port_cap) {
  const char* colon = strrchr(arg, ':');
  if (colon == NULL || colon == arg || colon[1] == '\0') return -1;
  const char* h = arg;
  size_t hlen = (size_t)(colon - arg);
  if (h[0] == '[') {
    if (hlen < 3 || h[hlen - 1] != ']') return -1;
    ++h;
    hlen -= 2;
  }
  const char* p = colon + 1;
  size_t plen = strlen(p);
  if (hlen + 1 > host_cap || plen + 1 > port_cap || plen > 5) return -1;
  unsigned long v = 0;
  for (size_t i = 0; i < plen; ++i) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10u + (unsigned long)(p[i] - '0');
  }
  if (v > 65535u) return -1;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  memcpy(port, p, plen + 1);
  return 0;
}

static int open_listener(const char* host, const char* port,
                         unsigned* bound_port) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* res = NULL;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "tinyfleet-node: cannot resolve %s: %s\n", host,
            gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  int last_errno = 0;
  for (struct addrinfo* ai = res; ai != NULL; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
      break;
    }
    last_errno = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    fprintf(stderr, "tinyfleet-node: cannot listen on %s:%s: %s\n", host, port,
            strerror(last_errno));
    return -1;
  }
  struct sockaddr_storage addr;
  socklen_t addr_len = sizeof(addr);
  if (getsockname(fd, (struct sockaddr*)&addr, &addr_len) != 0) {
    fprintf(stderr, "tinyfleet-node: getsockname: %s\n", strerror(errno));
    close(fd);
    return -1;
  }
  if (addr.ss_family == AF_INET) {
    *bound_port = ntohs(((const struct sockaddr_in*)&addr)->sin_port);
  } else {
    *bound_port = ntohs(((const struct sockaddr_in6*)&addr)->sin6_port);
  }
  return fd;
}

static int ensure_dir(const char* dir) {
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      fprintf(stderr, "tinyfleet-node: --state-dir %s is not a directory\n",
              dir);
      return -1;
    }
    return 0;
  }
  if (errno != ENOENT || mkdir(dir, 0700) != 0) {
    fprintf(stderr, "tinyfleet-node: cannot create --state-dir %s: %s\n", dir,
            strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* state_dir = NULL;
  const char* profile = "host";
  const char* firmware_version = NULL;
  const char* listen_arg = NULL;
  const char* interval_arg = NULL;
  const char* slot_size_arg = NULL;
  const char* shard_path = NULL;
  const char* user_arg = NULL;
  int use_stdio = 0;
  int accept_unsigned = 0;

  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--stdio") == 0) {
      use_stdio = 1;
    } else if (strcmp(a, "--accept-unsigned-models") == 0) {
      accept_unsigned = 1;
    } else if (strcmp(a, "--state-dir") == 0 || strcmp(a, "--profile") == 0 ||
               strcmp(a, "--listen") == 0 ||
               strcmp(a, "--firmware-version") == 0 ||
               strcmp(a, "--telemetry-interval-ms") == 0 ||
               strcmp(a, "--slot-size") == 0 || strcmp(a, "--shard") == 0 ||
               strcmp(a, "--user") == 0) {
      if (!has_value) {
        fprintf(stderr, "tinyfleet-node: %s needs a value\n", a);
        return EXIT_USAGE;
      }
      const char* v = argv[++i];
      if (strcmp(a, "--state-dir") == 0) {
        state_dir = v;
      } else if (strcmp(a, "--profile") == 0) {
        profile = v;
      } else if (strcmp(a, "--listen") == 0) {
        listen_arg = v;
      } else if (strcmp(a, "--telemetry-interval-ms") == 0) {
        interval_arg = v;
      } else if (strcmp(a, "--slot-size") == 0) {
        slot_size_arg = v;
      } else if (strcmp(a, "--shard") == 0) {
        shard_path = v;
      } else if (strcmp(a, "--user") == 0) {
        user_arg = v;
      } else {
        firmware_version = v;
      }
    } else {
      fprintf(stderr, "tinyfleet-node: unknown argument '%s'\n", a);
      usage(stderr);
      return EXIT_USAGE;
    }
  }

  if (state_dir == NULL || state_dir[0] == '\0') {
    fprintf(stderr, "tinyfleet-node: --state-dir is required\n");
    return EXIT_USAGE;
  }
  if (use_stdio == (listen_arg != NULL)) {
    fprintf(stderr,
            "tinyfleet-node: give exactly one of --stdio and --listen\n");
    return EXIT_USAGE;
  }
  tn_target target;
  if (strcmp(profile, "host") == 0) {
    target = TN_TARGET_HOST;
  } else if (strcmp(profile, "gap8") == 0) {
    target = TN_TARGET_GAP8;
  } else if (strcmp(profile, "gap9") == 0) {
    target = TN_TARGET_GAP9;
  } else {
    fprintf(stderr,
            "tinyfleet-node: --profile must be gap8, gap9 or host, not "
            "'%s'\n",
            profile);
    return EXIT_USAGE;
  }
  char host[256];
  char port[8];
  if (listen_arg != NULL && split_host_port(listen_arg, host, sizeof(host),
                                            port, sizeof(port)) != 0) {
    fprintf(stderr,
            "tinyfleet-node: --listen wants HOST:PORT with a port 0..65535, "
            "not '%s'\n",
            listen_arg);
    return EXIT_USAGE;
  }
  if (firmware_version != NULL) {
    size_t n = strlen(firmware_version);
    int printable = n >= 1 && n <= TN_LINK_FIRMWARE_VERSION_MAX;
    for (size_t i = 0; printable && i < n; ++i) {
      unsigned char c = (unsigned char)firmware_version[i];
      printable = c >= 0x20 && c <= 0x7E;
    }
    if (!printable) {
      fprintf(stderr,
              "tinyfleet-node: --firmware-version must be 1..%u printable "
              "ASCII characters\n",
              TN_LINK_FIRMWARE_VERSION_MAX);
      return EXIT_USAGE;
    }
  }
  uint32_t interval_ms = TN_SIM_DEFAULT_TELEMETRY_INTERVAL_MS;
  if (interval_arg != NULL &&
      parse_u32(interval_arg, 1u, 86400000u, &interval_ms) != 0) {
    fprintf(stderr,
            "tinyfleet-node: --telemetry-interval-ms wants 1..86400000, not "
            "'%s'\n",
            interval_arg);
    return EXIT_USAGE;
  }
  uint32_t slot_size = TN_OTA_GAP9_SLOT_SIZE;
  if (slot_size_arg != NULL &&
      parse_u32(slot_size_arg, SLOT_SIZE_MIN, SLOT_SIZE_MAX, &slot_size) != 0) {
    fprintf(stderr,
            "tinyfleet-node: --slot-size wants %u..%u bytes, not '%s'\n",
            SLOT_SIZE_MIN, SLOT_SIZE_MAX, slot_size_arg);
    return EXIT_USAGE;
  }
  uint32_t user = 0;
  if ((shard_path == NULL) != (user_arg == NULL) ||
      (user_arg != NULL && parse_u32(user_arg, 1, 65535, &user) != 0)) {
    fprintf(stderr,
            "tinyfleet-node: --shard and --user go together; --user wants "
            "1..65535\n");
    return EXIT_USAGE;
  }
  if (ensure_dir(state_dir) != 0) return 1;

  static tn_sim_file_storage files;
  if (tn_sim_file_storage_init(&files, state_dir) != TN_OK) {
    fprintf(stderr, "tinyfleet-node: --state-dir path too long\n");
    return EXIT_USAGE;
  }
  tn_sim_config cfg;
  tn_sim_config_init(&cfg);
  cfg.target = target;
  cfg.firmware_version = firmware_version;
  cfg.storage = tn_sim_file_storage_interface(&files);
  cfg.entropy = urandom_entropy;
  if (tn_secure_crypto_available()) {
    cfg.capabilities |= TN_LINK_CAP_TELEMETRY;
    cfg.telemetry_interval_ms = interval_ms;
  }
  /* Model updates: slot files next to the other state, a blob buffer of one
   * slot and the self-test arena. */
  static tn_ota_file_flash slot_files;
  if (tn_ota_file_flash_init(&slot_files, state_dir, SLOT_COUNT, slot_size) !=
      TN_OK) {
    fprintf(stderr, "tinyfleet-node: --state-dir path too long\n");
    return EXIT_USAGE;
  }
  static uint64_t arena[MODEL_ARENA_BYTES / sizeof(uint64_t)];
  static uint8_t blob_buffer[SLOT_SIZE_MAX]; /* touched up to slot_size */
  tn_ota_config_init(&cfg.ota);
  cfg.ota.flash = tn_ota_file_flash_interface(&slot_files);
  cfg.ota.blob_buffer = blob_buffer;
  cfg.ota.blob_buffer_size = slot_size;
  cfg.ota.arena = arena;
  cfg.ota.arena_size = (uint32_t)sizeof(arena);
  cfg.ota.accept_unsigned = (uint8_t)accept_unsigned;
  /* Training: the shard stays in memory for the node's lifetime. */
  static tn_fset_view shard_set;
  static tn_adapt_shard shard;
  static uint32_t shard_index[SHARD_MAX_RECORDS];
  static tn_adapt_data shard_data;
  static uint64_t train_arena[MODEL_ARENA_BYTES / sizeof(uint64_t)];
  static uint64_t train_workspace[TRAIN_WORKSPACE_BYTES / sizeof(uint64_t)];
  static uint8_t train_tail[TRAIN_TAIL_BYTES];
  static float train_residual[TRAIN_RESIDUAL_FLOATS];
  uint8_t* shard_bytes = NULL;
  uint8_t* train_blob = NULL;
  if (shard_path != NULL) {
    size_t shard_size = 0;
    shard_bytes = read_whole_file(shard_path, &shard_size);
    tn_status sst = shard_bytes == NULL
                        ? TN_ERR_STORAGE
                        : tn_fset_open(shard_bytes, shard_size, &shard_set);
    if (sst == TN_OK) {
      sst = tn_adapt_shard_init(&shard, &shard_set, user, 4, shard_index,
                                SHARD_MAX_RECORDS);
    }
    train_blob = (uint8_t*)malloc(slot_size);
    if (sst != TN_OK || train_blob == NULL) {
      fprintf(stderr, "tinyfleet-node: --shard %s --user %lu: %s\n", shard_path,
              (unsigned long)user,
              tn_status_str(sst != TN_OK ? sst : TN_ERR_MEMORY_BUDGET));
      return 1;
    }
    shard_data = tn_adapt_shard_data(&shard);
    cfg.train.data = &shard_data;
    cfg.train.blob_buffer = train_blob;
    cfg.train.blob_buffer_size = slot_size;
    cfg.train.arena = train_arena;
    cfg.train.arena_size = (uint32_t)sizeof(train_arena);
    cfg.train.workspace = train_workspace;
    cfg.train.workspace_size = sizeof(train_workspace);
    cfg.train.tail_buffer = train_tail;
    cfg.train.tail_buffer_size = (uint32_t)sizeof(train_tail);
    cfg.train.residual = train_residual;
    cfg.train.residual_capacity = TRAIN_RESIDUAL_FLOATS;
    fprintf(stderr,
            "tinyfleet-node: shard %s user %lu: %lu train, %lu held-out "
            "samples\n",
            shard_path, (unsigned long)user, (unsigned long)shard.train_count,
            (unsigned long)shard.heldout_count);
  }
  static tn_sim_node node;
  tn_status st = tn_sim_node_open(&node, &cfg);
  if (st != TN_OK) {
    fprintf(stderr, "tinyfleet-node: cannot open node state in %s: %s\n",
            state_dir, tn_status_str(st));
    return 1;
  }
  char id_hex[2 * TN_LINK_HARDWARE_ID_SIZE + 1];
  for (size_t i = 0; i < TN_LINK_HARDWARE_ID_SIZE; ++i) {
    snprintf(id_hex + 2 * i, 3, "%02x", node.info.hardware_id[i]);
  }
  fprintf(stderr, "tinyfleet-node: hardware id %s, profile %s, boot %lu\n",
          id_hex, tn_target_str(target), (unsigned long)node.boot_count);
  {
    const tn_ota* ota = &node.ota;
    char running[16] = "none";
    if (ota->table.running != TN_OTA_NO_SLOT) {
      snprintf(running, sizeof(running), "slot %u",
               (unsigned)ota->table.running);
    }
    fprintf(stderr,
            "tinyfleet-node: %u model slots of %lu bytes, running %s%s%s\n",
            (unsigned)ota->table.slot_count, (unsigned long)slot_size, running,
            ota->booted_revert ? " (trial reverted at boot)" : "",
            accept_unsigned ? ", unsigned models accepted" : "");
  }
  if (!node.telemetry) {
    fprintf(stderr, "tinyfleet-node: telemetry off (no crypto port)\n");
  } else if (node.sealer.keyed) {
    fprintf(stderr, "tinyfleet-node: telemetry sealed for %.*s, every %lu ms\n",
            (int)node.sealer.key.device_id_len,
            (const char*)node.sealer.key.device_id, (unsigned long)interval_ms);
  } else {
    fprintf(stderr, "tinyfleet-node: telemetry waits for a gateway key\n");
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  sa.sa_handler = on_stop_signal; /* no SA_RESTART: blocking calls return */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  static tn_link_decoder dec;
  if (use_stdio) {
    return serve(&node, &dec, STDIN_FILENO, STDOUT_FILENO) == 0 ? 0 : 1;
  }

  unsigned bound_port = 0;
  int listener = open_listener(host, port, &bound_port);
  if (listener < 0) return 1;
  if (strcmp(port, "0") == 0 || strtoul(port, NULL, 10) == 0) {
    printf("%u\n", bound_port);
    fflush(stdout);
  }
  fprintf(stderr, "tinyfleet-node: listening on %s port %u\n", host,
          bound_port);
  while (!g_stop) {
    int conn = accept(listener, NULL, NULL);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      fprintf(stderr, "tinyfleet-node: accept: %s\n", strerror(errno));
      close(listener);
      return 1;
    }
    serve(&node, &dec, conn, conn);
    close(conn);
  }
  close(listener);
  return 0;
}
