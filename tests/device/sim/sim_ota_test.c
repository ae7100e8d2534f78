/*
 * Tests of model updates on the virtual node over link frames (in-memory
 * storage and slot flash, the OTA fixture's stand-in signatures, so they
 * also run under QEMU): the capability and slot table in HELLO, the whole
 * update as an agent sends it (SET_MODEL_KEY, MODEL_BEGIN, MODEL_CHUNK,
 * MODEL_COMMIT, ACTIVATE, CONFIRM) with ACK/NACK codes, MODEL_STATUS
 * telling where to resume after a node reset mid-transfer, retried frames
 * answered from the cache, a faulty model reverted with its reason in
 * MODEL_STATUS, a reset on trial reverted at boot, a node without slot
 * flash answering UNSUPPORTED, and -- in builds with a crypto port -- the
 * running model's id and version in the sealed telemetry.
 */
#include <string.h>

#include "link/tn_link.h"
#include "ota_fixture.h"
#include "secure/tn_secure.h"
#include "sim/tn_sim.h"
#include "telemetry/tn_telemetry.h"
#include "tn_test.h"

static tn_sim_mem_storage g_mem;
static tn_sim_node g_node;
static ota_test_flash g_flash;
static uint8_t g_blob_buffer[OTA_TEST_BLOB_MAX];
static uint64_t g_arena[65536 / 8];
static uint8_t g_blob[OTA_TEST_BLOB_MAX];
static size_t g_size;
static uint8_t g_key[TN_OTA_PUBLIC_KEY_SIZE];
static uint16_t g_seq;
static uint32_t g_capabilities;

static tn_status counting_entropy(void* ctx, uint8_t* out, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; ++i) out[i] = (uint8_t)(0x30 + i);
  return TN_OK;
}

/* Boots (or reboots) the node over g_mem and g_flash. */
static tn_status boot(void) {
  tn_sim_config cfg;
  tn_sim_config_init(&cfg);
  cfg.target = TN_TARGET_GAP9;
  cfg.firmware_version = "sim ota";
  cfg.capabilities = g_capabilities;
  cfg.storage = tn_sim_mem_storage_interface(&g_mem);
  cfg.entropy = counting_entropy;
  cfg.telemetry_interval_ms = 10000;
  tn_ota_config_init(&cfg.ota);
  cfg.ota.flash = ota_test_flash_interface(&g_flash);
  cfg.ota.blob_buffer = g_blob_buffer;
  cfg.ota.blob_buffer_size = sizeof(g_blob_buffer);
  cfg.ota.arena = g_arena;
  cfg.ota.arena_size = sizeof(g_arena);
  cfg.ota.verifier = ota_test_verifier();
  return tn_sim_node_open(&g_node, &cfg);
}

static void fresh(uint32_t capabilities) {
  tn_sim_mem_storage_init(&g_mem);
  ota_test_flash_init(&g_flash, 2, 65536, 0, 1);
  g_capabilities = capabilities;
  TN_CHECK_STATUS(boot(), TN_OK);
  ota_test_key(g_key, 1);
  g_seq = 100;
}

/* Decodes the response wire bytes into *resp (payload copied). */
static int parse(const uint8_t* wire, size_t len, tn_link_frame* resp,
                 uint8_t* payload) {
  static tn_link_decoder dec;
  tn_link_decoder_init(&dec);
  size_t used = 0;
  const tn_link_frame* f = NULL;
  if (tn_link_decoder_feed(&dec, wire, len, &used, &f) != TN_OK || f == NULL) {
    return 0;
  }
  *resp = *f;
  memcpy(payload, f->payload, f->payload_len);
  resp->payload = payload;
  return 1;
}

/* Sends one request with ACK_REQUESTED (seq given) and returns the status
 * of its ACK/NACK; a typed reply is copied to *typed (payload in
 * typed_payload) and yields 0. */
