/*
 * int8 softmax with the fixed-point arithmetic of TFLite Micro's reference
 * int8 softmax (gemmlowp): the max-subtracted input is rescaled to Q5.26,
 * exponentiated by exp_on_negative_values (a Taylor polynomial on
 * [-1/4, 0) times a barrel of exp(-2^k) constants), summed in Q12.19, and
 * the reciprocal of the sum taken by Newton-Raphson in Q2.29. No floating
 * point at run time. Output scale 1/256, zero point -128.
 */
#include "kernels/tn_kernels_internal.h"

/* Fixed-point formats are named Q<integer bits>: raw int32 values with 31 -
 * bits fractional bits. Products of Qa and Qb raws via tn_srdhm are Q(a+b). */

/* exp(a) for a in [-1/4, 0), Q0 in and out. */
static int32_t exp_on_interval(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
  const int32_t one_third = 715827883;             /* 1/3 in Q0 */
  const int32_t x = a + (1 << 28);                 /* a + 1/8 */
  const int32_t x2 = tn_srdhm(x, x);
  const int32_t x3 = tn_srdhm(x2, x);
  const int32_t x4 = tn_srdhm(x2, x2);
  const int32_t x4_over_4 = tn_rdp(x4, 2);
  const int32_t poly = tn_rdp(tn_srdhm(x4_over_4 + x3, one_third) + x2, 1);
  return exp_minus_one_eighth + tn_srdhm(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0 given in Q5; result in Q0. */
static int32_t exp_on_negative_values(int32_t a) {
  const int32_t one_quarter = 1 << 24; /* 1/4 in Q5 */
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
  int32_t result =
      exp_on_interval(tn_sat_shl32(a_mod_quarter_minus_quarter, 5));
  /* The multiples of 1/4 removed from a, applied bit by bit. */
  const uint32_t remainder =
      (uint32_t)a_mod_quarter_minus_quarter - (uint32_t)a;
  static const int32_t kExpOfMinusPow2[7] = {
      1672461947, /* exp(-1/4) */
      1302514674, /* exp(-1/2) */
      790015084,  /* exp(-1) */
      290630308,  /* exp(-2) */
      39332535,   /* exp(-4) */
      720401,     /* exp(-8) */
      242,        /* exp(-16) */
  };
  for (int32_t k = 0; k < 7; ++k) {
    if (remainder & ((uint32_t)1 << (24 + k))) {
      result = tn_srdhm(result, kExpOfMinusPow2[k]);
    }
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0 in and out. */
static int32_t one_over_one_plus_x(int32_t a) {
  /* half_denominator = (a + 1) / 2, rounded half away from zero. */
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  const int32_t c48_over_17 = 1515870810;      /* Q2 */
  const int32_t c_neg32_over_17 = -1010580540; /* Q2 */
  int32_t x = c48_over_17 + tn_srdhm(half_denominator, c_neg32_over_17);
  for (int32_t i = 0; i < 3; ++i) {
    const int32_t hd_times_x = tn_srdhm(half_denominator, x); /* Q2 */
    const int32_t one_minus = (1 << 29) - hd_times_x;         /* Q2 */
    x = x + tn_sat_shl32(tn_srdhm(x, one_minus), 2);          /* Q4 -> Q2 */
  }
  return tn_sat_shl32(x, 1); /* x / 2 as Q1, rescaled to Q0 */
}

static int32_t count_leading_zeros(uint32_t v) {
  int32_t n = 0;
  for (int32_t bit = 31; bit >= 0 && !(v & ((uint32_t)1 << bit)); --bit) ++n;
  return n;
}

tn_status tn_softmax_s8(const tn_softmax_params* params, int32_t rows,
                        int32_t row_size, const int8_t* input, int8_t* output) {
  if (params == NULL || input == NULL || output == NULL) return TN_ERR_NULL;
  if (rows < 0 || row_size < 1 || row_size > 4095 ||
      params->input_multiplier < 0 || params->input_left_shift < 0 ||
      params->input_left_shift > 31 || params->diff_min > 0) {
    return TN_ERR_ARG;
  }
  /* Every processed difference, shifted left, must fit int32 (TFLite's
   * diff_min from the input radius guarantees it). */
  int64_t widest = -(int64_t)params->diff_min;
  if (widest > 255) widest = 255;
  if ((widest << params->input_left_shift) > INT32_MAX) return TN_ERR_ARG;
  const int32_t multiplier = params->input_multiplier;
  const int32_t left_shift = params->input_left_shift;
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t* in = input + (size_t)r * (size_t)row_size;
    int8_t* out = output + (size_t)r * (size_t)row_size;
    int32_t max = -128;
    for (int32_t i = 0; i < row_size; ++i) {
      if (in[i] > max) max = in[i];
    }
    /* Sum of exps in Q12; each term <= 2^19 raw, row_size < 4096. */
    int32_t sum = 0;
    for (int32_t i = 0; i < row_size; ++i) {
      const int32_t diff = (int32_t)in[i] - max;
      if (diff >= params->diff_min) {
        const int32_t scaled =
            tn_srdhm(tn_shl_wrap32(diff, left_shift), multiplier);
        sum += tn_rdp(exp_on_negative_values(scaled), 12);
      }
    }
    /* sum >= 2^19 (the max element contributes exp(0) = 1). */
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum);
    const int32_t bits_over_unit = 12 - headroom_plus_one;
    const int32_t sum_minus_one =
        tn_wrap_s32(((uint32_t)sum << headroom_plus_one) - ((uint32_t)1 << 31));
    const int32_t scale = one_over_one_plus_x(sum_minus_one);
    const int32_t exponent = bits_over_unit + 31 - 8;
    for (int32_t i = 0; i < row_size; ++i) {
      const int32_t diff = (int32_t)in[i] - max;
      int32_t v = -128;
      if (diff >= params->diff_min) {
        const int32_t scaled =
            tn_srdhm(tn_shl_wrap32(diff, left_shift), multiplier);
        const int32_t prob = tn_srdhm(scale, exp_on_negative_values(scaled));
        /* prob >= 0; a shift beyond 31 leaves less than one half: 0. */
        const int32_t unsat = exponent > 31 ? 0 : tn_rdp(prob, exponent);
        v = tn_clamp32(unsat - 128, -128, 127);
      }
      out[i] = (int8_t)v;
    }
  }
  return TN_OK;
}
