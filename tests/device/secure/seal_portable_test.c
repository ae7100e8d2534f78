/*
 * Tests of the portable parts of sealed telemetry, on the host and under
 * QEMU: HMAC-SHA256 (RFC 4231) and HKDF-SHA256 (RFC 5869) vectors, the
 * telemetry key schedule against values computed independently (Python's
 * cryptography package), key ids, device id rules, the sealed-record header
 * checks that need no key, argument checks made before any crypto, the
 * persistent record counter (blocks, resets mid-block that never reuse a
 * counter, storage faults, corrupt and crafted regions, the end of the
 * 64-bit space) and the gateway's replay window. Builds without a crypto
 * port must refuse the crypto operations with TN_ERR_UNSUPPORTED.
 */
#include <string.h>

#include "base/tn_rng.h"
#include "secure/tn_secure.h"
#include "secure_test_storage.h"
#include "tn_test.h"

static const char kDeviceId[] = "dev-abcdefghij0123456789";
#define DEVICE_ID_LEN (sizeof(kDeviceId) - 1u)

TN_TEST(hmac_sha256_rfc4231) {
  uint8_t mac[32];
  uint8_t want[32];
  uint8_t key[131];
  memset(key, 0x0b, 20);
  TN_CHECK_STATUS(tn_hmac_sha256(key, 20, (const uint8_t*)"Hi There", 8, mac),
                  TN_OK);
  test_hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
           want, 32);
  TN_CHECK(memcmp(mac, want, 32) == 0);

  static const char kData2[] = "what do ya want for nothing?";
  TN_CHECK_STATUS(
      tn_hmac_sha256((const uint8_t*)"Jefe", 4, (const uint8_t*)kData2,
                     sizeof(kData2) - 1, mac),
      TN_OK);
  test_hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           want, 32);
  TN_CHECK(memcmp(mac, want, 32) == 0);

  /* A key longer than the block is hashed first. */
  static const char kData6[] =
      "Test Using Larger Than Block-Size Key - Hash Key First";
  memset(key, 0xaa, sizeof(key));
  TN_CHECK_STATUS(tn_hmac_sha256(key, sizeof(key), (const uint8_t*)kData6,
                                 sizeof(kData6) - 1, mac),
                  TN_OK);
  test_hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
           want, 32);
  TN_CHECK(memcmp(mac, want, 32) == 0);
  TN_CHECK_STATUS(tn_hmac_sha256(NULL, 1, key, 1, mac), TN_ERR_NULL);
}

TN_TEST(hkdf_sha256_rfc5869) {
  uint8_t ikm[22];
  uint8_t salt[13];
  uint8_t info[10];
  memset(ikm, 0x0b, sizeof(ikm));
  for (int i = 0; i < 13; ++i) salt[i] = (uint8_t)i;
  for (int i = 0; i < 10; ++i) info[i] = (uint8_t)(0xf0 + i);
  uint8_t prk[32];
  uint8_t want[42];
  TN_CHECK_STATUS(
      tn_hkdf_sha256_extract(salt, sizeof(salt), ikm, sizeof(ikm), prk), TN_OK);
  test_hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
           want, 32);
  TN_CHECK(memcmp(prk, want, 32) == 0);
  uint8_t okm[42];
  TN_CHECK_STATUS(tn_hkdf_sha256_expand(prk, info, sizeof(info), okm, 42),
                  TN_OK);
  test_hex(
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf3400720"
      "8d5b887185865",
      want, 42);
  TN_CHECK(memcmp(okm, want, 42) == 0);
  /* Test case 3: no salt, no info. */
  TN_CHECK_STATUS(tn_hkdf_sha256(NULL, 0, ikm, sizeof(ikm), NULL, 0, okm, 42),
                  TN_OK);
  test_hex(
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d20139"
      "5faa4b61a96c8",
      want, 42);
  TN_CHECK(memcmp(okm, want, 42) == 0);

  /* Output length limits: 1..255 blocks. */
  static uint8_t big[TN_HKDF_SHA256_MAX_OKM + 1];
  TN_CHECK_STATUS(tn_hkdf_sha256_expand(prk, info, 10, big, 0), TN_ERR_ARG);
  TN_CHECK_STATUS(
      tn_hkdf_sha256_expand(prk, info, 10, big, TN_HKDF_SHA256_MAX_OKM + 1),
      TN_ERR_ARG);
  TN_CHECK_STATUS(
      tn_hkdf_sha256_expand(prk, info, 10, big, TN_HKDF_SHA256_MAX_OKM), TN_OK);
  /* The prefix of a longer output is the shorter output. */
  uint8_t again[42];
  TN_CHECK_STATUS(tn_hkdf_sha256_expand(prk, info, 10, again, 42), TN_OK);
  TN_CHECK(memcmp(big, again, 42) == 0);
  tn_test_digest("hkdf_max", big, TN_HKDF_SHA256_MAX_OKM);
}

