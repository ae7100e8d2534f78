/*
 * Writes the seed corpus of the OTA handler fuzzer
 * (tests/fuzz/ota_handler_fuzz.c describes the session format): complete
 * updates with unsigned and stand-in-signed blobs, a NOR-like flash, a
 * transfer cut by a reset and resumed, a faulty model reverted, and a torn
 * record. Host-only tool; usage: ota_seed_writer <output directory>
 */
#include <stdio.h>
#include <string.h>

#include "ota_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

/* Session ops (op % 12 in the fuzzer). */
enum {
  OP_BEGIN = 0,
  OP_CHUNK = 1,
  OP_COMMIT = 2,
  OP_STATUS = 3,
  OP_ACTIVATE = 4,
  OP_CONFIRM = 5,
  OP_ROLLBACK = 6,
  OP_SET_KEY = 7,
  OP_RESET = 8,
  OP_TEAR = 9,
  OP_CUT = 10
};

static uint8_t g_session[65536];
static size_t g_len;

static void start(uint8_t conf) {
  g_session[0] = conf;
  g_len = 1;
}

static void op(uint8_t code, const uint8_t* p, size_t n) {
  if (g_len + 3 + n > sizeof(g_session)) return;
  g_session[g_len] = code;
  g_session[g_len + 1] = (uint8_t)n;
  g_session[g_len + 2] = (uint8_t)(n >> 8);
  if (n > 0) memcpy(g_session + g_len + 3, p, n);
  g_len += 3 + n;
}

static void op_slot(uint8_t code, uint8_t slot) { op(code, &slot, 1); }

static uint8_t g_blob[8192];
static size_t g_size;
static tn_link_model_begin g_begin;

/* Builds the small CNN (fits the fuzzer's 8 KiB slots). */
static int build(uint32_t version, int canary, int signature) {
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.version = version;
  spec.counter = version;
  spec.seed = version;
  spec.canary = canary;
  spec.reserve_signature = signature;
  if (ota_build_blob(&spec, g_blob, sizeof(g_blob), &g_size) != TN_OK) {
    return -1;
  }
  if (signature) {
    /* The fuzzer's stand-in verifier accepts r[0] == 0xA5 and checks the
     * key id of the key set with OP_SET_KEY. */
    uint8_t key[TN_OTA_PUBLIC_KEY_SIZE];
    ota_test_key(key, 1);
    tn_blob b;
    if (tn_blob_parse(g_blob, g_size, NULL, &b) != TN_OK) return -1;
    uint8_t id[32], r[32], s[32];
    (void)tn_sha256(key, sizeof(key), id);
    memset(r, 0, sizeof(r));
    memset(s, 1, sizeof(s));
    r[0] = 0xA5;
    tn_blob_signature sig = {TN_SIGNATURE_ALG_ECDSA_P256, id, r, s};
    if (tn_blob_set_signature(g_blob, g_size, &sig) != TN_OK) return -1;
  }
  return 0;
}

static void begin(uint8_t slot) {
  ota_test_begin_msg(g_blob, g_size, slot, &g_begin);
  uint8_t p[64];
  size_t n = 0;
  if (tn_link_model_begin_encode(&g_begin, p, sizeof(p), &n) == TN_OK) {
    op(OP_BEGIN, p, n);
  }
}

/* Chunks of 300 bytes: a small blob still takes several. */
#define CHUNK 300u

static void chunks(uint32_t from, uint32_t to) {
  static uint8_t p[TN_LINK_MAX_PAYLOAD];
  for (uint32_t off = from; off < to && off < g_size; off += CHUNK) {
    tn_link_model_chunk c;
    c.offset = off;
    c.data_len = (uint16_t)(g_size - off < CHUNK ? g_size - off : CHUNK);
    c.data = g_blob + off;
    size_t n = 0;
    if (tn_link_model_chunk_encode(&c, p, sizeof(p), &n) == TN_OK) {
      op(OP_CHUNK, p, n);
    }
  }
}

static void commit(void) { op(OP_COMMIT, g_begin.artifact_id, 16); }

static void set_key(void) {
  uint8_t key[TN_OTA_PUBLIC_KEY_SIZE];
  ota_test_key(key, 1);
  op(OP_SET_KEY, key, sizeof(key));
}

static int save(const char* dir, const char* name) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (f == NULL) return -1;
  int ok = fwrite(g_session, 1, g_len, f) == g_len;
  ok = fclose(f) == 0 && ok;
  printf("%s: %zu bytes\n", path, g_len);
  return ok ? 0 : -1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  const char* dir = argv[1];
  int rc = 0;

  /* 1. An unsigned blob on a development node: the whole update. */
  rc |= build(1, 1, 0);
  start(0x06);
  begin(0);
  chunks(0, (uint32_t)g_size);
  op(OP_STATUS, NULL, 0);
  commit();
  op_slot(OP_ACTIVATE, 0);
  op_slot(OP_CONFIRM, 0);
  op(OP_RESET, NULL, 0);
  op(OP_STATUS, NULL, 0);
  rc |= save(dir, "update_unsigned.bin");

  /* 2. Signed, NOR-like flash, unmappable; a reset on trial. */
  rc |= build(2, 1, 1);
  start(0x01);
  set_key();
  begin(1);
  chunks(0, (uint32_t)g_size);
  commit();
  op_slot(OP_ACTIVATE, 1);
  op(OP_RESET, NULL, 0);
  op(OP_STATUS, NULL, 0);
  rc |= save(dir, "signed_nor_trial_reset.bin");

  /* 3. A flash write cut by a reset, resumed at the persisted offset. */
  rc |= build(3, 1, 0);
  start(0x0E);
  begin(1);
  chunks(0, 3 * CHUNK); /* progress persisted at 900 (every 700 bytes) */
  op(OP_CUT, NULL, 0);
  chunks(3 * CHUNK, 4 * CHUNK);
  op(OP_RESET, NULL, 0);
  begin(1);
  op(OP_STATUS, NULL, 0);
  chunks(3 * CHUNK, (uint32_t)g_size);
  commit();
  op_slot(OP_ACTIVATE, 1);
  op_slot(OP_CONFIRM, 1);
  rc |= save(dir, "resume_after_cut.bin");

  /* 4. Version 1, then a faulty version 2 (reverted), a rollback attempt,
   * and a torn record before a confirm. */
  start(0x06);
  rc |= build(1, 1, 0);
  begin(0);
  chunks(0, (uint32_t)g_size);
  commit();
  op_slot(OP_ACTIVATE, 0);
  op_slot(OP_CONFIRM, 0);
  rc |= build(2, 2, 0);
  begin(1);
  chunks(0, (uint32_t)g_size);
  commit();
  op_slot(OP_ACTIVATE, 1);
  op_slot(OP_ROLLBACK, 0);
  op(OP_TEAR, NULL, 0);
  op_slot(OP_CONFIRM, 0);
  op(OP_RESET, NULL, 0);
  op(OP_STATUS, NULL, 0);
  rc |= save(dir, "faulty_then_torn.bin");
  return rc == 0 ? 0 : 1;
}
