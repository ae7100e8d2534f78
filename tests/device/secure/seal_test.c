/*
 * Tests of sealed telemetry with the crypto port (host builds that link
 * one): AES-128-GCM known answers (test cases 2 and 4 of the GCM
 * specification, as used for SP 800-38D validation) through the port; P-256
 * public keys, ECDH and the full node/gateway key agreement from fixed test
 * keys against values computed independently (Python's cryptography
 * package); a sealed record matching an independently computed one byte for
 * byte; every tampered byte, truncation, swapped header, other key and other
 * device id refused; invalid public keys refused; key generation retrying
 * out-of-range scalars; and the node's sealer: key pair created once and
 * kept, gateway key set, stored and kept across resets, re-keying that
 * leaves the counter alone, and faults that keep the previous key.
 */
#include <string.h>

#include "secure/tn_secure.h"
#include "secure/tn_secure_port.h"
#include "secure_test_storage.h"
#include "tn_test.h"

static const char kDeviceId[] = "dev-abcdefghij0123456789";
#define DEVICE_ID_LEN (sizeof(kDeviceId) - 1u)

static const char kNodePrivate[] =
    "80bb1056c528469af285029d79ad0d298fd9a2cbb0665d3b921d4b251bb69b83";
static const char kNodePublic[] =
    "04a560d14d7387b0fc9edfc297841435d31f1a8eea5146a78d71af0292e3afcefcbe4b12"
    "7ae1095005badbb8577130e5e612a8cc576148fde0dfa440617304fa42";
static const char kGatewayPrivate[] =
    "45f1a00da462cbec8bbcb5f83c74715c9ae22bb5946112cdc12b42ac39b619b9";
static const char kGatewayPublic[] =
    "04b0efbb1f3737e39f6067170c80018e29932e5050d1a1e84564bf4d9c1f0f2ddc2c4fcd"
    "0a4092a74d30c5187250e99b4b36056d1ee609b16635f0d6287de1d4aa";
static const char kAesKey[] = "e0dfd887cfb3e0a1728279e9fd5b8395";
static const char kNonceSalt[] = "5780c061";
static const char kKeyId[] = "dbd5cf9e8f2eddc4";
static const char kPlaintext[] = "tinyfleet sealed record test";
static const char kSealed[] =
    "0108070605040302016f23299bedddc27424830e4c1f5f7a25bc57662ab50efb173ab3b2"
    "bc5d786c2f6ffaff19e518b05444c6ea56";
#define SEALED_LEN 53u

typedef struct keys {
  uint8_t node_private[32];
  uint8_t node_public[65];
  uint8_t gateway_private[32];
  uint8_t gateway_public[65];
} keys;

static void load_keys(keys* k) {
  test_hex(kNodePrivate, k->node_private, 32);
  test_hex(kNodePublic, k->node_public, 65);
  test_hex(kGatewayPrivate, k->gateway_private, 32);
  test_hex(kGatewayPublic, k->gateway_public, 65);
}

TN_TEST(gcm_known_answers_through_the_port) {
  TN_REQUIRE(tn_secure_crypto_available());
  /* Test case 4: AES-128, 96-bit IV, 60-byte plaintext, 20-byte AAD. */
  uint8_t key[16], iv[12], aad[20], pt[60], ct_want[60], tag_want[16];
  test_hex("feffe9928665731c6d6a8f9467308308", key, 16);
  test_hex("cafebabefacedbaddecaf888", iv, 12);
  test_hex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, 20);
  test_hex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c"
      "95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
      pt, 60);
  test_hex(
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514"
      "b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
      ct_want, 60);
  test_hex("5bc94fbc3221a5db94fae95ae7121a47", tag_want, 16);
  uint8_t ct[60], tag[16], back[60];
  TN_CHECK_STATUS(tn_secure_port_gcm_seal(key, iv, aad, 20, pt, 60, ct, tag),
                  TN_OK);
  TN_CHECK(memcmp(ct, ct_want, 60) == 0);
  TN_CHECK(memcmp(tag, tag_want, 16) == 0);
  TN_CHECK_STATUS(tn_secure_port_gcm_open(key, iv, aad, 20, ct, 60, tag, back),
                  TN_OK);
  TN_CHECK(memcmp(back, pt, 60) == 0);
  tag[15] ^= 1;
  memset(back, 0x77, sizeof(back));
  TN_CHECK_STATUS(tn_secure_port_gcm_open(key, iv, aad, 20, ct, 60, tag, back),
                  TN_ERR_AUTH);
  uint8_t zeros[60] = {0};
  TN_CHECK(memcmp(back, zeros, 60) == 0); /* nothing released */

  /* Test case 2: zero key and IV, one zero block, no AAD. */
  uint8_t zkey[16] = {0}, ziv[12] = {0}, zpt[16] = {0}, want[32];
  test_hex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf",
           want, 32);
  TN_CHECK_STATUS(tn_secure_port_gcm_seal(zkey, ziv, NULL, 0, zpt, 16, ct, tag),
                  TN_OK);
  TN_CHECK(memcmp(ct, want, 16) == 0);
  TN_CHECK(memcmp(tag, want + 16, 16) == 0);
}

