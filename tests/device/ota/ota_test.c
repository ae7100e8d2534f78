/*
 * Tests of the OTA room on in-memory storage and slot flash, with the
 * fixture's stand-in signature scheme so that they run on the host and
 * under QEMU alike (signatures with real ECDSA: ota_signed_test.c). They
 * cover the whole update (transfer, verification, trial with self-test,
 * confirmation), every refusal with its own status (bad signature, other
 * key, wrong target, older counter, bad checksum, unsigned, no key, no
 * canary), the automatic revert of a faulty model, resets at every step
 * (mid-write, mid-record, on trial) with the resume costing at most one
 * chunk, idempotent repeats, hostile inputs, NOR-flash erase handling, an
 * unmappable flash, the double-buffered records and the link handler.
 */
#include <string.h>

#include "ota/tn_ota.h"
#include "ota/tn_ota_internal.h"
#include "ota_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"
#include "tn_test.h"

static ota_test_node g_node;
static uint8_t g_blob_a[OTA_TEST_BLOB_MAX];
static uint8_t g_blob_b[OTA_TEST_BLOB_MAX];
static size_t g_size_a;
static size_t g_size_b;
static uint8_t g_key[TN_OTA_PUBLIC_KEY_SIZE];

#define CHUNK 1018u /* the largest MODEL_CHUNK data */

/* A fresh node with the model key set. */
static void fresh_node(void) {
  ota_test_node_init(&g_node);
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  ota_test_key(g_key, 1);
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_OK);
}

/* Builds a signed blob of `spec` into out. */
static size_t signed_blob(const ota_blob_spec* spec, uint8_t* out) {
  size_t size = 0;
  tn_status st = ota_build_blob(spec, out, OTA_TEST_BLOB_MAX, &size);
  TN_CHECK_STATUS(st, TN_OK);
  if (st != TN_OK) return 0;
  if (spec->reserve_signature) {
    TN_CHECK_STATUS(ota_test_sign(out, size, g_key), TN_OK);
  }
  return size;
}

static size_t model_blob(uint8_t model_byte, uint32_t version, uint32_t counter,
                         uint8_t* out) {
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.model_byte = model_byte;
  spec.version = version;
  spec.counter = counter;
  spec.seed = version;
  return signed_blob(&spec, out);
}

/* Installs, activates and confirms a blob in `slot`. */
static void deploy(const uint8_t* blob, size_t size, uint8_t slot) {
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, blob, size, slot, CHUNK),
                  TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, slot), TN_OK);
  TN_CHECK_STATUS(tn_ota_confirm(&g_node.ota, slot), TN_OK);
}

static const tn_ota_slot* slot_of(uint8_t i) {
  return &g_node.ota.table.slots[i];
}

/* Digest of the persisted state as MODEL_STATUS reports it. */
static void digest_status(const char* label) {
  tn_link_model_status_reply m;
  tn_ota_status(&g_node.ota, &m);
  uint8_t p[128];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_model_status_reply_encode(&m, p, sizeof(p), &n),
                  TN_OK);
  tn_test_digest(label, p, n);
}

/* ---- The whole update ------------------------------------------------- */

TN_TEST(full_update_verifies_activates_and_confirms) {
  fresh_node();
  g_size_a = model_blob(0x11, 1, 1, g_blob_a);
  TN_REQUIRE(g_size_a > 0);
  tn_test_digest("ota.blob_a", g_blob_a, g_size_a);
  tn_ota* ota = &g_node.ota;
  TN_CHECK_EQ(ota->table.running, TN_OTA_NO_SLOT);

  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 0, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  ota_send_result r;
  ota_test_send(ota, g_blob_a, g_size_a, 0, CHUNK, &r);
  TN_CHECK_STATUS(r.status, TN_OK);
  TN_CHECK_EQ(r.bytes_sent, g_size_a);
  TN_CHECK_EQ(ota->transfer.committed, g_size_a);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_EMPTY);
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(slot_of(0)->model_version, 1);
  TN_CHECK_EQ(slot_of(0)->model_id[0], 0x11);
  TN_CHECK_EQ(ota->transfer.state, TN_OTA_TRANSFER_COMMITTED);
  /* A repeated commit (a lost ACK) is answered without work. */
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_VALID);

  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_OK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_PENDING_CONFIRM);
  TN_CHECK_EQ(ota->table.running, 0);
  TN_CHECK_EQ(ota->table.previous, TN_OTA_NO_SLOT);
  TN_CHECK_EQ(ota->table.rollback_floor, 0);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 0), TN_OK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(ota->table.rollback_floor, 1);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 0), TN_OK); /* idempotent */
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_OK);

  /* Version 2 into the other slot: the first one stays as the fallback. */
  g_size_b = model_blob(0x11, 2, 2, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_b, g_size_b, 1, CHUNK), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_PENDING_CONFIRM);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(ota->table.previous, 0);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_OK);
  TN_CHECK_EQ(ota->table.rollback_floor, 2);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_ACTIVE);

  /* The HELLO view and the persisted state survive a reset. */
  tn_link_slot slots[TN_OTA_MAX_SLOTS];
  uint8_t count = 0;
  tn_ota_link_slots(ota, slots, &count);
  TN_CHECK_EQ(count, 2);
  TN_CHECK_EQ(slots[1].state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(slots[1].model_version, 2);
  TN_CHECK_EQ(slots[0].state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(slots[0].model_version, 1);
  digest_status("ota.status.after_two_updates");
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  TN_CHECK_EQ(ota->table.running, 1);
  TN_CHECK_EQ(ota->table.previous, 0);
  TN_CHECK_EQ(ota->table.rollback_floor, 2);
  TN_CHECK_EQ(ota->trust.set, 1);
  TN_CHECK_EQ(ota->booted_revert, 0);
  digest_status("ota.status.after_reset");
}

TN_TEST(ds_cnn_update_through_the_blob_buffer) {
  /* A keyword spotter of realistic size on a flash that cannot be mapped:
   * hashing reads the slot in blocks, the blob is copied to the buffer. */
  ota_test_node_init(&g_node);
  ota_test_flash_init(&g_node.flash, 2, 65536, 0, 0);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_test_key(g_key, 1);
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_OK);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  spec.seed = 5;
  g_size_a = signed_blob(&spec, g_blob_a);
  TN_REQUIRE(g_size_a > 20000);
  deploy(g_blob_a, g_size_a, 1);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(g_node.flash.bytes_written, g_size_a);
  tn_test_digest("ota.ds_cnn.blob", g_blob_a, g_size_a);
}

