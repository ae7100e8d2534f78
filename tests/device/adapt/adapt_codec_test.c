/*
 * Tests of the adapt room's formats and compression: TNTL and TNUP round
 * trips (dense and sparse), refusal of every malformed field with its
 * status, the frozen-part hash (stable under tail changes, sensitive to the
 * front-end), symmetric quantization, L2 clipping, top-k selection and the
 * error-feedback residue carried from one update into the next.
 */
#include <string.h>

#include "adapt/tn_adapt.h"
#include "model_fixture.h"
#include "secure/tn_secure.h"
#include "tn_test.h"

static uint8_t g_buf[65536];
static uint8_t g_buf2[65536];

static void fill_hash(uint8_t* h, uint8_t seed) {
  for (uint32_t i = 0; i < TN_ADAPT_HASH_SIZE; ++i) h[i] = (uint8_t)(seed + i);
}

static void store_f32(uint8_t* p, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof(bits));
  tn_store_u32le(p, bits);
}

/* Recomputes the trailing hash of an artifact of `size` bytes. */
static void rehash(uint8_t* data, size_t size) {
  TN_CHECK(tn_sha256(data, size - 32, data + size - 32) == TN_OK);
}

static float f32_bits(uint32_t bits) {
  float v;
  memcpy(&v, &bits, sizeof(v));
  return v;
}

static int near(float a, float b, float tol) {
  return a - b <= tol && b - a <= tol;
}

/* ---- TNTL ---------------------------------------------------------------- */

static size_t make_tntl(uint8_t* out, uint32_t n) {
  float params[64];
  for (uint32_t i = 0; i < n; ++i) params[i] = (float)i * 0.25f - 3.0f;
  uint8_t frozen[32];
  fill_hash(frozen, 7);
  size_t written = 0;
  TN_CHECK(tn_tntl_encode(frozen, params, n, out, sizeof(g_buf), &written) ==
           TN_OK);
  return written;
}

TN_TEST(tntl_roundtrip) {
  size_t size = make_tntl(g_buf, 10);
  /* The encoding (floats, SHA-256) must be the same bytes on every target. */
  tn_test_digest("tntl", g_buf, size);
  TN_CHECK_EQ(size, tn_tntl_size(10));
  TN_CHECK_EQ(size, 44u + 40u + 32u);
  TN_CHECK(memcmp(g_buf, "TNTL", 4) == 0);
  tn_tntl t;
  TN_CHECK_STATUS(tn_tntl_decode(g_buf, size, &t), TN_OK);
  TN_CHECK_EQ(t.param_count, 10u);
  TN_CHECK_EQ(t.size, size);
  uint8_t frozen[32];
  fill_hash(frozen, 7);
  TN_CHECK(memcmp(t.frozen_sha256, frozen, 32) == 0);
  uint8_t digest[32];
  TN_REQUIRE(tn_sha256(g_buf, size - 32, digest) == TN_OK);
  TN_CHECK(memcmp(t.sha256, digest, 32) == 0);
  float back[10];
  TN_CHECK_STATUS(tn_tntl_read_params(&t, back, 9), TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_tntl_read_params(&t, back, 10), TN_OK);
  for (uint32_t i = 0; i < 10; ++i) {
    TN_CHECK(back[i] == (float)i * 0.25f - 3.0f);
  }
}

TN_TEST(tntl_encode_refuses) {
  uint8_t frozen[32] = {0};
  float p[2] = {1.0f, 2.0f};
  size_t w;
  TN_CHECK_STATUS(tn_tntl_encode(frozen, p, 0, g_buf, sizeof(g_buf), &w),
                  TN_ERR_UPDATE_BOUNDS);
  TN_CHECK_STATUS(tn_tntl_encode(frozen, p, 2, g_buf, 44 + 8 + 31, &w),
                  TN_ERR_BUFFER_TOO_SMALL);
  uint32_t nan_bits = 0x7FC00000u;
  memcpy(&p[1], &nan_bits, 4);
  TN_CHECK_STATUS(tn_tntl_encode(frozen, p, 2, g_buf, sizeof(g_buf), &w),
                  TN_ERR_UPDATE_VALUE);
  TN_CHECK_STATUS(tn_tntl_encode(NULL, p, 2, g_buf, sizeof(g_buf), &w),
                  TN_ERR_NULL);
  TN_CHECK_EQ(tn_tntl_size(0), 0u);
  TN_CHECK_EQ(tn_tntl_size(TN_ADAPT_MAX_PARAMS + 1u), 0u);
}

