/*
 * Host-only test of the virtual node's sealed telemetry over link frames,
 * with the test playing agent and gateway: HELLO, KEY_INFO before and after
 * the key, SET_GATEWAY_KEY (and its retry answered from the cache), records
 * produced per interval and opened with the gateway's side of the key
 * agreement, identical resends until acknowledged, a NACK followed by a new
 * request for the same sealed record, resending after a new connection, a
 * power cut that skips the rest of the counter block, replays refused by the
 * window, re-keying, and refused keys. Needs the crypto port.
 */
#include <string.h>

#include "link/tn_link.h"
#include "secure/tn_secure.h"
#include "sim/tn_sim.h"
#include "telemetry/tn_telemetry.h"
#include "tn_test.h"

static const char kDeviceId[] = "dev-abcdefghij0123456789";
static const char kGatewayPrivate[] =
    "45f1a00da462cbec8bbcb5f83c74715c9ae22bb5946112cdc12b42ac39b619b9";

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

static tn_status counting_entropy(void* ctx, uint8_t* out, size_t len) {
  uint8_t* next = (uint8_t*)ctx;
  for (size_t i = 0; i < len; ++i) out[i] = (*next)++;
  return TN_OK;
}

static uint8_t g_entropy_next;

static void open_node(tn_sim_node* node, tn_sim_mem_storage* mem) {
  tn_sim_config cfg;
  tn_sim_config_init(&cfg);
  cfg.target = TN_TARGET_GAP9;
  cfg.firmware_version = "sim telemetry";
  cfg.capabilities = TN_LINK_CAP_TELEMETRY;
  cfg.storage = tn_sim_mem_storage_interface(mem);
  cfg.entropy = counting_entropy;
  cfg.entropy_ctx = &g_entropy_next;
  cfg.telemetry_interval_ms = 10000;
  cfg.telemetry_retry_ms = 1000;
  cfg.counter_block = 8;
  TN_CHECK_STATUS(tn_sim_node_open(node, &cfg), TN_OK);
}

/* Decodes one frame from wire bytes, copying its payload. */
static int parse_wire(const uint8_t* wire, size_t len, tn_link_frame* f,
                      uint8_t* payload) {
  static tn_link_decoder dec;
  tn_link_decoder_init(&dec);
  size_t used = 0;
  const tn_link_frame* got = NULL;
  if (tn_link_decoder_feed(&dec, wire, len, &used, &got) != TN_OK ||
      got == NULL) {
    return 0;
  }
  *f = *got;
  memcpy(payload, got->payload, got->payload_len);
  f->payload = payload;
  return 1;
}

/* Sends one frame to the node; returns the response's wire length (0: no
 * response) and decodes it into *resp. */
static size_t send_frame(tn_sim_node* node, const tn_link_frame* f,
                         tn_link_frame* resp, uint8_t* resp_payload) {
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  static uint8_t in_payload[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(f, wire, sizeof(wire), &n), TN_OK);
  tn_link_frame in;
  if (!parse_wire(wire, n, &in, in_payload)) return 0;
  const uint8_t* out = NULL;
  size_t out_len = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(node, &in, &out, &out_len), TN_OK);
  if (out_len == 0) return 0;
  TN_CHECK(parse_wire(out, out_len, resp, resp_payload));
  return out_len;
}

static size_t request(tn_sim_node* node, uint8_t type, uint8_t flags,
                      uint16_t seq, const uint8_t* payload, size_t len,
                      tn_link_frame* resp, uint8_t* resp_payload) {
  tn_link_frame f = {type, flags, seq, (uint16_t)len, payload, 0};
  return send_frame(node, &f, resp, resp_payload);
}