/* ---- Refusals, each with its own status -------------------------------- */

TN_TEST(tampered_signature_is_refused) {
  fresh_node();
  g_size_a = model_blob(0x21, 1, 1, g_blob_a);
  /* r of the signature section (the last 64 bytes are r || s). */
  g_blob_a[g_size_a - 64 + 5] ^= 0x01;
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_ERR_BLOB_SIGNATURE);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_FAILED);
  TN_CHECK_EQ(slot_of(0)->reason, TN_ERR_BLOB_SIGNATURE);
  TN_CHECK_EQ(g_node.ota.transfer.state, TN_OTA_TRANSFER_NONE);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 0), TN_ERR_SLOT);

  /* Signed by another key: the key id does not match. */
  uint8_t other[TN_OTA_PUBLIC_KEY_SIZE];
  ota_test_key(other, 2);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  TN_REQUIRE(ota_build_blob(&spec, g_blob_a, sizeof(g_blob_a), &g_size_a) ==
             TN_OK);
  TN_CHECK_STATUS(ota_test_sign(g_blob_a, g_size_a, other), TN_OK);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_ERR_BLOB_SIGNATURE);

  /* A body byte changed after signing: the blob digest no longer matches. */
  g_size_a = model_blob(0x21, 1, 1, g_blob_a);
  g_blob_a[g_size_a / 2] ^= 0x10; /* inside the weights */
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_ERR_BLOB_CHECKSUM);
  TN_CHECK_EQ(slot_of(0)->reason, TN_ERR_BLOB_CHECKSUM);
  digest_status("ota.status.tampered");
}

TN_TEST(wrong_target_is_refused) {
  fresh_node();
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.target = TN_TARGET_GAP8;
  g_size_a = signed_blob(&spec, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 1, CHUNK),
                  TN_ERR_BLOB_TARGET);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_FAILED);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_BLOB_TARGET);
}

TN_TEST(older_counter_is_refused) {
  fresh_node();
  g_size_a = model_blob(0x31, 5, 5, g_blob_a);
  deploy(g_blob_a, g_size_a, 0);
  TN_CHECK_EQ(g_node.ota.table.rollback_floor, 5);
  g_size_b = model_blob(0x31, 4, 4, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_b, g_size_b, 1, CHUNK),
                  TN_ERR_ROLLBACK);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_FAILED);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_ROLLBACK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_ACTIVE);
  /* An equal counter is not older: a new version may keep it. */
  g_size_b = model_blob(0x31, 6, 5, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_b, g_size_b, 1, CHUNK),
                  TN_OK);
}

TN_TEST(checksum_of_the_written_bytes) {
  fresh_node();
  g_size_a = model_blob(0x41, 1, 1, g_blob_a);
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 0, &m);
  m.sha256[3] ^= 0x01; /* the agent announced another hash */
  TN_CHECK_STATUS(tn_ota_begin(&g_node.ota, &m), TN_OK);
  ota_send_result r;
  ota_test_send(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK, &r);
  TN_CHECK_STATUS(r.status, TN_OK);
  TN_CHECK_STATUS(tn_ota_commit(&g_node.ota, m.artifact_id),
                  TN_ERR_BLOB_CHECKSUM);
  TN_CHECK_EQ(slot_of(0)->reason, TN_ERR_BLOB_CHECKSUM);
}

TN_TEST(unsigned_blobs_need_the_development_switch) {
  fresh_node();
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.reserve_signature = 0;
  g_size_a = signed_blob(&spec, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_ERR_BLOB_SIGNATURE);
  TN_CHECK_EQ(slot_of(0)->reason, TN_ERR_BLOB_SIGNATURE);

  g_node.cfg.accept_unsigned = 1;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_OK);
  /* Signed blobs are still verified on such a node. */
  g_size_b = model_blob(0x12, 1, 1, g_blob_b);
  g_blob_b[g_size_b - 1] ^= 0x01;
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_b, g_size_b, 1, CHUNK),
                  TN_ERR_BLOB_SIGNATURE);
}