static uint16_t send_seq(uint8_t type, uint16_t seq, const uint8_t* payload,
                         size_t len, tn_link_frame* typed,
                         uint8_t* typed_payload) {
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  static uint8_t copy[TN_LINK_MAX_PAYLOAD];
  tn_link_frame f = {
      type, TN_LINK_FLAG_ACK_REQUESTED, seq, (uint16_t)len, payload, 0};
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, wire, sizeof(wire), &n), TN_OK);
  tn_link_frame in;
  if (!parse(wire, n, &in, copy)) return 0xFFFF;
  const uint8_t* out = NULL;
  size_t out_len = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(&g_node, &in, &out, &out_len), TN_OK);
  tn_link_frame resp;
  static uint8_t rp[TN_LINK_MAX_PAYLOAD];
  if (out_len == 0 || !parse(out, out_len, &resp, rp)) return 0xFFFF;
  TN_CHECK_EQ(resp.seq, seq);
  TN_CHECK_EQ(resp.flags, TN_LINK_FLAG_RESPONSE);
  if (resp.type == TN_LINK_MSG_ACK || resp.type == TN_LINK_MSG_NACK) {
    tn_link_ack a;
    tn_status st =
        resp.type == TN_LINK_MSG_ACK
            ? tn_link_ack_decode(resp.payload, resp.payload_len, &a)
            : tn_link_nack_decode(resp.payload, resp.payload_len, &a);
    TN_CHECK_STATUS(st, TN_OK);
    TN_CHECK_EQ(a.acked_type, type);
    return a.status;
  }
  if (typed != NULL) {
    *typed = resp;
    memcpy(typed_payload, resp.payload, resp.payload_len);
    typed->payload = typed_payload;
  }
  return 0;
}

static uint16_t send(uint8_t type, const uint8_t* payload, size_t len) {
  return send_seq(type, ++g_seq, payload, len, NULL, NULL);
}

static tn_link_hello_reply hello(void) {
  tn_link_hello_reply r;
  memset(&r, 0, sizeof(r));
  uint8_t p[8];
  size_t n = 0;
  tn_link_hello h = {TN_LINK_VERSION, 1024};
  TN_CHECK_STATUS(tn_link_hello_encode(&h, p, sizeof(p), &n), TN_OK);
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_CHECK_EQ(send_seq(TN_LINK_MSG_HELLO, ++g_seq, p, n, &resp, rp), 0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_HELLO_REPLY);
  TN_CHECK_STATUS(
      tn_link_hello_reply_decode(resp.payload, resp.payload_len, &r), TN_OK);
  return r;
}

static tn_link_model_status_reply model_status(void) {
  tn_link_model_status_reply m;
  memset(&m, 0, sizeof(m));
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_CHECK_EQ(send_seq(TN_LINK_MSG_MODEL_STATUS, ++g_seq, NULL, 0, &resp, rp),
              0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_MODEL_STATUS_REPLY);
  TN_CHECK_STATUS(
      tn_link_model_status_reply_decode(resp.payload, resp.payload_len, &m),
      TN_OK);
  return m;
}

static uint16_t set_model_key(void) {
  tn_link_set_model_key k;
  memcpy(k.public_key, g_key, sizeof(g_key));
  uint8_t p[80];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_set_model_key_encode(&k, p, sizeof(p), &n), TN_OK);
  return send(TN_LINK_MSG_SET_MODEL_KEY, p, n);
}

static void build(uint8_t model_byte, uint32_t version, int canary) {
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.model_byte = model_byte;
  spec.version = version;
  spec.counter = version;
  spec.seed = version;
  spec.canary = canary;
  TN_REQUIRE(ota_build_blob(&spec, g_blob, sizeof(g_blob), &g_size) == TN_OK);
  TN_CHECK_STATUS(ota_test_sign(g_blob, g_size, g_key), TN_OK);
}

static tn_link_model_begin g_begin;

static uint16_t begin(uint8_t slot) {
  ota_test_begin_msg(g_blob, g_size, slot, &g_begin);
  uint8_t p[64];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_model_begin_encode(&g_begin, p, sizeof(p), &n),
                  TN_OK);
  return send(TN_LINK_MSG_MODEL_BEGIN, p, n);
}

