/*
 * Tests of the deterministic elementary functions (base/tn_math.h): special
 * values, symmetry and monotonicity on every target, digests of fixed input
 * sweeps (host and rv32 must agree bit for bit), and, on the host only, the
 * maximum error in ulp against double-precision libm over dense sweeps of
 * each function's domain. The host measurement is compiled out of the rv32
 * build (TN_MATH_TEST_LIBM), which has no trusted reference.
 */
#include <stdio.h>

#include "base/tn_base.h"
#include "base/tn_math.h"
#include "tn_test.h"

#if !defined(__riscv)
#define TN_MATH_TEST_LIBM 1
#include <math.h>
#else
#define TN_MATH_TEST_LIBM 0
#endif

typedef float (*unary_fn)(float);

/* The n-th of `count` points spread evenly over [lo, hi]. */
static float linear_point(float lo, float hi, uint32_t n, uint32_t count) {
  return lo + (hi - lo) * ((float)n / (float)(count - 1));
}

/* Hash of fn over `count` linearly spaced points and `count` points evenly
 * spaced in bit pattern (i.e. logarithmically) over [bits_lo, bits_hi],
 * both signs when `both_signs`. */
static void digest_sweep(const char* label, unary_fn fn, float lo, float hi,
                         uint32_t bits_lo, uint32_t bits_hi, int both_signs) {
  const uint32_t count = 4096;
  uint64_t h = TN_TEST_FNV_SEED;
  for (uint32_t n = 0; n < count; ++n) {
    float y = fn(linear_point(lo, hi, n, count));
    h = tn_test_fnv1a(h, &y, sizeof(y));
  }
  uint32_t step = (bits_hi - bits_lo) / count;
  if (step == 0) step = 1;
  for (uint32_t n = 0; n < count; ++n) {
    uint32_t b = bits_lo + n * step;
    float y = fn(tn_f32_from_bits(b));
    h = tn_test_fnv1a(h, &y, sizeof(y));
    if (both_signs) {
      y = fn(tn_f32_from_bits(b | 0x80000000u));
      h = tn_test_fnv1a(h, &y, sizeof(y));
    }
  }
  tn_test_digest(label, &h, sizeof(h));
}

static int is_canonical_nan(float y) {
  return tn_f32_bits(y) == TN_F32_CANONICAL_NAN_BITS;
}

TN_TEST(special_values) {
  const float inf = tn_f32_from_bits(0x7f800000u);
  const float qnan = tn_f32_from_bits(0xffc00001u); /* a non-canonical NaN */
  TN_CHECK(tn_expf(0.0f) == 1.0f);
  TN_CHECK(tn_expf(-inf) == 0.0f);
  TN_CHECK(tn_expf(inf) == inf);
  TN_CHECK(tn_expf(8.87228317e+1f) < inf);
  TN_CHECK(tn_expf(8.87228394e+1f) == inf);
  TN_CHECK(tn_expf(-1.03e+2f) > 0.0f); /* subnormal result */
  TN_CHECK(tn_expf(-1.05e+2f) == 0.0f);
  TN_CHECK(is_canonical_nan(tn_expf(qnan)));

  TN_CHECK(tn_logf(1.0f) == 0.0f);
  TN_CHECK(tn_logf(0.0f) == -inf);
  TN_CHECK(tn_logf(-0.0f) == -inf);
  TN_CHECK(tn_logf(inf) == inf);
  TN_CHECK(is_canonical_nan(tn_logf(-1.0f)));
  TN_CHECK(is_canonical_nan(tn_logf(qnan)));
  TN_CHECK(tn_logf(tn_f32_from_bits(1u)) < -1.03e+2f); /* log(2^-149) */

  TN_CHECK(tn_sqrtf(4.0f) == 2.0f);
  TN_CHECK(tn_sqrtf(2.25f) == 1.5f);
  TN_CHECK_EQ(tn_f32_bits(tn_sqrtf(-0.0f)), 0x80000000u);
  TN_CHECK(tn_sqrtf(inf) == inf);
  TN_CHECK(is_canonical_nan(tn_sqrtf(-1.0f)));
  TN_CHECK(is_canonical_nan(tn_sqrtf_soft(-1.0f)));
  TN_CHECK(is_canonical_nan(tn_sqrtf(qnan)));
  TN_CHECK(tn_sqrtf_soft(tn_f32_from_bits(1u)) ==
           tn_f32_from_bits(0x1a3504f3u)); /* sqrt(2^-149) */

  TN_CHECK(tn_sinf(0.0f) == 0.0f);
  TN_CHECK_EQ(tn_f32_bits(tn_sinf(-0.0f)), 0x80000000u);
  TN_CHECK(tn_cosf(0.0f) == 1.0f);
  TN_CHECK(is_canonical_nan(tn_sinf(inf)));
  TN_CHECK(is_canonical_nan(tn_cosf(-inf)));
  TN_CHECK(is_canonical_nan(tn_cosf(qnan)));

  TN_CHECK(tn_tanhf(20.0f) == 1.0f);
  TN_CHECK(tn_tanhf(-20.0f) == -1.0f);
  TN_CHECK(tn_tanhf(0.0f) == 0.0f);
  TN_CHECK(is_canonical_nan(tn_tanhf(qnan)));
  TN_CHECK(tn_sigmoidf(0.0f) == 0.5f);
  TN_CHECK(tn_sigmoidf(-200.0f) == 0.0f);
  TN_CHECK(tn_sigmoidf(200.0f) == 1.0f);
}

