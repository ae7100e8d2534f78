/*
 * libFuzzer target for the node link's untrusted-byte parsers. The input is
 * fed to the streaming decoder in chunks whose sizes derive from the input
 * itself; every frame it yields goes through every message decoder and
 * through the virtual node's handler, whose answer must itself decode as one
 * valid response frame. The raw input also goes straight to COBS decoding,
 * frame parsing and every message decoder. Any message that decodes must
 * re-encode to the identical bytes (canonical encoding).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "link/tn_link.h"
#include "sim/tn_sim.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

static uint8_t g_again[TN_LINK_MAX_PAYLOAD + 16];

/* Decodes with `dec`; on success re-encodes with `enc` and requires the same
 * bytes. */
#define CHECK_CODEC(type, name, p, n)                                          \
  do {                                                                         \
    type m_;                                                                   \
    if (tn_link_##name##_decode((p), (n), &m_) == TN_OK) {                     \
      size_t len_ = 0;                                                         \
      REQUIRE(tn_link_##name##_encode(&m_, g_again, sizeof(g_again), &len_) == \
              TN_OK);                                                          \
      REQUIRE(len_ == (n) && memcmp(g_again, (p), (n)) == 0);                  \
    }                                                                          \
  } while (0)

static void check_all_messages(const uint8_t* p, size_t n) {
  CHECK_CODEC(tn_link_hello, hello, p, n);
  CHECK_CODEC(tn_link_hello_reply, hello_reply, p, n);
  CHECK_CODEC(tn_link_ping, ping, p, n);
  CHECK_CODEC(tn_link_heartbeat, heartbeat, p, n);
  CHECK_CODEC(tn_link_ack, ack, p, n);
  CHECK_CODEC(tn_link_ack, nack, p, n);
  CHECK_CODEC(tn_link_telemetry, telemetry, p, n);
  CHECK_CODEC(tn_link_model_begin, model_begin, p, n);
  CHECK_CODEC(tn_link_model_chunk, model_chunk, p, n);
  CHECK_CODEC(tn_link_model_commit, model_commit, p, n);
  CHECK_CODEC(tn_link_slot_command, slot_command, p, n);
  CHECK_CODEC(tn_link_train, train, p, n);
  CHECK_CODEC(tn_link_update_chunk, update_chunk, p, n);
  CHECK_CODEC(tn_link_infer_request, infer_request, p, n);
  CHECK_CODEC(tn_link_infer_result, infer_result, p, n);
  CHECK_CODEC(tn_link_model_status_reply, model_status_reply, p, n);
  CHECK_CODEC(tn_link_set_model_key, set_model_key, p, n);
}

static tn_status fixed_entropy(void* ctx, uint8_t* out, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; ++i) out[i] = (uint8_t)(0xA0 + i);
  return TN_OK;
}

/* The response must be exactly one valid response frame for `req`. */
static void check_response(const tn_link_frame* req, const uint8_t* out,
                           size_t len) {
  static tn_link_decoder rdec;
  tn_link_decoder_init(&rdec);
  REQUIRE(len <= TN_LINK_MAX_WIRE_FRAME);
  size_t used = 0;
  const tn_link_frame* r = NULL;
  REQUIRE(tn_link_decoder_feed(&rdec, out, len, &used, &r) == TN_OK);
  REQUIRE(r != NULL && used == len);
  REQUIRE(r->flags == TN_LINK_FLAG_RESPONSE && r->seq == req->seq);
  check_all_messages(r->payload, r->payload_len);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tn_link_decoder dec;
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  static int ready = 0;
  static uint8_t scratch[TN_LINK_MAX_RAW_FRAME + 16];
  if (!ready) {
    tn_sim_mem_storage_init(&mem);
    tn_sim_config cfg;
    tn_sim_config_init(&cfg);
    cfg.target = TN_TARGET_GAP9;
    cfg.storage = tn_sim_mem_storage_interface(&mem);
    cfg.entropy = fixed_entropy;
    REQUIRE(tn_sim_node_open(&node, &cfg) == TN_OK);
    ready = 1;
  }
  tn_sim_node_link_reset(&node);
  tn_link_decoder_init(&dec);

  /* Direct parsers on the raw input. */
  size_t n = size < TN_LINK_MAX_PAYLOAD ? size : TN_LINK_MAX_PAYLOAD;
  check_all_messages(data, n);
  size_t out_len = 0;
  (void)tn_link_cobs_decode(data, size, scratch, sizeof(scratch), &out_len);
  tn_link_frame parsed;
  (void)tn_link_frame_parse(data, size, &parsed);

  /* The stream, in input-derived chunks. */
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < size && i < 64; ++i) h = (h ^ data[i]) * 16777619u;
  size_t pos = 0;
  while (pos < size) {
    h = h * 1664525u + 1013904223u;
    size_t chunk = 1 + (h >> 16) % 300;
    if (chunk > size - pos) chunk = size - pos;
    const uint8_t* p = data + pos;
    size_t left = chunk;
    while (left > 0) {
      size_t used = 0;
      const tn_link_frame* f = NULL;
      tn_status st = tn_link_decoder_feed(&dec, p, left, &used, &f);
      REQUIRE(used > 0 && used <= left);
      p += used;
      left -= used;
      if (st != TN_OK || f == NULL) {
        REQUIRE(f == NULL);
        continue;
      }
      REQUIRE(f->payload_len <= TN_LINK_MAX_PAYLOAD);
      check_all_messages(f->payload, f->payload_len);
      const uint8_t* resp = NULL;
      size_t resp_len = 0;
      REQUIRE(tn_sim_node_handle(&node, f, &resp, &resp_len) == TN_OK);
      if (resp_len > 0) check_response(f, resp, resp_len);
    }
    pos += chunk;
  }
  return 0;
}
