/*
 * Golden vectors: tiny cases whose outputs are worked out by hand from the
 * definitions (the arithmetic is in the comments), run through every variant
 * of every kernel. They pin the layouts (HWC, OHWI, [kh][kw][c], [out][in]),
 * zero-point padding, rounding and clamping independently of any reference
 * code.
 */
#include <string.h>

#include "kernels/tn_kernels.h"
#include "tn_test.h"

static const int32_t kHalf[2] = {1 << 30, 1 << 30}; /* with shift 0: x0.5 */
static const int32_t kShift0[2] = {0, 0};
static const int32_t kShift1[2] = {1, 1}; /* with kHalf: x1.0 */

static tn_conv_params base_params(void) {
  tn_conv_params p;
  memset(&p, 0, sizeof(p));
  p.stride_h = p.stride_w = 1;
  p.dilation_h = p.dilation_w = 1;
  p.activation.min = -128;
  p.activation.max = 127;
  return p;
}

/* Runs reference, fast and auto variants of a conv-family op and checks each
 * output against `want`. */
static void check_conv3(const tn_conv2d_s8_fn fns[3],
                        const tn_conv2d_s8_buffer_size_fn sizes[3],
                        const tn_conv_params* p, const tn_quant_params* q,
                        const tn_dims* in_d, const int8_t* in,
                        const tn_dims* f_d, const tn_weights* w,
                        const int32_t* bias, const tn_dims* out_d,
                        const int8_t* want, const char* label) {
  static uint8_t scratch[1024];
  int8_t out[64];
  size_t n = (size_t)out_d->h * out_d->w * out_d->c;
  for (int v = 0; v < 3; ++v) {
    size_t need = sizes[v](p, in_d, f_d, out_d);
    TN_REQUIRE(need <= sizeof(scratch) && n <= sizeof(out));
    memset(out, 0x7b, sizeof(out));
    TN_CHECK_STATUS(
        fns[v](p, q, in_d, in, f_d, w, bias, out_d, out, scratch, need), TN_OK);
    for (size_t i = 0; i < n; ++i) TN_CHECK_EQ(out[i], want[i]);
  }
  tn_test_digest(label, out, n);
}

static const tn_conv2d_s8_fn kConv[3] = {tn_conv2d_s8, tn_conv2d_s8_fast,
                                         tn_conv2d_s8_auto};
static const tn_conv2d_s8_buffer_size_fn kConvSize[3] = {
    tn_conv2d_s8_buffer_size, tn_conv2d_s8_fast_buffer_size,
    tn_conv2d_s8_auto_buffer_size};

TN_TEST(conv2d_golden_sum_of_windows) {
  /* 3x3 input 1..9, 2x2 filter of ones: window sums 12 16 24 28; x0.5 ->
   * 6 8 12 14; output zero point 10 -> 16 18 22 24. */
  const int8_t in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const int8_t ones[4] = {1, 1, 1, 1};
  tn_conv_params p = base_params();
  p.output_offset = 10;
  tn_quant_params q = {kHalf, kShift0, 0};
  tn_dims in_d = {3, 3, 1}, f_d = {2, 2, 1}, out_d = {2, 2, 1};
  tn_weights w = {ones, 8};
  const int8_t want[4] = {16, 18, 22, 24};
  check_conv3(kConv, kConvSize, &p, &q, &in_d, in, &f_d, &w, NULL, &out_d, want,
              "golden.conv.sums");
}

