/* Tests of SHA-256 against the FIPS 180-2 example vectors, plus incremental
 * hashing at every split point and the argument contract. */
#include <string.h>

#include "secure/tn_secure.h"
#include "tn_test.h"

/* Parses 64 hex digits into 32 bytes. */
static void from_hex(const char* hex, uint8_t out[32]) {
  for (int i = 0; i < 32; ++i) {
    int v = 0;
    for (int j = 0; j < 2; ++j) {
      char ch = hex[2 * i + j];
      int d = (ch >= '0' && ch <= '9') ? ch - '0' : ch - 'a' + 10;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
}

static int digest_equals(const uint8_t got[32], const char* hex) {
  uint8_t want[32];
  from_hex(hex, want);
  return memcmp(got, want, 32) == 0;
}

TN_TEST(fips_one_block) {
  uint8_t d[32];
  TN_CHECK_STATUS(tn_sha256("abc", 3, d), TN_OK);
  TN_CHECK(digest_equals(
      d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  tn_test_digest("sha256.abc", d, sizeof(d));
}

TN_TEST(fips_two_blocks) {
  static const char kMsg[] =
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  uint8_t d[32];
  TN_CHECK_STATUS(tn_sha256(kMsg, strlen(kMsg), d), TN_OK);
  TN_CHECK(digest_equals(
      d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
  tn_test_digest("sha256.two_blocks", d, sizeof(d));
}

TN_TEST(fips_million_a) {
  static uint8_t chunk[1000];
  memset(chunk, 'a', sizeof(chunk));
  tn_sha256_ctx ctx;
  uint8_t d[32];
  TN_CHECK_STATUS(tn_sha256_init(&ctx), TN_OK);
  for (int i = 0; i < 1000; ++i) {
    TN_CHECK_STATUS(tn_sha256_update(&ctx, chunk, sizeof(chunk)), TN_OK);
  }
  TN_CHECK_STATUS(tn_sha256_final(&ctx, d), TN_OK);
  TN_CHECK(digest_equals(
      d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
  tn_test_digest("sha256.million_a", d, sizeof(d));
}

TN_TEST(empty_message) {
  uint8_t d[32];
  TN_CHECK_STATUS(tn_sha256(NULL, 0, d), TN_OK);
  TN_CHECK(digest_equals(
      d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  tn_test_digest("sha256.empty", d, sizeof(d));
}

/* Every split of a 150-byte message into two updates, and byte-by-byte
 * updates, give the one-shot digest (covers the 55/56/64-byte padding
 * boundaries). */
TN_TEST(incremental_matches_one_shot) {
  uint8_t msg[150];
  for (int i = 0; i < 150; ++i) msg[i] = (uint8_t)(i * 7 + 3);
  for (size_t len = 0; len <= sizeof(msg); ++len) {
    uint8_t whole[32];
    TN_CHECK_STATUS(tn_sha256(msg, len, whole), TN_OK);
    for (size_t cut = 0; cut <= len; ++cut) {
      tn_sha256_ctx ctx;
      uint8_t d[32];
      TN_CHECK_STATUS(tn_sha256_init(&ctx), TN_OK);
      TN_CHECK_STATUS(tn_sha256_update(&ctx, msg, cut), TN_OK);
      TN_CHECK_STATUS(tn_sha256_update(&ctx, msg + cut, len - cut), TN_OK);
      TN_CHECK_STATUS(tn_sha256_final(&ctx, d), TN_OK);
      TN_CHECK(memcmp(d, whole, 32) == 0);
    }
    if (len == 55 || len == 56 || len == 64 || len == 150) {
      char label[32];
      label[0] = '\0';
      strcat(label, "sha256.len");
      size_t n = strlen(label);
      label[n] = (char)('0' + (len / 100) % 10);
      label[n + 1] = (char)('0' + (len / 10) % 10);
      label[n + 2] = (char)('0' + len % 10);
      label[n + 3] = '\0';
      tn_test_digest(label, whole, sizeof(whole));
    }
  }
}

TN_TEST(argument_contract) {
  tn_sha256_ctx ctx;
  uint8_t d[32];
  TN_CHECK_STATUS(tn_sha256_init(NULL), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_sha256_init(&ctx), TN_OK);
  TN_CHECK_STATUS(tn_sha256_update(&ctx, NULL, 1), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_sha256_update(NULL, "a", 1), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_sha256_final(&ctx, NULL), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_sha256_final(&ctx, d), TN_OK);
  /* A finished context must be initialised again before reuse. */
  TN_CHECK_STATUS(tn_sha256_update(&ctx, "a", 1), TN_ERR_STATE);
  TN_CHECK_STATUS(tn_sha256_final(&ctx, d), TN_ERR_STATE);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(fips_one_block),
      TN_CASE(fips_two_blocks),
      TN_CASE(fips_million_a),
      TN_CASE(empty_message),
      TN_CASE(incremental_matches_one_shot),
      TN_CASE(argument_contract),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
