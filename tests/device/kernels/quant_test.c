/*
 * Quantization arithmetic and weight packing: QuantizeMultiplier against
 * values worked out by hand, TFLite requantization (including its double
 * rounding and saturation corner) against the test's literal version over
 * random and extreme inputs, fused activation ranges, and sub-byte packing:
 * exact bit layout, round trips and range errors.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_rng.h"
#include "kernels/tn_kernels.h"
#include "kernels_ref.h"
#include "tn_test.h"

static void expect_qm(double real, int32_t mult, int32_t shift) {
  int32_t m = -1, s = -99;
  TN_CHECK_STATUS(tn_quantize_multiplier(real, &m, &s), TN_OK);
  TN_CHECK_EQ(m, mult);
  TN_CHECK_EQ(s, shift);
}

TN_TEST(quantize_multiplier_known_values) {
  expect_qm(0.0, 0, 0);
  expect_qm(0.5, 1 << 30, 0);           /* 0.5 * 2^0 */
  expect_qm(1.0, 1 << 30, 1);           /* 0.5 * 2^1 */
  expect_qm(0.25, 1 << 30, -1);         /* 0.5 * 2^-1 */
  expect_qm(0.75, 1610612736, 0);       /* 0.75 * 2^31 */
  expect_qm(1.0 / 3.0, 1431655765, -1); /* round(2/3 * 2^31) */
  expect_qm(3.0, 1610612736, 2);        /* 0.75 * 2^2 */
  /* Rounding up to 2^31 renormalizes: (1 - 2^-40) -> 0.5 * 2^1. */
  expect_qm(1.0 - 1.0 / 1099511627776.0, 1 << 30, 1);
  /* Below 2^-32: every product rounds to zero, encoded as (0, 0). */
  expect_qm(1.0 / 1099511627776.0, 0, 0);
  /* Above 2^30: saturated. */
  expect_qm(4294967296.0, INT32_MAX, 30);
  int32_t m, s;
  TN_CHECK_STATUS(tn_quantize_multiplier(-0.5, &m, &s), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_quantize_multiplier(0.0 / 0.0, &m, &s), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_quantize_multiplier(1.0 / 0.0, &m, &s), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_quantize_multiplier(0.5, NULL, &s), TN_ERR_NULL);
}

TN_TEST(quantize_multiplier_represents_the_real_value) {
  tn_rng rng;
  tn_rng_seed(&rng, 61, 1);
  for (int i = 0; i < 500; ++i) {
    /* real in [2^-20, 2^4) */
    double real = (1.0 + tn_rng_unit_f32(&rng));
    int32_t e = tn_rng_range(&rng, -20, 3);
    for (; e < 0; ++e) real *= 0.5;
    for (; e > 0; --e) real *= 2.0;
    int32_t m, s;
    TN_REQUIRE(tn_quantize_multiplier(real, &m, &s) == TN_OK);
    TN_CHECK(m >= (1 << 30));
    double back = (double)m;
    for (int32_t k = 0; k < 31 - s; ++k) back *= 0.5;
    double rel = (back - real) / real;
    TN_CHECK(rel < 1.0 / 2147483648.0 * 2 && rel > -1.0 / 2147483648.0 * 2);
  }
}

TN_TEST(requantize_hand_checked) {
  TN_CHECK_EQ(tn_requantize(100, 1 << 30, 0), 50); /* x 0.5 */
  TN_CHECK_EQ(tn_requantize(3, 1 << 30, 0), 2);    /* 1.5 rounds up */
  TN_CHECK_EQ(tn_requantize(-3, 1 << 30, 0), -1);  /* -1.5 rounds up too */
  /* Double rounding: 5 x 0.25 = 1.25, but TFLite first rounds 5 x 0.5 = 2.5
   * to 3, then 3 / 2 = 1.5 away from zero: 2. */
  TN_CHECK_EQ(tn_requantize(5, 1 << 30, -1), 2);
  TN_CHECK_EQ(tn_requantize(-5, 1 << 30, -1), -1); /* -2.5 -> -2 -> -1 */
  TN_CHECK_EQ(tn_requantize(7, 1 << 30, 1), 7);    /* x 1.0 */
  TN_CHECK_EQ(tn_requantize(INT32_MIN, INT32_MIN, 0), INT32_MAX);
  TN_CHECK_EQ(tn_requantize(1000, 1 << 30, -31), 0);
  TN_CHECK_EQ(tn_requantize(INT32_MAX, INT32_MAX, -31), 1); /* ~1.0 */
}

TN_TEST(requantize_matches_literal_tflite) {
  tn_rng rng;
  tn_rng_seed(&rng, 62, 1);
  static const int32_t kEdges[] = {0,          1,          -1,      2,
                                   -2,         255,        -255,    65535,
                                   INT32_MAX,  INT32_MIN,  1 << 30, -(1 << 30),
                                   0x3fffffff, -0x40000001};
  uint64_t h = TN_TEST_FNV_SEED;
  for (int i = 0; i < 20000; ++i) {
    int32_t x = (int32_t)tn_rng_u32(&rng);
    if (i % 4 == 1) x = tn_rng_range(&rng, -70000, 70000);
    if (i % 4 == 2) x = kEdges[tn_rng_below(&rng, TN_ARRAY_SIZE(kEdges))];
    int32_t m = (int32_t)tn_rng_u32(&rng);
    if (i % 3 == 0) m = kEdges[tn_rng_below(&rng, TN_ARRAY_SIZE(kEdges))];
    int32_t s = tn_rng_range(&rng, -31, 30);
    int32_t got = tn_requantize(x, m, s);
    TN_CHECK_EQ(got, ref_requantize(x, m, s));
    h = tn_test_fnv1a(h, &got, sizeof(got));
  }
  uint8_t digest[8];
  tn_store_u64le(digest, h);
  tn_test_digest("requantize.random", digest, sizeof(digest));
}

