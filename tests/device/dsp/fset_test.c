/*
 * Tests of the feature data set codec (dsp/tn_dsp.h, docs/formats/
 * dataset.md): a write/read round trip, the writer's argument checks, and
 * the reader against truncated files (every length), corrupted files (every
 * bit flipped) and hostile files whose checksum is valid but whose fields
 * are not. The bytes of the written files are digested, so the writer is
 * checked bit for bit on every target.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_base.h"
#include "base/tn_math.h"
#include "base/tn_rng.h"
#include "dsp/tn_dsp.h"
#include "tn_test.h"

static const char* const kNames12[] = {
    "_silence_", "_unknown_", "yes", "no",  "up",   "down",
    "left",      "right",     "on",  "off", "stop", "go"};
static const char* const kNames3[] = {"a", "b b", "c"};

static uint8_t g_file[64 * 1024];
static uint8_t g_copy[64 * 1024];
static int8_t g_feat[TN_KWS_FEATURES];

static tn_fset_info kws_info(uint32_t samples) {
  tn_fset_info info;
  memset(&info, 0, sizeof(info));
  info.sample_count = samples;
  info.frames = TN_KWS_FRAMES;
  info.coeffs = TN_KWS_COEFFS;
  info.class_count = 12;
  info.front_end = tn_mfcc_config_kws();
  info.seed = 0x0123456789abcdefULL;
  memcpy(info.preset, "large", 6);
  return info;
}

/* A small file: 3 classes, 2 frames x 3 coefficients, 5 records. */
static tn_fset_info small_info(void) {
  tn_fset_info info;
  memset(&info, 0, sizeof(info));
  info.sample_count = 5;
  info.frames = 2;
  info.coeffs = 3;
  info.class_count = 3;
  info.front_end = tn_mfcc_config_kws();
  info.front_end.coeffs = 3;
  info.seed = 7;
  memcpy(info.preset, "t", 2);
  return info;
}

static size_t write_small(uint8_t* out) {
  tn_fset_info info = small_info();
  size_t size = tn_fset_file_size(&info);
  if (tn_fset_write_header(&info, kNames3, out, size) != TN_OK) return 0;
  for (uint32_t i = 0; i < info.sample_count; ++i) {
    int8_t f[6];
    for (int k = 0; k < 6; ++k) f[k] = (int8_t)(i * 10 + k - 20);
    tn_fset_record r = {i % 3u, i < 4u ? i : 3u,
                        i == 3u ? 9u : (i == 4u ? 1u : 0u), 100u + i, f};
    if (tn_fset_write_record(&info, i, &r, out, size) != TN_OK) return 0;
  }
  if (tn_fset_finish(out, size) != TN_OK) return 0;
  return size;
}

TN_TEST(sizes) {
  tn_fset_info info = kws_info(10);
  TN_CHECK_EQ(tn_fset_record_size(&info), 8 + 490);
  TN_CHECK_EQ(tn_fset_file_size(&info), 128 + 12 * 16 + 10 * 498 + 4);
  info.sample_count = 0;
  TN_CHECK_EQ(tn_fset_file_size(&info), 128 + 12 * 16 + 4);
  info.frames = 0;
  TN_CHECK_EQ(tn_fset_record_size(&info), 0);
  TN_CHECK_EQ(tn_fset_file_size(&info), 0);
  info = kws_info(1);
  info.class_count = TN_FSET_MAX_CLASSES + 1u;
  TN_CHECK_EQ(tn_fset_file_size(&info), 0);
  info = kws_info(1);
  info.frames = 65535u;
  info.coeffs = 2u; /* 131070 features: over the limit */
  TN_CHECK_EQ(tn_fset_record_size(&info), 0);
  TN_CHECK_EQ(tn_fset_record_size(NULL), 0);
  info = kws_info(0x80000001u);
  TN_CHECK_EQ(tn_fset_file_size(&info), 0);
}

