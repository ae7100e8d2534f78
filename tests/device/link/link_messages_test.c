/*
 * Tests of the link message codecs: every message type round-trips through
 * encode/decode with every field preserved and canonical bytes, every
 * truncation and trailing byte is rejected, small buffers are refused, and
 * each field rule is enforced on both sides (TN_ERR_ARG when encoding,
 * TN_ERR_MSG_MALFORMED when decoding). Encoded frames are digested for the
 * host/rv32 comparison.
 */
#include <string.h>

#include "link/tn_link.h"
#include "tn_test.h"

typedef tn_status (*encode_fn)(const void* m, uint8_t* out, size_t cap,
                               size_t* n);
typedef tn_status (*decode_fn)(const uint8_t* p, size_t n, void* m);

#define CODEC(name, type)                                            \
  static tn_status enc_##name(const void* m, uint8_t* o, size_t c,   \
                              size_t* n) {                           \
    return tn_link_##name##_encode((const type*)m, o, c, n);         \
  }                                                                  \
  static tn_status dec_##name(const uint8_t* p, size_t s, void* m) { \
    return tn_link_##name##_decode(p, s, (type*)m);                  \
  }

CODEC(hello, tn_link_hello)
CODEC(hello_reply, tn_link_hello_reply)
CODEC(ping, tn_link_ping)
CODEC(heartbeat, tn_link_heartbeat)
CODEC(ack, tn_link_ack)
CODEC(nack, tn_link_ack)
CODEC(telemetry, tn_link_telemetry)
CODEC(model_begin, tn_link_model_begin)
CODEC(model_chunk, tn_link_model_chunk)
CODEC(model_commit, tn_link_model_commit)
CODEC(slot_command, tn_link_slot_command)
CODEC(train, tn_link_train)
CODEC(update_chunk, tn_link_update_chunk)
CODEC(infer_request, tn_link_infer_request)
CODEC(infer_result, tn_link_infer_result)

/* Storage for any decoded message. */
typedef union any_msg {
  tn_link_hello hello;
  tn_link_hello_reply hello_reply;
  tn_link_ping ping;
  tn_link_heartbeat heartbeat;
  tn_link_ack ack;
  tn_link_telemetry telemetry;
  tn_link_model_begin model_begin;
  tn_link_model_chunk model_chunk;
  tn_link_model_commit model_commit;
  tn_link_slot_command slot_command;
  tn_link_train train;
  tn_link_update_chunk update_chunk;
  tn_link_infer_request infer_request;
  tn_link_infer_result infer_result;
} any_msg;

static uint8_t g_payload[TN_LINK_MAX_PAYLOAD + 1];
static size_t g_payload_len;

/* Encodes `m`, decodes it into *out, and checks canonical re-encoding,
 * rejection of every truncation and of a trailing byte, refusal of every
 * too-small buffer, and that the payload frames as `type`. The encoded
 * payload stays in g_payload (decoded byte fields point into it). */