static void hello(tn_sim_node* node, uint16_t seq) {
  uint8_t p[8];
  size_t n = 0;
  tn_link_hello h = {1, 1024};
  TN_CHECK_STATUS(tn_link_hello_encode(&h, p, sizeof(p), &n), TN_OK);
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_REQUIRE(request(node, TN_LINK_MSG_HELLO, 0, seq, p, n, &resp, rp) > 0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_HELLO_REPLY);
  tn_link_hello_reply r;
  TN_CHECK_STATUS(
      tn_link_hello_reply_decode(resp.payload, resp.payload_len, &r), TN_OK);
  TN_CHECK(r.capabilities & TN_LINK_CAP_TELEMETRY);
}

static void key_info(tn_sim_node* node, uint16_t seq,
                     tn_link_key_info_reply* out) {
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_REQUIRE(request(node, TN_LINK_MSG_KEY_INFO, 0, seq, NULL, 0, &resp, rp) >
             0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_KEY_INFO_REPLY);
  TN_CHECK_EQ(resp.seq, seq);
  TN_CHECK_STATUS(
      tn_link_key_info_reply_decode(resp.payload, resp.payload_len, out),
      TN_OK);
}

/* Sends SET_GATEWAY_KEY with ACK_REQUESTED; returns the answer's status. */
static uint16_t set_gateway_key(tn_sim_node* node, uint16_t seq,
                                const uint8_t* gateway_public,
                                const char* device_id) {
  tn_link_set_gateway_key m;
  memset(&m, 0, sizeof(m));
  memcpy(m.gateway_public_key, gateway_public, 65);
  strcpy(m.device_id, device_id);
  uint8_t p[128];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_set_gateway_key_encode(&m, p, sizeof(p), &n), TN_OK);
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  if (request(node, TN_LINK_MSG_SET_GATEWAY_KEY, TN_LINK_FLAG_ACK_REQUESTED,
              seq, p, n, &resp, rp) == 0) {
    TN_CHECK(0);
    return 0xFFFF;
  }
  tn_link_ack a;
  if (resp.type == TN_LINK_MSG_ACK) {
    TN_CHECK_STATUS(tn_link_ack_decode(resp.payload, resp.payload_len, &a),
                    TN_OK);
  } else {
    TN_CHECK_EQ(resp.type, TN_LINK_MSG_NACK);
    TN_CHECK_STATUS(tn_link_nack_decode(resp.payload, resp.payload_len, &a),
                    TN_OK);
  }
  TN_CHECK_EQ(a.acked_type, TN_LINK_MSG_SET_GATEWAY_KEY);
  return a.status;
}

/* Answers the node's request `seq` with ACK (status 0) or NACK. */
static void answer(tn_sim_node* node, uint16_t seq, uint16_t status) {
  tn_link_ack a = {seq, TN_LINK_MSG_TELEMETRY, status};
  uint8_t p[8];
  size_t n = 0;
  if (status == 0) {
    TN_CHECK_STATUS(tn_link_ack_encode(&a, p, sizeof(p), &n), TN_OK);
  } else {
    TN_CHECK_STATUS(tn_link_nack_encode(&a, p, sizeof(p), &n), TN_OK);
  }
  tn_link_frame f = {
      status == 0 ? (uint8_t)TN_LINK_MSG_ACK : (uint8_t)TN_LINK_MSG_NACK,
      TN_LINK_FLAG_RESPONSE,
      seq,
      (uint16_t)n,
      p,
      0};
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_CHECK_EQ(send_frame(node, &f, &resp, rp), 0); /* never answered */
}

/* One TELEMETRY frame as the agent receives it. */
typedef struct sent {
  uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  size_t wire_len;
  tn_link_frame frame;
  uint8_t payload[TN_LINK_MAX_PAYLOAD];
  tn_link_telemetry msg;
} sent;

