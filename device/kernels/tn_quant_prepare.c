/*
 * HOST-SIDE preparation of kernel parameters from real-valued scales, with
 * TFLite's formulas: fused activation ranges, int8 ADD multipliers and int8
 * softmax scaling. Used by the gateway's model compiler and by tests; never
 * called on the node at run time.
 */
#include <math.h>

#include "kernels/tn_kernels.h"

/* Round half away from zero, saturated to [-2^30, 2^30]. */
static int32_t round_to_int(double v) {
  if (v > 1073741824.0) return 1073741824;
  if (v < -1073741824.0) return -1073741824;
  return v >= 0.0 ? (int32_t)(v + 0.5) : -(int32_t)(-v + 0.5);
}

tn_status tn_activation_range(tn_activation_kind kind, double output_scale,
                              int32_t output_zero_point, tn_activation* out) {
  if (out == NULL) return TN_ERR_NULL;
  if (!isfinite(output_scale) || !(output_scale > 0.0) ||
      output_zero_point < -128 || output_zero_point > 127) {
    return TN_ERR_ARG;
  }
  int32_t lo = -128;
  int32_t hi = 127;
  int32_t zero = output_zero_point;
  switch (kind) {
    case TN_ACT_NONE:
      break;
    case TN_ACT_RELU:
      lo = zero;
      break;
    case TN_ACT_RELU6: {
      int32_t six = zero + round_to_int(6.0 / output_scale);
      lo = zero;
      hi = six < 127 ? six : 127;
      break;
    }
    case TN_ACT_RELU_N1_TO_1: {
      int32_t minus_one = zero + round_to_int(-1.0 / output_scale);
      int32_t one = zero + round_to_int(1.0 / output_scale);
      lo = minus_one > -128 ? minus_one : -128;
      hi = one < 127 ? one : 127;
      break;
    }
    default:
      return TN_ERR_ARG;
  }
  if (lo > hi) return TN_ERR_ARG;
  out->min = lo;
  out->max = hi;
  return TN_OK;
}

static int scale_ok(double s) { return isfinite(s) && s > 0.0; }
static int zero_point_ok(int32_t zp) { return zp >= -128 && zp <= 127; }

tn_status tn_add_s8_prepare(double input1_scale, int32_t input1_zero_point,
                            double input2_scale, int32_t input2_zero_point,
                            double output_scale, int32_t output_zero_point,
                            tn_activation activation, tn_add_params* out) {
  if (out == NULL) return TN_ERR_NULL;
  if (!scale_ok(input1_scale) || !scale_ok(input2_scale) ||
      !scale_ok(output_scale) || !zero_point_ok(input1_zero_point) ||
      !zero_point_ok(input2_zero_point) || !zero_point_ok(output_zero_point) ||
      activation.min < -128 || activation.max > 127 ||
      activation.min > activation.max) {
    return TN_ERR_ARG;
  }
  const int32_t left_shift = 20;
  double twice_max =
      2.0 * (input1_scale > input2_scale ? input1_scale : input2_scale);
  double real1 = input1_scale / twice_max;
  double real2 = input2_scale / twice_max;
  double real_out = twice_max / ((double)(1L << left_shift) * output_scale);
  tn_add_params p;
  p.input1_offset = -input1_zero_point;
  p.input2_offset = -input2_zero_point;
  p.output_offset = output_zero_point;
  p.left_shift = left_shift;
  p.activation = activation;
  tn_status st =
      tn_quantize_multiplier(real1, &p.input1_multiplier, &p.input1_shift);
  if (st == TN_OK) {
    st = tn_quantize_multiplier(real2, &p.input2_multiplier, &p.input2_shift);
  }
  if (st == TN_OK) {
    st =
        tn_quantize_multiplier(real_out, &p.output_multiplier, &p.output_shift);
  }
  if (st != TN_OK) return st;
  if (p.input1_shift > 0 || p.input2_shift > 0) return TN_ERR_ARG;
  *out = p;
  return TN_OK;
}

tn_status tn_softmax_s8_prepare(double beta, double input_scale,
                                tn_softmax_params* out) {
  if (out == NULL) return TN_ERR_NULL;
  if (!isfinite(beta) || !(beta > 0.0) || !scale_ok(input_scale)) {
    return TN_ERR_ARG;
  }
  /* The max-subtracted input is rescaled to a Q5.26 fixed-point value. */
  const int32_t integer_bits = 5;
  double real = beta * input_scale * (double)(1L << (31 - integer_bits));
  const double limit = 2147483647.0;
  if (real > limit) real = limit;
  int32_t multiplier = 0;
  int32_t shift = 0;
  tn_status st = tn_quantize_multiplier(real, &multiplier, &shift);
  if (st != TN_OK) return st;
  if (shift < 0) return TN_ERR_ARG; /* beta * scale too small for Q5.26 */
  /* Input radius: the largest difference that still maps inside Q5.26. */
  double radius = (double)((1L << integer_bits) - 1) *
                  (double)(1L << (31 - integer_bits)) /
                  (double)((int64_t)1 << shift);
  out->input_multiplier = multiplier;
  out->input_left_shift = shift;
  out->diff_min = -(int32_t)floor(radius);
  return TN_OK;
}