TN_TEST(tntl_decode_refuses_each_field) {
  const size_t size = make_tntl(g_buf, 4);
  tn_tntl t;
  memset(&t, 0xAB, sizeof(t));
  tn_tntl untouched = t;
  /* Truncated fixed part. */
  TN_CHECK_STATUS(tn_tntl_decode(g_buf, 75, &t), TN_ERR_UPDATE_BOUNDS);
  /* Size not the one param_count gives: one byte short, one byte long. */
  TN_CHECK_STATUS(tn_tntl_decode(g_buf, size - 1, &t), TN_ERR_UPDATE_BOUNDS);
  memcpy(g_buf2, g_buf, size);
  g_buf2[size] = 0;
  rehash(g_buf2, size + 1);
  TN_CHECK_STATUS(tn_tntl_decode(g_buf2, size + 1, &t), TN_ERR_UPDATE_BOUNDS);
  /* Magic, version, reserved. */
  static const uint32_t kFormatBytes[] = {0, 3, 4, 5, 6, 7};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(kFormatBytes); ++i) {
    memcpy(g_buf2, g_buf, size);
    g_buf2[kFormatBytes[i]] ^= 0x01;
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tntl_decode(g_buf2, size, &t), TN_ERR_UPDATE_FORMAT);
  }
  /* param_count 0, too large, and not matching the size. */
  const uint32_t counts[] = {0, TN_ADAPT_MAX_PARAMS + 1u, 3, 5};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(counts); ++i) {
    memcpy(g_buf2, g_buf, size);
    tn_store_u32le(g_buf2 + 40, counts[i]);
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tntl_decode(g_buf2, size, &t), TN_ERR_UPDATE_BOUNDS);
  }
  /* Any flipped byte in the frozen hash, params or trailing hash. */
  const size_t flips[] = {8, 39, 44, size - 33, size - 32, size - 1};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(flips); ++i) {
    memcpy(g_buf2, g_buf, size);
    g_buf2[flips[i]] ^= 0x80;
    TN_CHECK_STATUS(tn_tntl_decode(g_buf2, size, &t), TN_ERR_UPDATE_CHECKSUM);
  }
  /* Non-finite parameter with a valid hash. */
  memcpy(g_buf2, g_buf, size);
  tn_store_u32le(g_buf2 + 44 + 4, 0x7F800000u);
  rehash(g_buf2, size);
  TN_CHECK_STATUS(tn_tntl_decode(g_buf2, size, &t), TN_ERR_UPDATE_VALUE);
  TN_CHECK(memcmp(&t, &untouched, sizeof(t)) == 0);
  TN_CHECK_STATUS(tn_tntl_decode(NULL, size, &t), TN_ERR_NULL);
}

/* ---- TNUP ---------------------------------------------------------------- */

static tn_tnup_meta sample_meta(void) {
  tn_tnup_meta m;
  memset(&m, 0, sizeof(m));
  TN_CHECK(tn_round_binding("round-1", 7, m.round_binding) == TN_OK);
  fill_hash(m.frozen_sha256, 1);
  fill_hash(m.start_sha256, 2);
  m.samples = 120;
  m.attempt = 3;
  m.loss_before = 1.5f;
  m.loss_after = 0.75f;
  m.accuracy_before = 0.5f;
  m.accuracy_after = 0.875f;
  return m;
}

static const uint32_t kSizes[2] = {12, 4};

static void sample_delta(float* d) {
  for (uint32_t i = 0; i < 16; ++i) {
    d[i] = ((float)((i * 7u) % 16u) - 7.5f) * 0.01f;
  }
}

static size_t make_tnup(uint8_t* out, float ratio) {
  tn_tnup_meta m = sample_meta();
  float d[16], residual[16] = {0};
  uint32_t scratch[16];
  sample_delta(d);
  tn_update_compress c = {0.0f, ratio};
  size_t w = 0;
  TN_CHECK(tn_tnup_build(&m, kSizes, 2, d, residual, &c, scratch,
                         sizeof(scratch), out, sizeof(g_buf), &w) == TN_OK);
  return w;
}