/* Polls at `now`; returns 1 with *s filled when the node sent a frame. */
static int poll_at(tn_sim_node* node, uint64_t now, sent* s) {
  const uint8_t* wire = NULL;
  size_t len = 0;
  TN_CHECK_STATUS(tn_sim_node_poll(node, now, &wire, &len), TN_OK);
  if (len == 0) return 0;
  memcpy(s->wire, wire, len);
  s->wire_len = len;
  if (!parse_wire(wire, len, &s->frame, s->payload)) {
    TN_CHECK(0); /* the node sent bytes that do not decode */
    return 0;
  }
  TN_CHECK_EQ(s->frame.type, TN_LINK_MSG_TELEMETRY);
  TN_CHECK_EQ(s->frame.flags, TN_LINK_FLAG_ACK_REQUESTED);
  TN_CHECK(s->frame.payload_len <= TN_LINK_MIN_PAYLOAD);
  TN_CHECK_STATUS(
      tn_link_telemetry_decode(s->frame.payload, s->frame.payload_len, &s->msg),
      TN_OK);
  return 1;
}

/* The agent relays the sealed bytes of the frame; the gateway opens the
 * record, checks the counter against the window and the link's low 32 bits,
 * and decodes the record. Returns the counter (0 when refused). */
static uint64_t gateway_ingest(const tn_seal_key* key, tn_seal_window* w,
                               const sent* s, tn_telemetry_record* rec) {
  tn_link_frame f;
  uint8_t payload[TN_LINK_MAX_PAYLOAD];
  tn_link_telemetry msg;
  if (!parse_wire(s->wire, s->wire_len, &f, payload) ||
      tn_link_telemetry_decode(f.payload, f.payload_len, &msg) != TN_OK) {
    TN_CHECK(0);
    return 0;
  }
  uint8_t plain[TN_SEAL_MAX_PLAINTEXT];
  size_t plain_len = 0;
  uint64_t counter = 0;
  tn_status st = tn_seal_open(key, msg.record, msg.record_len, plain,
                              sizeof(plain), &plain_len, &counter);
  if (st != TN_OK) return 0;
  TN_CHECK_EQ(msg.record_counter, (uint32_t)counter);
  if (tn_seal_window_check(w, counter) != TN_OK) return 0;
  TN_CHECK_STATUS(tn_telemetry_record_decode(plain, plain_len, rec), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_accept(w, counter), TN_OK);
  return counter;
}