TN_TEST(public_keys_and_agreement_match_independent_values) {
  keys k;
  load_keys(&k);
  uint8_t pub[65];
  TN_CHECK_STATUS(tn_p256_public_key(k.node_private, pub), TN_OK);
  TN_CHECK(memcmp(pub, k.node_public, 65) == 0);
  TN_CHECK_STATUS(tn_p256_public_key(k.gateway_private, pub), TN_OK);
  TN_CHECK(memcmp(pub, k.gateway_public, 65) == 0);
  TN_CHECK_STATUS(tn_p256_check_public_key(k.node_public), TN_OK);

  uint8_t shared_a[32], shared_b[32], shared_want[32];
  test_hex("c397a8b1b71f8632e8ba9a458f88775c3f05c8e04d1d81b82bec8a39dde5cdc6",
           shared_want, 32);
  TN_CHECK_STATUS(
      tn_secure_port_p256_ecdh(k.node_private, k.gateway_public, shared_a),
      TN_OK);
  TN_CHECK_STATUS(
      tn_secure_port_p256_ecdh(k.gateway_private, k.node_public, shared_b),
      TN_OK);
  TN_CHECK(memcmp(shared_a, shared_want, 32) == 0);
  TN_CHECK(memcmp(shared_b, shared_want, 32) == 0);

  tn_seal_key node_side, gateway_side;
  TN_CHECK_STATUS(tn_seal_derive_node_side(k.node_private, k.gateway_public,
                                           (const uint8_t*)kDeviceId,
                                           DEVICE_ID_LEN, &node_side),
                  TN_OK);
  TN_CHECK_STATUS(tn_seal_derive_gateway_side(k.gateway_private, k.node_public,
                                              (const uint8_t*)kDeviceId,
                                              DEVICE_ID_LEN, &gateway_side),
                  TN_OK);
  TN_CHECK(memcmp(&node_side, &gateway_side, sizeof(node_side)) == 0);
  uint8_t want[16];
  test_hex(kAesKey, want, 16);
  TN_CHECK(memcmp(node_side.aes_key, want, 16) == 0);
  test_hex(kNonceSalt, want, 4);
  TN_CHECK(memcmp(node_side.nonce_salt, want, 4) == 0);
  test_hex(kKeyId, want, 8);
  TN_CHECK(memcmp(node_side.key_id, want, 8) == 0);
  TN_CHECK_STATUS(tn_seal_derive_node_side(k.node_private, k.gateway_public,
                                           (const uint8_t*)"", 0, &node_side),
                  TN_ERR_ARG);
}