TN_TEST(round_trip) {
  const uint32_t n = 40;
  tn_fset_info info = kws_info(n);
  const size_t size = tn_fset_file_size(&info);
  TN_REQUIRE(size <= sizeof(g_file));
  TN_CHECK_STATUS(tn_fset_write_header(&info, kNames12, g_file, size), TN_OK);
  tn_rng rng;
  tn_rng_seed(&rng, 5, 1);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t k = 0; k < TN_KWS_FEATURES; ++k) {
      g_feat[k] = (int8_t)tn_rng_range(&rng, -128, 127);
    }
    tn_fset_record r;
    r.label = i % 12u;
    r.split = i % 4u;
    r.user = r.split == TN_FSET_SPLIT_USERS ? 1u + i / 4u : 0u;
    r.source = 1000u + i;
    r.features = g_feat;
    TN_CHECK_STATUS(tn_fset_write_record(&info, i, &r, g_file, size), TN_OK);
  }
  TN_CHECK_STATUS(tn_fset_finish(g_file, size), TN_OK);
  tn_test_digest("fset_kws_file", g_file, size);

  tn_fset_view v;
  TN_REQUIRE(tn_fset_open(g_file, size, &v) == TN_OK);
  TN_CHECK_EQ(v.info.sample_count, n);
  TN_CHECK_EQ(v.info.frames, TN_KWS_FRAMES);
  TN_CHECK_EQ(v.info.coeffs, TN_KWS_COEFFS);
  TN_CHECK_EQ(v.info.class_count, 12);
  TN_CHECK(v.info.seed == 0x0123456789abcdefULL);
  TN_CHECK(strcmp(v.info.preset, "large") == 0);
  tn_mfcc_config fe = tn_mfcc_config_kws();
  TN_CHECK(v.info.front_end.s8_scale == fe.s8_scale);
  TN_CHECK_EQ(v.info.front_end.s8_zero_point, fe.s8_zero_point);
  TN_CHECK_EQ(v.info.front_end.window, fe.window);
  TN_CHECK_EQ(v.info.front_end.stride, fe.stride);
  TN_CHECK_EQ(v.info.front_end.fft_size, fe.fft_size);
  TN_CHECK_EQ(v.info.front_end.mel_bands, fe.mel_bands);
  TN_CHECK(v.info.front_end.low_hz == fe.low_hz);
  TN_CHECK(v.info.front_end.high_hz == fe.high_hz);
  TN_CHECK(v.info.front_end.log_floor == fe.log_floor);
  for (uint32_t c = 0; c < 12; ++c) {
    char name[TN_FSET_CLASS_NAME_SIZE + 1];
    TN_CHECK_STATUS(tn_fset_class_name(&v, c, name), TN_OK);
    TN_CHECK(strcmp(name, kNames12[c]) == 0);
  }
  tn_rng_seed(&rng, 5, 1);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t k = 0; k < TN_KWS_FEATURES; ++k) {
      g_feat[k] = (int8_t)tn_rng_range(&rng, -128, 127);
    }
    tn_fset_record r;
    TN_REQUIRE(tn_fset_get(&v, i, &r) == TN_OK);
    TN_CHECK_EQ(r.label, i % 12u);
    TN_CHECK_EQ(r.split, i % 4u);
    TN_CHECK_EQ(r.user, i % 4u == 3u ? 1u + i / 4u : 0u);
    TN_CHECK_EQ(r.source, 1000u + i);
    TN_CHECK(memcmp(r.features, g_feat, TN_KWS_FEATURES) == 0);
  }
  tn_fset_record r;
  char name[TN_FSET_CLASS_NAME_SIZE + 1];
  TN_CHECK_STATUS(tn_fset_get(&v, n, &r), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_class_name(&v, 12, name), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_get(NULL, 0, &r), TN_ERR_NULL);
  TN_CHECK(strcmp(tn_fset_split_str(TN_FSET_SPLIT_USERS), "users") == 0);
  TN_CHECK(strcmp(tn_fset_split_str(4), "unknown") == 0);
}

TN_TEST(empty_file_round_trips) {
  tn_fset_info info = kws_info(0);
  const size_t size = tn_fset_file_size(&info);
  TN_CHECK_STATUS(tn_fset_write_header(&info, kNames12, g_file, size), TN_OK);
  TN_CHECK_STATUS(tn_fset_finish(g_file, size), TN_OK);
  tn_fset_view v;
  TN_CHECK_STATUS(tn_fset_open(g_file, size, &v), TN_OK);
  TN_CHECK_EQ(v.info.sample_count, 0);
}