TN_TEST(commit_without_a_model_key_waits_for_one) {
  ota_test_node_init(&g_node);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_test_key(g_key, 1);
  g_size_a = model_blob(0x51, 1, 1, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_ERR_BLOB_SIGNATURE);
  /* The bytes stay: no FAILED slot, the transfer is complete. */
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_EMPTY);
  TN_CHECK_EQ(g_node.ota.transfer.state, TN_OTA_TRANSFER_RECEIVING);
  TN_CHECK_EQ(g_node.ota.transfer.committed, g_size_a);
  /* An invalid key is refused and changes nothing. */
  uint8_t bad[TN_OTA_PUBLIC_KEY_SIZE];
  ota_test_key(bad, 3);
  bad[1] = 0;
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, bad), TN_ERR_KEY_INVALID);
  bad[0] = 0x02;
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, bad), TN_ERR_KEY_INVALID);
  TN_CHECK_EQ(g_node.ota.trust.set, 0);
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_OK);
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 0, &m);
  TN_CHECK_STATUS(tn_ota_commit(&g_node.ota, m.artifact_id), TN_OK);
  /* The key is persisted. */
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_EQ(g_node.ota.trust.set, 1);
  TN_CHECK(memcmp(g_node.ota.trust.public_key, g_key, sizeof(g_key)) == 0);
}

TN_TEST(a_blob_without_canary_cannot_be_self_tested) {
  fresh_node();
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.canary = 0;
  g_size_a = signed_blob(&spec, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_ERR_SELFTEST);
  TN_CHECK_EQ(slot_of(0)->reason, TN_ERR_SELFTEST);
  g_node.cfg.allow_no_canary = 1;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 0), TN_OK);
}

TN_TEST(a_model_larger_than_the_arena_is_refused_at_commit) {
  fresh_node();
  g_node.cfg.arena_size = 256;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  g_size_a = model_blob(0x61, 1, 1, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_ERR_MEMORY_BUDGET);
}

/* ---- Self-test and automatic revert ------------------------------------ */

TN_TEST(faulty_model_reverts_by_itself) {
  fresh_node();
  g_size_a = model_blob(0x71, 1, 1, g_blob_a);
  deploy(g_blob_a, g_size_a, 0);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.model_byte = 0x71;
  spec.version = 2;
  spec.counter = 2;
  spec.canary = 2; /* expected output off by one bit */
  g_size_b = signed_blob(&spec, g_blob_b);
  tn_ota* ota = &g_node.ota;
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_b, g_size_b, 1, CHUNK), TN_OK);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_ERR_SELFTEST);
  TN_CHECK_EQ(ota->table.running, 0);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(slot_of(0)->model_version, 1);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_FAILED);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_SELFTEST);
  TN_CHECK_EQ(ota->table.rollback_floor, 1);
  TN_CHECK_EQ(ota->stats.reverts, 1);
  TN_CHECK_EQ(ota->transfer.state, TN_OTA_TRANSFER_NONE);
  tn_link_model_status_reply st;
  tn_ota_status(ota, &st);
  TN_CHECK_EQ(st.slots[1].reason, TN_ERR_SELFTEST);
  TN_CHECK_EQ(st.running_slot, 0);
  /* A FAILED slot cannot be activated; it can be written again. */
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_ERR_SLOT);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_ERR_SLOT);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_EQ(ota->table.running, 0);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_SELFTEST);
  digest_status("ota.status.selftest_revert");
}

TN_TEST(a_faulty_first_model_leaves_no_model_running) {
  fresh_node();
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.canary = 2;
  g_size_a = signed_blob(&spec, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 0), TN_ERR_SELFTEST);
  TN_CHECK_EQ(g_node.ota.table.running, TN_OTA_NO_SLOT);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_FAILED);
}

TN_TEST(slot_bytes_changed_after_commit_fail_the_trial) {
  fresh_node();
  g_size_a = model_blob(0x72, 1, 1, g_blob_a);
  deploy(g_blob_a, g_size_a, 0);
  g_size_b = model_blob(0x72, 2, 2, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_b, g_size_b, 1, CHUNK),
                  TN_OK);
  /* A bit flips in the stored weights of slot 1. */
  g_node.flash.mem.data[65536 + 400] ^= 0x04;
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 1), TN_ERR_BLOB_CHECKSUM);
  TN_CHECK_EQ(g_node.ota.table.running, 0);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_BLOB_CHECKSUM);
}

/* ---- Confirm, rollback and the anti-rollback floor --------------------- */

TN_TEST(rollback_returns_to_the_previous_slot) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  g_size_a = model_blob(0x81, 1, 3, g_blob_a);
  deploy(g_blob_a, g_size_a, 0);
  TN_CHECK_STATUS(tn_ota_rollback(ota, 0), TN_ERR_SLOT); /* no previous */
  g_size_b = model_blob(0x81, 2, 3, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_b, g_size_b, 1, CHUNK), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
  /* On trial: ROLLBACK abandons the trial. */
  TN_CHECK_STATUS(tn_ota_rollback(ota, 0), TN_ERR_SLOT); /* not running */
  TN_CHECK_STATUS(tn_ota_rollback(ota, 1), TN_OK);
  TN_CHECK_EQ(ota->table.running, 0);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(ota->table.previous, 1);
  /* Confirmed, then rolled back: same counter, so allowed. */
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_OK);
  TN_CHECK_STATUS(tn_ota_rollback(ota, 1), TN_OK);
  TN_CHECK_EQ(ota->table.running, 0);
  TN_CHECK_EQ(slot_of(0)->model_version, 1);

  /* A version whose counter the floor passed never runs again. */
  ota_test_node_init(&g_node);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_STATUS(tn_ota_set_model_key(ota, g_key), TN_OK);
  g_size_a = model_blob(0x82, 1, 1, g_blob_a);
  deploy(g_blob_a, g_size_a, 0);
  g_size_b = model_blob(0x82, 2, 2, g_blob_b);
  deploy(g_blob_b, g_size_b, 1);
  TN_CHECK_EQ(ota->table.rollback_floor, 2);
  TN_CHECK_STATUS(tn_ota_rollback(ota, 1), TN_ERR_ROLLBACK);
  TN_CHECK_EQ(ota->table.running, 1);
  /* The revoked slot cannot be activated either. */
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_ERR_ROLLBACK);
}