TN_TEST(invalid_keys_are_refused) {
  keys k;
  load_keys(&k);
  tn_seal_key key;
  uint8_t bad[65];
  uint8_t shared[32];
  /* Compressed or foreign prefixes. */
  static const uint8_t prefixes[] = {0x00, 0x02, 0x03, 0x05, 0xFF};
  for (size_t i = 0; i < TN_ARRAY_SIZE(prefixes); ++i) {
    memcpy(bad, k.gateway_public, 65);
    bad[0] = prefixes[i];
    TN_CHECK_STATUS(tn_p256_check_public_key(bad), TN_ERR_KEY_INVALID);
  }
  /* Off the curve: y changed. */
  memcpy(bad, k.gateway_public, 65);
  bad[64] ^= 0x01;
  TN_CHECK_STATUS(tn_p256_check_public_key(bad), TN_ERR_KEY_INVALID);
  TN_CHECK_STATUS(
      tn_seal_derive_node_side(k.node_private, bad, (const uint8_t*)kDeviceId,
                               DEVICE_ID_LEN, &key),
      TN_ERR_KEY_INVALID);
  memset(shared, 0x55, sizeof(shared));
  TN_CHECK_STATUS(tn_secure_port_p256_ecdh(k.node_private, bad, shared),
                  TN_ERR_KEY_INVALID);
  uint8_t zeros[32] = {0};
  TN_CHECK(memcmp(shared, zeros, 32) == 0);
  /* Coordinates at or above the field prime; the all-zero point. */
  memset(bad, 0xFF, sizeof(bad));
  bad[0] = 0x04;
  TN_CHECK_STATUS(tn_p256_check_public_key(bad), TN_ERR_KEY_INVALID);
  memset(bad, 0, sizeof(bad));
  bad[0] = 0x04;
  TN_CHECK_STATUS(tn_p256_check_public_key(bad), TN_ERR_KEY_INVALID);
  /* Private scalars 0 and n are not keys. */
  uint8_t scalar[32] = {0};
  uint8_t pub[65];
  TN_CHECK_STATUS(tn_p256_public_key(scalar, pub), TN_ERR_KEY_INVALID);
  test_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
           scalar, 32);
  TN_CHECK_STATUS(tn_p256_public_key(scalar, pub), TN_ERR_KEY_INVALID);
  TN_CHECK_STATUS(tn_seal_derive_gateway_side(scalar, k.node_public,
                                              (const uint8_t*)kDeviceId,
                                              DEVICE_ID_LEN, &key),
                  TN_ERR_KEY_INVALID);
  scalar[31] = 0x50; /* n - 1 is the largest key */
  TN_CHECK_STATUS(tn_p256_public_key(scalar, pub), TN_OK);
}

/* Entropy that replays a script of 32-byte draws, then fails. */
typedef struct scripted_entropy {
  const char* const* draws;
  size_t count;
  size_t next;
} scripted_entropy;

static tn_status scripted_fill(void* ctx, uint8_t* out, size_t len) {
  scripted_entropy* e = (scripted_entropy*)ctx;
  if (len != 32 || e->next >= e->count) return TN_ERR_BUSY;
  test_hex(e->draws[e->next++], out, 32);
  return TN_OK;
}

