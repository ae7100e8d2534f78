/*
 * HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) over the room's portable
 * SHA-256, so that the telemetry key schedule is identical on every target
 * and needs nothing from the crypto port. Intermediate secrets (padded keys,
 * PRK blocks) live on the stack and are wiped before returning. Also holds
 * tn_secure_wipe, the one zeroing helper of the room.
 */
#include <string.h>

#include "secure/tn_secure.h"

void tn_secure_wipe(void* p, size_t size) {
  /* Writes through a volatile pointer are not elided as dead stores. */
  volatile uint8_t* v = (volatile uint8_t*)p;
  for (size_t i = 0; i < size; ++i) v[i] = 0;
}

/* The 64-byte block key of HMAC: the key itself zero-padded, or its hash
 * when it is longer than a block. */
static tn_status block_key(const uint8_t* key, size_t key_len,
                           uint8_t out[TN_SHA256_BLOCK_SIZE]) {
  memset(out, 0, TN_SHA256_BLOCK_SIZE);
  if (key_len > TN_SHA256_BLOCK_SIZE) return tn_sha256(key, key_len, out);
  if (key_len > 0) memcpy(out, key, key_len);
  return TN_OK;
}

/* HMAC over the concatenation of up to three parts (HKDF-Expand hashes
 * T(i-1) | info | i without copying them together). */
static tn_status hmac3(const uint8_t* key, size_t key_len, const uint8_t* a,
                       size_t a_len, const uint8_t* b, size_t b_len,
                       const uint8_t* c, size_t c_len,
                       uint8_t mac[TN_HMAC_SHA256_SIZE]) {
  uint8_t k[TN_SHA256_BLOCK_SIZE];
  uint8_t pad[TN_SHA256_BLOCK_SIZE];
  uint8_t inner[TN_SHA256_DIGEST_SIZE];
  tn_sha256_ctx ctx;
  tn_status st = block_key(key, key_len, k);
  if (st == TN_OK) {
    for (size_t i = 0; i < TN_SHA256_BLOCK_SIZE; ++i) pad[i] = k[i] ^ 0x36u;
    st = tn_sha256_init(&ctx);
    if (st == TN_OK) st = tn_sha256_update(&ctx, pad, sizeof(pad));
    if (st == TN_OK) st = tn_sha256_update(&ctx, a, a_len);
    if (st == TN_OK) st = tn_sha256_update(&ctx, b, b_len);
    if (st == TN_OK) st = tn_sha256_update(&ctx, c, c_len);
    if (st == TN_OK) st = tn_sha256_final(&ctx, inner);
  }
  if (st == TN_OK) {
    for (size_t i = 0; i < TN_SHA256_BLOCK_SIZE; ++i) pad[i] = k[i] ^ 0x5Cu;
    st = tn_sha256_init(&ctx);
    if (st == TN_OK) st = tn_sha256_update(&ctx, pad, sizeof(pad));
    if (st == TN_OK) st = tn_sha256_update(&ctx, inner, sizeof(inner));
    if (st == TN_OK) st = tn_sha256_final(&ctx, mac);
  }
  tn_secure_wipe(k, sizeof(k));
  tn_secure_wipe(pad, sizeof(pad));
  tn_secure_wipe(inner, sizeof(inner));
  tn_secure_wipe(&ctx, sizeof(ctx));
  return st;
}

tn_status tn_hmac_sha256(const uint8_t* key, size_t key_len,
                         const uint8_t* data, size_t size,
                         uint8_t mac[TN_HMAC_SHA256_SIZE]) {
  if ((key == NULL && key_len > 0) || (data == NULL && size > 0) ||
      mac == NULL) {
    return TN_ERR_NULL;
  }
  return hmac3(key, key_len, data, size, NULL, 0, NULL, 0, mac);
}

tn_status tn_hkdf_sha256_extract(const uint8_t* salt, size_t salt_len,
                                 const uint8_t* ikm, size_t ikm_len,
                                 uint8_t prk[TN_HMAC_SHA256_SIZE]) {
  if ((salt == NULL && salt_len > 0) || (ikm == NULL && ikm_len > 0) ||
      prk == NULL) {
    return TN_ERR_NULL;
  }
  /* An absent salt is HashLen zero bytes; zero-padding makes that the same
   * block key as an empty one. */
  return hmac3(salt, salt_len, ikm, ikm_len, NULL, 0, NULL, 0, prk);
}

tn_status tn_hkdf_sha256_expand(const uint8_t prk[TN_HMAC_SHA256_SIZE],
                                const uint8_t* info, size_t info_len,
                                uint8_t* okm, size_t okm_len) {
  if (prk == NULL || (info == NULL && info_len > 0) || okm == NULL) {
    return TN_ERR_NULL;
  }
  if (okm_len == 0 || okm_len > TN_HKDF_SHA256_MAX_OKM) return TN_ERR_ARG;
  uint8_t t[TN_HMAC_SHA256_SIZE];
  size_t t_len = 0; /* T(0) is empty */
  size_t done = 0;
  tn_status st = TN_OK;
  /* At most 255 blocks, by the range check above. */
  for (uint8_t i = 1; done < okm_len; ++i) {
    st = hmac3(prk, TN_HMAC_SHA256_SIZE, t, t_len, info, info_len, &i, 1, t);
    if (st != TN_OK) break;
    t_len = sizeof(t);
    size_t n = okm_len - done < sizeof(t) ? okm_len - done : sizeof(t);
    memcpy(okm + done, t, n);
    done += n;
  }
  tn_secure_wipe(t, sizeof(t));
  if (st != TN_OK) tn_secure_wipe(okm, okm_len);
  return st;
}

tn_status tn_hkdf_sha256(const uint8_t* salt, size_t salt_len,
                         const uint8_t* ikm, size_t ikm_len,
                         const uint8_t* info, size_t info_len, uint8_t* okm,
                         size_t okm_len) {
  uint8_t prk[TN_HMAC_SHA256_SIZE];
  tn_status st = tn_hkdf_sha256_extract(salt, salt_len, ikm, ikm_len, prk);
  if (st == TN_OK)
    st = tn_hkdf_sha256_expand(prk, info, info_len, okm, okm_len);
  tn_secure_wipe(prk, sizeof(prk));
  return st;
}