TN_TEST(slot_commands_check_their_slot) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  TN_CHECK_STATUS(tn_ota_activate(ota, 2), TN_ERR_SLOT);
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_ERR_SLOT); /* EMPTY */
  TN_CHECK_STATUS(tn_ota_confirm(ota, 0), TN_ERR_SLOT);
  TN_CHECK_STATUS(tn_ota_rollback(ota, 0), TN_ERR_SLOT);
  g_size_a = model_blob(0x91, 1, 1, g_blob_a);
  g_size_b = model_blob(0x92, 1, 1, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_a, g_size_a, 0, CHUNK), TN_OK);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_b, g_size_b, 1, CHUNK), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_OK);
  /* One trial at a time. */
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_ERR_SLOT);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_ERR_SLOT);
  /* The running slot and the fallback of a trial are not written. */
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_b, g_size_b, 0, &m);
  m.artifact_id[0] ^= 1;
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_ERR_SLOT);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 0), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
  m.target_slot = 0; /* the fallback of the trial in slot 1 */
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_ERR_SLOT);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_OK);
  /* Confirmed: the previous slot may now be overwritten. */
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_EMPTY);
  TN_CHECK_EQ(ota->table.previous, TN_OTA_NO_SLOT);
}

/* ---- Resets ------------------------------------------------------------ */

/* Sends g_blob_a into slot 1 in `chunk`-byte chunks; at the chunk that
 * fails (a reset), reboots and resumes from the node's offset. Returns the
 * bytes sent in total. */
static uint32_t send_with_resets(uint32_t chunk, int max_resets) {
  tn_ota* ota = &g_node.ota;
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 1, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  uint32_t sent = 0;
  uint32_t from = 0;
  for (int round = 0; round <= max_resets; ++round) {
    ota_send_result r;
    ota_test_send(ota, g_blob_a, g_size_a, from, chunk, &r);
    sent += r.bytes_sent;
    if (r.status == TN_OK) break;
    /* The node resets; the agent reconnects, asks where to resume. */
    g_node.storage.fail_after = -1;
    g_node.flash.cut_after = -1;
    TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
    TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK); /* resumes */
    tn_link_model_status_reply st;
    tn_ota_status(ota, &st);
    TN_CHECK_EQ(st.transfer, TN_LINK_TRANSFER_RECEIVING);
    from = st.committed_offset;
  }
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  return sent;
}

TN_TEST(reset_mid_write_resumes_at_the_committed_offset) {
  fresh_node();
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  g_size_a = signed_blob(&spec, g_blob_a);
  TN_REQUIRE(g_size_a > 10 * CHUNK);

  /* Power cut inside the 7th flash write: half a chunk reached the flash,
   * the progress record did not move. */
  g_node.flash.cut_after = 6;
  uint32_t sent = send_with_resets(CHUNK, 1);
  TN_CHECK(sent <= g_size_a + CHUNK);
  TN_CHECK(sent > g_size_a);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);

  /* Power cut while the progress record of the 12th chunk is written (the
   * record is torn, its older copy still holds): one chunk again. */
  fresh_node();
  g_node.storage.fail_after = 12; /* begin, then 11 chunks */
  g_node.storage.tear = 1;
  sent = send_with_resets(CHUNK, 1);
  TN_CHECK(sent <= g_size_a + CHUNK);
  TN_CHECK(sent > g_size_a); /* the reset did happen */
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
}

TN_TEST(progress_interval_bounds_the_resend) {
  fresh_node();
  g_node.cfg.progress_interval = 4096;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  g_size_a = signed_blob(&spec, g_blob_a);
  int writes_before = g_node.storage.writes;
  g_node.flash.cut_after = 15;
  uint32_t sent = send_with_resets(512, 1);
  TN_CHECK(sent <= g_size_a + 4096 + 512);
  TN_CHECK(sent > g_size_a);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
  /* Far fewer progress records than chunks. */
  TN_CHECK(g_node.storage.writes - writes_before < (int)(g_size_a / 512) / 4);
}

