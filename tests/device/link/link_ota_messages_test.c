/*
 * Tests of the model update status and trust codecs: MODEL_STATUS (empty),
 * MODEL_STATUS_REPLY and SET_MODEL_KEY round-trip with canonical bytes,
 * every truncation and a trailing byte are refused, every field rule is
 * enforced by the encoder (TN_ERR_ARG) and the decoder
 * (TN_ERR_MSG_MALFORMED), and the type tables know the new types. Encoded
 * payloads are digested for the host/rv32 comparison.
 */
#include <string.h>

#include "link/tn_link.h"
#include "tn_test.h"

static void sample_status(tn_link_model_status_reply* m) {
  memset(m, 0, sizeof(*m));
  m->transfer = TN_LINK_TRANSFER_RECEIVING;
  for (uint8_t i = 0; i < TN_LINK_ARTIFACT_ID_SIZE; ++i) {
    m->artifact_id[i] = (uint8_t)(0x40 + i);
  }
  m->target_slot = 1;
  m->total_size = 70000;
  m->committed_offset = 4072;
  m->running_slot = 0;
  m->previous_slot = TN_LINK_NO_SLOT;
  m->rollback_floor = 7;
  m->key_state = TN_LINK_MODEL_KEY_SET;
  for (uint8_t i = 0; i < TN_LINK_KEY_ID_SIZE; ++i) {
    m->model_key_id[i] = (uint8_t)(0xA0 + i);
  }
  m->slot_count = 2;
  m->slots[0].state = TN_LINK_SLOT_ACTIVE;
  m->slots[0].rollback_counter = 7;
  m->slots[1].state = TN_LINK_SLOT_EMPTY;
}

/* Encodes, decodes, compares, re-encodes; checks every truncation and a
 * trailing byte. */
static void status_round_trip(const char* label,
                              const tn_link_model_status_reply* m) {
  uint8_t p[TN_LINK_MAX_PAYLOAD];
  uint8_t again[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_model_status_reply_encode(m, p, sizeof(p), &n),
                  TN_OK);
  TN_REQUIRE(n == 42u + 7u * m->slot_count);
  tn_link_model_status_reply d;
  memset(&d, 0xA5, sizeof(d));
  TN_CHECK_STATUS(tn_link_model_status_reply_decode(p, n, &d), TN_OK);
  TN_CHECK_EQ(d.transfer, m->transfer);
  TN_CHECK(memcmp(d.artifact_id, m->artifact_id, 16) == 0);
  TN_CHECK_EQ(d.target_slot, m->target_slot);
  TN_CHECK_EQ(d.total_size, m->total_size);
  TN_CHECK_EQ(d.committed_offset, m->committed_offset);
  TN_CHECK_EQ(d.running_slot, m->running_slot);
  TN_CHECK_EQ(d.previous_slot, m->previous_slot);
  TN_CHECK_EQ(d.rollback_floor, m->rollback_floor);
  TN_CHECK_EQ(d.key_state, m->key_state);
  TN_CHECK(memcmp(d.model_key_id, m->model_key_id, 8) == 0);
  TN_CHECK_EQ(d.slot_count, m->slot_count);
  for (uint8_t i = 0; i < m->slot_count; ++i) {
    TN_CHECK_EQ(d.slots[i].state, m->slots[i].state);
    TN_CHECK_EQ(d.slots[i].reason, m->slots[i].reason);
    TN_CHECK_EQ(d.slots[i].rollback_counter, m->slots[i].rollback_counter);
  }
  size_t n2 = 0;
  TN_CHECK_STATUS(
      tn_link_model_status_reply_encode(&d, again, sizeof(again), &n2), TN_OK);
  TN_CHECK(n2 == n && memcmp(again, p, n) == 0);
  for (size_t cut = 0; cut < n; ++cut) {
    TN_CHECK_STATUS(tn_link_model_status_reply_decode(p, cut, &d),
                    TN_ERR_MSG_MALFORMED);
    TN_CHECK_STATUS(tn_link_model_status_reply_encode(m, again, cut, &n2),
                    TN_ERR_BUFFER_TOO_SMALL);
  }
  p[n] = 0;
  TN_CHECK_STATUS(tn_link_model_status_reply_decode(p, n + 1, &d),
                  TN_ERR_MSG_MALFORMED);
  tn_test_digest(label, p, n);
}

