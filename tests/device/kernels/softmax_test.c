/*
 * int8 softmax: hand-checked rows, TFLite's preparation formulas, error
 * against real softmax (computed in double with the test's own exp) over
 * random rows and input scales, order preservation, and bad parameters.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_rng.h"
#include "kernels/tn_kernels.h"
#include "kernels_ref.h"
#include "tn_test.h"

/* exp(x) for x <= 0 in double from basic IEEE operations only (identical on
 * every target): x = k * ln2 + r, |r| <= ln2 / 2, Taylor series of exp(r). */
static double test_exp(double x) {
  const double ln2 = 0.69314718055994530942;
  if (x < -700.0) return 0.0;
  double kf = x / ln2;
  int k = (int)(kf < 0 ? kf - 0.5 : kf + 0.5);
  double r = x - k * ln2;
  double term = 1.0, sum = 1.0;
  for (int i = 1; i < 25; ++i) {
    term *= r / i;
    sum += term;
  }
  while (k < 0) {
    sum *= 0.5;
    ++k;
  }
  while (k > 0) {
    sum *= 2.0;
    --k;
  }
  return sum;
}

TN_TEST(softmax_prepare_follows_tflite) {
  tn_softmax_params p;
  /* beta * scale * 2^26 = 2^22 -> multiplier 2^30, shift 23; radius
   * floor(31 * 2^26 / 2^23) = 248. */
  TN_CHECK_STATUS(tn_softmax_s8_prepare(1.0, 1.0 / 16.0, &p), TN_OK);
  TN_CHECK_EQ(p.input_multiplier, 1 << 30);
  TN_CHECK_EQ(p.input_left_shift, 23);
  TN_CHECK_EQ(p.diff_min, -248);
  TN_CHECK_STATUS(tn_softmax_s8_prepare(0.0, 0.1, &p), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_s8_prepare(1.0, -0.1, &p), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_s8_prepare(1.0, 1e-12, &p), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_s8_prepare(1.0, 0.1, NULL), TN_ERR_NULL);
}

TN_TEST(softmax_hand_checked_rows) {
  tn_softmax_params p;
  TN_REQUIRE(tn_softmax_s8_prepare(1.0, 1.0 / 16.0, &p) == TN_OK);
  int8_t out[8];
  /* Four equal inputs: 1/4 each = 64/256 -> -128 + 64. */
  const int8_t equal[4] = {9, 9, 9, 9};
  TN_CHECK_STATUS(tn_softmax_s8(&p, 1, 4, equal, out), TN_OK);
  for (int i = 0; i < 4; ++i) TN_CHECK_EQ(out[i], -64);
  tn_test_digest("softmax.equal4", out, 4);
  /* A single element has probability 1: 256/256 saturates at 127. */
  const int8_t one[1] = {-100};
  TN_CHECK_STATUS(tn_softmax_s8(&p, 1, 1, one, out), TN_OK);
  TN_CHECK_EQ(out[0], 127);
  /* Differences below diff_min (-248) map to exactly -128; the rest gets
   * probability ~1. */
  const int8_t far[3] = {-128, 127, -128};
  TN_CHECK_STATUS(tn_softmax_s8(&p, 1, 3, far, out), TN_OK);
  TN_CHECK_EQ(out[0], -128);
  TN_CHECK_EQ(out[1], 127);
  TN_CHECK_EQ(out[2], -128);
  /* Two inputs 16 apart with scale 1/16: exp(1) : 1, i.e. 0.7311 and
   * 0.2689 -> 187.2 and 68.8 of 256 -> 59 and -59 (+-1). */
  const int8_t pair[2] = {20, 4};
  TN_CHECK_STATUS(tn_softmax_s8(&p, 1, 2, pair, out), TN_OK);
  TN_CHECK(out[0] >= 58 && out[0] <= 60);
  TN_CHECK(out[1] >= -60 && out[1] <= -58);
  tn_test_digest("softmax.pair", out, 2);
}