TN_TEST(reset_on_trial_reverts_at_boot) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  g_size_a = model_blob(0xA1, 1, 1, g_blob_a);
  deploy(g_blob_a, g_size_a, 0);
  g_size_b = model_blob(0xA1, 2, 2, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_b, g_size_b, 1, CHUNK), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_PENDING_CONFIRM);
  /* Reset before CONFIRM. */
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_EQ(ota->booted_revert, 1);
  TN_CHECK_EQ(ota->table.running, 0);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_FAILED);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_OTA_TRIAL_RESET);
  TN_CHECK_EQ(ota->table.rollback_floor, 1);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_ERR_SLOT);
  /* The revert itself is persisted: the next boot changes nothing. */
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_EQ(ota->booted_revert, 0);
  TN_CHECK_EQ(ota->table.running, 0);

  /* A faulty model whose revert record cannot be written (the reset comes
   * right after the self-test): the boot rule finishes the revert. */
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.model_byte = 0xA1;
  spec.version = 3;
  spec.counter = 3;
  spec.canary = 2;
  g_size_b = signed_blob(&spec, g_blob_b);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_b, g_size_b, 1, CHUNK), TN_OK);
  g_node.storage.fail_after = 1; /* the trial record, then nothing */
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_ERR_STORAGE);
  g_node.storage.fail_after = -1;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_EQ(ota->table.running, 0);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(slot_of(1)->reason, TN_ERR_OTA_TRIAL_RESET);
}

TN_TEST(reset_between_commit_records) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  g_size_a = model_blob(0xA2, 1, 1, g_blob_a);
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 0, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  ota_send_result r;
  ota_test_send(ota, g_blob_a, g_size_a, 0, CHUNK, &r);
  /* The slot table record is written, the transfer record is not. */
  g_node.storage.fail_after = 1;
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_ERR_STORAGE);
  g_node.storage.fail_after = -1;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(ota->transfer.state, TN_OTA_TRANSFER_NONE);
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_OK);
}

/* ---- Repeats and hostile inputs ---------------------------------------- */

TN_TEST(duplicate_chunks_are_idempotent) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  g_size_a = model_blob(0xB1, 1, 1, g_blob_a);
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 0, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  TN_CHECK_STATUS(tn_ota_chunk(ota, 0, g_blob_a, 500), TN_OK);
  uint32_t written = g_node.flash.bytes_written;
  int records = g_node.storage.writes;
  TN_CHECK_STATUS(tn_ota_chunk(ota, 0, g_blob_a, 500), TN_OK);
  TN_CHECK_STATUS(tn_ota_chunk(ota, 100, g_blob_a + 100, 400), TN_OK);
  TN_CHECK_EQ(g_node.flash.bytes_written, written);
  TN_CHECK_EQ(g_node.storage.writes, records);
  TN_CHECK_EQ(ota->stats.chunks_repeated, 2);
  /* A chunk that overlaps the end of the received bytes adds the rest. */
  TN_CHECK_STATUS(tn_ota_chunk(ota, 300, g_blob_a + 300, 500), TN_OK);
  TN_CHECK_EQ(ota->received, 800);
  TN_CHECK_EQ(g_node.flash.bytes_written, written + 300);
  /* MODEL_BEGIN again (a reconnect) keeps the progress. */
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  TN_CHECK_EQ(ota->received, 800);
  ota_send_result r;
  ota_test_send(ota, g_blob_a, g_size_a, 800, CHUNK, &r);
  TN_CHECK_STATUS(r.status, TN_OK);
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
}

TN_TEST(hostile_inputs_are_refused) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  g_size_a = model_blob(0xC1, 1, 1, g_blob_a);
  uint8_t id[16] = {0};
  /* Nothing started. */
  TN_CHECK_STATUS(tn_ota_chunk(ota, 0, g_blob_a, 10), TN_ERR_STATE);
  TN_CHECK_STATUS(tn_ota_commit(ota, id), TN_ERR_NOT_FOUND);
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 0, &m);
  /* Above the slot, zero, and a slot that does not exist. */
  m.total_size = 65537;
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_ERR_OTA_SIZE);
  m.total_size = 0;
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_ERR_OTA_SIZE);
  m.total_size = (uint32_t)g_size_a;
  m.target_slot = 2;
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_ERR_SLOT);
  m.target_slot = 0;
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  /* Out of order: a gap. Past the end. */
  TN_CHECK_STATUS(tn_ota_chunk(ota, 1018, g_blob_a + 1018, 10),
                  TN_ERR_OTA_OFFSET);
  TN_CHECK_STATUS(
      tn_ota_chunk(ota, (uint32_t)g_size_a - 5, g_blob_a + g_size_a - 5, 10),
      TN_ERR_OTA_OFFSET);
  TN_CHECK_STATUS(tn_ota_chunk(ota, 0xFFFFFFF0u, g_blob_a, 16),
                  TN_ERR_OTA_OFFSET);
  TN_CHECK_STATUS(tn_ota_chunk(ota, 0, g_blob_a, 0), TN_ERR_ARG);
  TN_CHECK_EQ(ota->received, 0);
  TN_CHECK_EQ(g_node.flash.bytes_written, 0);
  TN_CHECK_STATUS(tn_ota_chunk(ota, 0, g_blob_a, 1000), TN_OK);
  /* Commit too early, or of another artifact. */
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_ERR_OTA_INCOMPLETE);
  TN_CHECK_STATUS(tn_ota_commit(ota, id), TN_ERR_NOT_FOUND);
  TN_CHECK_EQ(ota->stats.chunks_refused, 5);
  /* A new artifact into the same slot restarts at 0. */
  ota_test_begin_msg(g_blob_a, g_size_a - 8, 0, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  TN_CHECK_EQ(ota->received, 0);
  /* A blob larger than the blob buffer of an unmappable flash. */
  g_node.cfg.blob_buffer_size = 1024;
  g_node.flash.mappable = 0;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_test_begin_msg(g_blob_a, g_size_a, 1, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_ERR_OTA_SIZE);
}