TN_TEST(conv2d_golden_zero_point_padding_all_bit_widths) {
  /* Input zero point -3 (input_offset 3): values -2 -1 0 1 are 1 2 3 4 in
   * real terms. A 3x3 window of ones with padding 1 covers the whole 2x2
   * image from every output: 1+2+3+4 = 10, + bias 5 = 15, x1.0 = 15. The
   * padding contributes zero point - zero point = 0. Ones fit 8, 4 and 2
   * bits. */
  const int8_t in[4] = {-2, -1, 0, 1};
  int8_t ones8[9];
  uint8_t packed[9];
  memset(ones8, 1, sizeof(ones8));
  tn_conv_params p = base_params();
  p.input_offset = 3;
  p.padding.top = p.padding.bottom = p.padding.left = p.padding.right = 1;
  tn_quant_params q = {kHalf, kShift1, 0};
  const int32_t bias[1] = {5};
  tn_dims in_d = {2, 2, 1}, f_d = {3, 3, 1}, out_d = {2, 2, 1};
  const int8_t want[4] = {15, 15, 15, 15};
  tn_weights w = {ones8, 8};
  check_conv3(kConv, kConvSize, &p, &q, &in_d, in, &f_d, &w, bias, &out_d, want,
              "golden.conv.pad8");
  TN_REQUIRE(tn_weights_pack(ones8, 9, 4, packed, sizeof(packed)) == TN_OK);
  w.data = packed, w.bits = 4;
  check_conv3(kConv, kConvSize, &p, &q, &in_d, in, &f_d, &w, bias, &out_d, want,
              "golden.conv.pad4");
  TN_REQUIRE(tn_weights_pack(ones8, 9, 2, packed, sizeof(packed)) == TN_OK);
  w.data = packed, w.bits = 2;
  check_conv3(kConv, kConvSize, &p, &q, &in_d, in, &f_d, &w, bias, &out_d, want,
              "golden.conv.pad2");
}

TN_TEST(conv2d_golden_ohwi_stride_relu) {
  /* 4x4 input of 2s, filters OHWI: channel 0 all +1, channel 1 all -1,
   * stride 2: every window sums to +8 / -8, x1.0; ReLU (min 0) zeroes
   * channel 1. Output HWC: 8 0 8 0 8 0 8 0. */
  int8_t in[16];
  memset(in, 2, sizeof(in));
  const int8_t w8[8] = {1, 1, 1, 1, -1, -1, -1, -1};
  tn_conv_params p = base_params();
  p.stride_h = p.stride_w = 2;
  p.activation.min = 0;
  tn_quant_params q = {kHalf, kShift1, 1};
  tn_dims in_d = {4, 4, 1}, f_d = {2, 2, 1}, out_d = {2, 2, 2};
  tn_weights w = {w8, 8};
  const int8_t want[8] = {8, 0, 8, 0, 8, 0, 8, 0};
  check_conv3(kConv, kConvSize, &p, &q, &in_d, in, &f_d, &w, NULL, &out_d, want,
              "golden.conv.ohwi");
}

TN_TEST(dwconv_golden_per_channel) {
  /* 2x2x2 HWC input: channel 0 = 1 2 3 4, channel 1 = 10 20 30 40.
   * [kh][kw][c] weights: channel 0 all 1, channel 1 = +1 -1 +1 -1.
   * Channel 0: 1+2+3+4 = 10 (x1.0); channel 1: 10-20+30-40 = -20, x0.5
   * (per-channel shift 0) = -10. */
  const int8_t in[8] = {1, 10, 2, 20, 3, 30, 4, 40};
  const int8_t w8[8] = {1, 1, 1, -1, 1, 1, 1, -1};
  const int32_t shift[2] = {1, 0};
  tn_conv_params p = base_params();
  tn_quant_params q = {kHalf, shift, 1};
  tn_dims in_d = {2, 2, 2}, f_d = {2, 2, 2}, out_d = {1, 1, 2};
  tn_weights w = {w8, 8};
  const int8_t want[2] = {10, -10};
  static const tn_conv2d_s8_fn fns[3] = {tn_dwconv2d_s8, tn_dwconv2d_s8_fast,
                                         tn_dwconv2d_s8_auto};
  static const tn_conv2d_s8_buffer_size_fn sizes[3] = {
      tn_dwconv2d_s8_buffer_size, tn_dwconv2d_s8_fast_buffer_size,
      tn_dwconv2d_s8_auto_buffer_size};
  check_conv3(fns, sizes, &p, &q, &in_d, in, &f_d, &w, NULL, &out_d, want,
              "golden.dwconv");
}

