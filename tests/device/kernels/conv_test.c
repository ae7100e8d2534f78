/*
 * conv2d and pointwise conv: the reference, fast and auto variants against
 * the test's int64 reference over random shapes and values (8-, 4- and 2-bit
 * weights, per-channel and per-tensor quantization), the edge cases that
 * stress geometry and arithmetic, the DS-CNN first layer, and rejection of
 * bad parameters with the right status and an untouched output.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_rng.h"
#include "kernels/tn_kernels.h"
#include "kernels_ref.h"
#include "tn_test.h"

TN_TEST(conv_random_shapes_match_int64_reference) {
  ref_run_random_conv_cases(REF_CONV, 11, 250, "conv.rand");
}

TN_TEST(pwconv_random_shapes_match_int64_reference) {
  ref_run_random_conv_cases(REF_PWCONV, 12, 150, "pw.rand");
}

/* One explicit case with default data ranges. */
static void edge(ref_conv_kind kind, ref_conv_case c, ref_data_ranges r,
                 const char* label, ref_conv_stats* stats, uint64_t seed) {
  tn_rng rng;
  tn_rng_seed(&rng, seed, 2);
  TN_REQUIRE(ref_conv_complete(kind, &c));
  ref_run_conv_case(kind, &c, &r, &rng, label, stats);
}

static ref_conv_case make_case(int32_t ih, int32_t iw, int32_t ic, int32_t kh,
                               int32_t kw, int32_t oc) {
  ref_conv_case c;
  memset(&c, 0, sizeof(c));
  c.params = ref_plain_conv_params();
  c.in.h = ih, c.in.w = iw, c.in.c = ic;
  c.filter.h = kh, c.filter.w = kw;
  c.out.c = oc;
  c.weight_bits = 8;
  c.per_channel = 1;
  return c;
}

TN_TEST(conv_saturates_at_both_ends) {
  ref_conv_case c = make_case(6, 6, 5, 3, 3, 7);
  c.params.padding.top = c.params.padding.left = 1;
  c.params.padding.bottom = c.params.padding.right = 1;
  ref_data_ranges r = kRefDefaultRanges;
  r.shift_lo = -2, r.shift_hi = 0; /* far too large a scale: clamps */
  ref_conv_stats s = {0, 0, 0, 0};
  edge(REF_CONV, c, r, "conv.edge.saturate", &s, 1);
  TN_CHECK(s.at_max > s.outputs / 4);
  TN_CHECK(s.at_min > s.outputs / 4);
}

TN_TEST(conv_extreme_zero_points_with_padding) {
  ref_conv_case c = make_case(5, 4, 3, 3, 3, 4);
  c.params.padding.top = 2, c.params.padding.bottom = 1;
  c.params.padding.left = 1, c.params.padding.right = 2;
  c.params.input_offset = 128; /* zero point -128 */
  c.params.output_offset = 127;
  edge(REF_CONV, c, kRefDefaultRanges, "conv.edge.zp_min", NULL, 2);
  c.params.input_offset = -127; /* zero point 127 */
  c.params.output_offset = -128;
  edge(REF_CONV, c, kRefDefaultRanges, "conv.edge.zp_max", NULL, 3);
}

TN_TEST(conv_asymmetric_padding_stride_beyond_kernel_dilation) {
  ref_conv_case c = make_case(9, 11, 2, 1, 2, 3);
  c.params.stride_h = 3, c.params.stride_w = 4; /* stride > kernel */
  c.params.padding.top = 0, c.params.padding.bottom = 2;
  c.params.padding.left = 3, c.params.padding.right = 1;
  edge(REF_CONV, c, kRefDefaultRanges, "conv.edge.stride", NULL, 4);
  c = make_case(8, 9, 3, 3, 2, 5);
  c.params.dilation_h = 2, c.params.dilation_w = 3;
  c.params.padding.top = 1, c.params.padding.right = 2;
  edge(REF_CONV, c, kRefDefaultRanges, "conv.edge.dilation", NULL, 5);
}

TN_TEST(conv_one_pixel_image_and_odd_channels) {
  ref_conv_case c = make_case(1, 1, 5, 3, 3, 7);
  c.params.padding.top = c.params.padding.bottom = 1;
  c.params.padding.left = c.params.padding.right = 1;
  c.params.input_offset = 17;
  edge(REF_CONV, c, kRefDefaultRanges, "conv.edge.1x1image", NULL, 6);
  c = make_case(3, 5, 3, 1, 3, 13); /* K = 9, 13 output channels */
  edge(REF_CONV, c, kRefDefaultRanges, "conv.edge.oddk", NULL, 7);
}