static void round_trip(const char* label, encode_fn enc, decode_fn dec,
                       const void* m, uint8_t type, any_msg* out) {
  static uint8_t again[TN_LINK_MAX_PAYLOAD + 1];
  static uint8_t probe[TN_LINK_MAX_PAYLOAD + 1];
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  size_t n = 0;
  TN_CHECK_STATUS(enc(m, g_payload, TN_LINK_MAX_PAYLOAD, &n), TN_OK);
  TN_REQUIRE(n > 0 && n <= TN_LINK_MAX_PAYLOAD);
  g_payload_len = n;
  memset(out, 0xA5, sizeof(*out));
  TN_CHECK_STATUS(dec(g_payload, n, out), TN_OK);
  size_t n2 = 0;
  TN_CHECK_STATUS(enc(out, again, sizeof(again), &n2), TN_OK);
  TN_CHECK_EQ(n2, n);
  TN_CHECK(n2 == n && memcmp(again, g_payload, n) == 0);

  any_msg scratch;
  for (size_t cut = 0; cut < n; ++cut) {
    /* Copy so that a read past `cut` would be a read of a poisoned byte
     * rather than of the valid remainder. */
    memcpy(probe, g_payload, cut);
    memset(probe + cut, 0xEE, sizeof(probe) - cut);
    TN_CHECK_STATUS(dec(probe, cut, &scratch), TN_ERR_MSG_MALFORMED);
  }
  memcpy(probe, g_payload, n);
  probe[n] = 0x00;
  TN_CHECK_STATUS(dec(probe, n + 1, &scratch), TN_ERR_MSG_MALFORMED);
  for (size_t cap = 0; cap < n; ++cap) {
    TN_CHECK_STATUS(enc(m, probe, cap, &n2), TN_ERR_BUFFER_TOO_SMALL);
  }

  tn_link_frame f = {type, 0, 0x1234, (uint16_t)n, g_payload, 0};
  if (tn_link_reply_type(type) == 0 && type != TN_LINK_MSG_HEARTBEAT) {
    f.flags = TN_LINK_FLAG_ACK_REQUESTED;
  }
  if (type == TN_LINK_MSG_HELLO_REPLY || type == TN_LINK_MSG_PONG ||
      type == TN_LINK_MSG_ACK || type == TN_LINK_MSG_NACK ||
      type == TN_LINK_MSG_INFER_RESULT) {
    f.flags = TN_LINK_FLAG_RESPONSE;
  }
  size_t wn = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, wire, sizeof(wire), &wn), TN_OK);
  tn_test_digest(label, wire, wn);
}

static void fill(uint8_t* p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; ++i) p[i] = (uint8_t)(seed + i * 13);
}