TN_TEST(nor_flash_is_erased_ahead_of_the_writes) {
  ota_test_node_init(&g_node);
  ota_test_flash_init(&g_node.flash, 2, 65536, 4096, 1);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_test_key(g_key, 1);
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_OK);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  g_size_a = signed_blob(&spec, g_blob_a);
  /* Old contents in the slot: a write without an erase would AND them. */
  memset(g_node.flash.mem.data + 65536, 0x0F, 65536);
  /* A reset inside the write of chunk 4, [4072, 5090), which begins the
   * erase unit at 4096: after the reset that unit is erased again. */
  g_node.flash.cut_after = 4;
  uint32_t sent = send_with_resets(CHUNK, 1);
  TN_CHECK(sent <= g_size_a + CHUNK);
  TN_CHECK(sent > g_size_a);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(g_node.flash.mem.erases, (g_size_a + 4095) / 4096 + 1);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 1), TN_OK);
}

/* ---- Records ----------------------------------------------------------- */

TN_TEST(records_survive_a_damaged_copy) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  g_size_a = model_blob(0xD1, 1, 1, g_blob_a);
  deploy(g_blob_a, g_size_a, 0);
  uint8_t current = ota->table_copy;
  const char* name =
      current == 0 ? TN_OTA_TABLE_REGION_A : TN_OTA_TABLE_REGION_B;
  /* The newest copy is damaged: the older one (PENDING_CONFIRM of slot 0)
   * is used, and the boot rule reverts that trial. */
  TN_REQUIRE(ota_test_storage_damage(&g_node.storage, name));
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  TN_CHECK_EQ(ota->booted_revert, 1);
  TN_CHECK_EQ(slot_of(0)->reason, TN_ERR_OTA_TRIAL_RESET);
  /* Both copies damaged: refused, never silently reset. (A lone first
   * write cut short is different: see below.) */
  TN_REQUIRE(ota_test_storage_damage(&g_node.storage, TN_OTA_TABLE_REGION_A));
  TN_REQUIRE(ota_test_storage_damage(&g_node.storage, TN_OTA_TABLE_REGION_B));
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_ERR_STORAGE);
}

/* Firmware from before deltas wrote 58-byte transfer records (the fields
 * up to `committed`). A node updated mid-transfer reads such a record as
 * the blob transfer it describes and resumes it. */
TN_TEST(a_transfer_record_from_before_deltas_resumes) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  g_size_a = signed_blob(&spec, g_blob_a);
  TN_REQUIRE(g_size_a > 10 * CHUNK);
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, g_size_a, 1, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  for (uint32_t off = 0; off < 8 * CHUNK; off += CHUNK) {
    TN_CHECK_STATUS(tn_ota_chunk(ota, off, g_blob_a + off, CHUNK), TN_OK);
  }
  uint32_t committed = ota->transfer.committed;
  TN_REQUIRE(committed > 0);

  /* Both copies rewritten as the older firmware would have written them:
   * same header, the first 58 body bytes, a new CRC. */
  tn_ota_storage io = ota_test_storage_interface(&g_node.storage);
  const char* regions[2] = {TN_OTA_TRANSFER_REGION_A, TN_OTA_TRANSFER_REGION_B};
  int rewritten = 0;
  for (int i = 0; i < 2; ++i) {
    uint8_t rec[TN_OTA_RECORD_MAX];
    size_t len = 0;
    if (io.read(io.ctx, regions[i], rec, sizeof(rec), &len) != TN_OK) continue;
    TN_REQUIRE(len == TN_OTA_RECORD_HEADER + TN_OTA_TRANSFER_BODY + 4u);
    size_t old_len = TN_OTA_RECORD_HEADER + 58u + 4u;
    tn_store_u32le(rec + old_len - 4, tn_link_crc32(0, rec, old_len - 4));
    TN_CHECK_STATUS(io.write(io.ctx, regions[i], rec, old_len), TN_OK);
    ++rewritten;
  }
  TN_REQUIRE(rewritten >= 1);

  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  TN_CHECK_EQ(ota->transfer.state, TN_OTA_TRANSFER_RECEIVING);
  TN_CHECK_EQ(ota->transfer.kind, TN_OTA_KIND_BLOB);
  TN_CHECK_EQ(ota->transfer.base_slot, TN_OTA_NO_SLOT);
  TN_CHECK_EQ(ota->transfer.committed, committed);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK); /* resumes */
  ota_send_result r;
  ota_test_send(ota, g_blob_a, g_size_a, committed, CHUNK, &r);
  TN_CHECK_STATUS(r.status, TN_OK);
  TN_CHECK_STATUS(tn_ota_commit(ota, m.artifact_id), TN_OK);
  TN_CHECK_EQ(slot_of(1)->state, TN_LINK_SLOT_VALID);
  /* The next record is written in today's size. */
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  TN_CHECK_EQ(ota->transfer.state, TN_OTA_TRANSFER_COMMITTED);

  /* Any other size is still refused. */
  uint8_t rec[TN_OTA_RECORD_MAX];
  size_t len = 0;
  const char* newest = ota->transfer_copy == 0 ? TN_OTA_TRANSFER_REGION_A
                                               : TN_OTA_TRANSFER_REGION_B;
  TN_REQUIRE(io.read(io.ctx, newest, rec, sizeof(rec), &len) == TN_OK);
  size_t odd_len = TN_OTA_RECORD_HEADER + 60u + 4u;
  tn_store_u32le(rec + odd_len - 4, tn_link_crc32(0, rec, odd_len - 4));
  TN_CHECK_STATUS(io.write(io.ctx, newest, rec, odd_len), TN_OK);
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_ERR_STORAGE);
}