/* Expects the encoder to refuse `m` and the decoder to refuse its bytes
 * when they are produced by patching a valid encoding at `at` with `v`. */
static void refuse_status(const tn_link_model_status_reply* m) {
  uint8_t p[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_model_status_reply_encode(m, p, sizeof(p), &n),
                  TN_ERR_ARG);
}

static void refuse_patched(size_t at, uint8_t v) {
  tn_link_model_status_reply m;
  sample_status(&m);
  uint8_t p[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_REQUIRE(tn_link_model_status_reply_encode(&m, p, sizeof(p), &n) == TN_OK);
  TN_REQUIRE(at < n);
  p[at] = v;
  tn_link_model_status_reply d;
  TN_CHECK_STATUS(tn_link_model_status_reply_decode(p, n, &d),
                  TN_ERR_MSG_MALFORMED);
}

TN_TEST(model_status_is_empty) {
  uint8_t p[4];
  size_t n = 9;
  TN_CHECK_STATUS(tn_link_model_status_encode(p, sizeof(p), &n), TN_OK);
  TN_CHECK_EQ(n, 0);
  TN_CHECK_STATUS(tn_link_model_status_decode(p, 0), TN_OK);
  TN_CHECK_STATUS(tn_link_model_status_decode(p, 1), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_model_status_encode(NULL, 0, &n), TN_ERR_NULL);
}

TN_TEST(model_status_reply_round_trips) {
  tn_link_model_status_reply m;
  sample_status(&m);
  status_round_trip("msg.model_status.receiving", &m);

  /* No transfer, no key, four slots with a failure reason. */
  memset(&m, 0, sizeof(m));
  m.transfer = TN_LINK_TRANSFER_NONE;
  m.target_slot = TN_LINK_NO_SLOT;
  m.running_slot = 3;
  m.previous_slot = 1;
  m.rollback_floor = 0xFFFFFFFFu;
  m.slot_count = 4;
  m.slots[0].state = TN_LINK_SLOT_FAILED;
  m.slots[0].reason = (uint16_t)TN_ERR_SELFTEST;
  m.slots[1].state = TN_LINK_SLOT_VALID;
  m.slots[1].rollback_counter = 5;
  m.slots[2].state = TN_LINK_SLOT_EMPTY;
  m.slots[3].state = TN_LINK_SLOT_PENDING_CONFIRM;
  m.slots[3].rollback_counter = 6;
  status_round_trip("msg.model_status.idle", &m);

  /* A committed transfer; no slots at all is also a valid shape. */
  sample_status(&m);
  m.transfer = TN_LINK_TRANSFER_COMMITTED;
  m.committed_offset = m.total_size;
  status_round_trip("msg.model_status.committed", &m);
  memset(&m, 0, sizeof(m));
  m.target_slot = TN_LINK_NO_SLOT;
  m.running_slot = TN_LINK_NO_SLOT;
  m.previous_slot = TN_LINK_NO_SLOT;
  status_round_trip("msg.model_status.no_slots", &m);
}

TN_TEST(model_status_reply_rules) {
  tn_link_model_status_reply m;
  sample_status(&m);
  m.transfer = 3;
  refuse_status(&m);
  sample_status(&m);
  m.committed_offset = m.total_size + 1;
  refuse_status(&m);
  sample_status(&m);
  m.total_size = 0;
  m.committed_offset = 0;
  refuse_status(&m);
  sample_status(&m);
  m.target_slot = 2; /* >= slot_count */
  refuse_status(&m);
  sample_status(&m);
  m.transfer = TN_LINK_TRANSFER_COMMITTED; /* but not every byte */
  refuse_status(&m);
  sample_status(&m);
  m.transfer = TN_LINK_TRANSFER_NONE; /* with an artifact */
  refuse_status(&m);
  sample_status(&m);
  m.running_slot = 2;
  refuse_status(&m);
  sample_status(&m);
  m.previous_slot = 0; /* = running */
  refuse_status(&m);
  sample_status(&m);
  m.key_state = 2;
  refuse_status(&m);
  sample_status(&m);
  m.key_state = TN_LINK_MODEL_KEY_NONE; /* with a key id */
  refuse_status(&m);
  sample_status(&m);
  m.slots[1].state = 5;
  refuse_status(&m);
  sample_status(&m);
  m.slots[0].reason = 1; /* reason on a slot that did not fail */
  refuse_status(&m);
  sample_status(&m);
  m.slot_count = 5;
  refuse_status(&m);

  /* The same rules on the decoding side. Offsets: transfer 0, artifact 1,
   * target 17, total 18, committed 22, running 26, previous 27, floor 28,
   * key state 32, key id 33, slot count 41, slots 42 (state, reason,
   * counter). */
  refuse_patched(0, 3);
  refuse_patched(17, 2);
  refuse_patched(26, 2);
  refuse_patched(27, 0);
  refuse_patched(32, 2);
  refuse_patched(41, 3);    /* count disagrees with the length */
  refuse_patched(42, 6);    /* slot state */
  refuse_patched(43, 0x01); /* reason on an ACTIVE slot */
  refuse_patched(25, 0xFF); /* committed offset above the total */
}

TN_TEST(set_model_key_round_trips) {
  tn_link_set_model_key m;
  for (size_t i = 0; i < TN_LINK_PUBLIC_KEY_SIZE; ++i) {
    m.public_key[i] = (uint8_t)(i * 7 + 3);
  }
  m.public_key[0] = 0x04;
  uint8_t p[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_set_model_key_encode(&m, p, sizeof(p), &n), TN_OK);
  TN_CHECK_EQ(n, TN_LINK_PUBLIC_KEY_SIZE);
  tn_link_set_model_key d;
  TN_CHECK_STATUS(tn_link_set_model_key_decode(p, n, &d), TN_OK);
  TN_CHECK(memcmp(d.public_key, m.public_key, n) == 0);
  for (size_t cut = 0; cut < n; ++cut) {
    TN_CHECK_STATUS(tn_link_set_model_key_decode(p, cut, &d),
                    TN_ERR_MSG_MALFORMED);
  }
  TN_CHECK_STATUS(tn_link_set_model_key_decode(p, n + 1, &d),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_set_model_key_encode(&m, p, n - 1, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
  tn_test_digest("msg.set_model_key", p, TN_LINK_PUBLIC_KEY_SIZE);
  m.public_key[0] = 0x02; /* compressed points are not accepted */
  TN_CHECK_STATUS(tn_link_set_model_key_encode(&m, p, sizeof(p), &n),
                  TN_ERR_ARG);
  p[0] = 0x02;
  TN_CHECK_STATUS(tn_link_set_model_key_decode(p, TN_LINK_PUBLIC_KEY_SIZE, &d),
                  TN_ERR_MSG_MALFORMED);
}

TN_TEST(type_tables_know_the_new_types) {
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_MODEL_STATUS),
              TN_LINK_MSG_MODEL_STATUS_REPLY);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_SET_MODEL_KEY), 0);
  TN_CHECK(tn_link_expects_response(TN_LINK_MSG_MODEL_STATUS, 0));
  TN_CHECK(!tn_link_expects_response(TN_LINK_MSG_SET_MODEL_KEY, 0));
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_MODEL_STATUS),
                  "MODEL_STATUS") == 0);
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_MODEL_STATUS_REPLY),
                  "MODEL_STATUS_REPLY") == 0);
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_SET_MODEL_KEY),
                  "SET_MODEL_KEY") == 0);
  TN_CHECK_EQ(TN_LINK_MSG_MODEL_STATUS, 0x23);
  TN_CHECK_EQ(TN_LINK_MSG_MODEL_STATUS_REPLY, 0x24);
  TN_CHECK_EQ(TN_LINK_MSG_SET_MODEL_KEY, 0x2B);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(model_status_is_empty),
      TN_CASE(model_status_reply_round_trips),
      TN_CASE(model_status_reply_rules),
      TN_CASE(set_model_key_round_trips),
      TN_CASE(type_tables_know_the_new_types),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
