/*
 * SHA-256 as specified in FIPS 180-4, section 6.2: a straightforward,
 * portable implementation over 32-bit words with no tables beyond the
 * round constants and no dependence on host byte order or alignment.
 */
#include <string.h>

#include "secure/tn_secure.h"

/* First 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4, 4.2.2). */
static const uint32_t kRoundConstants[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu,
    0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u,
    0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u,
    0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
    0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u,
    0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u,
    0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u, 0x1e376c08u,
    0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu,
    0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

/* Maximum message length in bytes: the padded length field counts bits in
 * 64 bits. */
#define TN_SHA256_MAX_BYTES ((((uint64_t)1) << 61) - 1u)

static uint32_t rotr32(uint32_t x, unsigned n) {
  return (x >> n) | (x << (32u - n));
}

static uint32_t load_be32(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Applies the compression function to one 64-byte block. */
static void compress(uint32_t state[8], const uint8_t block[64]) {
  uint32_t w[64];
  for (unsigned t = 0; t < 16; ++t) w[t] = load_be32(block + 4u * t);
  for (unsigned t = 16; t < 64; ++t) {
    uint32_t s0 =
        rotr32(w[t - 15], 7) ^ rotr32(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 =
        rotr32(w[t - 2], 17) ^ rotr32(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
  for (unsigned t = 0; t < 64; ++t) {
    uint32_t big_s1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
    uint32_t ch = (e & f) ^ (~e & g);
    uint32_t t1 = h + big_s1 + ch + kRoundConstants[t] + w[t];
    uint32_t big_s0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
    uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    uint32_t t2 = big_s0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

tn_status tn_sha256_init(tn_sha256_ctx* ctx) {
  if (ctx == NULL) return TN_ERR_NULL;
  /* FIPS 180-4, 5.3.3. */
  static const uint32_t kInitial[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u,
                                       0xa54ff53au, 0x510e527fu, 0x9b05688cu,
                                       0x1f83d9abu, 0x5be0cd19u};
  memcpy(ctx->state, kInitial, sizeof(kInitial));
  ctx->length = 0;
  ctx->block_len = 0;
  memset(ctx->block, 0, sizeof(ctx->block));
  return TN_OK;
}

tn_status tn_sha256_update(tn_sha256_ctx* ctx, const void* data, size_t size) {
  if (ctx == NULL) return TN_ERR_NULL;
  if (size == 0) return TN_OK;
  if (data == NULL) return TN_ERR_NULL;
  if (ctx->block_len >= TN_SHA256_BLOCK_SIZE) return TN_ERR_STATE;
  if ((uint64_t)size > TN_SHA256_MAX_BYTES - ctx->length) {
    return TN_ERR_OVERFLOW;
  }
  const uint8_t* p = (const uint8_t*)data;
  ctx->length += (uint64_t)size;
  if (ctx->block_len > 0) {
    size_t take = TN_SHA256_BLOCK_SIZE - ctx->block_len;
    if (take > size) take = size;
    memcpy(ctx->block + ctx->block_len, p, take);
    ctx->block_len += (uint32_t)take;
    p += take;
    size -= take;
    if (ctx->block_len < TN_SHA256_BLOCK_SIZE) return TN_OK;
    compress(ctx->state, ctx->block);
    ctx->block_len = 0;
  }
  while (size >= TN_SHA256_BLOCK_SIZE) {
    compress(ctx->state, p);
    p += TN_SHA256_BLOCK_SIZE;
    size -= TN_SHA256_BLOCK_SIZE;
  }
  if (size > 0) {
    memcpy(ctx->block, p, size);
    ctx->block_len = (uint32_t)size;
  }
  return TN_OK;
}

tn_status tn_sha256_final(tn_sha256_ctx* ctx,
                          uint8_t digest[TN_SHA256_DIGEST_SIZE]) {
  if (ctx == NULL || digest == NULL) return TN_ERR_NULL;
  if (ctx->block_len >= TN_SHA256_BLOCK_SIZE) return TN_ERR_STATE;
  uint64_t bit_length = ctx->length * 8u;
  uint32_t n = ctx->block_len;
  ctx->block[n++] = 0x80u;
  if (n > TN_SHA256_BLOCK_SIZE - 8u) {
    memset(ctx->block + n, 0, TN_SHA256_BLOCK_SIZE - n);
    compress(ctx->state, ctx->block);
    n = 0;
  }
  memset(ctx->block + n, 0, TN_SHA256_BLOCK_SIZE - 8u - n);
  store_be32(ctx->block + 56, (uint32_t)(bit_length >> 32));
  store_be32(ctx->block + 60, (uint32_t)bit_length);
  compress(ctx->state, ctx->block);
  for (unsigned i = 0; i < 8; ++i) store_be32(digest + 4u * i, ctx->state[i]);
  memset(ctx, 0, sizeof(*ctx));
  /* A wiped context fails update/final until it is initialised again. */
  ctx->block_len = TN_SHA256_BLOCK_SIZE;
  return TN_OK;
}

tn_status tn_sha256(const void* data, size_t size,
                    uint8_t digest[TN_SHA256_DIGEST_SIZE]) {
  tn_sha256_ctx ctx;
  tn_status st = tn_sha256_init(&ctx);
  if (st != TN_OK) return st;
  st = tn_sha256_update(&ctx, data, size);
  if (st != TN_OK) return st;
  return tn_sha256_final(&ctx, digest);
}