TN_TEST(a_first_record_cut_short_means_no_record) {
  ota_test_node_init(&g_node);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_test_key(g_key, 1);
  g_node.storage.fail_after = 0;
  g_node.storage.tear = 1;
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_ERR_STORAGE);
  g_node.storage.fail_after = -1;
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  TN_CHECK_EQ(g_node.ota.trust.set, 0);
  TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key), TN_OK);
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  TN_CHECK_EQ(g_node.ota.trust.set, 1);
}

TN_TEST(a_failed_record_write_changes_nothing) {
  fresh_node();
  tn_ota* ota = &g_node.ota;
  g_size_a = model_blob(0xD2, 1, 1, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_a, g_size_a, 0, CHUNK), TN_OK);
  g_node.storage.fail_after = 0;
  g_node.storage.tear = 1;
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_ERR_STORAGE);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(ota->table.running, TN_OTA_NO_SLOT);
  TN_CHECK_STATUS(tn_ota_set_model_key(ota, g_key), TN_ERR_STORAGE);
  g_node.storage.fail_after = -1;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  TN_CHECK_EQ(slot_of(0)->state, TN_LINK_SLOT_VALID);
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_OK);
}

TN_TEST(configuration_is_checked) {
  ota_test_node_init(&g_node);
  tn_ota* ota = &g_node.ota;
  g_node.cfg.target = TN_TARGET_UNSPECIFIED;
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_ERR_ARG);
  ota_test_node_init(&g_node);
  g_node.cfg.arena = (uint8_t*)g_node.cfg.arena + 4;
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_ERR_ARG);
  ota_test_node_init(&g_node);
  g_node.cfg.verifier.verify = NULL;
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_ERR_ARG);
  ota_test_node_init(&g_node);
  g_node.flash.mappable = 0;
  g_node.cfg.blob_buffer = NULL;
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_ota_open(NULL, &g_node.cfg), TN_ERR_NULL);
  /* A slot table written for two slots does not load with three. */
  fresh_node();
  g_size_a = model_blob(0xE1, 1, 1, g_blob_a);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob_a, g_size_a, 0, CHUNK), TN_OK);
  ota_test_flash_init(&g_node.flash, 3, 16384, 0, 1);
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_ERR_STORAGE);
  /* A transfer too large for smaller slots is dropped at boot. */
  fresh_node();
  tn_link_model_begin m;
  ota_test_begin_msg(g_blob_a, 30000, 1, &m);
  TN_CHECK_STATUS(tn_ota_begin(ota, &m), TN_OK);
  g_node.flash.mem.slot_size = 16384; /* same memory, smaller slots */
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
  TN_CHECK_EQ(ota->transfer.state, TN_OTA_TRANSFER_NONE);
}

TN_TEST(default_verifier_is_the_crypto_port) {
  /* Without a verifier the node uses device/secure's crypto port: on rv32
   * (no port) it cannot take a key nor verify; on the host the stand-in key
   * is not a point on P-256. */
  ota_test_node_init(&g_node);
  memset(&g_node.cfg.verifier, 0, sizeof(g_node.cfg.verifier));
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_test_key(g_key, 1);
  uint8_t digest[32] = {0};
  if (tn_secure_crypto_available()) {
    TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key),
                    TN_ERR_KEY_INVALID);
    TN_CHECK_STATUS(tn_p256_ecdsa_verify(g_key, digest, digest, digest),
                    TN_ERR_KEY_INVALID);
  } else {
    TN_CHECK_STATUS(tn_ota_set_model_key(&g_node.ota, g_key),
                    TN_ERR_UNSUPPORTED);
    TN_CHECK_STATUS(tn_p256_ecdsa_verify(g_key, digest, digest, digest),
                    TN_ERR_UNSUPPORTED);
  }
  TN_CHECK_EQ(g_node.ota.trust.set, 0);
  /* Unsigned blobs still work on a development node without a port. */
  g_node.cfg.accept_unsigned = 1;
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.reserve_signature = 0;
  TN_REQUIRE(ota_build_blob(&spec, g_blob_a, sizeof(g_blob_a), &g_size_a) ==
             TN_OK);
  TN_CHECK_STATUS(ota_test_install(&g_node.ota, g_blob_a, g_size_a, 0, CHUNK),
                  TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(&g_node.ota, 0), TN_OK);
}

/* ---- The link handler -------------------------------------------------- */

static tn_status handle(uint8_t type, const uint8_t* p, size_t n,
                        uint8_t* reply_type, uint8_t* reply,
                        size_t* reply_len) {
  return tn_ota_handle(&g_node.ota, type, p, n, reply_type, reply, 128,
                       reply_len);
}

