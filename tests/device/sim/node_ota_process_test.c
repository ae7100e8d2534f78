/*
 * Host-only test of model updates in the tinyfleet-node executable over
 * --stdio: the first run takes the gateway's model key and part of a
 * signed blob, then its input ends (the process stops like a node losing
 * power); the second run, on the same state directory, reports the resume
 * offset in MODEL_STATUS, takes the rest, verifies, activates and confirms;
 * a third run reports the confirmed model in HELLO. The slot files live in
 * the state directory. Also: an unsigned blob is refused unless the node
 * runs with --accept-unsigned-models, and --slot-size is checked.
 * Usage: test_node_ota_process <tinyfleet-node> <scratch directory>
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "link/tn_link.h"
#include "node_runner.h"
#include "ota_ecdsa.h"
#include "ota_fixture.h"
#include "tn_test.h"

static const char* g_node;
static char g_dir[512];
static char g_dir_unsigned[512];

typedef node_run_result run_result;

/* Runs the node with `args` and `input` on stdin (see node_run). */
static void run(const char* const* args, const uint8_t* input, size_t len,
                run_result* r) {
  TN_REQUIRE(node_run(g_node, args, input, len, r) == 0);
}

/* The requests of one run, encoded back to back. */
static uint8_t g_input[262144];
static size_t g_input_len;
static uint16_t g_seq;

static void add(uint8_t type, const uint8_t* p, size_t n) {
  tn_link_frame f = {type, TN_LINK_FLAG_ACK_REQUESTED, ++g_seq, (uint16_t)n, p,
                     0};
  if (tn_link_reply_type(type) != 0) f.flags = 0;
  size_t w = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, g_input + g_input_len,
                                       sizeof(g_input) - g_input_len, &w),
                  TN_OK);
  g_input_len += w;
}

static void add_hello(void) {
  const uint8_t h[3] = {TN_LINK_VERSION, 0x00, 0x04};
  add(TN_LINK_MSG_HELLO, h, 3);
}

static void add_chunks(const uint8_t* blob, size_t size, uint32_t from,
                       uint32_t to) {
  static uint8_t p[TN_LINK_MAX_PAYLOAD];
  for (uint32_t off = from; off < to; off += 1018) {
    tn_link_model_chunk c;
    c.offset = off;
    c.data_len = (uint16_t)(size - off < 1018 ? size - off : 1018);
    c.data = blob + off;
    size_t n = 0;
    TN_CHECK_STATUS(tn_link_model_chunk_encode(&c, p, sizeof(p), &n), TN_OK);
    add(TN_LINK_MSG_MODEL_CHUNK, p, n);
  }
}

static void add_slot_command(uint8_t type, uint8_t slot) {
  uint8_t p[1] = {slot};
  add(type, p, 1);
}

/* What came back. */
typedef struct answers {
  size_t count;
  uint8_t types[512];
  uint16_t status[512]; /* ACK/NACK status, 0 for typed replies */
  int have_hello;
  tn_link_hello_reply hello;
  int have_status;
  tn_link_model_status_reply model_status;
} answers;

static void parse(const run_result* r, answers* a) {
  static tn_link_decoder dec;
  memset(a, 0, sizeof(*a));
  tn_link_decoder_init(&dec);
  const uint8_t* p = r->out;
  size_t len = r->out_len;
  while (len > 0) {
    size_t used = 0;
    const tn_link_frame* f = NULL;
    TN_CHECK_STATUS(tn_link_decoder_feed(&dec, p, len, &used, &f), TN_OK);
    if (used == 0) break;
    p += used;
    len -= used;
    if (f == NULL || a->count >= 512) continue;
    a->types[a->count] = f->type;
    if (f->type == TN_LINK_MSG_ACK || f->type == TN_LINK_MSG_NACK) {
      tn_link_ack ack;
      if (tn_link_nack_decode(f->payload, f->payload_len, &ack) == TN_OK ||
          tn_link_ack_decode(f->payload, f->payload_len, &ack) == TN_OK) {
        a->status[a->count] = ack.status;
      }
    } else if (f->type == TN_LINK_MSG_HELLO_REPLY) {
      a->have_hello = tn_link_hello_reply_decode(f->payload, f->payload_len,
                                                 &a->hello) == TN_OK;
    } else if (f->type == TN_LINK_MSG_MODEL_STATUS_REPLY) {
      a->have_status =
          tn_link_model_status_reply_decode(f->payload, f->payload_len,
                                            &a->model_status) == TN_OK;
    }
    ++a->count;
  }
}