TN_TEST(tnup_dense_roundtrip) {
  size_t size = make_tnup(g_buf, 0.0f);
  tn_test_digest("tnup_dense", g_buf, size);
  TN_CHECK_EQ(size, 132u + 12u + 12u + 12u + 4u + 32u);
  TN_CHECK_EQ(size, tn_tnup_max_size(kSizes, 2, 0));
  tn_tnup u;
  TN_CHECK_STATUS(tn_tnup_decode(g_buf, size, &u), TN_OK);
  tn_tnup_meta m = sample_meta();
  TN_CHECK(memcmp(&u.meta, &m, sizeof(m)) == 0);
  TN_CHECK_EQ(u.flags, 0u);
  TN_CHECK_EQ(u.tensor_count, 2u);
  TN_CHECK_EQ(u.param_count, 16u);
  TN_CHECK_EQ(u.max_tensor, 12u);
  tn_tnup_tensor t0, t1;
  TN_CHECK_STATUS(tn_tnup_tensor_at(&u, 0, &t0), TN_OK);
  TN_CHECK_STATUS(tn_tnup_tensor_at(&u, 1, &t1), TN_OK);
  TN_CHECK_STATUS(tn_tnup_tensor_at(&u, 2, &t1), TN_ERR_ARG);
  TN_CHECK_EQ(t0.element_count, 12u);
  TN_CHECK_EQ(t0.nnz, 12u);
  TN_CHECK(t0.indices == NULL);
  float d[16], back[16];
  sample_delta(d);
  /* Per-tensor symmetric scale: max |d| / 127, and the largest entry
   * quantizes to +-127. */
  float max0 = 0.0f;
  for (uint32_t i = 0; i < 12; ++i) {
    float a = d[i] < 0 ? -d[i] : d[i];
    if (a > max0) max0 = a;
  }
  TN_CHECK(t0.scale == max0 / 127.0f);
  TN_CHECK_STATUS(tn_tnup_delta(&u, back, 15), TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_tnup_delta(&u, back, 16), TN_OK);
  for (uint32_t i = 0; i < 16; ++i) {
    float err = back[i] - d[i];
    float half = (i < 12 ? t0.scale : t1.scale) * 0.5f + 1e-7f;
    TN_CHECK(err <= half && err >= -half);
  }
  float start[16], trained[16];
  for (uint32_t i = 0; i < 16; ++i) start[i] = (float)i;
  TN_CHECK_STATUS(tn_tnup_apply(&u, start, 15, trained), TN_ERR_UPDATE_BOUNDS);
  TN_CHECK_STATUS(tn_tnup_apply(&u, start, 16, trained), TN_OK);
  for (uint32_t i = 0; i < 16; ++i) TN_CHECK(trained[i] == start[i] + back[i]);
  /* A valid update whose delta (127 * 1e36) added to 3e38 overflows. */
  uint8_t big[132 + 12 + 1 + 32];
  memcpy(big, g_buf, 132);
  tn_store_u16le(big + 6, 0);
  tn_store_u16le(big + 128, 1);
  tn_store_u32le(big + 132, 1);
  store_f32(big + 136, 1e36f);
  tn_store_u32le(big + 140, 1);
  big[144] = 127;
  rehash(big, sizeof(big));
  tn_tnup bu;
  TN_REQUIRE(tn_tnup_decode(big, sizeof(big), &bu) == TN_OK);
  float one[1] = {3e38f}, sum[1];
  TN_CHECK_STATUS(tn_tnup_apply(&bu, one, 1, sum), TN_ERR_NUMERIC);
  one[0] = 1.0f;
  TN_CHECK_STATUS(tn_tnup_apply(&bu, one, 1, sum), TN_OK);
}

TN_TEST(tnup_sparse_roundtrip) {
  size_t size = make_tnup(g_buf, 0.25f);
  tn_test_digest("tnup_sparse", g_buf, size);
  /* ceil(0.25 * 12) = 3, ceil(0.25 * 4) = 1 kept coordinates. */
  TN_CHECK_EQ(size, 132u + (12u + 3u * 5u) + (12u + 1u * 5u) + 32u);
  tn_tnup u;
  TN_CHECK_STATUS(tn_tnup_decode(g_buf, size, &u), TN_OK);
  TN_CHECK_EQ(u.flags, TN_TNUP_FLAG_SPARSE);
  tn_tnup_tensor t0;
  TN_CHECK_STATUS(tn_tnup_tensor_at(&u, 0, &t0), TN_OK);
  TN_CHECK_EQ(t0.nnz, 3u);
  TN_REQUIRE(t0.indices != NULL);
  /* The three largest |d| of tensor 0 (d[i] = ((7i mod 16) - 7.5) / 100:
   * |7.5| at 7i mod 16 in {0, 15}, i.e. i = 0 and i = 9; then |6.5| at
   * 7i mod 16 in {1, 14}: i = 7 and i = 2, lower index first -> 2). */
  TN_CHECK_EQ(tn_load_u32le(t0.indices), 0u);
  TN_CHECK_EQ(tn_load_u32le(t0.indices + 4), 2u);
  TN_CHECK_EQ(tn_load_u32le(t0.indices + 8), 9u);
  float back[16];
  TN_CHECK_STATUS(tn_tnup_delta(&u, back, 16), TN_OK);
  uint32_t nonzero = 0;
  for (uint32_t i = 0; i < 16; ++i) nonzero += back[i] != 0.0f;
  TN_CHECK_EQ(nonzero, 4u);
}

/* Byte offsets in the sample dense update. */
enum { kTensor0 = 132, kTensor1 = 132 + 12 + 12 };