/* MODEL_CHUNK frames from `from` to the end, `chunk` bytes each; stops at
 * chunk number `stop_at` (counting from 0; -1: never). Returns the bytes
 * sent. */
static uint32_t chunks(uint32_t from, uint32_t chunk, int stop_at) {
  uint32_t sent = 0;
  int k = 0;
  static uint8_t p[TN_LINK_MAX_PAYLOAD];
  for (uint32_t off = from; off < g_size; off += chunk, ++k) {
    if (k == stop_at) break;
    tn_link_model_chunk c;
    c.offset = off;
    c.data_len = (uint16_t)(g_size - off < chunk ? g_size - off : chunk);
    c.data = g_blob + off;
    size_t n = 0;
    TN_CHECK_STATUS(tn_link_model_chunk_encode(&c, p, sizeof(p), &n), TN_OK);
    TN_CHECK_EQ(send(TN_LINK_MSG_MODEL_CHUNK, p, n), 0);
    sent += c.data_len;
  }
  return sent;
}

static uint16_t commit(void) {
  tn_link_model_commit c;
  memcpy(c.artifact_id, g_begin.artifact_id, 16);
  uint8_t p[16];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_model_commit_encode(&c, p, sizeof(p), &n), TN_OK);
  return send(TN_LINK_MSG_MODEL_COMMIT, p, n);
}

static uint16_t slot_command(uint8_t type, uint8_t slot) {
  uint8_t p[1] = {slot};
  return send(type, p, 1);
}

/* Full update of the current blob into `slot`. */
static void update(uint8_t slot) {
  TN_CHECK_EQ(begin(slot), 0);
  chunks(0, 1018, -1);
  TN_CHECK_EQ(commit(), 0);
  TN_CHECK_EQ(slot_command(TN_LINK_MSG_ACTIVATE, slot), 0);
  TN_CHECK_EQ(slot_command(TN_LINK_MSG_CONFIRM, slot), 0);
}