TN_TEST(activation_ranges) {
  tn_activation a;
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_NONE, 0.1, 3, &a), TN_OK);
  TN_CHECK_EQ(a.min, -128);
  TN_CHECK_EQ(a.max, 127);
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_RELU, 0.1, 3, &a), TN_OK);
  TN_CHECK_EQ(a.min, 3);
  TN_CHECK_EQ(a.max, 127);
  /* ReLU6 with scale 6/255 and zero point -128: exactly the int8 range. */
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_RELU6, 6.0 / 255.0, -128, &a),
                  TN_OK);
  TN_CHECK_EQ(a.min, -128);
  TN_CHECK_EQ(a.max, 127);
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_RELU6, 0.1, -100, &a), TN_OK);
  TN_CHECK_EQ(a.max, -40);
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_RELU_N1_TO_1, 0.01, 0, &a), TN_OK);
  TN_CHECK_EQ(a.min, -100);
  TN_CHECK_EQ(a.max, 100);
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_RELU, 0.0, 0, &a), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_RELU, 0.1, 128, &a), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_activation_range((tn_activation_kind)9, 0.1, 0, &a),
                  TN_ERR_ARG);
}

TN_TEST(weight_packing_layout_is_low_bits_first) {
  const int8_t v4[3] = {1, -2, 7};
  uint8_t p4[2] = {0xff, 0xff};
  TN_CHECK_EQ(tn_weights_packed_size(3, 4), 2);
  TN_CHECK_STATUS(tn_weights_pack(v4, 3, 4, p4, sizeof(p4)), TN_OK);
  TN_CHECK_EQ(p4[0], 0xE1); /* 1 in bits 0-3, -2 (0xE) in bits 4-7 */
  TN_CHECK_EQ(p4[1], 0x07); /* 7, unused high bits zero */
  const int8_t v2[5] = {1, -1, -2, 0, -1};
  uint8_t p2[2];
  TN_CHECK_EQ(tn_weights_packed_size(5, 2), 2);
  TN_CHECK_STATUS(tn_weights_pack(v2, 5, 2, p2, sizeof(p2)), TN_OK);
  TN_CHECK_EQ(p2[0], 0x2D); /* 01, 11, 10, 00 from bit 0 up */
  TN_CHECK_EQ(p2[1], 0x03);
  tn_weights w = {p2, 2};
  TN_CHECK_EQ(tn_weights_get(&w, 1), -1);
  TN_CHECK_EQ(tn_weights_get(&w, 2), -2);
  TN_CHECK_EQ(tn_weights_get(&w, 4), -1);
}

TN_TEST(weight_packing_round_trips_and_errors) {
  tn_rng rng;
  tn_rng_seed(&rng, 63, 1);
  static int8_t v[1001], back[1001];
  static uint8_t packed[1001];
  static const int32_t kBits[3] = {8, 4, 2};
  char label[24];
  for (int b = 0; b < 3; ++b) {
    int32_t bits = kBits[b];
    ref_fill_weights(&rng, v, 1001, bits);
    size_t n = tn_weights_packed_size(1001, bits);
    TN_CHECK_EQ(n, (1001 * (size_t)bits + 7) / 8);
    TN_CHECK_STATUS(tn_weights_pack(v, 1001, bits, packed, n - 1),
                    TN_ERR_BUFFER_TOO_SMALL);
    TN_CHECK_STATUS(tn_weights_pack(v, 1001, bits, packed, n), TN_OK);
    tn_weights w = {packed, bits};
    memset(back, 0, sizeof(back));
    TN_CHECK_STATUS(tn_weights_unpack(&w, n, 0, 1001, back), TN_OK);
    for (int i = 0; i < 1001; ++i) TN_CHECK_EQ(back[i], v[i]);
    /* A window in the middle, and one reaching past the packed bytes. */
    TN_CHECK_STATUS(tn_weights_unpack(&w, n, 333, 100, back), TN_OK);
    for (int i = 0; i < 100; ++i) TN_CHECK_EQ(back[i], v[333 + i]);
    TN_CHECK_STATUS(tn_weights_unpack(&w, n, 1000, 8, back),
                    TN_ERR_BUFFER_TOO_SMALL);
    snprintf(label, sizeof(label), "pack.w%d", (int)bits);
    tn_test_digest(label, packed, n);
  }
  const int8_t too_big[2] = {0, 8};
  uint8_t out[2];
  TN_CHECK_STATUS(tn_weights_pack(too_big, 2, 4, out, 2), TN_ERR_ARG);
  const int8_t too_small[1] = {-3};
  TN_CHECK_STATUS(tn_weights_pack(too_small, 1, 2, out, 2), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_weights_pack(too_small, 1, 3, out, 2), TN_ERR_ARG);
  TN_CHECK_EQ(tn_weights_packed_size(10, 3), 0);
  tn_weights bad = {out, 5};
  TN_CHECK_STATUS(tn_weights_unpack(&bad, 2, 0, 1, back), TN_ERR_ARG);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(quantize_multiplier_known_values),
      TN_CASE(quantize_multiplier_represents_the_real_value),
      TN_CASE(requantize_hand_checked),
      TN_CASE(requantize_matches_literal_tflite),
      TN_CASE(activation_ranges),
      TN_CASE(weight_packing_layout_is_low_bits_first),
      TN_CASE(weight_packing_round_trips_and_errors),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