/* Expects `m` to be refused by its encoder (TN_ERR_ARG). */
static void refuse(encode_fn enc, const void* m) {
  uint8_t out[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(enc(m, out, sizeof(out), &n), TN_ERR_ARG);
}

/* ---- session messages -----------------------------------------------------
 */

TN_TEST(hello_round_trip_and_rules) {
  any_msg d;
  tn_link_hello h = {TN_LINK_VERSION, 1024};
  round_trip("msg.hello", enc_hello, dec_hello, &h, TN_LINK_MSG_HELLO, &d);
  TN_CHECK_EQ(d.hello.link_version, 1);
  TN_CHECK_EQ(d.hello.max_payload, 1024);
  TN_CHECK_EQ(g_payload_len, 3);
  TN_CHECK(g_payload[0] == 0x01 && g_payload[1] == 0x00 && g_payload[2] == 4);
  h.max_payload = TN_LINK_MIN_PAYLOAD;
  round_trip("msg.hello.min", enc_hello, dec_hello, &h, TN_LINK_MSG_HELLO, &d);
  TN_CHECK_EQ(d.hello.max_payload, 256);

  const uint8_t v0[] = {0x00, 0x00, 0x04};
  const uint8_t small[] = {0x01, 0xFF, 0x00};
  const uint8_t big[] = {0x01, 0x01, 0x04};
  TN_CHECK_STATUS(tn_link_hello_decode(v0, 3, &d.hello), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_hello_decode(small, 3, &d.hello),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_hello_decode(big, 3, &d.hello), TN_ERR_MSG_MALFORMED);
  tn_link_hello bad = {1, 1025};
  refuse(enc_hello, &bad);
  bad.max_payload = 1024;
  bad.link_version = 0;
  refuse(enc_hello, &bad);
}

static void sample_reply(tn_link_hello_reply* r) {
  memset(r, 0, sizeof(*r));
  r->link_version = TN_LINK_VERSION;
  fill(r->hardware_id, TN_LINK_HARDWARE_ID_SIZE, 0x10);
  r->target = TN_TARGET_GAP9;
  r->capabilities = TN_LINK_CAP_TELEMETRY | TN_LINK_CAP_INFER | 0x80000000u;
  r->max_payload = 1024;
  strcpy(r->firmware_version, "gap9-fw 1.4.2 (rc1)");
  r->slot_count = 2;
  r->slots[0].state = TN_LINK_SLOT_ACTIVE;
  fill(r->slots[0].model_id, TN_LINK_MODEL_ID_SIZE, 0x40);
  r->slots[0].model_version = 7;
  r->slots[1].state = TN_LINK_SLOT_VALID;
  fill(r->slots[1].model_id, TN_LINK_MODEL_ID_SIZE, 0x80);
  r->slots[1].model_version = 0x01020304u;
}

/* Decodes a copy of g_payload with byte `at` set to `value`. */
static tn_status decode_reply_patched(size_t at, uint8_t value) {
  uint8_t p[TN_LINK_MAX_PAYLOAD];
  memcpy(p, g_payload, g_payload_len);
  p[at] = value;
  tn_link_hello_reply r;
  return tn_link_hello_reply_decode(p, g_payload_len, &r);
}

TN_TEST(hello_reply_round_trip_and_rules) {
  any_msg d;
  tn_link_hello_reply r;
  sample_reply(&r);
  round_trip("msg.hello_reply", enc_hello_reply, dec_hello_reply, &r,
             TN_LINK_MSG_HELLO_REPLY, &d);
  const tn_link_hello_reply* g = &d.hello_reply;
  TN_CHECK_EQ(g->link_version, 1);
  TN_CHECK(memcmp(g->hardware_id, r.hardware_id, 16) == 0);
  TN_CHECK_EQ(g->target, TN_TARGET_GAP9);
  TN_CHECK_EQ(g->capabilities, r.capabilities);
  TN_CHECK_EQ(g->max_payload, 1024);
  TN_CHECK(strcmp(g->firmware_version, "gap9-fw 1.4.2 (rc1)") == 0);
  TN_CHECK_EQ(g->slot_count, 2);
  TN_CHECK_EQ(g->slots[0].state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(g->slots[0].model_version, 7);
  TN_CHECK(memcmp(g->slots[1].model_id, r.slots[1].model_id, 16) == 0);
  TN_CHECK_EQ(g->slots[1].model_version, 0x01020304u);
  TN_CHECK_EQ(g->slots[2].state, 0); /* unused entries are zeroed */
  TN_CHECK_EQ(g_payload_len, 26 + 19 + 2 * 21);

  /* Field offsets in the encoded reply above (see link-protocol.md). */
  const size_t kTarget = 17, kFwLen = 24, kFw = 25;
  const size_t kCount = kFw + 19, kSlot0 = kCount + 1, kSlot1 = kSlot0 + 21;
  TN_CHECK_STATUS(decode_reply_patched(0, 0), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kTarget, 0), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kTarget, 4), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kTarget, TN_TARGET_GAP8), TN_OK);
  TN_CHECK_STATUS(decode_reply_patched(kFwLen, 0), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kFwLen, 33), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kFw + 3, 0x00), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kFw + 3, 0x7F), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kFw + 3, 0x0A), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kCount, 5), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kSlot0, 5), TN_ERR_MSG_MALFORMED);
  /* Two running slots. */
  TN_CHECK_STATUS(decode_reply_patched(kSlot1, TN_LINK_SLOT_ACTIVE),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kSlot1, TN_LINK_SLOT_PENDING_CONFIRM),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(decode_reply_patched(kSlot1, TN_LINK_SLOT_FAILED), TN_OK);
  /* An EMPTY slot must carry a zero id and version. */
  TN_CHECK_STATUS(decode_reply_patched(kSlot1, TN_LINK_SLOT_EMPTY),
                  TN_ERR_MSG_MALFORMED);

  /* Encoder side of the same rules. */
  tn_link_hello_reply bad;
  sample_reply(&bad);
  memset(bad.firmware_version, 'x', TN_LINK_FIRMWARE_VERSION_MAX + 1);
  refuse(enc_hello_reply, &bad); /* 33 characters, no terminator in range */
  sample_reply(&bad);
  bad.firmware_version[0] = '\0';
  refuse(enc_hello_reply, &bad);
  sample_reply(&bad);
  bad.slots[1].state = TN_LINK_SLOT_PENDING_CONFIRM;
  refuse(enc_hello_reply, &bad);
  sample_reply(&bad);
  bad.slot_count = TN_LINK_MAX_SLOTS + 1;
  refuse(enc_hello_reply, &bad);
  sample_reply(&bad);
  bad.max_payload = 100;
  refuse(enc_hello_reply, &bad);
  sample_reply(&bad);
  bad.target = TN_TARGET_UNSPECIFIED;
  refuse(enc_hello_reply, &bad);

  /* The largest reply: 32-character version, four slots. */
  sample_reply(&r);
  memset(r.firmware_version, '~', TN_LINK_FIRMWARE_VERSION_MAX);
  r.firmware_version[TN_LINK_FIRMWARE_VERSION_MAX] = '\0';
  r.slot_count = 4;
  r.slots[2].state = TN_LINK_SLOT_FAILED;
  r.slots[3].state = TN_LINK_SLOT_EMPTY;
  round_trip("msg.hello_reply.max", enc_hello_reply, dec_hello_reply, &r,
             TN_LINK_MSG_HELLO_REPLY, &d);
  TN_CHECK_EQ(g_payload_len, 142);
  TN_CHECK(g_payload_len <= TN_LINK_MIN_PAYLOAD);
  TN_CHECK_EQ(d.hello_reply.slots[3].state, TN_LINK_SLOT_EMPTY);
  /* No slots at all is valid. */
  r.slot_count = 0;
  round_trip("msg.hello_reply.noslots", enc_hello_reply, dec_hello_reply, &r,
             TN_LINK_MSG_HELLO_REPLY, &d);
  TN_CHECK_EQ(d.hello_reply.slot_count, 0);
}