TN_TEST(key_schedule_matches_independent_values) {
  uint8_t shared[32];
  test_hex("c397a8b1b71f8632e8ba9a458f88775c3f05c8e04d1d81b82bec8a39dde5cdc6",
           shared, 32);
  tn_seal_key key;
  memset(&key, 0xEE, sizeof(key));
  TN_CHECK_STATUS(tn_seal_derive_key(shared, (const uint8_t*)kDeviceId,
                                     DEVICE_ID_LEN, &key),
                  TN_OK);
  uint8_t want[16];
  test_hex("e0dfd887cfb3e0a1728279e9fd5b8395", want, 16);
  TN_CHECK(memcmp(key.aes_key, want, 16) == 0);
  test_hex("5780c061", want, 4);
  TN_CHECK(memcmp(key.nonce_salt, want, 4) == 0);
  TN_CHECK_EQ(key.device_id_len, DEVICE_ID_LEN);
  TN_CHECK(memcmp(key.device_id, kDeviceId, DEVICE_ID_LEN) == 0);
  TN_CHECK_EQ(key.device_id[DEVICE_ID_LEN], 0); /* padding cleared */
  TN_CHECK_EQ(key.key_id[0], 0xEE);             /* left as it was */

  /* Another device id gives another key. */
  tn_seal_key other;
  TN_CHECK_STATUS(
      tn_seal_derive_key(shared, (const uint8_t*)"dev-x", 5, &other), TN_OK);
  TN_CHECK(memcmp(other.aes_key, key.aes_key, 16) != 0);
  TN_CHECK_STATUS(
      tn_seal_derive_key(shared, (const uint8_t*)"dev x", 5, &other),
      TN_ERR_ARG);

  uint8_t gateway_public[65];
  test_hex(
      "04b0efbb1f3737e39f6067170c80018e29932e5050d1a1e84564bf4d9c1f0f2ddc2c4fcd"
      "0a4092a74d30c5187250e99b4b36056d1ee609b16635f0d6287de1d4aa",
      gateway_public, 65);
  uint8_t id[8];
  TN_CHECK_STATUS(tn_seal_key_id(gateway_public, id), TN_OK);
  test_hex("dbd5cf9e8f2eddc4", want, 8);
  TN_CHECK(memcmp(id, want, 8) == 0);
}

TN_TEST(device_id_rules) {
  TN_CHECK(tn_seal_device_id_ok((const uint8_t*)kDeviceId, DEVICE_ID_LEN));
  TN_CHECK(tn_seal_device_id_ok((const uint8_t*)"!", 1));
  TN_CHECK(tn_seal_device_id_ok(
      (const uint8_t*)"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", 32));
  TN_CHECK(!tn_seal_device_id_ok(
      (const uint8_t*)"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~", 33));
  TN_CHECK(!tn_seal_device_id_ok((const uint8_t*)"", 0));
  TN_CHECK(!tn_seal_device_id_ok(NULL, 3));
  TN_CHECK(!tn_seal_device_id_ok((const uint8_t*)"a b", 3));
  TN_CHECK(!tn_seal_device_id_ok((const uint8_t*)"a\x7f", 2));
  TN_CHECK(!tn_seal_device_id_ok((const uint8_t*)"a\0b", 3));
}

/* A key for argument checks (any bytes; valid device id). */
static void test_key(tn_seal_key* key) {
  memset(key, 0, sizeof(*key));
  for (int i = 0; i < 16; ++i) key->aes_key[i] = (uint8_t)i;
  memcpy(key->device_id, kDeviceId, DEVICE_ID_LEN);
  key->device_id_len = (uint8_t)DEVICE_ID_LEN;
}