TN_TEST(tnup_decode_refuses_each_field) {
  const size_t size = make_tnup(g_buf, 0.0f);
  tn_tnup u;
  memset(&u, 0x5A, sizeof(u));
  tn_tnup untouched = u;
  TN_CHECK_STATUS(tn_tnup_decode(g_buf, 163, &u), TN_ERR_UPDATE_BOUNDS);
  /* Magic, version, flags (unknown bit), reserved: format errors even with
   * a valid hash. */
  const uint32_t format_at[] = {0, 1, 2, 3, 4, 5, 6, 7, 130, 131};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(format_at); ++i) {
    memcpy(g_buf2, g_buf, size);
    g_buf2[format_at[i]] ^= (format_at[i] == 6) ? 0x02 : 0x01;
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_FORMAT);
  }
  /* A flipped byte anywhere without rehashing. */
  for (size_t at = 8; at < size; at += 13) {
    if (at == 130 || at == 131) continue;
    memcpy(g_buf2, g_buf, size);
    g_buf2[at] ^= 0x10;
    TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_CHECKSUM);
  }
  /* Report values. */
  struct {
    uint32_t at;
    float v;
  } bad_values[] = {{112, -1.0f}, {116, -0.5f}, {120, 1.5f},
                    {124, -0.1f}, {112, 0.0f},  {120, 0.0f}};
  bad_values[4].v = f32_bits(0x7F800000u);
  bad_values[5].v = f32_bits(0x7FC00000u);
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(bad_values); ++i) {
    memcpy(g_buf2, g_buf, size);
    store_f32(g_buf2 + bad_values[i].at, bad_values[i].v);
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_VALUE);
  }
  memcpy(g_buf2, g_buf, size);
  tn_store_u32le(g_buf2 + 104, 0);
  rehash(g_buf2, size);
  TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_VALUE);
  /* Tensor count 0, 33, and 3 (runs past the end). */
  const uint16_t counts[] = {0, 33, 3, 1};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(counts); ++i) {
    memcpy(g_buf2, g_buf, size);
    tn_store_u16le(g_buf2 + 128, counts[i]);
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_BOUNDS);
  }
  /* Element count 0, too large; dense nnz != element count. */
  const uint32_t elems[] = {0, TN_ADAPT_MAX_PARAMS + 1u, 13u, 11u};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(elems); ++i) {
    memcpy(g_buf2, g_buf, size);
    tn_store_u32le(g_buf2 + kTensor0, elems[i]);
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_BOUNDS);
  }
  memcpy(g_buf2, g_buf, size);
  tn_store_u32le(g_buf2 + kTensor1 + 8, 3);
  rehash(g_buf2, size);
  TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_BOUNDS);
  /* Zero, negative, infinite, NaN, and 3e38 (128 * scale overflows). */
  const uint32_t scales[] = {0x00000000u, 0xBF800000u, 0x7F800000u, 0x7FC00001u,
                             0x7F61B1E6u};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(scales); ++i) {
    memcpy(g_buf2, g_buf, size);
    tn_store_u32le(g_buf2 + kTensor1 + 4, scales[i]);
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_VALUE);
  }
  /* Trailing bytes after the last tensor (hash recomputed). */
  memcpy(g_buf2, g_buf, size - 32);
  g_buf2[size - 32] = 0;
  rehash(g_buf2, size + 1);
  TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size + 1, &u), TN_ERR_UPDATE_BOUNDS);
  TN_CHECK(memcmp(&u, &untouched, sizeof(u)) == 0);
}

TN_TEST(tnup_decode_refuses_sparse_indices) {
  const size_t size = make_tnup(g_buf, 0.25f);
  tn_tnup u;
  const uint32_t idx0 = kTensor0 + 12;
  /* Indices: equal, decreasing, out of range. */
  struct {
    uint32_t slot, value;
  } bad[] = {{1, 0}, {2, 1}, {2, 12}, {0, 0xFFFFFFFFu}};
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(bad); ++i) {
    memcpy(g_buf2, g_buf, size);
    tn_store_u32le(g_buf2 + idx0 + 4 * bad[i].slot, bad[i].value);
    rehash(g_buf2, size);
    TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_BOUNDS);
  }
  /* nnz above the element count. */
  memcpy(g_buf2, g_buf, size);
  tn_store_u32le(g_buf2 + kTensor0 + 8, 13);
  rehash(g_buf2, size);
  TN_CHECK_STATUS(tn_tnup_decode(g_buf2, size, &u), TN_ERR_UPDATE_BOUNDS);
  /* A sparse tensor with nnz 0 is valid (all coordinates dropped). */
  uint8_t* p = g_buf2;
  size_t w = 132;
  memcpy(p, g_buf, 132);
  tn_store_u16le(p + 128, 1);
  tn_store_u32le(p + w, 5);
  store_f32(p + w + 4, 1.0f);
  tn_store_u32le(p + w + 8, 0);
  w += 12;
  rehash(p, w + 32);
  TN_CHECK_STATUS(tn_tnup_decode(p, w + 32, &u), TN_OK);
  TN_CHECK_EQ(u.param_count, 5u);
}