TN_TEST(update_over_frames) {
  fresh(0);
  tn_link_hello_reply r = hello();
  TN_CHECK(r.capabilities & TN_LINK_CAP_MODEL_UPDATE);
  TN_CHECK_EQ(r.slot_count, 2);
  TN_CHECK_EQ(r.slots[0].state, TN_LINK_SLOT_EMPTY);
  tn_link_model_status_reply st = model_status();
  TN_CHECK_EQ(st.transfer, TN_LINK_TRANSFER_NONE);
  TN_CHECK_EQ(st.key_state, TN_LINK_MODEL_KEY_NONE);

  TN_CHECK_EQ(set_model_key(), 0);
  build(0x51, 1, 1);
  update(0);
  r = hello();
  TN_CHECK_EQ(r.slots[0].state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(r.slots[0].model_id[0], 0x51);
  TN_CHECK_EQ(r.slots[0].model_version, 1);
  st = model_status();
  TN_CHECK_EQ(st.transfer, TN_LINK_TRANSFER_COMMITTED);
  TN_CHECK_EQ(st.running_slot, 0);
  TN_CHECK_EQ(st.rollback_floor, 1);
  TN_CHECK_EQ(st.key_state, TN_LINK_MODEL_KEY_SET);

  /* A faulty version 2: ACTIVATE is NACKed with the reason, the node runs
   * version 1 again and MODEL_STATUS says why slot 1 failed. */
  build(0x51, 2, 2);
  TN_CHECK_EQ(begin(1), 0);
  chunks(0, 1018, -1);
  TN_CHECK_EQ(commit(), 0);
  TN_CHECK_EQ(slot_command(TN_LINK_MSG_ACTIVATE, 1), TN_ERR_SELFTEST);
  r = hello();
  TN_CHECK_EQ(r.slots[0].state, TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(r.slots[1].state, TN_LINK_SLOT_FAILED);
  st = model_status();
  TN_CHECK_EQ(st.slots[1].reason, TN_ERR_SELFTEST);
  TN_CHECK_EQ(st.running_slot, 0);
  TN_CHECK_EQ(slot_command(TN_LINK_MSG_CONFIRM, 1), TN_ERR_SLOT);

  /* A blob for another target: refused at commit with its own status. */
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.target = TN_TARGET_GAP8;
  spec.version = 3;
  spec.counter = 3;
  TN_REQUIRE(ota_build_blob(&spec, g_blob, sizeof(g_blob), &g_size) == TN_OK);
  TN_CHECK_STATUS(ota_test_sign(g_blob, g_size, g_key), TN_OK);
  TN_CHECK_EQ(begin(1), 0);
  chunks(0, 1018, -1);
  TN_CHECK_EQ(commit(), TN_ERR_BLOB_TARGET);

  /* Hostile requests. */
  TN_CHECK_EQ(begin(0), TN_ERR_SLOT); /* the running slot */
  uint8_t bad_begin[53];
  memset(bad_begin, 0, sizeof(bad_begin));
  tn_store_u32le(bad_begin + 16, 65537); /* above the slot */
  bad_begin[52] = 1;
  TN_CHECK_EQ(send(TN_LINK_MSG_MODEL_BEGIN, bad_begin, 53), TN_ERR_OTA_SIZE);
  TN_CHECK_EQ(send(TN_LINK_MSG_MODEL_BEGIN, bad_begin, 52),
              TN_ERR_MSG_MALFORMED);
  TN_CHECK_EQ(slot_command(TN_LINK_MSG_ACTIVATE, 3), TN_ERR_SLOT);
  TN_CHECK_EQ(set_model_key(), 0); /* replacing the key is allowed */
  tn_test_digest("sim_ota.status", &st.slots[1].reason, 2);
}

TN_TEST(reset_mid_transfer_resumes_where_the_node_says) {
  fresh(0);
  hello();
  TN_CHECK_EQ(set_model_key(), 0);
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.ds_cnn = 1;
  TN_REQUIRE(ota_build_blob(&spec, g_blob, sizeof(g_blob), &g_size) == TN_OK);
  TN_CHECK_STATUS(ota_test_sign(g_blob, g_size, g_key), TN_OK);
  TN_CHECK_EQ(begin(1), 0);
  uint32_t sent = chunks(0, 1018, 9);
  /* The 10th chunk reaches the node half way: a reset in its write. */
  g_flash.cut_after = 0;
  {
    tn_link_model_chunk c = {9u * 1018u, 1018, g_blob + 9u * 1018u};
    uint8_t p[TN_LINK_MAX_PAYLOAD];
    size_t n = 0;
    TN_CHECK_STATUS(tn_link_model_chunk_encode(&c, p, sizeof(p), &n), TN_OK);
    TN_CHECK_EQ(send(TN_LINK_MSG_MODEL_CHUNK, p, n), TN_ERR_STORAGE);
    sent += 1018;
  }
  /* Reboot from the same storage; the agent reconnects. */
  TN_CHECK_STATUS(boot(), TN_OK);
  tn_sim_node_link_reset(&g_node);
  TN_CHECK_EQ(g_node.boot_count, 2);
  hello();
  TN_CHECK_EQ(begin(1), 0); /* the same artifact: resumed, not restarted */
  tn_link_model_status_reply st = model_status();
  TN_CHECK_EQ(st.transfer, TN_LINK_TRANSFER_RECEIVING);
  TN_CHECK_EQ(st.target_slot, 1);
  TN_CHECK_EQ(st.committed_offset, 9u * 1018u);
  TN_CHECK(memcmp(st.artifact_id, g_begin.artifact_id, 16) == 0);
  sent += chunks(st.committed_offset, 1018, -1);
  TN_CHECK(sent <= g_size + 1018);
  TN_CHECK_EQ(commit(), 0);
  TN_CHECK_EQ(slot_command(TN_LINK_MSG_ACTIVATE, 1), 0);
  /* Reset on trial: reverted at boot, the reason in MODEL_STATUS. */
  TN_CHECK_STATUS(boot(), TN_OK);
  tn_link_hello_reply r = hello();
  TN_CHECK_EQ(r.slots[1].state, TN_LINK_SLOT_FAILED);
  st = model_status();
  TN_CHECK_EQ(st.running_slot, TN_LINK_NO_SLOT);
  TN_CHECK_EQ(st.slots[1].reason, TN_ERR_OTA_TRIAL_RESET);
}

TN_TEST(retried_frames_are_answered_from_the_cache) {
  fresh(0);
  hello();
  TN_CHECK_EQ(set_model_key(), 0);
  build(0x61, 1, 1);
  TN_CHECK_EQ(begin(0), 0);
  tn_link_model_chunk c = {0, 1018, g_blob};
  uint8_t p[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_model_chunk_encode(&c, p, sizeof(p), &n), TN_OK);
  TN_CHECK_EQ(send_seq(TN_LINK_MSG_MODEL_CHUNK, 500, p, n, NULL, NULL), 0);
  uint32_t written = g_flash.bytes_written;
  uint32_t requests = g_node.stats.requests;
  /* The identical frame again (lost ACK): the cache answers. */
  TN_CHECK_EQ(send_seq(TN_LINK_MSG_MODEL_CHUNK, 500, p, n, NULL, NULL), 0);
  TN_CHECK_EQ(g_node.stats.requests, requests);
  TN_CHECK_EQ(g_node.stats.repeats, 1);
  /* The same chunk under a new seq (after a reconnect): ACKed, no write. */
  TN_CHECK_EQ(send_seq(TN_LINK_MSG_MODEL_CHUNK, 501, p, n, NULL, NULL), 0);
  TN_CHECK_EQ(g_flash.bytes_written, written);
  TN_CHECK_EQ(g_node.ota.stats.chunks_repeated, 1);
  /* A gap is refused with its own status. */
  c.offset = 3000;
  TN_CHECK_STATUS(tn_link_model_chunk_encode(&c, p, sizeof(p), &n), TN_OK);
  TN_CHECK_EQ(send(TN_LINK_MSG_MODEL_CHUNK, p, n), TN_ERR_OTA_OFFSET);
  /* Without ACK_REQUESTED a failed chunk gets no answer at all. */
  tn_link_frame f = {TN_LINK_MSG_MODEL_CHUNK, 0, 777, (uint16_t)n, p, 0};
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  static uint8_t copy[TN_LINK_MAX_PAYLOAD];
  size_t wn = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, wire, sizeof(wire), &wn), TN_OK);
  tn_link_frame in;
  TN_REQUIRE(parse(wire, wn, &in, copy));
  const uint8_t* out = NULL;
  size_t out_len = 1;
  TN_CHECK_STATUS(tn_sim_node_handle(&g_node, &in, &out, &out_len), TN_OK);
  TN_CHECK_EQ(out_len, 0);
}