TN_TEST(ping_heartbeat_ack_round_trips) {
  any_msg d;
  tn_link_ping p = {0xDEADBEEFu};
  round_trip("msg.ping", enc_ping, dec_ping, &p, TN_LINK_MSG_PING, &d);
  TN_CHECK_EQ(d.ping.nonce, 0xDEADBEEFu);
  round_trip("msg.pong", enc_ping, dec_ping, &p, TN_LINK_MSG_PONG, &d);

  tn_link_heartbeat hb = {86400u * 3, 12, 1};
  round_trip("msg.heartbeat", enc_heartbeat, dec_heartbeat, &hb,
             TN_LINK_MSG_HEARTBEAT, &d);
  TN_CHECK_EQ(d.heartbeat.uptime_s, 86400u * 3);
  TN_CHECK_EQ(d.heartbeat.boot_count, 12);
  TN_CHECK_EQ(d.heartbeat.active_slot, 1);
  hb.active_slot = TN_LINK_NO_SLOT;
  round_trip("msg.heartbeat.noslot", enc_heartbeat, dec_heartbeat, &hb,
             TN_LINK_MSG_HEARTBEAT, &d);
  TN_CHECK_EQ(d.heartbeat.active_slot, TN_LINK_NO_SLOT);
  hb.active_slot = TN_LINK_MAX_SLOTS;
  refuse(enc_heartbeat, &hb);
  const uint8_t hb_bad[9] = {0, 0, 0, 0, 0, 0, 0, 0, 4};
  TN_CHECK_STATUS(tn_link_heartbeat_decode(hb_bad, 9, &d.heartbeat),
                  TN_ERR_MSG_MALFORMED);

  tn_link_ack a = {0xBEEF, TN_LINK_MSG_MODEL_CHUNK, TN_OK};
  round_trip("msg.ack", enc_ack, dec_ack, &a, TN_LINK_MSG_ACK, &d);
  TN_CHECK_EQ(d.ack.acked_seq, 0xBEEF);
  TN_CHECK_EQ(d.ack.acked_type, TN_LINK_MSG_MODEL_CHUNK);
  TN_CHECK_EQ(d.ack.status, 0);
  a.status = TN_ERR_UNSUPPORTED;
  round_trip("msg.nack", enc_nack, dec_nack, &a, TN_LINK_MSG_NACK, &d);
  TN_CHECK_EQ(d.ack.status, TN_ERR_UNSUPPORTED);
  /* A NACK may carry a code this build does not know. */
  a.status = 0xFFFF;
  round_trip("msg.nack.future", enc_nack, dec_nack, &a, TN_LINK_MSG_NACK, &d);
  TN_CHECK_EQ(d.ack.status, 0xFFFF);
  refuse(enc_ack, &a); /* ACK with an error */
  a.status = TN_OK;
  refuse(enc_nack, &a); /* NACK without one */
  const uint8_t ack_err[5] = {1, 0, 3, 4, 0};
  const uint8_t nack_ok[5] = {1, 0, 3, 0, 0};
  TN_CHECK_STATUS(tn_link_ack_decode(ack_err, 5, &d.ack), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_nack_decode(nack_ok, 5, &d.ack),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_nack_decode(ack_err, 5, &d.ack), TN_OK);
}

