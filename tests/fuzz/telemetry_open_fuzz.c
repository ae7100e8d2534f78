/*
 * libFuzzer target for opening sealed records, the gateway's parser of
 * bytes relayed from the field. Under a fixed key, the input goes straight
 * to tn_seal_peek_counter and tn_seal_open (a forgery must never open, and a
 * refusal must release nothing). Then the input is sealed as a record under
 * an input-derived counter: it must open to the same bytes and counter, and
 * the same record with one input-chosen byte changed must not open. Finally
 * input-derived counters drive the replay window, which must never accept a
 * counter twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "secure/tn_secure.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

static void fixed_key(tn_seal_key* key) {
  memset(key, 0, sizeof(*key));
  for (int i = 0; i < 16; ++i) key->aes_key[i] = (uint8_t)(0x30 + i);
  memcpy(key->nonce_salt, "\x01\x02\x03\x04", 4);
  memcpy(key->device_id, "dev-fuzz", 8);
  key->device_id_len = 8;
}

static void check_raw_open(const tn_seal_key* key, const uint8_t* data,
                           size_t size) {
  static uint8_t plain[TN_SEAL_MAX_SEALED];
  uint64_t peeked = 0;
  tn_status peek = tn_seal_peek_counter(data, size, &peeked);
  size_t plain_len = 99;
  uint64_t counter = 99;
  memset(plain, 0xA5, sizeof(plain));
  tn_status st =
      tn_seal_open(key, data, size, plain, sizeof(plain), &plain_len, &counter);
  if (st == TN_OK) {
    /* Only sealed records open; random input practically never does. */
    REQUIRE(peek == TN_OK && counter == peeked);
    REQUIRE(plain_len == size - TN_SEAL_OVERHEAD);
    return;
  }
  REQUIRE(plain_len == 0 && counter == 0);
  if (peek != TN_OK) {
    REQUIRE(st == peek);
    return;
  }
  /* A well-formed header that fails authentication leaves zeros behind. */
  REQUIRE(st == TN_ERR_AUTH);
  for (size_t i = 0; i < size - TN_SEAL_OVERHEAD; ++i) REQUIRE(plain[i] == 0);
}

static void check_seal_round_trip(const tn_seal_key* key, const uint8_t* data,
                                  size_t size) {
  if (size < 10) return;
  uint64_t counter = 0;
  memcpy(&counter, data, 8);
  if (counter == 0) counter = 1;
  size_t flip_at = data[8];
  uint8_t flip = data[9];
  const uint8_t* pt = data + 10;
  size_t pt_len = size - 10;
  if (pt_len == 0 || pt_len > TN_SEAL_MAX_PLAINTEXT) return;
  static uint8_t sealed[TN_SEAL_MAX_SEALED];
  size_t n = 0;
  REQUIRE(tn_seal_record_with_counter(key, counter, pt, pt_len, sealed,
                                      sizeof(sealed), &n) == TN_OK);
  REQUIRE(n == TN_SEAL_SEALED_SIZE(pt_len));
  static uint8_t plain[TN_SEAL_MAX_SEALED];
  size_t plain_len = 0;
  uint64_t opened = 0;
  REQUIRE(tn_seal_open(key, sealed, n, plain, sizeof(plain), &plain_len,
                       &opened) == TN_OK);
  REQUIRE(plain_len == pt_len && memcmp(plain, pt, pt_len) == 0);
  REQUIRE(opened == counter);
  if (flip == 0) return;
  sealed[flip_at % n] ^= flip;
  REQUIRE(tn_seal_open(key, sealed, n, plain, sizeof(plain), &plain_len,
                       &opened) != TN_OK);
}

static void check_window(const uint8_t* data, size_t size) {
  tn_seal_window w;
  tn_seal_window_init(&w);
  /* Counters near a moving base, so that the window's edges are hit. */
  uint64_t base = 1;
  uint64_t accepted[64]; /* the most recent acceptances, a ring */
  size_t count = 0;
  size_t head = 0;
  for (size_t i = 0; i + 1 < size && i < 512; i += 2) {
    base += data[i] >> 4;
    uint64_t c = base + (data[i + 1] & 0x7F);
    tn_status st = tn_seal_window_check(&w, c);
    int seen_before = 0;
    for (size_t k = 0; k < count; ++k) seen_before |= accepted[k] == c;
    if (seen_before) REQUIRE(st == TN_ERR_REPLAY);
    if (st == TN_OK) {
      REQUIRE(tn_seal_window_accept(&w, c) == TN_OK);
      REQUIRE(tn_seal_window_check(&w, c) == TN_ERR_REPLAY);
      accepted[head] = c;
      head = (head + 1) % 64;
      if (count < 64) ++count;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tn_seal_key key;
  static int ready = 0;
  if (!ready) {
    fixed_key(&key);
    ready = 1;
  }
  check_raw_open(&key, data, size);
  check_seal_round_trip(&key, data, size);
  check_window(data, size);
  return 0;
}