TN_TEST(sealed_header_and_argument_checks) {
  static uint8_t sealed[TN_SEAL_MAX_SEALED + 1];
  memset(sealed, 0x5A, sizeof(sealed));
  sealed[0] = 1;
  tn_store_u64le(sealed + 1, 0x0102030405060708ull);
  uint64_t counter = 0;
  TN_CHECK_STATUS(tn_seal_peek_counter(sealed, 26, &counter), TN_OK);
  TN_CHECK(counter == 0x0102030405060708ull);
  TN_CHECK_STATUS(tn_seal_peek_counter(sealed, TN_SEAL_MAX_SEALED, &counter),
                  TN_OK);
  TN_CHECK_STATUS(tn_seal_peek_counter(sealed, 25, &counter),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK(counter == 0);
  TN_CHECK_STATUS(
      tn_seal_peek_counter(sealed, TN_SEAL_MAX_SEALED + 1, &counter),
      TN_ERR_MSG_MALFORMED);
  sealed[0] = 2;
  TN_CHECK_STATUS(tn_seal_peek_counter(sealed, 26, &counter),
                  TN_ERR_MSG_MALFORMED);
  sealed[0] = 1;
  tn_store_u64le(sealed + 1, 0);
  TN_CHECK_STATUS(tn_seal_peek_counter(sealed, 26, &counter),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_seal_peek_counter(NULL, 26, &counter), TN_ERR_NULL);

  /* Seal: arguments are checked before any crypto, on every build. */
  tn_seal_key key;
  test_key(&key);
  uint8_t pt[TN_SEAL_MAX_PLAINTEXT + 1];
  memset(pt, 1, sizeof(pt));
  static uint8_t out[TN_SEAL_MAX_SEALED + 32];
  size_t n = 0;
  TN_CHECK_STATUS(
      tn_seal_record_with_counter(&key, 0, pt, 10, out, sizeof(out), &n),
      TN_ERR_ARG);
  TN_CHECK_STATUS(
      tn_seal_record_with_counter(&key, 1, pt, 0, out, sizeof(out), &n),
      TN_ERR_ARG);
  TN_CHECK_STATUS(
      tn_seal_record_with_counter(&key, 1, pt, TN_SEAL_MAX_PLAINTEXT + 1, out,
                                  sizeof(out), &n),
      TN_ERR_ARG);
  TN_CHECK_STATUS(tn_seal_record_with_counter(&key, 1, pt, 10, out, 34, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
  tn_seal_key broken = key;
  broken.device_id_len = 0;
  TN_CHECK_STATUS(
      tn_seal_record_with_counter(&broken, 1, pt, 10, out, sizeof(out), &n),
      TN_ERR_ARG);
  broken = key;
  broken.device_id[DEVICE_ID_LEN + 1] = 'x'; /* garbage past the id */
  TN_CHECK_STATUS(
      tn_seal_record_with_counter(&broken, 1, pt, 10, out, sizeof(out), &n),
      TN_ERR_ARG);
  /* Open: malformed input and a short buffer are refused before crypto. */
  sealed[0] = 1;
  tn_store_u64le(sealed + 1, 9);
  uint8_t plain[64];
  TN_CHECK_STATUS(tn_seal_open(&key, sealed, 30, plain, 4, &n, &counter),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(
      tn_seal_open(&key, sealed, 20, plain, sizeof(plain), &n, &counter),
      TN_ERR_MSG_MALFORMED);

  if (!tn_secure_crypto_available()) {
    TN_CHECK_STATUS(
        tn_seal_record_with_counter(&key, 1, pt, 10, out, sizeof(out), &n),
        TN_ERR_UNSUPPORTED);
    TN_CHECK_STATUS(
        tn_seal_open(&key, sealed, 30, plain, sizeof(plain), &n, &counter),
        TN_ERR_UNSUPPORTED);
    TN_CHECK_EQ(n, 0);
    tn_p256_keypair kp;
    TN_CHECK_STATUS(tn_p256_public_key(kp.private_key, kp.public_key),
                    TN_ERR_UNSUPPORTED);
  }
}

/* Reopens the counter from `storage` as after a power cut. */
static void reopen(tn_seal_counter* c, test_storage* storage, uint32_t block) {
  tn_secure_storage s = test_storage_interface(storage);
  TN_CHECK_STATUS(tn_seal_counter_open(c, &s, block), TN_OK);
}

TN_TEST(counter_blocks_and_resets_never_reuse) {
  static test_storage storage;
  memset(&storage, 0, sizeof(storage));
  tn_seal_counter c;
  reopen(&c, &storage, 64);
  TN_CHECK_EQ(storage.writes, 0); /* nothing written before the first take */
  uint64_t v = 0;
  for (uint64_t want = 1; want <= 64; ++want) {
    TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
    TN_CHECK(v == want);
  }
  TN_CHECK_EQ(storage.writes, 1); /* one write per block */
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
  TN_CHECK(v == 65);
  TN_CHECK_EQ(storage.writes, 2);
  /* The region as docs/formats/telemetry.md describes it. */
  test_region* r = test_find(&storage, TN_SEAL_COUNTER_REGION);
  TN_REQUIRE(r != NULL);
  TN_CHECK_EQ(r->len, 17);
  TN_CHECK(memcmp(r->data, "TNSC\x01", 5) == 0);
  TN_CHECK(tn_load_u64le(r->data + 5) == 129);
  uint8_t digest[32];
  TN_CHECK_STATUS(tn_sha256(r->data, 13, digest), TN_OK);
  TN_CHECK(memcmp(digest, r->data + 13, 4) == 0);

  /* Reset mid-block: the rest of the block (66..128) is skipped. */
  reopen(&c, &storage, 64);
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
  TN_CHECK(v == 129);

  /* Resets at pseudo-random points, with varying block sizes: every
   * counter handed out is above every earlier one. */
  tn_rng rng;
  tn_rng_seed(&rng, 7, 1);
  uint64_t last = v;
  uint64_t h = TN_TEST_FNV_SEED;
  for (int round = 0; round < 200; ++round) {
    uint32_t block = 1u + tn_rng_below(&rng, 100);
    reopen(&c, &storage, block);
    uint32_t takes = tn_rng_below(&rng, 150);
    for (uint32_t i = 0; i < takes; ++i) {
      TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
      if (v <= last) {
        TN_CHECK(v > last);
        return;
      }
      last = v;
    }
    h = tn_test_fnv1a(h, &last, sizeof(last));
  }
  tn_test_digest("counter_resets", &h, sizeof(h));
}

TN_TEST(counter_storage_faults) {
  static test_storage storage;
  memset(&storage, 0, sizeof(storage));
  tn_seal_counter c;
  reopen(&c, &storage, 4);
  uint64_t v = 0;
  storage.fail_writes = 1;
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_ERR_STORAGE);
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_ERR_STORAGE);
  storage.fail_writes = 0;
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
  TN_CHECK(v == 1); /* nothing was handed out while writes failed */
  for (int i = 0; i < 3; ++i)
    TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
  TN_CHECK(v == 4);
  storage.fail_writes = 1; /* the next block cannot be reserved */
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_ERR_STORAGE);
  storage.fail_writes = 0;
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
  TN_CHECK(v == 5);

  /* A failing read, a corrupt region, a wrong size, a limit of 0: refused,
   * never replaced. */
  tn_secure_storage s = test_storage_interface(&storage);
  storage.fail_reads = 1;
  TN_CHECK_STATUS(tn_seal_counter_open(&c, &s, 4), TN_ERR_STORAGE);
  storage.fail_reads = 0;
  test_region* r = test_find(&storage, TN_SEAL_COUNTER_REGION);
  TN_REQUIRE(r != NULL);
  r->data[7] ^= 0x01;
  int writes = storage.writes;
  TN_CHECK_STATUS(tn_seal_counter_open(&c, &s, 4), TN_ERR_STORAGE);
  TN_CHECK_EQ(storage.writes, writes);
  r->data[7] ^= 0x01;
  r->len = 16;
  TN_CHECK_STATUS(tn_seal_counter_open(&c, &s, 4), TN_ERR_STORAGE);
  r->len = 17;
  uint8_t zero_limit[17] = {'T', 'N', 'S', 'C', 1};
  uint8_t digest[32];
  TN_CHECK_STATUS(tn_sha256(zero_limit, 13, digest), TN_OK);
  memcpy(zero_limit + 13, digest, 4);
  test_put(&storage, TN_SEAL_COUNTER_REGION, zero_limit, 17);
  TN_CHECK_STATUS(tn_seal_counter_open(&c, &s, 4), TN_ERR_STORAGE);

  /* Block sizes. */
  TN_CHECK_STATUS(tn_seal_counter_open(&c, &s, 0), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_seal_counter_open(&c, &s, TN_SEAL_COUNTER_BLOCK_MAX + 1),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_seal_counter_open(NULL, &s, 4), TN_ERR_NULL);
}

TN_TEST(counter_space_ends_without_wrapping) {
  static test_storage storage;
  memset(&storage, 0, sizeof(storage));
  /* A region crafted by hand: limit = 2^64 - 2. */
  uint8_t region[17];
  test_hex("544e534301feffffffffffffffeb9315ba", region, 17);
  test_put(&storage, TN_SEAL_COUNTER_REGION, region, 17);
  tn_seal_counter c;
  reopen(&c, &storage, 64);
  uint64_t v = 0;
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_OK);
  TN_CHECK(v == UINT64_MAX - 1u);
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_ERR_OVERFLOW);
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_ERR_OVERFLOW);
  reopen(&c, &storage, 64);
  TN_CHECK_STATUS(tn_seal_counter_take(&c, &v), TN_ERR_OVERFLOW);
}