TN_TEST(pwconv_golden) {
  /* Two pixels [1 2 3] and [-1 0 4], input zero point -1 (offset 1):
   * [2 3 4] and [0 1 5]. Weights [out][in] = [1 1 1], [2 0 -1]:
   * pixel 0 -> 9, 0; pixel 1 -> 6, -5 (x1.0). */
  const int8_t in[6] = {1, 2, 3, -1, 0, 4};
  const int8_t w8[6] = {1, 1, 1, 2, 0, -1};
  tn_conv_params p = base_params();
  p.input_offset = 1;
  tn_quant_params q = {kHalf, kShift1, 0};
  tn_dims in_d = {1, 2, 3}, f_d = {1, 1, 3}, out_d = {1, 2, 2};
  tn_weights w = {w8, 8};
  const int8_t want[4] = {9, 0, 6, -5};
  static const tn_conv2d_s8_fn fns[3] = {tn_pwconv2d_s8, tn_pwconv2d_s8_fast,
                                         tn_pwconv2d_s8_auto};
  static const tn_conv2d_s8_buffer_size_fn sizes[3] = {
      tn_pwconv2d_s8_buffer_size, tn_pwconv2d_s8_fast_buffer_size,
      tn_pwconv2d_s8_auto_buffer_size};
  check_conv3(fns, sizes, &p, &q, &in_d, in, &f_d, &w, NULL, &out_d, want,
              "golden.pwconv");
}

TN_TEST(fc_golden) {
  /* W = [[1 0 -1], [2 2 2]], x = [1 2 3], bias [0 1]: -2 and 13; x1.0;
   * output zero point -5: -7 and 8. */
  const int8_t x[3] = {1, 2, 3};
  const int8_t w8[6] = {1, 0, -1, 2, 2, 2};
  const int32_t bias[2] = {0, 1};
  tn_fc_params p = {0, -5, {-128, 127}};
  tn_quant_params q = {kHalf, kShift1, 0};
  tn_weights w = {w8, 8};
  static const tn_fc_s8_fn fns[3] = {tn_fc_s8, tn_fc_s8_fast, tn_fc_s8_auto};
  uint8_t scratch[64];
  int8_t out[2];
  for (int v = 0; v < 3; ++v) {
    memset(out, 0, sizeof(out));
    TN_CHECK_STATUS(
        fns[v](&p, &q, 3, x, 2, &w, bias, out, scratch, sizeof(scratch)),
        TN_OK);
    TN_CHECK_EQ(out[0], -7);
    TN_CHECK_EQ(out[1], 8);
  }
  tn_test_digest("golden.fc", out, sizeof(out));
}