TN_TEST(telemetry_round_trip_and_limits) {
  static uint8_t record[TN_LINK_MAX_PAYLOAD];
  fill(record, sizeof(record), 3);
  any_msg d;
  tn_link_telemetry t = {41, 60, record};
  round_trip("msg.telemetry", enc_telemetry, dec_telemetry, &t,
             TN_LINK_MSG_TELEMETRY, &d);
  TN_CHECK_EQ(d.telemetry.record_counter, 41);
  TN_CHECK_EQ(d.telemetry.record_len, 60);
  TN_CHECK(memcmp(d.telemetry.record, record, 60) == 0);
  TN_CHECK(d.telemetry.record == g_payload + 6); /* borrowed, not copied */
  t.record_len = 1018; /* fills the 1024-byte payload exactly */
  round_trip("msg.telemetry.max", enc_telemetry, dec_telemetry, &t,
             TN_LINK_MSG_TELEMETRY, &d);
  TN_CHECK_EQ(g_payload_len, TN_LINK_MAX_PAYLOAD);
  t.record_len = 1019;
  refuse(enc_telemetry, &t);
  t.record_len = 0;
  refuse(enc_telemetry, &t);
  const uint8_t empty[6] = {1, 0, 0, 0, 0, 0};
  TN_CHECK_STATUS(tn_link_telemetry_decode(empty, 6, &d.telemetry),
                  TN_ERR_MSG_MALFORMED);
}

/* ---- model and learning messages ------------------------------------------
 */

TN_TEST(model_transfer_round_trips) {
  static uint8_t data[TN_LINK_MAX_PAYLOAD];
  fill(data, sizeof(data), 0x21);
  any_msg d;
  tn_link_model_begin b;
  fill(b.artifact_id, 16, 0x61);
  b.total_size = 300000;
  fill(b.sha256, 32, 0x99);
  b.target_slot = 1;
  round_trip("msg.model_begin", enc_model_begin, dec_model_begin, &b,
             TN_LINK_MSG_MODEL_BEGIN, &d);
  TN_CHECK(memcmp(d.model_begin.artifact_id, b.artifact_id, 16) == 0);
  TN_CHECK_EQ(d.model_begin.total_size, 300000);
  TN_CHECK(memcmp(d.model_begin.sha256, b.sha256, 32) == 0);
  TN_CHECK_EQ(d.model_begin.target_slot, 1);
  TN_CHECK_EQ(g_payload_len, 53);
  b.target_slot = TN_LINK_MAX_SLOTS;
  refuse(enc_model_begin, &b);
  b.target_slot = 0;
  b.total_size = 0;
  refuse(enc_model_begin, &b);

  tn_link_model_chunk c = {4096, 1018, data};
  round_trip("msg.model_chunk", enc_model_chunk, dec_model_chunk, &c,
             TN_LINK_MSG_MODEL_CHUNK, &d);
  TN_CHECK_EQ(d.model_chunk.offset, 4096);
  TN_CHECK_EQ(d.model_chunk.data_len, 1018);
  TN_CHECK(memcmp(d.model_chunk.data, data, 1018) == 0);
  /* The very last byte of a 4 GiB artifact is addressable... */
  c.offset = 0xFFFFFFFFu;
  c.data_len = 1;
  round_trip("msg.model_chunk.end", enc_model_chunk, dec_model_chunk, &c,
             TN_LINK_MSG_MODEL_CHUNK, &d);
  /* ...but not beyond. */
  c.data_len = 2;
  refuse(enc_model_chunk, &c);
  const uint8_t wrap[8] = {0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 7, 7};
  TN_CHECK_STATUS(tn_link_model_chunk_decode(wrap, 8, &d.model_chunk),
                  TN_ERR_MSG_MALFORMED);
  c.offset = 0;
  c.data_len = 0;
  refuse(enc_model_chunk, &c);
  c.data_len = 1019;
  refuse(enc_model_chunk, &c);

  tn_link_model_commit m;
  fill(m.artifact_id, 16, 0x62);
  round_trip("msg.model_commit", enc_model_commit, dec_model_commit, &m,
             TN_LINK_MSG_MODEL_COMMIT, &d);
  TN_CHECK(memcmp(d.model_commit.artifact_id, m.artifact_id, 16) == 0);

  tn_link_slot_command s = {1};
  round_trip("msg.activate", enc_slot_command, dec_slot_command, &s,
             TN_LINK_MSG_ACTIVATE, &d);
  TN_CHECK_EQ(d.slot_command.slot, 1);
  s.slot = 0;
  round_trip("msg.confirm", enc_slot_command, dec_slot_command, &s,
             TN_LINK_MSG_CONFIRM, &d);
  s.slot = 3;
  round_trip("msg.rollback", enc_slot_command, dec_slot_command, &s,
             TN_LINK_MSG_ROLLBACK, &d);
  TN_CHECK_EQ(d.slot_command.slot, 3);
  s.slot = 4;
  refuse(enc_slot_command, &s);
  const uint8_t slot4[1] = {4};
  TN_CHECK_STATUS(tn_link_slot_command_decode(slot4, 1, &d.slot_command),
                  TN_ERR_MSG_MALFORMED);
}