TN_TEST(replay_window) {
  tn_seal_window w;
  tn_seal_window_init(&w);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 0), TN_ERR_REPLAY);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 1), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 1), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 1), TN_ERR_REPLAY);
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 1), TN_ERR_REPLAY);
  /* A gap (a node reset skipped counters), then the late ones arrive. */
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 70), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 7), TN_OK);         /* 63 behind */
  TN_CHECK_STATUS(tn_seal_window_check(&w, 6), TN_ERR_REPLAY); /* 64 */
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 7), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 7), TN_ERR_REPLAY);
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 69), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 69), TN_ERR_REPLAY);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 68), TN_OK);
  TN_CHECK(w.highest == 70);
  TN_CHECK(w.seen == ((1ull << 63) | 3ull));
  /* Moving up keeps the bits that stay inside the window. */
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 72), TN_OK);
  TN_CHECK(w.seen == ((1ull << 0) | (1ull << 2) | (1ull << 3)));
  TN_CHECK_STATUS(tn_seal_window_check(&w, 70), TN_ERR_REPLAY);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 71), TN_OK);
  /* A jump of a whole window clears it. */
  TN_CHECK_STATUS(tn_seal_window_accept(&w, 72 + 64), TN_OK);
  TN_CHECK(w.seen == 1ull);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 73), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_check(&w, 72), TN_ERR_REPLAY);
  TN_CHECK_STATUS(tn_seal_window_accept(&w, UINT64_MAX), TN_OK);
  TN_CHECK_STATUS(tn_seal_window_check(&w, UINT64_MAX), TN_ERR_REPLAY);
  TN_CHECK_STATUS(tn_seal_window_check(NULL, 3), TN_ERR_NULL);
  tn_test_digest("window", &w, sizeof(w));
}