TN_TEST(pool_golden) {
  int8_t in[16], neg[16], out[4];
  for (int i = 0; i < 16; ++i) in[i] = (int8_t)i, neg[i] = (int8_t)-i;
  tn_pool_params p;
  memset(&p, 0, sizeof(p));
  p.filter_h = p.filter_w = 2, p.stride_h = p.stride_w = 2;
  p.activation.min = -128, p.activation.max = 127;
  tn_dims in_d = {4, 4, 1}, out_d = {2, 2, 1};
  /* 4x4 of 0..15, 2x2 windows: max 5 7 13 15. */
  TN_CHECK_STATUS(tn_maxpool_s8(&p, &in_d, in, &out_d, out), TN_OK);
  TN_CHECK_EQ(out[0], 5);
  TN_CHECK_EQ(out[1], 7);
  TN_CHECK_EQ(out[2], 13);
  TN_CHECK_EQ(out[3], 15);
  tn_test_digest("golden.maxpool", out, 4);
  /* Means 2.5 4.5 10.5 12.5 round away from zero: 3 5 11 13; negated
   * inputs give -3 -5 -11 -13. */
  TN_CHECK_STATUS(tn_avgpool_s8(&p, &in_d, in, &out_d, out), TN_OK);
  TN_CHECK_EQ(out[0], 3);
  TN_CHECK_EQ(out[1], 5);
  TN_CHECK_EQ(out[2], 11);
  TN_CHECK_EQ(out[3], 13);
  tn_test_digest("golden.avgpool", out, 4);
  TN_CHECK_STATUS(tn_avgpool_s8(&p, &in_d, neg, &out_d, out), TN_OK);
  TN_CHECK_EQ(out[0], -3);
  TN_CHECK_EQ(out[1], -5);
  TN_CHECK_EQ(out[2], -11);
  TN_CHECK_EQ(out[3], -13);
  /* Padding is not counted: a 3x3 window with padding 1 over a 2x2 image
   * [1 2 3 4] always averages the 4 real pixels: 2.5 -> 3. */
  const int8_t small[4] = {1, 2, 3, 4};
  tn_pool_params pp = p;
  pp.filter_h = pp.filter_w = 3, pp.stride_h = pp.stride_w = 1;
  pp.padding.top = pp.padding.bottom = pp.padding.left = pp.padding.right = 1;
  tn_dims s_d = {2, 2, 1};
  TN_CHECK_STATUS(tn_avgpool_s8(&pp, &s_d, small, &s_d, out), TN_OK);
  for (int i = 0; i < 4; ++i) TN_CHECK_EQ(out[i], 3);
  /* Global: channel 0 = 1 2 3 4 -> 3; channel 1 = 10 20 30 41 -> 25.25 ->
   * 25. */
  const int8_t two[8] = {1, 10, 2, 20, 3, 30, 4, 41};
  tn_dims g_d = {2, 2, 2};
  TN_CHECK_STATUS(tn_global_avgpool_s8(&g_d, two, p.activation, out), TN_OK);
  TN_CHECK_EQ(out[0], 3);
  TN_CHECK_EQ(out[1], 25);
  tn_test_digest("golden.gap", out, 2);
}

TN_TEST(add_golden) {
  tn_add_params p;
  int8_t out[3];
  /* Unit scales, zero points 0: 3 + 4 = 7; 100 + 100 and -100 + -100
   * saturate. */
  TN_REQUIRE(tn_add_s8_prepare(1.0, 0, 1.0, 0, 1.0, 0,
                               (tn_activation){-128, 127}, &p) == TN_OK);
  const int8_t a[3] = {3, 100, -100}, b[3] = {4, 100, -100};
  TN_CHECK_STATUS(tn_add_s8(&p, 3, a, b, out), TN_OK);
  TN_CHECK_EQ(out[0], 7);
  TN_CHECK_EQ(out[1], 127);
  TN_CHECK_EQ(out[2], -128);
  tn_test_digest("golden.add.unit", out, 3);
  /* 0.5 * (14 - 10) = 2 plus 0.25 * (8 - -4) = 3 is 5 at unit output
   * scale. */
  TN_REQUIRE(tn_add_s8_prepare(0.5, 10, 0.25, -4, 1.0, 0,
                               (tn_activation){-128, 127}, &p) == TN_OK);
  const int8_t c[1] = {14}, d[1] = {8};
  TN_CHECK_STATUS(tn_add_s8(&p, 1, c, d, out), TN_OK);
  TN_CHECK_EQ(out[0], 5);
  tn_test_digest("golden.add.scaled", out, 1);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(conv2d_golden_sum_of_windows),
      TN_CASE(conv2d_golden_zero_point_padding_all_bit_widths),
      TN_CASE(conv2d_golden_ohwi_stride_relu),
      TN_CASE(dwconv_golden_per_channel),
      TN_CASE(pwconv_golden),
      TN_CASE(fc_golden),
      TN_CASE(pool_golden),
      TN_CASE(add_golden),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
