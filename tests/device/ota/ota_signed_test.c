/*
 * Host-only tests of signed model updates with real ECDSA P-256: blobs are
 * signed with mbedTLS the way the gateway's model compiler signs them
 * (ota_ecdsa.h), and the node verifies them through the crypto port (the
 * default verifier). Also checks tn_p256_ecdsa_verify itself.
 */
#include <string.h>

#include "ota/tn_ota.h"
#include "ota_ecdsa.h"
#include "ota_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"
#include "tn_test.h"

static ota_test_node g_node;
static uint8_t g_blob[OTA_TEST_BLOB_MAX];
static size_t g_size;

static ota_signer g_gateway;
static ota_signer g_intruder;

static void make_signer(ota_signer* s, uint8_t seed) {
  TN_CHECK_STATUS(ota_signer_init(s, seed), TN_OK);
}

static int ecdsa_sign(const ota_signer* s, const uint8_t hash[32],
                      uint8_t r[32], uint8_t sig_s[32]) {
  return ota_signer_sign_hash(s, hash, r, sig_s) == TN_OK ? 0 : -1;
}

static void build(uint8_t model_byte, uint32_t version, uint32_t counter,
                  tn_target target, const ota_signer* s) {
  ota_blob_spec spec;
  ota_blob_spec_init(&spec);
  spec.model_byte = model_byte;
  spec.version = version;
  spec.counter = counter;
  spec.target = target;
  spec.seed = version;
  TN_REQUIRE(ota_build_blob(&spec, g_blob, sizeof(g_blob), &g_size) == TN_OK);
  TN_CHECK_STATUS(ota_signer_sign_blob(s, g_blob, g_size), TN_OK);
}

/* A node that uses the crypto port to verify. */
static void crypto_node(void) {
  ota_test_node_init(&g_node);
  memset(&g_node.cfg.verifier, 0, sizeof(g_node.cfg.verifier));
  TN_CHECK_STATUS(ota_test_node_boot(&g_node), TN_OK);
}

TN_TEST(ecdsa_verify_through_the_port) {
  make_signer(&g_gateway, 1);
  uint8_t hash[32], r[32], s[32];
  for (int i = 0; i < 32; ++i) hash[i] = (uint8_t)(i * 11);
  TN_REQUIRE(ecdsa_sign(&g_gateway, hash, r, s) == 0);
  TN_CHECK_STATUS(tn_p256_ecdsa_verify(g_gateway.public_key, hash, r, s),
                  TN_OK);
  hash[0] ^= 1;
  TN_CHECK_STATUS(tn_p256_ecdsa_verify(g_gateway.public_key, hash, r, s),
                  TN_ERR_AUTH);
  hash[0] ^= 1;
  s[31] ^= 1;
  TN_CHECK_STATUS(tn_p256_ecdsa_verify(g_gateway.public_key, hash, r, s),
                  TN_ERR_AUTH);
  s[31] ^= 1;
  uint8_t zero[32] = {0};
  TN_CHECK_STATUS(tn_p256_ecdsa_verify(g_gateway.public_key, hash, zero, s),
                  TN_ERR_AUTH);
  uint8_t all_ff[32];
  memset(all_ff, 0xFF, sizeof(all_ff)); /* above the group order */
  TN_CHECK_STATUS(tn_p256_ecdsa_verify(g_gateway.public_key, hash, r, all_ff),
                  TN_ERR_AUTH);
  uint8_t bad_key[TN_OTA_PUBLIC_KEY_SIZE];
  memcpy(bad_key, g_gateway.public_key, sizeof(bad_key));
  bad_key[64] ^= 1; /* off the curve */
  TN_CHECK_STATUS(tn_p256_ecdsa_verify(bad_key, hash, r, s),
                  TN_ERR_KEY_INVALID);
  TN_CHECK_STATUS(tn_p256_ecdsa_verify(NULL, hash, r, s), TN_ERR_NULL);
}

TN_TEST(signed_update_with_the_gateway_key) {
  make_signer(&g_gateway, 1);
  make_signer(&g_intruder, 2);
  crypto_node();
  tn_ota* ota = &g_node.ota;

  /* The key must be a point on the curve. */
  uint8_t bad_key[TN_OTA_PUBLIC_KEY_SIZE];
  memcpy(bad_key, g_gateway.public_key, sizeof(bad_key));
  bad_key[40] ^= 1;
  TN_CHECK_STATUS(tn_ota_set_model_key(ota, bad_key), TN_ERR_KEY_INVALID);
  TN_CHECK_STATUS(tn_ota_set_model_key(ota, g_gateway.public_key), TN_OK);

  build(0x11, 1, 1, TN_TARGET_GAP9, &g_gateway);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 0, 1018), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_OK);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 0), TN_OK);

  /* A tampered signature. */
  build(0x11, 2, 2, TN_TARGET_GAP9, &g_gateway);
  g_blob[g_size - 1] ^= 0x01;
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 1, 1018),
                  TN_ERR_BLOB_SIGNATURE);
  TN_CHECK_EQ(ota->table.slots[1].reason, TN_ERR_BLOB_SIGNATURE);
  /* Signed by someone else, with the right key id copied in. */
  build(0x11, 2, 2, TN_TARGET_GAP9, &g_intruder);
  uint8_t id[32];
  TN_REQUIRE(tn_sha256(g_gateway.public_key, 65, id) == TN_OK);
  memcpy(g_blob + g_size - 72, id, 8); /* key id precedes r || s */
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 1, 1018),
                  TN_ERR_BLOB_SIGNATURE);
  /* Another target, an older counter. */
  build(0x11, 2, 2, TN_TARGET_HOST, &g_gateway);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 1, 1018),
                  TN_ERR_BLOB_TARGET);
  build(0x11, 0, 0, TN_TARGET_GAP9, &g_gateway);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 1, 1018),
                  TN_ERR_ROLLBACK);
  /* And the good next version. */
  build(0x11, 2, 2, TN_TARGET_GAP9, &g_gateway);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 1, 1018), TN_OK);
  TN_CHECK_STATUS(tn_ota_activate(ota, 1), TN_OK);
  TN_CHECK_STATUS(tn_ota_confirm(ota, 1), TN_OK);
  TN_CHECK_EQ(ota->table.rollback_floor, 2);

  /* After a reset the stored key still verifies. */
  TN_REQUIRE(ota_test_node_boot(&g_node) == TN_OK);
  build(0x11, 3, 3, TN_TARGET_GAP9, &g_gateway);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 0, 1018), TN_OK);
}

TN_TEST(gateway_key_rotation) {
  make_signer(&g_gateway, 1);
  make_signer(&g_intruder, 2);
  crypto_node();
  tn_ota* ota = &g_node.ota;
  TN_CHECK_STATUS(tn_ota_set_model_key(ota, g_gateway.public_key), TN_OK);
  build(0x21, 1, 1, TN_TARGET_GAP9, &g_gateway);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 0, 1018), TN_OK);
  /* A new key: blobs of the old one are refused from now on, the slot
   * committed under it stays usable. */
  TN_CHECK_STATUS(tn_ota_set_model_key(ota, g_intruder.public_key), TN_OK);
  build(0x21, 2, 2, TN_TARGET_GAP9, &g_gateway);
  TN_CHECK_STATUS(ota_test_install(ota, g_blob, g_size, 1, 1018),
                  TN_ERR_BLOB_SIGNATURE);
  TN_CHECK_STATUS(tn_ota_activate(ota, 0), TN_OK);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(ecdsa_verify_through_the_port),
      TN_CASE(signed_update_with_the_gateway_key),
      TN_CASE(gateway_key_rotation),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