static const char kAllOnes[] =
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
static const char kAllZeros[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

TN_TEST(key_generation_retries_out_of_range_scalars) {
  keys k;
  load_keys(&k);
  const char* script[] = {kAllOnes, kAllZeros, kNodePrivate};
  scripted_entropy e = {script, 3, 0};
  tn_p256_keypair kp;
  TN_CHECK_STATUS(tn_p256_keypair_generate(scripted_fill, &e, &kp), TN_OK);
  TN_CHECK_EQ(e.next, 3);
  TN_CHECK(memcmp(kp.private_key, k.node_private, 32) == 0);
  TN_CHECK(memcmp(kp.public_key, k.node_public, 65) == 0);

  const char* hopeless[16];
  for (int i = 0; i < 16; ++i) hopeless[i] = kAllOnes;
  scripted_entropy h = {hopeless, 16, 0};
  TN_CHECK_STATUS(tn_p256_keypair_generate(scripted_fill, &h, &kp),
                  TN_ERR_CRYPTO);
  TN_CHECK_EQ(h.next, 16);
  scripted_entropy empty = {NULL, 0, 0};
  TN_CHECK_STATUS(tn_p256_keypair_generate(scripted_fill, &empty, &kp),
                  TN_ERR_BUSY);
  TN_CHECK_STATUS(tn_p256_keypair_generate(NULL, NULL, &kp), TN_ERR_NULL);
}

static void derived_key(tn_seal_key* key) {
  keys k;
  load_keys(&k);
  TN_CHECK_STATUS(
      tn_seal_derive_node_side(k.node_private, k.gateway_public,
                               (const uint8_t*)kDeviceId, DEVICE_ID_LEN, key),
      TN_OK);
}

TN_TEST(sealed_record_matches_independent_value) {
  tn_seal_key key;
  derived_key(&key);
  uint8_t sealed[128];
  size_t n = 0;
  const size_t pt_len = sizeof(kPlaintext) - 1;
  TN_CHECK_STATUS(tn_seal_record_with_counter(
                      &key, 0x0102030405060708ull, (const uint8_t*)kPlaintext,
                      pt_len, sealed, sizeof(sealed), &n),
                  TN_OK);
  TN_CHECK_EQ(n, SEALED_LEN);
  TN_CHECK_EQ(n, TN_SEAL_SEALED_SIZE(pt_len));
  uint8_t want[SEALED_LEN];
  test_hex(kSealed, want, SEALED_LEN);
  TN_CHECK(memcmp(sealed, want, SEALED_LEN) == 0);

  uint8_t plain[64];
  size_t plain_len = 0;
  uint64_t counter = 0;
  TN_CHECK_STATUS(tn_seal_open(&key, want, SEALED_LEN, plain, sizeof(plain),
                               &plain_len, &counter),
                  TN_OK);
  TN_CHECK_EQ(plain_len, pt_len);
  TN_CHECK(memcmp(plain, kPlaintext, pt_len) == 0);
  TN_CHECK(counter == 0x0102030405060708ull);
  TN_CHECK_STATUS(tn_seal_peek_counter(want, SEALED_LEN, &counter), TN_OK);
  TN_CHECK(counter == 0x0102030405060708ull);
}

TN_TEST(tampering_is_refused) {
  tn_seal_key key;
  derived_key(&key);
  uint8_t sealed[SEALED_LEN];
  test_hex(kSealed, sealed, SEALED_LEN);
  uint8_t plain[64];
  size_t plain_len = 0;
  uint64_t counter = 0;
  /* Every bit of every byte: format, counter, ciphertext, tag. */
  for (size_t i = 0; i < SEALED_LEN; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      uint8_t t[SEALED_LEN];
      memcpy(t, sealed, SEALED_LEN);
      t[i] ^= (uint8_t)(1u << bit);
      memset(plain, 0x77, sizeof(plain));
      tn_status st = tn_seal_open(&key, t, SEALED_LEN, plain, sizeof(plain),
                                  &plain_len, &counter);
      tn_status want = i == 0 ? TN_ERR_MSG_MALFORMED : TN_ERR_AUTH;
      if (st != want) {
        TN_CHECK_STATUS(st, want);
        TN_CHECK_EQ(i, 0); /* names the byte */
        return;
      }
      TN_CHECK_EQ(plain_len, 0);
      TN_CHECK(counter == 0);
      if (i != 0) {
        uint8_t zeros[28] = {0};
        TN_CHECK(memcmp(plain, zeros, 28) == 0);
      }
    }
  }
  /* Truncated and extended records. */
  for (size_t len = 0; len < SEALED_LEN; ++len) {
    tn_status st = tn_seal_open(&key, sealed, len, plain, sizeof(plain),
                                &plain_len, &counter);
    TN_CHECK_STATUS(
        st, len < TN_SEAL_OVERHEAD + 1 ? TN_ERR_MSG_MALFORMED : TN_ERR_AUTH);
  }
  uint8_t longer[SEALED_LEN + 1];
  memcpy(longer, sealed, SEALED_LEN);
  longer[SEALED_LEN] = 0;
  TN_CHECK_STATUS(tn_seal_open(&key, longer, SEALED_LEN + 1, plain,
                               sizeof(plain), &plain_len, &counter),
                  TN_ERR_AUTH);
  /* Another device id with the same AES key: the AAD differs. */
  tn_seal_key other = key;
  other.device_id[DEVICE_ID_LEN - 1] = 'X';
  TN_CHECK_STATUS(tn_seal_open(&other, sealed, SEALED_LEN, plain, sizeof(plain),
                               &plain_len, &counter),
                  TN_ERR_AUTH);
  /* Another nonce salt or AES key. */
  other = key;
  other.nonce_salt[0] ^= 1;
  TN_CHECK_STATUS(tn_seal_open(&other, sealed, SEALED_LEN, plain, sizeof(plain),
                               &plain_len, &counter),
                  TN_ERR_AUTH);
  other = key;
  other.aes_key[5] ^= 0x80;
  TN_CHECK_STATUS(tn_seal_open(&other, sealed, SEALED_LEN, plain, sizeof(plain),
                               &plain_len, &counter),
                  TN_ERR_AUTH);
  /* A header moved onto another record's body. */
  uint8_t a[64], b[64];
  size_t na = 0, nb = 0;
  TN_CHECK_STATUS(tn_seal_record_with_counter(&key, 5, (const uint8_t*)"abc", 3,
                                              a, sizeof(a), &na),
                  TN_OK);
  TN_CHECK_STATUS(tn_seal_record_with_counter(&key, 6, (const uint8_t*)"abc", 3,
                                              b, sizeof(b), &nb),
                  TN_OK);
  TN_CHECK(memcmp(a + 9, b + 9, 3) != 0); /* new nonce, new keystream */
  memcpy(a + 1, b + 1, 8);
  TN_CHECK_STATUS(
      tn_seal_open(&key, a, na, plain, sizeof(plain), &plain_len, &counter),
      TN_ERR_AUTH);
}