TN_TEST(identities_and_monotonicity) {
  /* Odd/even symmetry holds exactly by construction. */
  for (int i = 1; i < 2000; ++i) {
    float x = (float)i * 0.0137f;
    TN_CHECK(tn_sinf(-x) == -tn_sinf(x));
    TN_CHECK(tn_cosf(-x) == tn_cosf(x));
    TN_CHECK(tn_tanhf(-x) == -tn_tanhf(x));
  }
  /* exp, log, tanh, sqrt are monotone on a fine sweep. */
  float prev_exp = 0.0f, prev_log = -1e30f, prev_tanh = -1.0f, prev_sqrt = 0.0f;
  for (int i = 0; i < 20000; ++i) {
    float x = -20.0f + (float)i * 0.002f;
    float ex = tn_expf(x), th = tn_tanhf(x);
    TN_CHECK(ex >= prev_exp);
    TN_CHECK(th >= prev_tanh);
    prev_exp = ex;
    prev_tanh = th;
    float p = 0.001f + (float)i * 0.01f;
    float lg = tn_logf(p), sq = tn_sqrtf(p);
    TN_CHECK(lg >= prev_log);
    TN_CHECK(sq >= prev_sqrt);
    prev_log = lg;
    prev_sqrt = sq;
  }
  /* log(exp(x)) and sin^2 + cos^2 within a few ulp. */
  for (int i = 0; i < 500; ++i) {
    float x = -10.0f + (float)i * 0.04f;
    float back = tn_logf(tn_expf(x));
    float diff = back - x;
    TN_CHECK(diff < 1e-5f && diff > -1e-5f);
    float s = tn_sinf(x * 100.0f), c = tn_cosf(x * 100.0f);
    float one = s * s + c * c - 1.0f;
    TN_CHECK(one < 4e-7f && one > -4e-7f);
  }
}

TN_TEST(sqrt_soft_matches_sqrt) {
  /* On the host tn_sqrtf is the hardware instruction: the integer routine
   * must match it bit for bit (both are correctly rounded). */
  uint32_t mismatches = 0;
  uint64_t h = TN_TEST_FNV_SEED;
  for (uint32_t b = 0; b < 0x7f800000u; b += 0x3fffu) {
    float x = tn_f32_from_bits(b);
    float a = tn_sqrtf(x), s = tn_sqrtf_soft(x);
    if (tn_f32_bits(a) != tn_f32_bits(s)) ++mismatches;
    h = tn_test_fnv1a(h, &s, sizeof(s));
  }
  TN_CHECK_EQ(mismatches, 0);
  tn_test_digest("sqrt.soft_sweep", &h, sizeof(h));
}

