/*
 * libFuzzer target for the telemetry key agreement, where a node and a
 * gateway take public keys from the outside. The input goes to the
 * KEY_INFO_REPLY and SET_GATEWAY_KEY payload decoders (an accepted payload
 * must re-encode to the same bytes); its first 65 bytes, read as a public
 * key, go to point validation and to ECDH from both a fixed private key and
 * the gateway's derivation (validation and ECDH must agree, and a refused
 * key must leave no secret behind); and the input, framed as KEY_INFO or
 * SET_GATEWAY_KEY, goes to a virtual node with telemetry, whose answer must
 * be one valid response frame.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "link/tn_link.h"
#include "secure/tn_secure.h"
#include "sim/tn_sim.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

static const uint8_t kPrivate[32] = {
    0x45, 0xf1, 0xa0, 0x0d, 0xa4, 0x62, 0xcb, 0xec, 0x8b, 0xbc, 0xb5,
    0xf8, 0x3c, 0x74, 0x71, 0x5c, 0x9a, 0xe2, 0x2b, 0xb5, 0x94, 0x61,
    0x12, 0xcd, 0xc1, 0x2b, 0x42, 0xac, 0x39, 0xb6, 0x19, 0xb9};

static tn_status fixed_entropy(void* ctx, uint8_t* out, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; ++i) out[i] = (uint8_t)(0x21 + i);
  return TN_OK;
}

static void check_codecs(const uint8_t* p, size_t n) {
  static uint8_t again[TN_LINK_MAX_PAYLOAD];
  size_t len = 0;
  tn_link_key_info_reply r;
  if (tn_link_key_info_reply_decode(p, n, &r) == TN_OK) {
    REQUIRE(tn_link_key_info_reply_encode(&r, again, sizeof(again), &len) ==
            TN_OK);
    REQUIRE(len == n && memcmp(again, p, n) == 0);
  }
  tn_link_set_gateway_key s;
  if (tn_link_set_gateway_key_decode(p, n, &s) == TN_OK) {
    REQUIRE(tn_link_set_gateway_key_encode(&s, again, sizeof(again), &len) ==
            TN_OK);
    REQUIRE(len == n && memcmp(again, p, n) == 0);
  }
  REQUIRE((tn_link_key_info_decode(p, n) == TN_OK) == (n == 0));
}

static void check_public_key(const uint8_t* data, size_t size) {
  if (size < TN_P256_PUBLIC_KEY_SIZE) return;
  uint8_t pub[TN_P256_PUBLIC_KEY_SIZE];
  memcpy(pub, data, sizeof(pub));
  tn_status valid = tn_p256_check_public_key(pub);
  REQUIRE(valid == TN_OK || valid == TN_ERR_KEY_INVALID);
  tn_seal_key key;
  memset(&key, 0x5A, sizeof(key));
  tn_status st = tn_seal_derive_gateway_side(
      kPrivate, pub, (const uint8_t*)"dev-fuzz", 8, &key);
  REQUIRE(st == valid);
  if (st != TN_OK) {
    /* Untouched on failure. */
    for (size_t i = 0; i < sizeof(key.aes_key); ++i) {
      REQUIRE(key.aes_key[i] == 0x5A);
    }
  }
}

/* The response must be exactly one valid response frame for `req`. */
static void check_response(const tn_link_frame* req, const uint8_t* out,
                           size_t len) {
  static tn_link_decoder rdec;
  tn_link_decoder_init(&rdec);
  size_t used = 0;
  const tn_link_frame* r = NULL;
  REQUIRE(tn_link_decoder_feed(&rdec, out, len, &used, &r) == TN_OK);
  REQUIRE(r != NULL && used == len);
  REQUIRE(r->flags == TN_LINK_FLAG_RESPONSE && r->seq == req->seq);
  if (r->type == TN_LINK_MSG_KEY_INFO_REPLY) {
    tn_link_key_info_reply reply;
    REQUIRE(tn_link_key_info_reply_decode(r->payload, r->payload_len, &reply) ==
            TN_OK);
  } else {
    tn_link_ack a;
    REQUIRE(r->type == TN_LINK_MSG_ACK || r->type == TN_LINK_MSG_NACK);
    REQUIRE((r->type == TN_LINK_MSG_ACK
                 ? tn_link_ack_decode(r->payload, r->payload_len, &a)
                 : tn_link_nack_decode(r->payload, r->payload_len, &a)) ==
            TN_OK);
  }
}

static void check_node(const uint8_t* data, size_t size) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  static int ready = 0;
  if (!ready) {
    tn_sim_mem_storage_init(&mem);
    tn_sim_config cfg;
    tn_sim_config_init(&cfg);
    cfg.capabilities = TN_LINK_CAP_TELEMETRY;
    cfg.storage = tn_sim_mem_storage_interface(&mem);
    cfg.entropy = fixed_entropy;
    REQUIRE(tn_sim_node_open(&node, &cfg) == TN_OK);
    ready = 1;
  }
  static const uint8_t types[] = {TN_LINK_MSG_SET_GATEWAY_KEY,
                                  TN_LINK_MSG_KEY_INFO};
  size_t n = size < TN_LINK_MAX_PAYLOAD ? size : TN_LINK_MAX_PAYLOAD;
  for (size_t i = 0; i < sizeof(types); ++i) {
    /* A distinct CRC per input, so the response cache does not answer in
     * place of the handler. */
    tn_link_frame f = {types[i],
                       TN_LINK_FLAG_ACK_REQUESTED,
                       (uint16_t)(size + i),
                       (uint16_t)n,
                       data,
                       tn_link_crc32(0, data, n) + (uint32_t)i};
    const uint8_t* resp = NULL;
    size_t resp_len = 0;
    REQUIRE(tn_sim_node_handle(&node, &f, &resp, &resp_len) == TN_OK);
    REQUIRE(resp_len > 0);
    check_response(&f, resp, resp_len);
  }
}

/* Random bytes are almost never a point on the curve; a scalar from the
 * input gives a valid gateway key, which the node must accept. */
static void check_valid_key(const uint8_t* data, size_t size) {
  if (size < 33) return;
  tn_link_set_gateway_key m;
  memset(&m, 0, sizeof(m));
  if (tn_p256_public_key(data, m.gateway_public_key) != TN_OK) return;
  size_t id_len = (data[32] % TN_LINK_DEVICE_ID_MAX) + 1u;
  for (size_t i = 0; i < id_len; ++i) {
    uint8_t c = 33 + i < size ? data[33 + i] : (uint8_t)'x';
    m.device_id[i] = (char)(0x21 + c % 94u);
  }
  uint8_t p[128];
  size_t n = 0;
  REQUIRE(tn_link_set_gateway_key_encode(&m, p, sizeof(p), &n) == TN_OK);
  tn_link_set_gateway_key back;
  REQUIRE(tn_link_set_gateway_key_decode(p, n, &back) == TN_OK);
  REQUIRE(tn_p256_check_public_key(back.gateway_public_key) == TN_OK);
  check_node(p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  size_t n = size < TN_LINK_MAX_PAYLOAD ? size : TN_LINK_MAX_PAYLOAD;
  check_codecs(data, n);
  check_public_key(data, size);
  check_node(data, size);
  check_valid_key(data, size);
  return 0;
}