static tn_status fixed_node_entropy(void* ctx, uint8_t* out, size_t len) {
  int* calls = (int*)ctx;
  ++*calls;
  if (len != 32) return TN_ERR_ARG;
  test_hex(kNodePrivate, out, 32);
  return TN_OK;
}

/* Opens the sealer from `storage` as a booting node would. */
static tn_status open_sealer(tn_sealer* s, test_storage* storage, int* calls) {
  tn_secure_storage i = test_storage_interface(storage);
  return tn_sealer_open(s, &i, fixed_node_entropy, calls, 64);
}

/* Seals a short record and opens it with the gateway's key; returns the
 * counter. */
static uint64_t seal_and_open(tn_sealer* s, const tn_seal_key* gateway_key) {
  uint8_t sealed[64];
  size_t n = 0;
  uint64_t counter = 0;
  TN_CHECK_STATUS(tn_sealer_seal(s, (const uint8_t*)"rec", 3, sealed,
                                 sizeof(sealed), &n, &counter),
                  TN_OK);
  uint8_t plain[8];
  size_t plain_len = 0;
  uint64_t opened = 0;
  TN_CHECK_STATUS(tn_seal_open(gateway_key, sealed, n, plain, sizeof(plain),
                               &plain_len, &opened),
                  TN_OK);
  TN_CHECK(opened == counter);
  TN_CHECK(plain_len == 3 && memcmp(plain, "rec", 3) == 0);
  return counter;
}

TN_TEST(sealer_lifecycle) {
  keys k;
  load_keys(&k);
  static test_storage storage;
  memset(&storage, 0, sizeof(storage));
  static tn_sealer s;
  int calls = 0;
  TN_CHECK_STATUS(open_sealer(&s, &storage, &calls), TN_OK);
  TN_CHECK_EQ(calls, 1);
  TN_CHECK(memcmp(s.node_key.public_key, k.node_public, 65) == 0);
  TN_CHECK_EQ(s.keyed, 0);
  test_region* nk = test_find(&storage, TN_SEAL_NODE_KEY_REGION);
  TN_REQUIRE(nk != NULL);
  TN_CHECK_EQ(nk->len, 106);
  TN_CHECK(memcmp(nk->data, "TNNK\x01", 5) == 0);

  /* No key yet: nothing sealed, no counter spent. */
  uint8_t sealed[64];
  size_t n = 0;
  uint64_t counter = 7;
  int writes = storage.writes;
  TN_CHECK_STATUS(tn_sealer_seal(&s, (const uint8_t*)"x", 1, sealed,
                                 sizeof(sealed), &n, &counter),
                  TN_ERR_NO_KEY);
  TN_CHECK(counter == 0);
  TN_CHECK_EQ(storage.writes, writes);

  /* The gateway key arrives. */
  TN_CHECK_STATUS(
      tn_sealer_set_gateway_key(&s, k.gateway_public, (const uint8_t*)kDeviceId,
                                DEVICE_ID_LEN),
      TN_OK);
  TN_CHECK_EQ(s.keyed, 1);
  test_region* tk = test_find(&storage, TN_SEAL_KEY_REGION);
  TN_REQUIRE(tk != NULL);
  TN_CHECK_EQ(tk->len, 70);
  tn_seal_key gateway_key;
  TN_CHECK_STATUS(tn_seal_derive_gateway_side(k.gateway_private, k.node_public,
                                              (const uint8_t*)kDeviceId,
                                              DEVICE_ID_LEN, &gateway_key),
                  TN_OK);
  TN_CHECK(memcmp(&gateway_key, &s.key, sizeof(gateway_key)) == 0);
  TN_CHECK(seal_and_open(&s, &gateway_key) == 1);
  TN_CHECK(seal_and_open(&s, &gateway_key) == 2);

  /* A reset: same node key (no new entropy), same agreed key, the counter
   * continues after the reserved block. */
  calls = 0;
  TN_CHECK_STATUS(open_sealer(&s, &storage, &calls), TN_OK);
  TN_CHECK_EQ(calls, 0);
  TN_CHECK_EQ(s.keyed, 1);
  TN_CHECK(memcmp(&gateway_key, &s.key, sizeof(gateway_key)) == 0);
  TN_CHECK(seal_and_open(&s, &gateway_key) == 65);

  /* Re-keying to another gateway key leaves the counter alone. */
  uint8_t other_private[32];
  test_hex("0000000000000000000000000000000000000000000000000000000000000003",
           other_private, 32);
  uint8_t other_public[65];
  TN_CHECK_STATUS(tn_p256_public_key(other_private, other_public), TN_OK);
  TN_CHECK_STATUS(tn_sealer_set_gateway_key(&s, other_public,
                                            (const uint8_t*)"dev-other", 9),
                  TN_OK);
  tn_seal_key other_key;
  TN_CHECK_STATUS(
      tn_seal_derive_gateway_side(other_private, k.node_public,
                                  (const uint8_t*)"dev-other", 9, &other_key),
      TN_OK);
  TN_CHECK(seal_and_open(&s, &other_key) == 66);

  /* Faults keep the key in force: an invalid point, a failing write. */
  uint8_t off_curve[65];
  memcpy(off_curve, k.gateway_public, 65);
  off_curve[40] ^= 0x10;
  TN_CHECK_STATUS(tn_sealer_set_gateway_key(
                      &s, off_curve, (const uint8_t*)kDeviceId, DEVICE_ID_LEN),
                  TN_ERR_KEY_INVALID);
  storage.fail_writes = 1;
  TN_CHECK_STATUS(
      tn_sealer_set_gateway_key(&s, k.gateway_public, (const uint8_t*)kDeviceId,
                                DEVICE_ID_LEN),
      TN_ERR_STORAGE);
  storage.fail_writes = 0;
  TN_CHECK(memcmp(&other_key, &s.key, sizeof(other_key)) == 0);
  TN_CHECK(seal_and_open(&s, &other_key) == 67);
  TN_CHECK_STATUS(tn_sealer_set_gateway_key(&s, k.gateway_public,
                                            (const uint8_t*)"bad id", 6),
                  TN_ERR_ARG);

  /* Corrupt regions are refused, never replaced. */
  nk->data[50] ^= 0x01;
  writes = storage.writes;
  TN_CHECK_STATUS(open_sealer(&s, &storage, &calls), TN_ERR_STORAGE);
  TN_CHECK_EQ(storage.writes, writes);
  nk->data[50] ^= 0x01;
  tk->data[20] ^= 0x01;
  TN_CHECK_STATUS(open_sealer(&s, &storage, &calls), TN_ERR_STORAGE);
  tk->data[20] ^= 0x01;
  TN_CHECK_STATUS(open_sealer(&s, &storage, &calls), TN_OK);
  TN_CHECK(seal_and_open(&s, &other_key) == 129);
}