TN_TEST(full_flow_over_frames) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  g_entropy_next = 0x10;
  open_node(&node, &mem);
  sent s;
  TN_CHECK_EQ(poll_at(&node, 0, &s), 0);
  hello(&node, 1);

  /* (a) The agent reads the node's public key: no gateway key yet. */
  tn_link_key_info_reply info;
  key_info(&node, 2, &info);
  TN_CHECK_EQ(info.key_state, TN_LINK_KEY_STATE_NONE);
  TN_CHECK_STATUS(tn_p256_check_public_key(info.node_public_key), TN_OK);
  TN_CHECK(memcmp(info.node_public_key, node.sealer.node_key.public_key, 65) ==
           0);
  TN_CHECK_EQ(poll_at(&node, 20000, &s), 0); /* no key: nothing sent */

  /* (b) Enrollment (the gateway side of this test) and (c) the key. */
  uint8_t gateway_private[32];
  uint8_t gateway_public[65];
  hex(kGatewayPrivate, gateway_private, 32);
  TN_CHECK_STATUS(tn_p256_public_key(gateway_private, gateway_public), TN_OK);
  tn_seal_key gateway_key;
  TN_CHECK_STATUS(
      tn_seal_derive_gateway_side(gateway_private, info.node_public_key,
                                  (const uint8_t*)kDeviceId, strlen(kDeviceId),
                                  &gateway_key),
      TN_OK);
  TN_CHECK_EQ(set_gateway_key(&node, 3, gateway_public, kDeviceId), 0);
  uint32_t requests = node.stats.requests;
  TN_CHECK_EQ(set_gateway_key(&node, 3, gateway_public, kDeviceId), 0);
  TN_CHECK_EQ(node.stats.requests, requests); /* retry: from the cache */
  TN_CHECK_EQ(node.stats.repeats, 1);
  key_info(&node, 4, &info);
  TN_CHECK_EQ(info.key_state, TN_LINK_KEY_STATE_SEALING);
  TN_CHECK(strcmp(info.device_id, kDeviceId) == 0);
  TN_CHECK(memcmp(info.gateway_key_id, gateway_key.key_id, 8) == 0);

  /* First record: the 20 s since boot. */
  tn_seal_window window;
  tn_seal_window_init(&window);
  tn_telemetry_record rec;
  TN_REQUIRE(poll_at(&node, 20000, &s));
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &window, &s, &rec), 1);
  TN_CHECK_EQ(rec.interval_ms, 20000);
  TN_CHECK_EQ(rec.uptime_s, 20);
  TN_CHECK_EQ(rec.boot_count, 1);
  TN_CHECK(rec.inference_count >= 5 && rec.inference_count <= 80);
  TN_CHECK_EQ(rec.class_count, 12);
  TN_CHECK_EQ(rec.active_slot, TN_TELEMETRY_NO_SLOT);
  TN_CHECK_EQ(rec.slot_count, 2);
  TN_CHECK(rec.cycles > 0 && rec.energy_uj > 0);
  TN_CHECK(rec.confidence_mean_q16 > 0);
  uint16_t seq1 = s.frame.seq;

  /* Unanswered: nothing before the retry time, then the identical bytes. */
  sent again;
  TN_CHECK_EQ(poll_at(&node, 20999, &again), 0);
  TN_REQUIRE(poll_at(&node, 21000, &again));
  TN_CHECK(again.wire_len == s.wire_len &&
           memcmp(again.wire, s.wire, s.wire_len) == 0);
  TN_CHECK_EQ(node.stats.telemetry_resent, 1);
  /* The gateway sees the duplicate and refuses it by counter. */
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &window, &again, &rec), 0);

  /* An ACK for another seq is ignored; the right one settles it. */
  answer(&node, (uint16_t)(seq1 + 1u), 0);
  TN_CHECK_EQ(node.pending, 1);
  answer(&node, seq1, 0);
  TN_CHECK_EQ(node.pending, 0);
  TN_CHECK_EQ(node.stats.telemetry_acked, 1);
  uint32_t ignored = node.stats.responses_ignored;
  answer(&node, seq1, 0); /* a duplicated ACK */
  TN_CHECK_EQ(node.stats.responses_ignored, ignored + 1);
  TN_CHECK_EQ(poll_at(&node, 22000, &again), 0);

  /* Next interval: counter 2, a new seq. A NACK: offered again one
   * interval later, new seq, the same sealed record. */
  TN_CHECK_EQ(poll_at(&node, 29999, &s), 0);
  TN_REQUIRE(poll_at(&node, 30000, &s));
  TN_CHECK_EQ(s.msg.record_counter, 2);
  TN_CHECK_EQ(s.frame.seq, (uint16_t)(seq1 + 1u));
  answer(&node, s.frame.seq, TN_ERR_BUSY);
  TN_CHECK_EQ(node.stats.telemetry_nacked, 1);
  TN_CHECK_EQ(poll_at(&node, 39999, &again), 0);
  TN_REQUIRE(poll_at(&node, 40000, &again));
  TN_CHECK_EQ(again.frame.seq, (uint16_t)(s.frame.seq + 1u));
  TN_CHECK(again.msg.record_len == s.msg.record_len &&
           memcmp(again.msg.record, s.payload + 6, s.msg.record_len) == 0);
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &window, &again, &rec), 2);
  TN_CHECK_EQ(rec.interval_ms, 10000);
  answer(&node, again.frame.seq, 0);
  TN_CHECK_EQ(node.pending, 0);

  /* The interval that waited behind the NACK covers 30 s .. 50 s. */
  TN_REQUIRE(poll_at(&node, 50000, &s));
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &window, &s, &rec), 3);
  TN_CHECK_EQ(rec.interval_ms, 20000);
  /* A new connection before the ACK: nothing until HELLO, then the
   * identical bytes. */
  tn_sim_node_link_reset(&node);
  TN_CHECK_EQ(poll_at(&node, 50001, &again), 0);
  hello(&node, 1);
  TN_REQUIRE(poll_at(&node, 50002, &again));
  TN_CHECK(again.wire_len == s.wire_len &&
           memcmp(again.wire, s.wire, s.wire_len) == 0);
  answer(&node, s.frame.seq, 0);
  TN_CHECK_EQ(node.stats.telemetry_sent, 3);
  TN_CHECK_EQ(node.stats.telemetry_acked, 3);
  sent old_record = s;

  /* Time does not go backwards. */
  const uint8_t* wire = NULL;
  size_t wire_len = 0;
  TN_CHECK_STATUS(tn_sim_node_poll(&node, 100, &wire, &wire_len), TN_ERR_ARG);

  /* Power cut: counters 4..8 of the reserved block are never used. */
  g_entropy_next = 0x99; /* would give other keys, if drawn */
  open_node(&node, &mem);
  TN_CHECK_EQ(node.boot_count, 2);
  key_info(&node, 1, &info);
  TN_CHECK_EQ(info.key_state, TN_LINK_KEY_STATE_SEALING);
  TN_CHECK(memcmp(info.gateway_key_id, gateway_key.key_id, 8) == 0);
  TN_CHECK(memcmp(info.node_public_key, node.sealer.node_key.public_key, 65) ==
           0);
  hello(&node, 2);
  TN_REQUIRE(poll_at(&node, 10000, &s));
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &window, &s, &rec), 9);
  TN_CHECK_EQ(rec.boot_count, 2);
  answer(&node, s.frame.seq, 0);
  /* An old record replayed is refused by the window. */
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &window, &old_record, &rec), 0);

  /* Re-keying: the counter goes on; the old key no longer opens. */
  uint8_t other_private[32];
  hex("1111111111111111111111111111111111111111111111111111111111111111",
      other_private, 32);
  uint8_t other_public[65];
  TN_CHECK_STATUS(tn_p256_public_key(other_private, other_public), TN_OK);
  TN_CHECK_EQ(set_gateway_key(&node, 3, other_public, "dev-second"), 0);
  tn_seal_key other_key;
  TN_CHECK_STATUS(
      tn_seal_derive_gateway_side(other_private, info.node_public_key,
                                  (const uint8_t*)"dev-second", 10, &other_key),
      TN_OK);
  TN_REQUIRE(poll_at(&node, 20000, &s));
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &window, &s, &rec), 0);
  tn_seal_window fresh;
  tn_seal_window_init(&fresh);
  TN_CHECK_EQ(gateway_ingest(&other_key, &fresh, &s, &rec), 10);
}