TN_TEST(tnup_build_refuses) {
  tn_tnup_meta m = sample_meta();
  float d[16], r[16] = {0};
  uint32_t scratch[16];
  sample_delta(d);
  tn_update_compress dense = {0.0f, 0.0f}, sparse = {0.0f, 0.5f},
                     bad_ratio = {0.0f, 1.5f}, bad_clip = {-1.0f, 0.0f};
  size_t w;
  TN_CHECK_STATUS(tn_tnup_build(&m, kSizes, 2, d, r, &bad_ratio, scratch,
                                sizeof(scratch), g_buf, sizeof(g_buf), &w),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_tnup_build(&m, kSizes, 2, d, r, &bad_clip, scratch,
                                sizeof(scratch), g_buf, sizeof(g_buf), &w),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_tnup_build(&m, kSizes, 2, d, NULL, &sparse, scratch,
                                sizeof(scratch), g_buf, sizeof(g_buf), &w),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_tnup_build(&m, kSizes, 2, d, r, &sparse, scratch, 8, g_buf,
                                sizeof(g_buf), &w),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(
      tn_tnup_build(&m, kSizes, 2, d, r, &dense, NULL, 0, g_buf, 100, &w),
      TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_tnup_build(&m, kSizes, 0, d, r, &dense, NULL, 0, g_buf,
                                sizeof(g_buf), &w),
                  TN_ERR_UPDATE_BOUNDS);
  m.samples = 0;
  TN_CHECK_STATUS(tn_tnup_build(&m, kSizes, 2, d, r, &dense, NULL, 0, g_buf,
                                sizeof(g_buf), &w),
                  TN_ERR_UPDATE_VALUE);
  m = sample_meta();
  d[3] = f32_bits(0x7F800000u);
  TN_CHECK_STATUS(tn_tnup_build(&m, kSizes, 2, d, r, &dense, NULL, 0, g_buf,
                                sizeof(g_buf), &w),
                  TN_ERR_UPDATE_VALUE);
}

/* ---- Compression primitives ---------------------------------------------- */

TN_TEST(quantize_symmetric) {
  const float in[5] = {0.0f, 1.0f, -2.54f, 0.005f, 2.54f};
  int8_t q[5];
  float scale;
  TN_CHECK_STATUS(tn_quantize_sym_s8(5, in, q, &scale), TN_OK);
  TN_CHECK(scale == 2.54f / 127.0f);
  TN_CHECK_EQ(q[0], 0);
  TN_CHECK_EQ(q[1], 50);
  TN_CHECK_EQ(q[2], -127);
  TN_CHECK_EQ(q[3], 0);
  TN_CHECK_EQ(q[4], 127);
  const float zeros[3] = {0};
  TN_CHECK_STATUS(tn_quantize_sym_s8(3, zeros, q, &scale), TN_OK);
  TN_CHECK(scale == 1.0f);
  TN_CHECK(q[0] == 0 && q[1] == 0 && q[2] == 0);
  TN_CHECK_STATUS(tn_quantize_sym_s8(0, zeros, q, &scale), TN_ERR_ARG);
}

TN_TEST(l2_clip) {
  float v[2] = {3.0f, 4.0f};
  float norm;
  TN_CHECK_STATUS(tn_l2_clip_f32(2, v, 10.0f, &norm), TN_OK);
  TN_CHECK(near(norm, 5.0f, 1e-6f));
  TN_CHECK(v[0] == 3.0f && v[1] == 4.0f);
  TN_CHECK_STATUS(tn_l2_clip_f32(2, v, 1.0f, &norm), TN_OK);
  TN_CHECK(near(v[0], 0.6f, 1e-6f) && near(v[1], 0.8f, 1e-6f));
  TN_CHECK_STATUS(tn_l2_clip_f32(2, v, 0.0f, &norm), TN_ERR_ARG);
  float z[3] = {0};
  TN_CHECK_STATUS(tn_l2_clip_f32(3, z, 1.0f, &norm), TN_OK);
  TN_CHECK(norm == 0.0f);
}

TN_TEST(topk_select_and_count) {
  TN_CHECK_EQ(tn_topk_count(10, 0.0f), 0u);
  TN_CHECK_EQ(tn_topk_count(10, 0.01f), 1u);
  TN_CHECK_EQ(tn_topk_count(10, 0.25f), 3u);
  TN_CHECK_EQ(tn_topk_count(10, 1.0f), 10u);
  const float v[8] = {0.1f, -5.0f, 2.0f, -2.0f, 0.0f, 7.0f, 2.0f, -0.3f};
  uint32_t idx[8], scratch[8];
  TN_CHECK_STATUS(tn_topk_select(8, v, 4, idx, scratch), TN_OK);
  /* 7 (5), -5 (1), then the three |2|s tie: indices 2 and 3 win. */
  TN_CHECK_EQ(idx[0], 1u);
  TN_CHECK_EQ(idx[1], 2u);
  TN_CHECK_EQ(idx[2], 3u);
  TN_CHECK_EQ(idx[3], 5u);
  TN_CHECK_STATUS(tn_topk_select(8, v, 9, idx, scratch), TN_ERR_ARG);
}

TN_TEST(error_feedback_carries_residue) {
  tn_tnup_meta m = sample_meta();
  const uint32_t sizes[1] = {8};
  float residual[8] = {0};
  uint32_t scratch[8];
  tn_update_compress c = {0.0f, 0.25f}; /* keep 2 of 8 */
  float d[8] = {1.0f, 0.5f, 0.4f, -0.3f, 0.2f, 0.1f, -2.0f, 0.0f};
  size_t w;
  TN_REQUIRE(tn_tnup_build(&m, sizes, 1, d, residual, &c, scratch,
                           sizeof(scratch), g_buf, sizeof(g_buf), &w) == TN_OK);
  tn_tnup u;
  TN_REQUIRE(tn_tnup_decode(g_buf, w, &u) == TN_OK);
  float sent[8];
  TN_REQUIRE(tn_tnup_delta(&u, sent, 8) == TN_OK);
  /* Kept: indices 0 and 6. What was not sent is in the residual:
   * residual + sent == original delta. */
  const float orig[8] = {1.0f, 0.5f, 0.4f, -0.3f, 0.2f, 0.1f, -2.0f, 0.0f};
  TN_CHECK(sent[1] == 0.0f && sent[0] != 0.0f && sent[6] != 0.0f);
  for (uint32_t i = 0; i < 8; ++i) {
    float sum = sent[i] + residual[i];
    float err = sum - orig[i];
    TN_CHECK(err < 1e-6f && err > -1e-6f);
  }
  TN_CHECK(residual[1] == 0.5f && residual[2] == 0.4f);
  /* Next update with a zero delta sends the largest carried coordinates
   * (0.5 at index 1 and 0.4 at index 2). */
  float d2[8] = {0};
  TN_REQUIRE(tn_tnup_build(&m, sizes, 1, d2, residual, &c, scratch,
                           sizeof(scratch), g_buf, sizeof(g_buf), &w) == TN_OK);
  TN_REQUIRE(tn_tnup_decode(g_buf, w, &u) == TN_OK);
  TN_REQUIRE(tn_tnup_delta(&u, sent, 8) == TN_OK);
  TN_CHECK(sent[1] > 0.49f && sent[1] < 0.51f);
  TN_CHECK(sent[2] > 0.39f && sent[2] < 0.41f);
  TN_CHECK(sent[0] == 0.0f && sent[6] == 0.0f);
  TN_CHECK(residual[1] > -0.01f && residual[1] < 0.01f);
  TN_CHECK(residual[3] == -0.3f);
}

TN_TEST(clip_applies_before_quantization) {
  tn_tnup_meta m = sample_meta();
  const uint32_t sizes[1] = {2};
  float d[2] = {3.0f, 4.0f};
  tn_update_compress c = {1.0f, 0.0f};
  size_t w;
  TN_REQUIRE(tn_tnup_build(&m, sizes, 1, d, NULL, &c, NULL, 0, g_buf,
                           sizeof(g_buf), &w) == TN_OK);
  tn_tnup u;
  float back[2];
  TN_REQUIRE(tn_tnup_decode(g_buf, w, &u) == TN_OK);
  TN_REQUIRE(tn_tnup_delta(&u, back, 2) == TN_OK);
  TN_CHECK(near(back[1], 0.8f, 1e-6f));
  TN_CHECK(near(back[0], 0.6f, 0.8f / 127.0f));
}

/* ---- Frozen hash -----------------------------------------------------------
 */

static fixture_model g_model;
static uint8_t g_blob[262144];

TN_TEST(frozen_hash_ignores_tail_values) {
  fx_ds_cnn(&g_model, 11, 1);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP9) == TN_OK);
  size_t size = 0;
  TN_REQUIRE(fx_build(&g_model, TN_TARGET_GAP9, 0, NULL, NULL, g_blob,
                      sizeof(g_blob), &size) == TN_OK);
  tn_blob blob;
  TN_REQUIRE(tn_blob_parse(g_blob, size, NULL, &blob) == TN_OK);
  uint8_t a[32], b[32], c[32];
  TN_CHECK_STATUS(tn_blob_frozen_sha256(&blob, a), TN_OK);
  TN_CHECK_STATUS(tn_blob_frozen_sha256(NULL, a), TN_ERR_NULL);

  /* Same front-end, other tail values and another version. */
  g_model.params[0] += 1.0f;
  fx_build(&g_model, TN_TARGET_GAP9, 0, NULL, NULL, g_blob, sizeof(g_blob),
           &size);
  TN_REQUIRE(tn_blob_parse(g_blob, size, NULL, &blob) == TN_OK);
  TN_CHECK_STATUS(tn_blob_frozen_sha256(&blob, b), TN_OK);
  TN_CHECK(memcmp(a, b, 32) == 0);

  /* One int8 weight changed: another frozen part. */
  g_model.weights[3] ^= 0x01;
  fx_build(&g_model, TN_TARGET_GAP9, 0, NULL, NULL, g_blob, sizeof(g_blob),
           &size);
  TN_REQUIRE(tn_blob_parse(g_blob, size, NULL, &blob) == TN_OK);
  TN_CHECK_STATUS(tn_blob_frozen_sha256(&blob, c), TN_OK);
  TN_CHECK(memcmp(a, c, 32) != 0);
}

