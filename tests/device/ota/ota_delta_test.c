/*
 * Tests of delta transfers in the OTA room (docs/formats/ota.md, section 9)
 * on in-memory storage and slot flash with the fixture's stand-in
 * signatures, on the host and under QEMU: a tail-only update of the DS-CNN
 * keyword spotter built as a delta, applied into the inactive slot from the
 * running one and verified like a blob; a delta tampered in its payload, its
 * header signature or its operations, a delta for another base, and resets
 * in the middle of the decoding (cut flash writes, torn records, NOR flash,
 * an unmappable flash with operation headers split across chunks).
 */
#include <string.h>

#include "ota/tn_ota.h"
#include "ota_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"
#include "tn_test.h"

#define CHUNK 1018u /* the largest MODEL_CHUNK data */
#define DELTA_MAX 32768u

static ota_test_node g_node;
static uint8_t g_key[TN_OTA_PUBLIC_KEY_SIZE];
static uint8_t g_base[OTA_TEST_BLOB_MAX];
static uint8_t g_next[OTA_TEST_BLOB_MAX];
static uint8_t g_other[OTA_TEST_BLOB_MAX];
static uint8_t g_delta[DELTA_MAX];
static uint8_t g_applied[OTA_TEST_BLOB_MAX];
static size_t g_base_size;
static size_t g_next_size;
static size_t g_other_size;
static size_t g_delta_size;

/* A signed DS-CNN blob: version, weights seed and tail step. */
static size_t ds_cnn_blob(uint32_t version, uint64_t seed, uint32_t tail_step,
                          uint8_t* out) {
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  spec.version = version;
  spec.seed = seed;
  spec.tail_step = tail_step;
  size_t size = 0;
  TN_CHECK_STATUS(ota_build_blob(&spec, out, OTA_TEST_BLOB_MAX, &size), TN_OK);
  TN_CHECK_STATUS(ota_test_sign(out, size, g_key), TN_OK);
  return size;
}

/* Version 1, version 2 with a retrained tail, and its delta from 1. */
static void make_update(void) {
  ota_test_key(g_key, 1);
  g_base_size = ds_cnn_blob(1, 1, 0, g_base);
  g_next_size = ds_cnn_blob(2, 1, 20, g_next);
  TN_CHECK_STATUS(tn_ota_delta_build(g_base, g_base_size, g_next, g_next_size,
                                     g_delta, sizeof(g_delta), &g_delta_size),
                  TN_OK);
}

/* A booted node with the model key and the base running in slot 0. */
static void node_running_base(uint32_t erase_size, int mappable) {
  ota_test_node_init(&g_node);
  if (erase_size != 0 || !mappable) {
    ota_test_flash_init(&g_node.flash, 2, 65536, erase_size, mappable);
  }
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_OK);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_base, g_base_size, 0, CHUNK),
                  TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 0), TN_OK);
  TN_CHECK_STATUS(tn_ota_confirm(&g_node.ota, 0), TN_OK);
}

/* MODEL_BEGIN_DELTA of `delta` for the result `result`: artifact id from
 * the delta, total size of the delta, SHA-256 of the result. */
static void delta_begin_msg(const uint8_t* delta, size_t delta_size,
                            const uint8_t* result, size_t result_size,
                            tn_link_model_begin* m) {
  ota_test_begin_msg(delta, delta_size, 1, m);
  (void)tn_sha256(result, result_size, m->sha256);
}

static const tn_ota_slot* slot_of(uint8_t i) {
  return &g_node.ota.table.slots[i];
}

/* The slot holds exactly the result blob. */
static int slot_holds(uint8_t slot, const uint8_t* blob, size_t size) {
  const uint8_t* mem = g_node.flash.mem.data + (size_t)slot * 65536u;
  return memcmp(mem, blob, size) == 0;
}

/* ---- The update ---------------------------------------------------------- */