TN_TEST(conv_relu6_clamp_no_bias_per_tensor) {
  ref_conv_case c = make_case(6, 5, 4, 2, 2, 6);
  tn_activation act;
  TN_CHECK_STATUS(tn_activation_range(TN_ACT_RELU6, 0.05, -20, &act), TN_OK);
  TN_CHECK_EQ(act.min, -20);
  TN_CHECK_EQ(act.max, 100);
  c.params.activation = act;
  c.params.output_offset = -20;
  c.per_channel = 0;
  ref_data_ranges r = kRefDefaultRanges;
  r.bias_lo = 1, r.bias_hi = 0;
  ref_conv_stats s = {0, 0, 0, 0};
  edge(REF_CONV, c, r, "conv.edge.relu6", &s, 8);
}

TN_TEST(conv_shift_extremes_follow_tflite_wrap) {
  /* Left shifts up to 30 wrap in int32 exactly as TFLite's x * (1 << s). */
  ref_conv_case c = make_case(4, 4, 3, 2, 2, 5);
  ref_data_ranges r = kRefDefaultRanges;
  r.shift_lo = 20, r.shift_hi = 30;
  edge(REF_CONV, c, r, "conv.edge.shift_hi", NULL, 9);
  r.shift_lo = -31, r.shift_hi = -25;
  r.bias_lo = -(1 << 30), r.bias_hi = 1 << 30;
  edge(REF_CONV, c, r, "conv.edge.shift_lo", NULL, 10);
}

TN_TEST(conv_ds_cnn_first_layer) {
  /* 49 MFCC frames x 10 coefficients, 10x4 filter, stride 2, SAME padding,
   * 64 channels. */
  ref_conv_case c = make_case(49, 10, 1, 10, 4, 64);
  c.params.stride_h = c.params.stride_w = 2;
  c.params.padding.top = 4, c.params.padding.bottom = 5;
  c.params.padding.left = 1, c.params.padding.right = 1;
  c.params.input_offset = 3;
  c.params.output_offset = -10;
  c.params.activation.min = -10; /* ReLU at zero point -10 */
  ref_data_ranges r = kRefDefaultRanges;
  r.shift_lo = -11, r.shift_hi = -9;
  TN_REQUIRE(ref_conv_complete(REF_CONV, &c));
  TN_CHECK_EQ(c.out.h, 25);
  TN_CHECK_EQ(c.out.w, 5);
  ref_conv_stats s = {0, 0, 0, 0};
  edge(REF_CONV, c, r, "conv.dscnn.layer1", &s, 11);
  TN_CHECK(s.at_max < s.outputs / 8);
}

TN_TEST(pwconv_strided_and_wide) {
  ref_conv_case c = make_case(7, 6, 19, 1, 1, 10);
  c.params.stride_h = 2, c.params.stride_w = 3;
  edge(REF_PWCONV, c, kRefDefaultRanges, "pw.edge.stride", NULL, 12);
  c = make_case(5, 5, 64, 1, 1, 64);
  c.params.input_offset = -5;
  ref_data_ranges r = kRefDefaultRanges;
  r.shift_lo = -11, r.shift_hi = -9;
  edge(REF_PWCONV, c, r, "pw.edge.64x64", NULL, 13);
}

/* Every bad-parameter call returns its status and leaves the output alone. */
typedef tn_status (*conv_fn)(const tn_conv_params*, const tn_quant_params*,
                             const tn_dims*, const int8_t*, const tn_dims*,
                             const tn_weights*, const int32_t*, const tn_dims*,
                             int8_t*, void*, size_t);