TN_TEST(writer_checks_arguments) {
  tn_fset_info info = small_info();
  const size_t size = tn_fset_file_size(&info);
  TN_CHECK_STATUS(tn_fset_write_header(NULL, kNames3, g_file, size),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_fset_write_header(&info, kNames3, g_file, 128 + 47),
                  TN_ERR_BUFFER_TOO_SMALL);
  static const char* const empty[] = {"a", "", "c"};
  static const char* const longname[] = {"a", "seventeen_chars_x", "c"};
  static const char* const ctrl[] = {"a", "b\n", "c"};
  static const char* const dup[] = {"a", "b", "a"};
  static const char* const with_null[] = {"a", NULL, "c"};
  TN_CHECK_STATUS(tn_fset_write_header(&info, empty, g_file, size), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_write_header(&info, longname, g_file, size),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_write_header(&info, ctrl, g_file, size), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_write_header(&info, dup, g_file, size), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_write_header(&info, with_null, g_file, size),
                  TN_ERR_NULL);
  tn_fset_info bad = info;
  memcpy(bad.preset, "a b", 4);
  TN_CHECK_STATUS(tn_fset_write_header(&bad, kNames3, g_file, size),
                  TN_ERR_ARG);
  bad = info;
  bad.front_end.coeffs = 4; /* does not match the feature shape */
  TN_CHECK_STATUS(tn_fset_write_header(&bad, kNames3, g_file, size),
                  TN_ERR_ARG);
  bad = info;
  bad.front_end.s8_scale = 0.0f;
  TN_CHECK_STATUS(tn_fset_write_header(&bad, kNames3, g_file, size),
                  TN_ERR_ARG);

  TN_REQUIRE(tn_fset_write_header(&info, kNames3, g_file, size) == TN_OK);
  int8_t f[6] = {0};
  tn_fset_record r = {0, TN_FSET_SPLIT_TRAIN, 0, 0, f};
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size), TN_OK);
  TN_CHECK_STATUS(tn_fset_write_record(&info, 5, &r, g_file, size), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size - 1u),
                  TN_ERR_BUFFER_TOO_SMALL);
  r.label = 3; /* only 3 classes */
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size), TN_ERR_ARG);
  r.label = 0;
  r.split = 4;
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size), TN_ERR_ARG);
  r.split = TN_FSET_SPLIT_USERS; /* users need a user id */
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size), TN_ERR_ARG);
  r.split = TN_FSET_SPLIT_TEST;
  r.user = 2; /* others must not have one */
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size), TN_ERR_ARG);
  r.split = TN_FSET_SPLIT_USERS;
  r.user = 65536;
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size), TN_ERR_ARG);
  r.features = NULL;
  TN_CHECK_STATUS(tn_fset_write_record(&info, 0, &r, g_file, size),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_fset_finish(g_file, 131), TN_ERR_BUFFER_TOO_SMALL);
}

TN_TEST(small_file_is_stable) {
  const size_t size = write_small(g_file);
  TN_REQUIRE(size == 128 + 3 * 16 + 5 * 14 + 4);
  tn_test_digest("fset_small_file", g_file, size);
  tn_fset_view v;
  TN_CHECK_STATUS(tn_fset_open(g_file, size, &v), TN_OK);
}

TN_TEST(every_truncation_is_rejected) {
  const size_t size = write_small(g_file);
  TN_REQUIRE(size > 0u);
  tn_fset_view v;
  for (size_t n = 0; n < size; ++n) {
    /* A fresh copy of exactly n bytes, so any read past it would be a read
     * of stale data, caught under sanitizers. */
    memcpy(g_copy, g_file, n);
    tn_status st = tn_fset_open(g_copy, n, &v);
    TN_CHECK(st != TN_OK);
    if (n >= 8u) TN_CHECK_STATUS(st, TN_ERR_BLOB_TRUNCATED);
  }
  /* Longer than the header says. */
  memcpy(g_copy, g_file, size);
  g_copy[size] = 0;
  TN_CHECK_STATUS(tn_fset_open(g_copy, size + 1u, &v), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_fset_open(NULL, size, &v), TN_ERR_NULL);
}

TN_TEST(every_bit_flip_is_rejected) {
  const size_t size = write_small(g_file);
  TN_REQUIRE(size > 0u);
  tn_fset_view v;
  uint32_t rejected = 0;
  for (size_t i = 0; i < size; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      memcpy(g_copy, g_file, size);
      g_copy[i] ^= (uint8_t)(1u << bit);
      if (tn_fset_open(g_copy, size, &v) != TN_OK) ++rejected;
    }
  }
  TN_CHECK_EQ(rejected, size * 8u);
}

/* Applies `edit` to a fresh small file, fixes the checksum, and returns
 * what the reader says. */
static tn_status open_edited(void (*edit)(uint8_t* f)) {
  const size_t size = write_small(g_copy);
  if (size == 0u) return TN_ERR_INTERNAL;
  edit(g_copy);
  if (tn_fset_finish(g_copy, size) != TN_OK) return TN_ERR_INTERNAL;
  tn_fset_view v;
  return tn_fset_open(g_copy, size, &v);
}