TN_TEST(tail_update_delta_is_small_and_rebuilds_the_blob) {
  make_update();
  tn_test_digest("ota.delta.ds_cnn", g_delta, g_delta_size);
  TN_CHECK_EQ(g_base_size, g_next_size);
  /* The front-end is copied: only the tail, the canary output, the header
   * fields and the signature travel. */
  TN_CHECK(g_delta_size * 4 < g_next_size);
  size_t n = 0;
  TN_CHECK_STATUS(tn_ota_delta_apply(g_base, g_base_size, g_delta, g_delta_size,
                                     g_applied, sizeof(g_applied), &n),
                  TN_OK);
  TN_CHECK_EQ(n, g_next_size);
  TN_CHECK(memcmp(g_applied, g_next, n) == 0);
  /* The same delta against another base is refused. */
  g_other_size = ds_cnn_blob(1, 7, 0, g_other);
  TN_CHECK_STATUS(
      tn_ota_delta_apply(g_other, g_other_size, g_delta, g_delta_size,
                         g_applied, sizeof(g_applied), &n),
      TN_ERR_OTA_BASE);
  /* A delta between unrelated blobs still rebuilds the result. */
  size_t other_delta = 0;
  TN_CHECK_STATUS(tn_ota_delta_build(g_other, g_other_size, g_next, g_next_size,
                                     g_delta, sizeof(g_delta), &other_delta),
                  TN_OK);
  TN_CHECK_STATUS(
      tn_ota_delta_apply(g_other, g_other_size, g_delta, other_delta, g_applied,
                         sizeof(g_applied), &n),
      TN_OK);
  TN_CHECK(memcmp(g_applied, g_next, g_next_size) == 0);
  /* Too small an output buffer. */
  TN_CHECK_STATUS(tn_ota_delta_build(g_base, g_base_size, g_next, g_next_size,
                                     g_delta, 100, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
}

TN_TEST(delta_is_applied_verified_activated_and_confirmed) {
  make_update();
  node_running_base(0, 1);
  tn_ota* ota = &g_node.ota;
  tn_link_model_begin m;
  delta_begin_msg(g_delta, g_delta_size, g_next, g_next_size, &m);
  /* Through the link handler, as the agent sends it. */
  uint8_t p[64];
  size_t pn = 0;
  TN_REQUIRE(tn_link_model_begin_encode(&m, p, sizeof(p), &pn) == TN_OK);
  uint8_t reply[128];
  size_t rn = 0;
  uint8_t rt = 0;
  TN_CHECK_STATUS(tn_ota_handle(ota, TN_LINK_MSG_MODEL_BEGIN_DELTA, p, pn, &rt,
                                reply, sizeof(reply), &rn),
                  TN_OK);
  TN_CHECK(tn_ota_handles(TN_LINK_MSG_MODEL_BEGIN_DELTA));
  ota_send_result r;
  ota_test_send(ota, g_delta, g_delta_size, 0, CHUNK, &r);
  TN_CHECK_STATUS(r.status, TN_OK);
  TN_CHECK_EQ(r.bytes_sent, g_delta_size);
  TN_CHECK_EQ(ota->stats.bytes_written, g_base_size + g_next_size);
  tn_link_model_status_reply st;
  tn_ota_status(ota, &st);
  TN_CHECK_EQ(st.total_size, g_delta_size);
  TN_CHECK_EQ(st.committed_offset, g_delta_size);
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(slot_of(1)->model_version, 2);
  TN_CHECK(slot_holds(1, g_next, g_next_size));
  /* A repeated begin and commit of the committed delta change nothing. */
  TN_CHECK_STATUS(tn_ota_begin_delta(ota, &m), TN_OK);
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_OK);
  TN_CHECK_EQ(ota->table.running, 1);
  TN_CHECK_EQ(ota->table.previous, 0);
}

/* ---- Refusals ------------------------------------------------------------ */

/* Sends the (possibly modified) g_delta; returns the first failure of the
 * chunks, else the commit's status. */
static tn_status send_delta(const tn_link_model_begin* m) {
  tn_ota* ota = &g_node.ota;
  tn_status st = tn_ota_begin_delta(ota, m);
  if (st != TN_OK) return st;
  ota_send_result r;
  ota_test_send(ota, g_delta, g_delta_size, 0, CHUNK, &r);
  if (r.status != TN_OK) return r.status;
  return tn_ota_commit(ota, m->artifact_id);
}

/* Offset of a result byte carried in the payload of the first LITERAL or
 * PATCH operation at least `min_len` long (0 when there is none). */
static size_t payload_offset(uint32_t min_len) {
  size_t pos = TN_OTA_DELTA_HEADER_SIZE;
  for (int ops = 0; ops < 64 && pos + TN_OTA_DELTA_OP_SIZE <= g_delta_size;
       ++ops) {
    uint8_t kind = g_delta[pos];
    uint32_t len = tn_load_u32le(g_delta + pos + 8);
    pos += TN_OTA_DELTA_OP_SIZE;
    if (kind == TN_OTA_DELTA_LITERAL) {
      if (len >= min_len) return pos + len / 2;
      pos += len;
    } else if (kind == TN_OTA_DELTA_PATCH) {
      size_t data = 0;
      for (uint32_t g = 0; g < len && pos < g_delta_size; g += 8) {
        uint8_t mask = g_delta[pos++];
        if (mask != 0 && data == 0) data = pos;
        for (int b = 0; b < 8; ++b) pos += (mask >> b) & 1u;
      }
      if (len >= min_len && data != 0) return data;
    }
  }
  return 0;
}

TN_TEST(tampered_deltas_are_refused) {
  make_update();
  tn_link_model_begin m;
  delta_begin_msg(g_delta, g_delta_size, g_next, g_next_size, &m);

  /* A payload byte of the tail: the result does not hash to the result
   * MODEL_BEGIN_DELTA named. */
  node_running_base(0, 1);
  size_t at = payload_offset(1000); /* the tail's parameters */
  TN_REQUIRE(at > TN_OTA_DELTA_HEADER_SIZE && at < g_delta_size);
  g_delta[at] ^= 0x01;
  TN_CHECK_STATUS(send_delta(&m), TN_ERR_BLOB_CHECKSUM);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_FAILED);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_BLOB_CHECKSUM);
  g_delta[at] ^= 0x01;

  /* The same, with MODEL_BEGIN_DELTA and the header's result SHA-256 made
   * to match the tampered result: the blob's own digest refuses it. */
  node_running_base(0, 1);
  g_delta[at] ^= 0x01;
  size_t n = 0;
  TN_REQUIRE(tn_ota_delta_apply(g_base, g_base_size, g_delta, g_delta_size,
                                g_applied, sizeof(g_applied),
                                &n) == TN_ERR_BLOB_CHECKSUM);
  tn_link_model_begin forged = m;
  (void)tn_sha256(g_applied, g_next_size, forged.sha256);
  memcpy(g_delta + TN_OTA_DELTA_RESULT_SHA256_OFFSET, forged.sha256, 32);
  TN_CHECK_STATUS(send_delta(&forged), TN_ERR_BLOB_CHECKSUM);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_FAILED);
  make_update();

  /* The result signature in the header: refused at the first chunk, before
   * a byte of the result is written. */
  node_running_base(0, 1);
  uint32_t writes = g_node.flash.mem.writes;
  g_delta[112 + 20] ^= 0x80; /* r */
  TN_CHECK_STATUS(send_delta(&m), TN_ERR_BLOB_SIGNATURE);
  TN_CHECK_EQ(g_node.flash.mem.writes, writes);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_BLOB_SIGNATURE);
  g_delta[112 + 20] ^= 0x80;

  /* An operation of an unknown kind, and one that runs past the result. */
  node_running_base(0, 1);
  g_delta[TN_OTA_DELTA_HEADER_SIZE] = 9;
  TN_CHECK_STATUS(send_delta(&m), TN_ERR_OTA_DELTA);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_OTA_DELTA);
  g_delta[TN_OTA_DELTA_HEADER_SIZE] = TN_OTA_DELTA_COPY;
  node_running_base(0, 1);
  uint32_t len = tn_load_u32le(g_delta + TN_OTA_DELTA_HEADER_SIZE + 8);
  tn_store_u32le(g_delta + TN_OTA_DELTA_HEADER_SIZE + 8, 0x7FFFFFFFu);
  TN_CHECK_STATUS(send_delta(&m), TN_ERR_OTA_DELTA);
  tn_store_u32le(g_delta + TN_OTA_DELTA_HEADER_SIZE + 8, len);

  /* A delta cut short: the last chunk does not end the result. */
  node_running_base(0, 1);
  tn_link_model_begin cut = m;
  cut.total_size = (uint32_t)g_delta_size - 3u;
  g_delta_size -= 3;
  TN_CHECK_STATUS(send_delta(&cut), TN_ERR_OTA_DELTA);
  g_delta_size += 3;

  /* A MODEL_BEGIN_DELTA naming another result. */
  node_running_base(0, 1);
  tn_link_model_begin other = m;
  other.sha256[0] ^= 1;
  TN_CHECK_STATUS(send_delta(&other), TN_ERR_OTA_DELTA);

  /* The untouched delta still installs on a fresh node. */
  node_running_base(0, 1);
  TN_CHECK_STATUS(send_delta(&m), TN_OK);
  TN_CHECK(slot_holds(1, g_next, g_next_size));
}