TN_TEST(round_binding_is_sha256_of_id) {
  uint8_t a[32], b[32];
  TN_CHECK_STATUS(tn_round_binding("r1", 2, a), TN_OK);
  TN_REQUIRE(tn_sha256("r1", 2, b) == TN_OK);
  TN_CHECK(memcmp(a, b, 32) == 0);
  TN_CHECK_STATUS(tn_round_binding(NULL, 2, a), TN_ERR_NULL);
}

/* ---- Updates without a delta and the enrolling kinds' TRAIN params ----- */

TN_TEST(tnup_empty_update_decodes_to_a_zero_delta) {
  tn_tnup_meta m;
  memset(&m, 0, sizeof(m));
  fill_hash(m.round_binding, 1);
  fill_hash(m.frozen_sha256, 2);
  fill_hash(m.start_sha256, 3);
  m.samples = 30;
  m.attempt = 2;
  m.loss_before = m.loss_after = 1.25f;
  m.accuracy_before = 0.25f;
  m.accuracy_after = 0.75f;
  const uint32_t sizes[2] = {768, 12};
  size_t n = 0;
  TN_CHECK_EQ(tn_tnup_empty_size(2), 188u);
  TN_CHECK_EQ(tn_tnup_empty_size(0), 0u);
  TN_CHECK_STATUS(tn_tnup_build_empty(&m, sizes, 2, g_buf, 187, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_REQUIRE(tn_tnup_build_empty(&m, sizes, 2, g_buf, sizeof(g_buf), &n) ==
             TN_OK);
  TN_CHECK_EQ(n, 188u);
  tn_test_digest("tnup_empty", g_buf, n);
  tn_tnup u;
  TN_REQUIRE(tn_tnup_decode(g_buf, n, &u) == TN_OK);
  TN_CHECK_EQ(u.flags, TN_TNUP_FLAG_SPARSE);
  TN_CHECK_EQ(u.param_count, 780u);
  TN_CHECK_EQ(u.meta.samples, 30u);
  TN_CHECK(u.meta.accuracy_after == 0.75f);
  static float delta[780];
  for (uint32_t i = 0; i < 780; ++i) delta[i] = 1.0f;
  TN_REQUIRE(tn_tnup_delta(&u, delta, 780) == TN_OK);
  uint32_t nonzero = 0;
  for (uint32_t i = 0; i < 780; ++i) nonzero += delta[i] != 0.0f;
  TN_CHECK_EQ(nonzero, 0u);
  /* The meta is validated as for any update. */
  m.samples = 0;
  TN_CHECK_STATUS(tn_tnup_build_empty(&m, sizes, 2, g_buf, sizeof(g_buf), &n),
                  TN_ERR_UPDATE_VALUE);
  m.samples = 30;
  const uint32_t bad[1] = {0};
  TN_CHECK_STATUS(tn_tnup_build_empty(&m, bad, 1, g_buf, sizeof(g_buf), &n),
                  TN_ERR_UPDATE_BOUNDS);
}

static tn_link_train_params enrol_params(uint8_t kind) {
  tn_link_train_params p;
  memset(&p, 0, sizeof(p));
  p.kind = kind;
  fill_hash(p.round_binding, 4);
  fill_hash(p.frozen_sha256, 5);
  fill_hash(p.tail_sha256, 6);
  p.tail_size = 3196;
  p.local_epochs = 1;
  p.batch_size = 8;
  p.learning_rate = 0.01f;
  p.replay_samples = 3; /* shots */
  if (kind == TN_LINK_TRAIN_FEW_SHOT) p.target_far = 0.05f;
  return p;
}

TN_TEST(train_params_of_enrolling_kinds) {
  uint8_t buf[TN_LINK_TRAIN_PARAMS_SIZE];
  size_t n = 0;
  tn_link_train_params q;
  /* Few-shot: shots in replay_samples, the FAR at offset 148. */
  tn_link_train_params p = enrol_params(TN_LINK_TRAIN_FEW_SHOT);
  TN_REQUIRE(tn_link_train_params_encode(&p, buf, sizeof(buf), &n) == TN_OK);
  TN_CHECK_EQ(n, TN_LINK_TRAIN_PARAMS_SIZE);
  TN_CHECK_EQ(buf[0], 3u);
  TN_CHECK_EQ(tn_load_u32le(buf + 120), 3u);
  uint32_t far_bits;
  memcpy(&far_bits, &p.target_far, 4);
  TN_CHECK_EQ(tn_load_u32le(buf + 148), far_bits);
  TN_REQUIRE(tn_link_train_params_decode(buf, n, &q) == TN_OK);
  TN_CHECK(q.kind == TN_LINK_TRAIN_FEW_SHOT && q.replay_samples == 3u &&
           q.target_far == 0.05f);
  /* Self-learning: shots, offset 148 reserved. */
  p = enrol_params(TN_LINK_TRAIN_SELF_LEARNING);
  TN_REQUIRE(tn_link_train_params_encode(&p, buf, sizeof(buf), &n) == TN_OK);
  TN_REQUIRE(tn_link_train_params_decode(buf, n, &q) == TN_OK);
  TN_CHECK(q.kind == TN_LINK_TRAIN_SELF_LEARNING && q.target_far == 0.0f);
  store_f32(buf + 148, 0.05f);
  TN_CHECK_STATUS(tn_link_train_params_decode(buf, n, &q),
                  TN_ERR_MSG_MALFORMED);
  /* Federated keeps offset 148 reserved too. */
  p = enrol_params(TN_LINK_TRAIN_FEDERATED);
  p.replay_samples = 0;
  TN_REQUIRE(tn_link_train_params_encode(&p, buf, sizeof(buf), &n) == TN_OK);
  store_f32(buf + 148, 0.05f);
  TN_CHECK_STATUS(tn_link_train_params_decode(buf, n, &q),
                  TN_ERR_MSG_MALFORMED);
  /* Rules: shots 1..65535, no replay bits, FAR in [0, 1]. */
  const uint8_t kinds[2] = {TN_LINK_TRAIN_FEW_SHOT,
                            TN_LINK_TRAIN_SELF_LEARNING};
  for (int k = 0; k < 2; ++k) {
    p = enrol_params(kinds[k]);
    p.replay_samples = 0;
    TN_CHECK_STATUS(tn_link_train_params_encode(&p, buf, sizeof(buf), &n),
                    TN_ERR_ARG);
    p.replay_samples = 65536;
    TN_CHECK_STATUS(tn_link_train_params_encode(&p, buf, sizeof(buf), &n),
                    TN_ERR_ARG);
    p.replay_samples = 65535;
    TN_CHECK_STATUS(tn_link_train_params_encode(&p, buf, sizeof(buf), &n),
                    TN_OK);
    p.replay_bits = 8;
    TN_CHECK_STATUS(tn_link_train_params_encode(&p, buf, sizeof(buf), &n),
                    TN_ERR_ARG);
  }
  p = enrol_params(TN_LINK_TRAIN_FEW_SHOT);
  p.target_far = 1.5f;
  TN_CHECK_STATUS(tn_link_train_params_encode(&p, buf, sizeof(buf), &n),
                  TN_ERR_ARG);
  p.target_far = -0.1f;
  TN_CHECK_STATUS(tn_link_train_params_encode(&p, buf, sizeof(buf), &n),
                  TN_ERR_ARG);
  p.target_far = 1.0f;
  TN_REQUIRE(tn_link_train_params_encode(&p, buf, sizeof(buf), &n) == TN_OK);
  tn_store_u32le(buf + 148, 0x7FC00000u); /* NaN */
  TN_CHECK_STATUS(tn_link_train_params_decode(buf, n, &q),
                  TN_ERR_MSG_MALFORMED);
  /* Kind 5 is still unknown. */
  p = enrol_params(TN_LINK_TRAIN_SELF_LEARNING);
  TN_REQUIRE(tn_link_train_params_encode(&p, buf, sizeof(buf), &n) == TN_OK);
  buf[0] = 5;
  TN_CHECK_STATUS(tn_link_train_params_decode(buf, n, &q),
                  TN_ERR_MSG_MALFORMED);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(tntl_roundtrip),
      TN_CASE(tntl_encode_refuses),
      TN_CASE(tntl_decode_refuses_each_field),
      TN_CASE(tnup_dense_roundtrip),
      TN_CASE(tnup_sparse_roundtrip),
      TN_CASE(tnup_decode_refuses_each_field),
      TN_CASE(tnup_decode_refuses_sparse_indices),
      TN_CASE(tnup_build_refuses),
      TN_CASE(quantize_symmetric),
      TN_CASE(l2_clip),
      TN_CASE(topk_select_and_count),
      TN_CASE(error_feedback_carries_residue),
      TN_CASE(clip_applies_before_quantization),
      TN_CASE(frozen_hash_ignores_tail_values),
      TN_CASE(round_binding_is_sha256_of_id),
      TN_CASE(tnup_empty_update_decodes_to_a_zero_delta),
      TN_CASE(train_params_of_enrolling_kinds),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