static void check_rejects(conv_fn fn, int pointwise) {
  static int8_t in[4 * 4 * 3];
  static int8_t wts[8 * 3 * 3 * 3];
  static uint8_t out_buf[4 * 4 * 8 + 2 * REF_GUARD];
  static uint8_t scratch[4096];
  int32_t mult[8], shift[8], bias[8];
  for (int i = 0; i < 8; ++i) mult[i] = 1 << 30, shift[i] = -3, bias[i] = 0;
  memset(in, 1, sizeof(in));
  memset(wts, 1, sizeof(wts));
  tn_conv_params p = ref_plain_conv_params();
  tn_dims in_d = {4, 4, 3};
  int32_t k = pointwise ? 1 : 3;
  tn_dims f_d = {k, k, 3};
  if (!pointwise) p.padding.top = p.padding.bottom = 1;
  if (!pointwise) p.padding.left = p.padding.right = 1;
  tn_dims out_d = {4, 4, 8};
  tn_quant_params q = {mult, shift, 1};
  tn_weights w = {wts, 8};
  const size_t out_n = 4 * 4 * 8;
  int8_t* out = (int8_t*)(out_buf + REF_GUARD);
  tn_status st;

#define EXPECT_REJECT(expected, call)                                 \
  do {                                                                \
    ref_guard_init(out_buf, out_n);                                   \
    memset(out, 0x33, out_n);                                         \
    st = (call);                                                      \
    TN_CHECK_STATUS(st, expected);                                    \
    TN_CHECK(ref_guard_ok(out_buf, out_n));                           \
    for (size_t i_ = 0; i_ < out_n; ++i_) TN_CHECK_EQ(out[i_], 0x33); \
  } while (0)

  /* Sanity: the unmodified call succeeds. */
  st = fn(&p, &q, &in_d, in, &f_d, &w, bias, &out_d, out, scratch,
          sizeof(scratch));
  TN_CHECK_STATUS(st, TN_OK);

  EXPECT_REJECT(TN_ERR_NULL, fn(NULL, &q, &in_d, in, &f_d, &w, bias, &out_d,
                                out, scratch, sizeof(scratch)));
  EXPECT_REJECT(TN_ERR_NULL, fn(&p, NULL, &in_d, in, &f_d, &w, bias, &out_d,
                                out, scratch, sizeof(scratch)));
  EXPECT_REJECT(TN_ERR_NULL, fn(&p, &q, &in_d, NULL, &f_d, &w, bias, &out_d,
                                out, scratch, sizeof(scratch)));
  tn_weights w_null = {NULL, 8};
  EXPECT_REJECT(TN_ERR_NULL, fn(&p, &q, &in_d, in, &f_d, &w_null, bias, &out_d,
                                out, scratch, sizeof(scratch)));
  {
    tn_dims bad = out_d;
    bad.h = 3; /* inconsistent with the geometry */
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &f_d, &w, bias, &bad, out,
                                 scratch, sizeof(scratch)));
    bad = in_d;
    bad.c = 0;
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &bad, in, &f_d, &w, bias, &out_d, out,
                                 scratch, sizeof(scratch)));
    bad = f_d;
    bad.c = 2; /* filter depth != input depth */
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &bad, &w, bias, &out_d, out,
                                 scratch, sizeof(scratch)));
  }
  {
    tn_conv_params bp = p;
    bp.stride_h = 0;
    EXPECT_REJECT(TN_ERR_ARG, fn(&bp, &q, &in_d, in, &f_d, &w, bias, &out_d,
                                 out, scratch, sizeof(scratch)));
    bp = p;
    bp.input_offset = 129;
    EXPECT_REJECT(TN_ERR_ARG, fn(&bp, &q, &in_d, in, &f_d, &w, bias, &out_d,
                                 out, scratch, sizeof(scratch)));
    bp = p;
    bp.output_offset = -129;
    EXPECT_REJECT(TN_ERR_ARG, fn(&bp, &q, &in_d, in, &f_d, &w, bias, &out_d,
                                 out, scratch, sizeof(scratch)));
    bp = p;
    bp.activation.min = 10, bp.activation.max = 9;
    EXPECT_REJECT(TN_ERR_ARG, fn(&bp, &q, &in_d, in, &f_d, &w, bias, &out_d,
                                 out, scratch, sizeof(scratch)));
    bp = p;
    bp.padding.left = -1;
    EXPECT_REJECT(TN_ERR_ARG, fn(&bp, &q, &in_d, in, &f_d, &w, bias, &out_d,
                                 out, scratch, sizeof(scratch)));
  }
  {
    tn_weights w3 = {wts, 3};
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &f_d, &w3, bias, &out_d,
                                 out, scratch, sizeof(scratch)));
    mult[5] = -1;
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &f_d, &w, bias, &out_d, out,
                                 scratch, sizeof(scratch)));
    mult[5] = 1 << 30;
    shift[2] = 31;
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &f_d, &w, bias, &out_d, out,
                                 scratch, sizeof(scratch)));
    shift[2] = -32;
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &f_d, &w, bias, &out_d, out,
                                 scratch, sizeof(scratch)));
    shift[2] = -3;
    bias[7] = (1 << 30) + 1;
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &f_d, &w, bias, &out_d, out,
                                 scratch, sizeof(scratch)));
    bias[7] = 0;
  }
  if (!pointwise) {
    /* Reduction length above TN_KERNELS_MAX_REDUCTION (geometry alone is
     * checked before any data is touched). */
    tn_dims big_in = {128, 128, 2};
    tn_dims big_f = {91, 91, 2};
    tn_dims big_out = {38, 38, 8};
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &big_in, in, &big_f, &w, bias,
                                 &big_out, out, scratch, sizeof(scratch)));
  } else {
    tn_conv_params bp = p;
    bp.padding.top = 1;
    EXPECT_REJECT(TN_ERR_ARG, fn(&bp, &q, &in_d, in, &f_d, &w, bias, &out_d,
                                 out, scratch, sizeof(scratch)));
    tn_dims f3 = {3, 3, 3};
    EXPECT_REJECT(TN_ERR_ARG, fn(&p, &q, &in_d, in, &f3, &w, bias, &out_d, out,
                                 scratch, sizeof(scratch)));
  }