TN_TEST(a_node_without_slot_flash_does_not_update) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  tn_sim_config cfg;
  tn_sim_config_init(&cfg);
  cfg.target = TN_TARGET_GAP9;
  cfg.storage = tn_sim_mem_storage_interface(&mem);
  cfg.entropy = counting_entropy;
  TN_REQUIRE(tn_sim_node_open(&node, &cfg) == TN_OK);
  TN_CHECK_EQ(node.ota_enabled, 0);
  TN_CHECK_EQ(node.info.capabilities & TN_LINK_CAP_MODEL_UPDATE, 0);
  /* MODEL_STATUS has a typed reply, so even unasked it gets a NACK. */
  tn_link_frame f = {TN_LINK_MSG_MODEL_STATUS, 0, 9, 0, NULL, 0};
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  static uint8_t copy[TN_LINK_MAX_PAYLOAD];
  size_t wn = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, wire, sizeof(wire), &wn), TN_OK);
  tn_link_frame in;
  TN_REQUIRE(parse(wire, wn, &in, copy));
  const uint8_t* out = NULL;
  size_t out_len = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &in, &out, &out_len), TN_OK);
  tn_link_frame resp;
  static uint8_t rp[TN_LINK_MAX_PAYLOAD];
  TN_REQUIRE(parse(out, out_len, &resp, rp));
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_NACK);
  tn_link_ack a;
  TN_CHECK_STATUS(tn_link_nack_decode(resp.payload, resp.payload_len, &a),
                  TN_OK);
  TN_CHECK_EQ(a.status, TN_ERR_UNSUPPORTED);
  tn_test_digest("sim_ota.unsupported_nack", out, out_len);
}