TN_TEST(link_handler_runs_the_requests) {
  ota_test_node_init(&g_node);
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  ota_test_key(g_key, 1);
  g_size_a = model_blob(0xF1, 1, 1, g_blob_a);
  uint8_t p[TN_LINK_MAX_PAYLOAD];
  uint8_t reply[128];
  uint8_t rt = 0;
  size_t n = 0, rn = 0;

  tn_link_set_model_key k;
  memcpy(k.public_key, g_key, sizeof(g_key));
  TN_REQUIRE(tn_link_set_model_key_encode(&k, p, sizeof(p), &n) == TN_OK);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_SET_MODEL_KEY, p, n, &rt, reply, &rn),
                  TN_OK);
  TN_CHECK_EQ(rt, 0);

  tn_link_model_begin b;
  ota_test_begin_msg(g_blob_a, g_size_a, 1, &b);
  TN_REQUIRE(tn_link_model_begin_encode(&b, p, sizeof(p), &n) == TN_OK);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_MODEL_BEGIN, p, n, &rt, reply, &rn),
                  TN_OK);
  for (uint32_t off = 0; off < g_size_a; off += CHUNK) {
    tn_link_model_chunk c;
    c.offset = off;
    c.data_len = (uint16_t)(g_size_a - off < CHUNK ? g_size_a - off : CHUNK);
    c.data = g_blob_a + off;
    TN_REQUIRE(tn_link_model_chunk_encode(&c, p, sizeof(p), &n) == TN_OK);
    TN_CHECK_STATUS(handle(TN_LINK_MSG_MODEL_CHUNK, p, n, &rt, reply, &rn),
                    TN_OK);
  }
  TN_CHECK_STATUS(handle(TN_LINK_MSG_MODEL_STATUS, NULL, 0, &rt, reply, &rn),
                  TN_OK);
  TN_CHECK_EQ(rt, TN_LINK_MSG_MODEL_STATUS_REPLY);
  tn_link_model_status_reply st;
  TN_REQUIRE(tn_link_model_status_reply_decode(reply, rn, &st) == TN_OK);
  TN_CHECK_EQ(st.transfer, TN_LINK_TRANSFER_RECEIVING);
  TN_CHECK_EQ(st.committed_offset, g_size_a);
  TN_CHECK_EQ(st.key_state, TN_LINK_MODEL_KEY_SET);
  tn_test_digest("ota.link.status_received", reply, rn);

  tn_link_model_commit c;
  memcpy(c.artifact_id, b.artifact_id, 16);
  TN_REQUIRE(tn_link_model_commit_encode(&c, p, sizeof(p), &n) == TN_OK);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_MODEL_COMMIT, p, n, &rt, reply, &rn),
                  TN_OK);
  tn_link_slot_command sc = {1};
  TN_REQUIRE(tn_link_slot_command_encode(&sc, p, sizeof(p), &n) == TN_OK);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_ACTIVATE, p, n, &rt, reply, &rn), TN_OK);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_CONFIRM, p, n, &rt, reply, &rn), TN_OK);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_ROLLBACK, p, n, &rt, reply, &rn),
                  TN_ERR_SLOT);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_MODEL_STATUS, NULL, 0, &rt, reply, &rn),
                  TN_OK);
  tn_test_digest("ota.link.status_confirmed", reply, rn);

  /* Malformed payloads and foreign types. */
  TN_CHECK_STATUS(handle(TN_LINK_MSG_MODEL_BEGIN, p, 3, &rt, reply, &rn),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_MODEL_STATUS, p, 1, &rt, reply, &rn),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_ACTIVATE, p, 0, &rt, reply, &rn),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(handle(TN_LINK_MSG_PING, p, 4, &rt, reply, &rn),
                  TN_ERR_MSG_TYPE);
  TN_CHECK(tn_ota_handles(TN_LINK_MSG_SET_MODEL_KEY));
  TN_CHECK(!tn_ota_handles(TN_LINK_MSG_SET_GATEWAY_KEY));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(full_update_verifies_activates_and_confirms),
      TN_CASE(ds_cnn_update_through_the_blob_buffer),
      TN_CASE(tampered_signature_is_refused),
      TN_CASE(wrong_target_is_refused),
      TN_CASE(older_counter_is_refused),
      TN_CASE(checksum_of_the_written_bytes),
      TN_CASE(unsigned_blobs_need_the_development_switch),
      TN_CASE(commit_without_a_model_key_waits_for_one),
      TN_CASE(a_blob_without_canary_cannot_be_self_tested),
      TN_CASE(a_model_larger_than_the_arena_is_refused_at_commit),
      TN_CASE(faulty_model_reverts_by_itself),
      TN_CASE(a_faulty_first_model_leaves_no_model_running),
      TN_CASE(slot_bytes_changed_after_commit_fail_the_trial),
      TN_CASE(rollback_returns_to_the_previous_slot),
      TN_CASE(slot_commands_check_their_slot),
      TN_CASE(reset_mid_write_resumes_at_the_committed_offset),
      TN_CASE(progress_interval_bounds_the_resend),
      TN_CASE(reset_on_trial_reverts_at_boot),
      TN_CASE(reset_between_commit_records),
      TN_CASE(duplicate_chunks_are_idempotent),
      TN_CASE(hostile_inputs_are_refused),
      TN_CASE(nor_flash_is_erased_ahead_of_the_writes),
      TN_CASE(records_survive_a_damaged_copy),
      TN_CASE(a_transfer_record_from_before_deltas_resumes),
      TN_CASE(a_first_record_cut_short_means_no_record),
      TN_CASE(a_failed_record_write_changes_nothing),
      TN_CASE(configuration_is_checked),
      TN_CASE(default_verifier_is_the_crypto_port),
      TN_CASE(link_handler_runs_the_requests),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