#undef EXPECT_REJECT
}

TN_TEST(conv_variants_reject_bad_parameters) {
  check_rejects(tn_conv2d_s8, 0);
  check_rejects(tn_conv2d_s8_fast, 0);
  check_rejects(tn_conv2d_s8_auto, 0);
}

TN_TEST(pwconv_variants_reject_bad_parameters) {
  check_rejects(tn_pwconv2d_s8, 1);
  check_rejects(tn_pwconv2d_s8_fast, 1);
  check_rejects(tn_pwconv2d_s8_auto, 1);
}

TN_TEST(fast_variant_needs_its_scratch) {
  static int8_t in[3 * 3 * 2], wts[4 * 2 * 2 * 2];
  int8_t out[2 * 2 * 4];
  int32_t mult[1] = {1 << 30}, shift[1] = {-2};
  tn_conv_params p = ref_plain_conv_params();
  tn_dims in_d = {3, 3, 2}, f_d = {2, 2, 2}, out_d = {2, 2, 4};
  tn_quant_params q = {mult, shift, 0};
  tn_weights w = {wts, 8};
  size_t need = tn_conv2d_s8_fast_buffer_size(&p, &in_d, &f_d, &out_d);
  TN_CHECK(need > 0);
  TN_CHECK_EQ(tn_conv2d_s8_auto_buffer_size(&p, &in_d, &f_d, &out_d), need);
  TN_CHECK_EQ(tn_conv2d_s8_buffer_size(&p, &in_d, &f_d, &out_d), 0);
  TN_CHECK_STATUS(tn_conv2d_s8_fast(&p, &q, &in_d, in, &f_d, &w, NULL, &out_d,
                                    out, NULL, need),
                  TN_ERR_NULL);
  /* The reference needs none. */
  TN_CHECK_STATUS(
      tn_conv2d_s8(&p, &q, &in_d, in, &f_d, &w, NULL, &out_d, out, NULL, 0),
      TN_OK);
  tn_test_digest("conv.noscratch", out, sizeof(out));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(conv_random_shapes_match_int64_reference),
      TN_CASE(pwconv_random_shapes_match_int64_reference),
      TN_CASE(conv_saturates_at_both_ends),
      TN_CASE(conv_extreme_zero_points_with_padding),
      TN_CASE(conv_asymmetric_padding_stride_beyond_kernel_dilation),
      TN_CASE(conv_one_pixel_image_and_odd_channels),
      TN_CASE(conv_relu6_clamp_no_bias_per_tensor),
      TN_CASE(conv_shift_extremes_follow_tflite_wrap),
      TN_CASE(conv_ds_cnn_first_layer),
      TN_CASE(pwconv_strided_and_wide),
      TN_CASE(conv_variants_reject_bad_parameters),
      TN_CASE(pwconv_variants_reject_bad_parameters),
      TN_CASE(fast_variant_needs_its_scratch),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