TN_TEST(delta_for_another_base_is_refused) {
  make_update();
  tn_link_model_begin m;
  delta_begin_msg(g_delta, g_delta_size, g_next, g_next_size, &m);

  /* No model runs: nothing to apply it to. */
  ota_test_node_init(&g_node);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_OK);
  TN_CHECK_STATUS(tn_ota_begin_delta(&g_node.ota, &m), TN_ERR_OTA_BASE);

  /* Another blob runs: refused at the header, nothing written. */
  g_other_size = ds_cnn_blob(1, 7, 0, g_other);
  TN_CHECK_STATUS(
      ota_test_install(&g_node.ota, g_other, g_other_size, 0, CHUNK), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 0), TN_OK);
  uint32_t writes = g_node.flash.mem.writes;
  TN_CHECK_STATUS(send_delta(&m), TN_ERR_OTA_BASE);
  TN_CHECK_EQ(g_node.flash.mem.writes, writes);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_FAILED);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_OTA_BASE);
  tn_link_model_status_reply st;
  tn_ota_status(&g_node.ota, &st);
  TN_CHECK_EQ(st.transfer, TN_LINK_TRANSFER_NONE);
  TN_CHECK_EQ(st.slots[1].reason, TN_ERR_OTA_BASE);

  /* The fallback: the whole blob installs. */
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_next, g_next_size, 1, CHUNK),
                  TN_OK);
  TN_CHECK_EQ(slot_of(1)->model_version, 2);

  /* The header parser. */
  TN_CHECK(tn_ota_delta_header_parse(g_delta, 10, NULL) == TN_ERR_NULL);
  tn_ota_delta_header h;
  TN_CHECK_STATUS(tn_ota_delta_header_parse(g_delta, g_delta_size, &h), TN_OK);
  TN_CHECK_EQ(h.result_size, g_next_size);
  TN_CHECK_EQ(h.target, TN_TARGET_GAP9);
  TN_CHECK_STATUS(tn_ota_delta_header_parse(g_delta, 100, &h),
                  TN_ERR_OTA_DELTA);
}