/* Record i of the small file starts at 128 + 48 + 14 i. */
#define REC(f, i) ((f) + 176 + 14 * (i))
static void e_magic(uint8_t* f) { f[0] = 'X'; }
static void e_version(uint8_t* f) { f[4] = 2; }
static void e_header_size(uint8_t* f) { f[6] = 64; }
static void e_dtype(uint8_t* f) { f[16] = 2; }
static void e_record_size(uint8_t* f) { f[18] = 15; }
static void e_scale_zero(uint8_t* f) { tn_store_u32le(f + 20, 0); }
static void e_scale_nan(uint8_t* f) { tn_store_u32le(f + 20, 0x7fc00000u); }
static void e_zero_point(uint8_t* f) { tn_store_u32le(f + 24, 200); }
static void e_sample_rate(uint8_t* f) { tn_store_u32le(f + 28, 10); }
static void e_window(uint8_t* f) { tn_store_u16le(f + 32, 2000); }
static void e_stride(uint8_t* f) { tn_store_u16le(f + 34, 0); }
static void e_fft(uint8_t* f) { tn_store_u16le(f + 36, 1000); }
static void e_bands(uint8_t* f) { tn_store_u16le(f + 38, 2); } /* < coeffs */
static void e_high_hz(uint8_t* f) {
  tn_store_u32le(f + 44, tn_f32_bits(9000.0f));
}
static void e_floor(uint8_t* f) { tn_store_u32le(f + 48, 0); }
static void e_flags(uint8_t* f) { f[52] = 1; }
static void e_preset_gap(uint8_t* f) { f[70] = 'x'; }
static void e_preset_ctrl(uint8_t* f) { f[64] = 0x07; }
static void e_reserved(uint8_t* f) { f[127] = 1; }
static void e_class_empty(uint8_t* f) { f[128] = 0; }
static void e_class_tail(uint8_t* f) { f[128 + 15] = 'z'; }
static void e_class_ctrl(uint8_t* f) { f[128 + 16] = 0x1f; }
static void e_class_dup(uint8_t* f) { f[128 + 32] = 'a'; }
static void e_label(uint8_t* f) { REC(f, 2)[0] = 3; }
static void e_split(uint8_t* f) { REC(f, 1)[1] = 4; }
static void e_user_missing(uint8_t* f) { tn_store_u16le(REC(f, 3) + 2, 0); }
static void e_user_extra(uint8_t* f) { tn_store_u16le(REC(f, 0) + 2, 5); }
static void e_sample_count(uint8_t* f) { f[8] = 6; }
static void e_coeffs(uint8_t* f) { f[14] = 4; }
static void e_classes_zero(uint8_t* f) { f[17] = 0; }
static void e_classes_many(uint8_t* f) { f[17] = 65; }

TN_TEST(hostile_fields_are_rejected) {
  TN_CHECK_STATUS(open_edited(e_magic), TN_ERR_BLOB_MAGIC);
  TN_CHECK_STATUS(open_edited(e_version), TN_ERR_BLOB_VERSION);
  /* More records or more coefficients than the bytes hold. */
  TN_CHECK_STATUS(open_edited(e_sample_count), TN_ERR_BLOB_TRUNCATED);
  TN_CHECK_STATUS(open_edited(e_coeffs), TN_ERR_BLOB_TRUNCATED);
  static void (*const bad[])(uint8_t*) = {
      e_header_size, e_dtype,        e_record_size, e_scale_zero,
      e_scale_nan,   e_zero_point,   e_sample_rate, e_window,
      e_stride,      e_fft,          e_bands,       e_high_hz,
      e_floor,       e_flags,        e_preset_gap,  e_preset_ctrl,
      e_reserved,    e_class_empty,  e_class_tail,  e_class_ctrl,
      e_class_dup,   e_label,        e_split,       e_user_missing,
      e_user_extra,  e_classes_zero, e_classes_many};
  for (size_t i = 0; i < TN_ARRAY_SIZE(bad); ++i) {
    tn_status st = open_edited(bad[i]);
    if (st != TN_ERR_ARG)
      printf("  edit %lu: %s\n", (unsigned long)i, tn_status_str(st));
    TN_CHECK_STATUS(st, TN_ERR_ARG);
  }
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(sizes),
      TN_CASE(round_trip),
      TN_CASE(empty_file_round_trips),
      TN_CASE(writer_checks_arguments),
      TN_CASE(small_file_is_stable),
      TN_CASE(every_truncation_is_rejected),
      TN_CASE(every_bit_flip_is_rejected),
      TN_CASE(hostile_fields_are_rejected),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