TN_TEST(softmax_random_rows_close_to_real_softmax) {
  tn_rng rng;
  tn_rng_seed(&rng, 51, 1);
  static int8_t in[12 * 40], out[12 * 40];
  double worst = 0.0;
  char label[32];
  for (int t = 0; t < 60; ++t) {
    double scale = 0.01 + 0.2 * tn_rng_unit_f32(&rng);
    double beta = tn_rng_below(&rng, 2) ? 1.0 : 0.5 + tn_rng_unit_f32(&rng);
    tn_softmax_params p;
    TN_REQUIRE(tn_softmax_s8_prepare(beta, scale, &p) == TN_OK);
    int32_t rows = tn_rng_range(&rng, 1, 12);
    int32_t cols = tn_rng_range(&rng, 2, 40);
    ref_fill_s8(&rng, in, (size_t)(rows * cols), -128, 127);
    TN_CHECK_STATUS(tn_softmax_s8(&p, rows, cols, in, out), TN_OK);
    for (int32_t r = 0; r < rows; ++r) {
      const int8_t* x = in + r * cols;
      const int8_t* y = out + r * cols;
      int32_t mx = -128;
      for (int32_t i = 0; i < cols; ++i) mx = x[i] > mx ? x[i] : mx;
      double sum = 0.0;
      for (int32_t i = 0; i < cols; ++i) {
        sum += test_exp(beta * scale * (x[i] - mx));
      }
      for (int32_t i = 0; i < cols; ++i) {
        double prob = test_exp(beta * scale * (x[i] - mx)) / sum;
        double got = (y[i] + 128) / 256.0;
        if (prob > 255.0 / 256.0) prob = 255.0 / 256.0; /* int8 ceiling */
        double err = got > prob ? got - prob : prob - got;
        if (err > worst) worst = err;
        for (int32_t j = 0; j < cols; ++j) {
          if (x[i] >= x[j]) TN_CHECK(y[i] >= y[j]); /* order kept */
        }
      }
    }
    snprintf(label, sizeof(label), "softmax.rand.%d", t);
    tn_test_digest(label, out, (size_t)(rows * cols));
  }
  /* Rounding alone costs 0.5/256; the fixed-point exp and reciprocal add
   * a little on top. */
  const int per_256_x100 = (int)(worst * 25600.0);
  printf("  softmax: max abs error vs real %d.%02d/256\n", per_256_x100 / 100,
         per_256_x100 % 100);
  TN_CHECK(worst < 0.75 / 256.0);
}

TN_TEST(softmax_rejects_bad_parameters) {
  tn_softmax_params p;
  TN_REQUIRE(tn_softmax_s8_prepare(1.0, 0.05, &p) == TN_OK);
  int8_t in[8] = {0}, out[8];
  TN_CHECK_STATUS(tn_softmax_s8(&p, 1, 0, in, out), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_s8(&p, 1, 4096, in, out), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_s8(&p, -1, 8, in, out), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_s8(NULL, 1, 8, in, out), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_softmax_s8(&p, 1, 8, NULL, out), TN_ERR_NULL);
  tn_softmax_params bp = p;
  bp.diff_min = 1;
  TN_CHECK_STATUS(tn_softmax_s8(&bp, 1, 8, in, out), TN_ERR_ARG);
  bp = p;
  bp.input_left_shift = 32;
  TN_CHECK_STATUS(tn_softmax_s8(&bp, 1, 8, in, out), TN_ERR_ARG);
  bp = p;
  bp.diff_min = -255; /* 255 << shift would overflow int32 */
  bp.input_left_shift = 24;
  TN_CHECK_STATUS(tn_softmax_s8(&bp, 1, 8, in, out), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_s8(&p, 0, 8, in, out), TN_OK); /* no rows */
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(softmax_prepare_follows_tflite),
      TN_CASE(softmax_hand_checked_rows),
      TN_CASE(softmax_random_rows_close_to_real_softmax),
      TN_CASE(softmax_rejects_bad_parameters),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