TN_TEST(train_update_infer_round_trips) {
  static uint8_t data[TN_LINK_MAX_PAYLOAD];
  fill(data, sizeof(data), 0x05);
  any_msg d;
  tn_link_train t = {77, 40, data};
  round_trip("msg.train", enc_train, dec_train, &t, TN_LINK_MSG_TRAIN, &d);
  TN_CHECK_EQ(d.train.job_id, 77);
  TN_CHECK_EQ(d.train.params_len, 40);
  TN_CHECK(memcmp(d.train.params, data, 40) == 0);
  t.params_len = 0; /* no parameters is valid */
  round_trip("msg.train.empty", enc_train, dec_train, &t, TN_LINK_MSG_TRAIN,
             &d);
  TN_CHECK_EQ(d.train.params_len, 0);
  t.params_len = 1019;
  refuse(enc_train, &t);

  tn_link_update_chunk u = {77, 5000, 4000, 1000, data};
  round_trip("msg.update_chunk", enc_update_chunk, dec_update_chunk, &u,
             TN_LINK_MSG_UPDATE_CHUNK, &d);
  TN_CHECK_EQ(d.update_chunk.job_id, 77);
  TN_CHECK_EQ(d.update_chunk.total_size, 5000);
  TN_CHECK_EQ(d.update_chunk.offset, 4000);
  TN_CHECK_EQ(d.update_chunk.data_len, 1000);
  TN_CHECK(memcmp(d.update_chunk.data, data, 1000) == 0);
  u.offset = 4001; /* one byte past total_size */
  refuse(enc_update_chunk, &u);
  u.offset = 0;
  u.data_len = 1011;
  u.total_size = 1011;
  refuse(enc_update_chunk, &u);
  uint8_t past[15] = {0};
  tn_store_u32le(past + 4, 10);
  tn_store_u32le(past + 8, 10);
  tn_store_u16le(past + 12, 1);
  TN_CHECK_STATUS(tn_link_update_chunk_decode(past, 15, &d.update_chunk),
                  TN_ERR_MSG_MALFORMED);

  tn_link_infer_request q = {490, data};
  round_trip("msg.infer_request", enc_infer_request, dec_infer_request, &q,
             TN_LINK_MSG_INFER_REQUEST, &d);
  TN_CHECK_EQ(d.infer_request.input_len, 490);
  TN_CHECK(memcmp(d.infer_request.input, data, 490) == 0);
  q.input_len = 0;
  refuse(enc_infer_request, &q);
  q.input_len = 1023;
  refuse(enc_infer_request, &q);

  tn_link_infer_result res = {TN_OK, 11, 1234567, 12, data};
  round_trip("msg.infer_result", enc_infer_result, dec_infer_result, &res,
             TN_LINK_MSG_INFER_RESULT, &d);
  TN_CHECK_EQ(d.infer_result.status, 0);
  TN_CHECK_EQ(d.infer_result.top_class, 11);
  TN_CHECK_EQ(d.infer_result.cycles, 1234567);
  TN_CHECK_EQ(d.infer_result.output_len, 12);
  TN_CHECK(memcmp(d.infer_result.output, data, 12) == 0);
  res.status = TN_ERR_MEMORY_BUDGET;
  refuse(enc_infer_result, &res); /* a failure carries no output */
  res.output_len = 0;
  round_trip("msg.infer_result.failed", enc_infer_result, dec_infer_result,
             &res, TN_LINK_MSG_INFER_RESULT, &d);
  TN_CHECK_EQ(d.infer_result.status, TN_ERR_MEMORY_BUDGET);
  uint8_t failed_with_output[11] = {0};
  tn_store_u16le(failed_with_output, TN_ERR_NUMERIC);
  tn_store_u16le(failed_with_output + 8, 1);
  TN_CHECK_STATUS(
      tn_link_infer_result_decode(failed_with_output, 11, &d.infer_result),
      TN_ERR_MSG_MALFORMED);
}