/* ---- Resets -------------------------------------------------------------- */

/* Sends the delta in chunks of `chunk` bytes, rebooting the node after
 * every failure and resuming at the offset MODEL_STATUS reports; returns
 * the bytes sent. */
static uint32_t send_delta_with_resets(uint32_t chunk, int max_resets) {
  tn_ota* ota = &g_node.ota;
  tn_link_model_begin m;
  delta_begin_msg(g_delta, g_delta_size, g_next, g_next_size, &m);
  TN_CHECK_STATUS(tn_ota_begin_delta(ota, &m), TN_OK);
  uint32_t sent = 0;
  uint32_t from = 0;
  int resets = 0;
  for (int round = 0; round <= max_resets; ++round) {
    ota_send_result r;
    ota_test_send(ota, g_delta, g_delta_size, from, chunk, &r);
    sent += r.bytes_sent;
    if (r.status == TN_OK) break;
    TN_CHECK_STATUS(r.status, TN_ERR_STORAGE);
    g_node.storage.fail_after = -1;
    g_node.flash.cut_after = -1;
    TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
    ++resets;
    tn_link_model_status_reply st;
    tn_ota_status(ota, &st);
    TN_CHECK_EQ(st.transfer, TN_LINK_TRANSFER_RECEIVING);
    /* Chunks resume where the node stands; a repeated begin is harmless. */
    TN_CHECK_STATUS(tn_ota_begin_delta(ota, &m), TN_OK);
    from = st.committed_offset;
  }
  TN_CHECK(resets > 0);
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
  TN_CHECK(slot_holds(1, g_next, g_next_size));
  return sent;
}