TN_TEST(node_key_region_must_hold_a_matching_pair) {
  keys k;
  load_keys(&k);
  /* A region with a valid check whose public key does not belong to the
   * private key: refused as corrupt storage. */
  uint8_t region[106];
  memcpy(region, "TNNK\x01", 5);
  memcpy(region + 5, k.node_private, 32);
  memcpy(region + 37, k.gateway_public, 65);
  uint8_t digest[32];
  TN_CHECK_STATUS(tn_sha256(region, 102, digest), TN_OK);
  memcpy(region + 102, digest, 4);
  static test_storage storage;
  memset(&storage, 0, sizeof(storage));
  test_put(&storage, TN_SEAL_NODE_KEY_REGION, region, sizeof(region));
  static tn_sealer s;
  int calls = 0;
  TN_CHECK_STATUS(open_sealer(&s, &storage, &calls), TN_ERR_STORAGE);
  TN_CHECK_EQ(calls, 0);
  /* The matching pair is accepted. */
  memcpy(region + 37, k.node_public, 65);
  TN_CHECK_STATUS(tn_sha256(region, 102, digest), TN_OK);
  memcpy(region + 102, digest, 4);
  test_put(&storage, TN_SEAL_NODE_KEY_REGION, region, sizeof(region));
  TN_CHECK_STATUS(open_sealer(&s, &storage, &calls), TN_OK);
  TN_CHECK(memcmp(s.node_key.public_key, k.node_public, 65) == 0);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(gcm_known_answers_through_the_port),
      TN_CASE(public_keys_and_agreement_match_independent_values),
      TN_CASE(invalid_keys_are_refused),
      TN_CASE(key_generation_retries_out_of_range_scalars),
      TN_CASE(sealed_record_matches_independent_value),
      TN_CASE(tampering_is_refused),
      TN_CASE(sealer_lifecycle),
      TN_CASE(node_key_region_must_hold_a_matching_pair),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