/* Opens the sealed record of a TELEMETRY frame with the gateway's side. */
static int open_record(const uint8_t* wire, size_t len, const tn_seal_key* key,
                       tn_telemetry_record* rec) {
  tn_link_frame f;
  static uint8_t payload[TN_LINK_MAX_PAYLOAD];
  if (!parse(wire, len, &f, payload) || f.type != TN_LINK_MSG_TELEMETRY) {
    return 0;
  }
  tn_link_telemetry msg;
  if (tn_link_telemetry_decode(f.payload, f.payload_len, &msg) != TN_OK) {
    return 0;
  }
  uint8_t plain[TN_SEAL_MAX_PLAINTEXT];
  size_t plain_len = 0;
  uint64_t counter = 0;
  if (tn_seal_open(key, msg.record, msg.record_len, plain, sizeof(plain),
                   &plain_len, &counter) != TN_OK) {
    return 0;
  }
  return tn_telemetry_record_decode(plain, plain_len, rec) == TN_OK;
}

TN_TEST(telemetry_reports_the_running_model) {
  if (!tn_secure_crypto_available()) return; /* sealing needs the port */
  fresh(TN_LINK_CAP_TELEMETRY);
  hello();
  /* Agree the telemetry key as an agent and gateway would. */
  uint8_t gw_private[32];
  for (int i = 0; i < 32; ++i) gw_private[i] = (uint8_t)(0x21 + i);
  uint8_t gw_public[65];
  TN_REQUIRE(tn_p256_public_key(gw_private, gw_public) == TN_OK);
  static const char kId[] = "dev-ota-telemetry";
  tn_link_set_gateway_key gk;
  memcpy(gk.gateway_public_key, gw_public, 65);
  memcpy(gk.device_id, kId, sizeof(kId));
  uint8_t p[128];
  size_t n = 0;
  TN_REQUIRE(tn_link_set_gateway_key_encode(&gk, p, sizeof(p), &n) == TN_OK);
  TN_CHECK_EQ(send(TN_LINK_MSG_SET_GATEWAY_KEY, p, n), 0);
  tn_seal_key key;
  TN_REQUIRE(tn_seal_derive_gateway_side(
                 gw_private, g_node.sealer.node_key.public_key,
                 (const uint8_t*)kId, sizeof(kId) - 1, &key) == TN_OK);

  TN_CHECK_EQ(set_model_key(), 0);
  build(0x77, 9, 1);
  update(1);
  const uint8_t* wire = NULL;
  size_t len = 0;
  TN_CHECK_STATUS(tn_sim_node_poll(&g_node, 10000, &wire, &len), TN_OK);
  TN_REQUIRE(len > 0);
  tn_telemetry_record rec;
  TN_REQUIRE(open_record(wire, len, &key, &rec));
  TN_CHECK_EQ(rec.active_slot, 1);
  TN_CHECK_EQ(rec.model_id[0], 0x77);
  TN_CHECK_EQ(rec.model_id[15], 0x77);
  TN_CHECK_EQ(rec.model_version, 9);
  TN_CHECK_EQ(rec.slot_count, 2);
  TN_CHECK_EQ(rec.slot_states[1], TN_LINK_SLOT_ACTIVE);
  TN_CHECK_EQ(rec.slot_states[0], TN_LINK_SLOT_EMPTY);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(update_over_frames),
      TN_CASE(reset_mid_transfer_resumes_where_the_node_says),
      TN_CASE(retried_frames_are_answered_from_the_cache),
      TN_CASE(a_node_without_slot_flash_does_not_update),
      TN_CASE(telemetry_reports_the_running_model),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