TN_TEST(refused_keys_and_malformed_requests) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  g_entropy_next = 0x20;
  open_node(&node, &mem);
  hello(&node, 1);
  uint8_t gateway_private[32];
  uint8_t gateway_public[65];
  hex(kGatewayPrivate, gateway_private, 32);
  TN_CHECK_STATUS(tn_p256_public_key(gateway_private, gateway_public), TN_OK);

  uint8_t off_curve[65];
  memcpy(off_curve, gateway_public, 65);
  off_curve[64] ^= 0x01;
  TN_CHECK_EQ(set_gateway_key(&node, 2, off_curve, kDeviceId),
              TN_ERR_KEY_INVALID);
  TN_CHECK_EQ(node.sealer.keyed, 0);

  /* Malformed payloads: compressed key prefix, short, bad device id. */
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  uint8_t p[128];
  memcpy(p, gateway_public, 65);
  p[0] = 0x02;
  p[65] = 5;
  memcpy(p + 66, "dev-1", 5);
  static const struct {
    size_t len;
    size_t patch_at;
    uint8_t patch;
  } cases[] = {{71, 0, 0x02}, {70, 0, 0x04}, {71, 68, ' '}, {66, 65, 0}};
  for (size_t i = 0; i < TN_ARRAY_SIZE(cases); ++i) {
    memcpy(p, gateway_public, 65);
    p[65] = 5;
    memcpy(p + 66, "dev-1", 5);
    p[cases[i].patch_at] = cases[i].patch;
    TN_REQUIRE(request(&node, TN_LINK_MSG_SET_GATEWAY_KEY,
                       TN_LINK_FLAG_ACK_REQUESTED, (uint16_t)(10 + i), p,
                       cases[i].len, &resp, rp) > 0);
    TN_CHECK_EQ(resp.type, TN_LINK_MSG_NACK);
    tn_link_ack a;
    TN_CHECK_STATUS(tn_link_nack_decode(resp.payload, resp.payload_len, &a),
                    TN_OK);
    TN_CHECK_EQ(a.status, TN_ERR_MSG_MALFORMED);
  }
  /* KEY_INFO carries no payload. */
  TN_REQUIRE(request(&node, TN_LINK_MSG_KEY_INFO, 0, 20, p, 1, &resp, rp) > 0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_NACK);
  /* SET_GATEWAY_KEY without ACK_REQUESTED is executed but not answered. */
  tn_link_set_gateway_key m;
  memset(&m, 0, sizeof(m));
  memcpy(m.gateway_public_key, gateway_public, 65);
  strcpy(m.device_id, kDeviceId);
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_set_gateway_key_encode(&m, p, sizeof(p), &n), TN_OK);
  TN_CHECK_EQ(
      request(&node, TN_LINK_MSG_SET_GATEWAY_KEY, 0, 21, p, n, &resp, rp), 0);
  TN_CHECK_EQ(node.sealer.keyed, 1);
}