static tn_status counting_entropy(void* ctx, uint8_t* out, size_t len) {
  int* calls = (int*)ctx;
  ++*calls;
  memset(out, 0x42, len);
  return TN_OK;
}

TN_TEST(sealer_needs_a_crypto_port) {
  if (tn_secure_crypto_available()) return; /* covered by secure_seal */
  static test_storage storage;
  memset(&storage, 0, sizeof(storage));
  tn_secure_storage s = test_storage_interface(&storage);
  static tn_sealer sealer;
  int calls = 0;
  TN_CHECK_STATUS(tn_sealer_open(&sealer, &s, counting_entropy, &calls, 0),
                  TN_ERR_UNSUPPORTED);
  TN_CHECK_EQ(storage.writes, 0);
  TN_CHECK_EQ(calls, 0);
  TN_CHECK_EQ(sealer.keyed, 0);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(hmac_sha256_rfc4231),
      TN_CASE(hkdf_sha256_rfc5869),
      TN_CASE(key_schedule_matches_independent_values),
      TN_CASE(device_id_rules),
      TN_CASE(sealed_header_and_argument_checks),
      TN_CASE(counter_blocks_and_resets_never_reuse),
      TN_CASE(counter_storage_faults),
      TN_CASE(counter_space_ends_without_wrapping),
      TN_CASE(replay_window),
      TN_CASE(sealer_needs_a_crypto_port),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