TN_TEST(sweeps_are_digested) {
  digest_sweep("expf", tn_expf, -104.0f, 89.0f, 0x00000001u, 0x42b20000u, 1);
  digest_sweep("logf", tn_logf, 1e-3f, 1e3f, 0x00000001u, 0x7f7fffffu, 0);
  digest_sweep("sqrtf", tn_sqrtf, 0.0f, 1e4f, 0x00000001u, 0x7f7fffffu, 0);
  digest_sweep("sinf", tn_sinf, -100.0f, 100.0f, 0x00000001u, 0x7f7fffffu, 1);
  digest_sweep("cosf", tn_cosf, -100.0f, 100.0f, 0x00000001u, 0x7f7fffffu, 1);
  digest_sweep("tanhf", tn_tanhf, -12.0f, 12.0f, 0x00000001u, 0x41400000u, 1);
  digest_sweep("sigmoidf", tn_sigmoidf, -40.0f, 40.0f, 0x00000001u, 0x42200000u,
               1);
}

#if TN_MATH_TEST_LIBM
/* Error of y in units of the last place of the binary32 format at `ref`. */
static double ulp_error(float y, double ref) {
  double a = fabs(ref);
  int e;
  (void)frexp(a, &e); /* a = f 2^e, f in [0.5, 1) */
  int ulp_exp = e - 24;
  if (ulp_exp < -149) ulp_exp = -149;
  return fabs((double)y - ref) / ldexp(1.0, ulp_exp);
}

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

typedef struct accuracy_case {
  const char* name;
  unary_fn fn;
  double (*ref)(double);
  uint32_t bits_lo, bits_hi; /* positive inputs swept by bit pattern */
  int both_signs;
  double max_ulp; /* the documented bound this test enforces */
} accuracy_case;

TN_TEST(max_error_against_libm) {
  static const accuracy_case cases[] = {
      {"expf", tn_expf, exp, 0x00000001u, 0x42cff000u, 1, 1.5},
      {"logf", tn_logf, log, 0x00000001u, 0x7f7fffffu, 0, 1.5},
      {"sqrtf", tn_sqrtf, sqrt, 0x00000001u, 0x7f7fffffu, 0, 0.5},
      {"sinf", tn_sinf, sin, 0x00000001u, 0x7f7fffffu, 1, 2.0},
      {"cosf", tn_cosf, cos, 0x00000001u, 0x7f7fffffu, 1, 2.0},
      {"tanhf", tn_tanhf, tanh, 0x00000001u, 0x41400000u, 1, 2.0},
      {"sigmoidf", tn_sigmoidf, sigmoid_ref, 0x00000001u, 0x42d00000u, 1, 2.5},
  };
  for (size_t c = 0; c < TN_ARRAY_SIZE(cases); ++c) {
    const accuracy_case* k = &cases[c];
    double worst = 0.0;
    float worst_x = 0.0f;
    const uint32_t step = 127; /* ~ 1/127 of all floats in the range */
    for (uint32_t b = k->bits_lo; b <= k->bits_hi - step; b += step) {
      for (int sign = 0; sign <= k->both_signs; ++sign) {
        float x = tn_f32_from_bits(b | (sign ? 0x80000000u : 0u));
        double ref = k->ref((double)x);
        if (isinf(ref) || ref == 0.0) continue; /* checked as specials */
        if (fabs(ref) > 3.4028234663852886e38) continue;
        double err = ulp_error(k->fn(x), ref);
        if (err > worst) {
          worst = err;
          worst_x = x;
        }
      }
    }
    printf("  %-8s max error %.3f ulp (at %.9g)\n", k->name, worst,
           (double)worst_x);
    TN_CHECK(worst <= k->max_ulp);
  }
}
#endif

int main(void) {
  static const tn_test_case cases[] = {
    TN_CASE(special_values),
    TN_CASE(identities_and_monotonicity),
    TN_CASE(sqrt_soft_matches_sqrt),
    TN_CASE(sweeps_are_digested),
#if TN_MATH_TEST_LIBM
    TN_CASE(max_error_against_libm),
#endif
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