TN_TEST(type_tables) {
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_HELLO), TN_LINK_MSG_HELLO_REPLY);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_PING), TN_LINK_MSG_PONG);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_INFER_REQUEST),
              TN_LINK_MSG_INFER_RESULT);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_MODEL_CHUNK), 0);
  TN_CHECK(tn_link_expects_response(TN_LINK_MSG_HELLO, 0));
  TN_CHECK(!tn_link_expects_response(TN_LINK_MSG_TELEMETRY, 0));
  TN_CHECK(tn_link_expects_response(TN_LINK_MSG_TELEMETRY,
                                    TN_LINK_FLAG_ACK_REQUESTED));
  TN_CHECK(!tn_link_expects_response(TN_LINK_MSG_PONG, TN_LINK_FLAG_RESPONSE));
  TN_CHECK(tn_link_expects_response(0x7F, TN_LINK_FLAG_ACK_REQUESTED));
  TN_CHECK(tn_link_msg_type_known(TN_LINK_MSG_INFER_RESULT));
  TN_CHECK(!tn_link_msg_type_known(0x00));
  TN_CHECK(!tn_link_msg_type_known(0x7F));
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_ROLLBACK), "ROLLBACK") == 0);
  TN_CHECK(strcmp(tn_link_slot_state_str(TN_LINK_SLOT_PENDING_CONFIRM),
                  "pending-confirm") == 0);
  TN_CHECK(strcmp(tn_link_slot_state_str(9), "unknown") == 0);
  int known = 0;
  for (int t = 0; t < 256; ++t) known += tn_link_msg_type_known((uint8_t)t);
  /* With KEY_INFO, KEY_INFO_REPLY, SET_GATEWAY_KEY, MODEL_STATUS,
   * MODEL_STATUS_REPLY, SET_MODEL_KEY, MODEL_BEGIN_DELTA, TRAIN_TAIL,
   * TRAIN_STATUS, TRAIN_STATUS_REPLY, UPDATE_READ and TRAIN_CANCEL. */
  TN_CHECK_EQ(known, 30);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(hello_round_trip_and_rules),
      TN_CASE(hello_reply_round_trip_and_rules),
      TN_CASE(ping_heartbeat_ack_round_trips),
      TN_CASE(telemetry_round_trip_and_limits),
      TN_CASE(model_transfer_round_trips),
      TN_CASE(train_update_infer_round_trips),
      TN_CASE(type_tables),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