TN_TEST(reset_mid_apply_resumes) {
  make_update();

  /* A power cut inside a flash write of the result. */
  node_running_base(0, 1);
  g_node.flash.cut_after = 5;
  uint32_t sent = send_delta_with_resets(CHUNK, 1);
  TN_CHECK(sent <= g_delta_size + CHUNK);

  /* A torn progress record, chunks that split operation headers. */
  node_running_base(0, 1);
  g_node.storage.fail_after = 4; /* begin, then 3 chunks */
  g_node.storage.tear = 1;
  sent = send_delta_with_resets(100, 1);
  TN_CHECK(sent <= g_delta_size + 2 * 100);

  /* Several resets on NOR flash (erase units of 4 KiB) through the blob
   * buffer of an unmappable flash, with sparse progress records. */
  node_running_base(4096, 0);
  g_node.cfg.progress_interval = 700;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  tn_ota* ota = &g_node.ota;
  tn_link_model_begin m;
  delta_begin_msg(g_delta, g_delta_size, g_next, g_next_size, &m);
  TN_CHECK_STATUS(tn_ota_begin_delta(ota, &m), TN_OK);
  uint32_t from = 0;
  int resets = 0;
  /* Cuts later in each round, so that each round gets further (a COPY of
   * a whole section is many flash writes within one chunk). */
  for (int round = 0; round < 64; ++round) {
    g_node.flash.cut_after = 30 * (round + 1);
    ota_send_result r;
    ota_test_send(ota, g_delta, g_delta_size, from, 333, &r);
    if (r.status == TN_OK) break;
    g_node.flash.cut_after = -1;
    TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
    ++resets;
    tn_link_model_status_reply st;
    tn_ota_status(ota, &st);
    TN_REQUIRE(st.transfer == TN_LINK_TRANSFER_RECEIVING);
    from = st.committed_offset;
  }
  g_node.flash.cut_after = -1;
  TN_CHECK(resets >= 2);
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  TN_CHECK(slot_holds(1, g_next, g_next_size));
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(tail_update_delta_is_small_and_rebuilds_the_blob),
      TN_CASE(delta_is_applied_verified_activated_and_confirmed),
      TN_CASE(tampered_deltas_are_refused),
      TN_CASE(delta_for_another_base_is_refused),
      TN_CASE(reset_mid_apply_resumes),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