/* 1 when no request was NACKed. */
static int all_acked(const answers* a) {
  for (size_t i = 0; i < a->count; ++i) {
    if (a->types[i] == TN_LINK_MSG_NACK) return 0;
  }
  return 1;
}

static uint8_t g_blob[OTA_TEST_BLOB_MAX];
static size_t g_size;

TN_TEST(update_across_process_restarts) {
  static run_result r;
  static answers a;
  ota_signer gateway;
  TN_REQUIRE(ota_signer_init(&gateway, 9) == TN_OK);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.target = TN_TARGET_GAP9;
  spec.ds_cnn = 1;
  spec.version = 4;
  spec.counter = 4;
  TN_REQUIRE(ota_build_blob(&spec, g_blob, sizeof(g_blob), &g_size) == TN_OK);
  TN_REQUIRE(ota_signer_sign_blob(&gateway, g_blob, g_size) == TN_OK);
  tn_link_model_begin begin;
  ota_test_begin_msg(g_blob, g_size, 1, &begin);
  uint8_t begin_p[64];
  size_t begin_n = 0;
  TN_REQUIRE(tn_link_model_begin_encode(&begin, begin_p, sizeof(begin_p),
                                        &begin_n) == TN_OK);

  /* Run 1: key, begin, the first 12 chunks; then the input ends. */
  g_input_len = 0;
  g_seq = 10;
  add_hello();
  tn_link_set_model_key k;
  memcpy(k.public_key, gateway.public_key, 65);
  uint8_t kp[80];
  size_t kn = 0;
  TN_REQUIRE(tn_link_set_model_key_encode(&k, kp, sizeof(kp), &kn) == TN_OK);
  add(TN_LINK_MSG_SET_MODEL_KEY, kp, kn);
  add(TN_LINK_MSG_MODEL_BEGIN, begin_p, begin_n);
  add_chunks(g_blob, g_size, 0, 12u * 1018u);
  const char* args[] = {"--state-dir", g_dir,     "--profile",
                        "gap9",        "--stdio", NULL};
  run(args, g_input, g_input_len, &r);
  TN_CHECK_EQ(r.exit_code, 0);
  parse(&r, &a);
  TN_CHECK_EQ(a.count, 15);
  TN_CHECK(all_acked(&a));
  TN_REQUIRE(a.have_hello);
  TN_CHECK(a.hello.capabilities & TN_LINK_CAP_MODEL_UPDATE);
  TN_CHECK_EQ(a.hello.slot_count, 2);
  TN_CHECK(strstr(r.err, "2 model slots") != NULL);
  char path[600];
  struct stat st;
  snprintf(path, sizeof(path), "%s/slot1.bin", g_dir);
  TN_CHECK_EQ(stat(path, &st), 0);
  TN_CHECK_EQ(st.st_size, 12 * 1018);

  /* Run 2: where to resume, the rest, commit, activate, confirm. */
  g_input_len = 0;
  add_hello();
  add(TN_LINK_MSG_MODEL_BEGIN, begin_p, begin_n);
  add(TN_LINK_MSG_MODEL_STATUS, NULL, 0);
  run(args, g_input, g_input_len, &r);
  parse(&r, &a);
  TN_REQUIRE(a.have_status);
  TN_CHECK_EQ(a.model_status.transfer, TN_LINK_TRANSFER_RECEIVING);
  TN_CHECK_EQ(a.model_status.committed_offset, 12u * 1018u);
  TN_CHECK_EQ(a.model_status.key_state, TN_LINK_MODEL_KEY_SET);
  uint32_t from = a.model_status.committed_offset;

  g_input_len = 0;
  add_hello();
  add_chunks(g_blob, g_size, from, (uint32_t)g_size);
  tn_link_model_commit c;
  memcpy(c.artifact_id, begin.artifact_id, 16);
  add(TN_LINK_MSG_MODEL_COMMIT, c.artifact_id, 16);
  add_slot_command(TN_LINK_MSG_ACTIVATE, 1);
  add_slot_command(TN_LINK_MSG_CONFIRM, 1);
  add(TN_LINK_MSG_MODEL_STATUS, NULL, 0);
  run(args, g_input, g_input_len, &r);
  TN_CHECK_EQ(r.exit_code, 0);
  parse(&r, &a);
  TN_CHECK(all_acked(&a));
  TN_REQUIRE(a.have_status);
  TN_CHECK_EQ(a.model_status.running_slot, 1);
  TN_CHECK_EQ(a.model_status.rollback_floor, 4);
  TN_CHECK_EQ(a.model_status.slots[1].state, TN_LINK_SLOT_ACTIVE);

  /* Run 3: the confirmed model is what the node reports. */
  g_input_len = 0;
  add_hello();
  run(args, g_input, g_input_len, &r);
  parse(&r, &a);
  TN_REQUIRE(a.have_hello);
  TN_CHECK_EQ(a.hello.slots[1].state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(a.hello.slots[1].model_version, 4);
  TN_CHECK_EQ(a.hello.slots[1].model_id[0], 0x11);
  TN_CHECK(strstr(r.err, "running slot 1") != NULL);
}

TN_TEST(unsigned_models_only_with_the_development_flag) {
  static run_result r;
  static answers a;
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.reserve_signature = 0;
  TN_REQUIRE(ota_build_blob(&spec, g_blob, sizeof(g_blob), &g_size) == TN_OK);
  tn_link_model_begin begin;
  ota_test_begin_msg(g_blob, g_size, 0, &begin);
  uint8_t begin_p[64];
  size_t begin_n = 0;
  TN_REQUIRE(tn_link_model_begin_encode(&begin, begin_p, sizeof(begin_p),
                                        &begin_n) == TN_OK);
  for (int dev = 0; dev < 2; ++dev) {
    g_input_len = 0;
    add_hello();
    add(TN_LINK_MSG_MODEL_BEGIN, begin_p, begin_n);
    add_chunks(g_blob, g_size, 0, (uint32_t)g_size);
    add(TN_LINK_MSG_MODEL_COMMIT, begin.artifact_id, 16);
    add_slot_command(TN_LINK_MSG_ACTIVATE, 0);
    const char* strict[] = {"--state-dir", g_dir_unsigned, "--profile",
                            "gap9",        "--stdio",      NULL};
    const char* loose[] = {"--state-dir", g_dir_unsigned,
                           "--profile",   "gap9",
                           "--stdio",     "--accept-unsigned-models",
                           NULL};
    run(dev ? loose : strict, g_input, g_input_len, &r);
    TN_CHECK_EQ(r.exit_code, 0);
    parse(&r, &a);
    TN_REQUIRE(a.count >= 3);
    /* COMMIT's answer, then ACTIVATE's. */
    size_t commit_at = a.count - 2;
    if (dev == 0) {
      TN_CHECK_EQ(a.types[commit_at], TN_LINK_MSG_NACK);
      TN_CHECK_EQ(a.status[commit_at], TN_ERR_BLOB_SIGNATURE);
      TN_CHECK_EQ(a.status[commit_at + 1], TN_ERR_SLOT);
    } else {
      TN_CHECK_EQ(a.types[commit_at], TN_LINK_MSG_ACK);
      TN_CHECK_EQ(a.types[commit_at + 1], TN_LINK_MSG_ACK);
      TN_CHECK(strstr(r.err, "unsigned models accepted") != NULL);
    }
  }
  const char* bad[] = {"--state-dir", g_dir_unsigned, "--slot-size",
                       "12",          "--stdio",      NULL};
  run(bad, g_input, 0, &r);
  TN_CHECK_EQ(r.exit_code, 2);
  TN_CHECK(strstr(r.err, "--slot-size") != NULL);
}

/* Removes the files of a state directory, then the directory. */
static void remove_dir(const char* dir) {
  DIR* d = opendir(dir);
  if (d == NULL) return;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    remove(path);
  }
  closedir(d);
  rmdir(dir);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <tinyfleet-node> <scratch directory>\n",
            argv[0]);
    return 2;
  }
  g_node = argv[1];
  mkdir(argv[2], 0700);
  char base[400];
  snprintf(base, sizeof(base), "%s/otaXXXXXX", argv[2]);
  if (mkdtemp(base) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(g_dir, sizeof(g_dir), "%s/signed", base);
  snprintf(g_dir_unsigned, sizeof(g_dir_unsigned), "%s/unsigned", base);
  signal(SIGPIPE, SIG_IGN);
  static const tn_test_case cases[] = {
      TN_CASE(update_across_process_restarts),
      TN_CASE(unsigned_models_only_with_the_development_flag),
  };
  int rc = tn_test_main(cases, TN_ARRAY_SIZE(cases));
  remove_dir(g_dir);
  remove_dir(g_dir_unsigned);
  rmdir(base);
  return rc;
}