TN_TEST(storage_fault_keeps_the_record_for_later) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  g_entropy_next = 0x30;
  open_node(&node, &mem);
  hello(&node, 1);
  uint8_t gateway_private[32];
  uint8_t gateway_public[65];
  hex(kGatewayPrivate, gateway_private, 32);
  TN_CHECK_STATUS(tn_p256_public_key(gateway_private, gateway_public), TN_OK);
  TN_CHECK_EQ(set_gateway_key(&node, 2, gateway_public, kDeviceId), 0);
  tn_seal_key gateway_key;
  TN_CHECK_STATUS(tn_seal_derive_gateway_side(gateway_private,
                                              node.sealer.node_key.public_key,
                                              (const uint8_t*)kDeviceId,
                                              strlen(kDeviceId), &gateway_key),
                  TN_OK);
  /* The counter region cannot be written: the record waits, staged. */
  static tn_sim_mem_storage saved;
  saved = mem;
  for (size_t i = 0; i < TN_SIM_MEM_REGIONS; ++i) {
    if (!mem.regions[i].used) mem.regions[i].used = 1; /* storage full */
  }
  sent s;
  TN_CHECK_EQ(poll_at(&node, 15000, &s), 0);
  TN_CHECK_EQ(node.stats.telemetry_errors, 1);
  TN_CHECK_EQ(node.staged, 1);
  mem = saved;
  TN_REQUIRE(poll_at(&node, 15001, &s));
  tn_seal_window w;
  tn_seal_window_init(&w);
  tn_telemetry_record rec;
  TN_CHECK_EQ(gateway_ingest(&gateway_key, &w, &s, &rec), 1);
  TN_CHECK_EQ(rec.interval_ms, 15000); /* the staged interval, not longer */
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(full_flow_over_frames),
      TN_CASE(refused_keys_and_malformed_requests),
      TN_CASE(storage_fault_keeps_the_record_for_later),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
