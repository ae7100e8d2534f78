/*
 * Depthwise conv (channel multiplier 1): the reference, fast and auto
 * variants against the test's int64 reference over random shapes and values
 * with 8-, 4- and 2-bit weights, edge cases (padding on every side, stride
 * beyond the kernel, dilation, 1x1 images, channel counts around multiples
 * of 4, odd pixel counts), the DS-CNN depthwise layer, and bad parameters.
 */
#include <string.h>

#include "base/tn_rng.h"
#include "kernels/tn_kernels.h"
#include "kernels_ref.h"
#include "tn_test.h"

TN_TEST(dwconv_random_shapes_match_int64_reference) {
  ref_run_random_conv_cases(REF_DWCONV, 21, 300, "dw.rand");
}

static void run_case(ref_conv_case c, ref_data_ranges r, const char* label,
                     uint64_t seed, ref_conv_stats* stats) {
  tn_rng rng;
  tn_rng_seed(&rng, seed, 3);
  TN_REQUIRE(ref_conv_complete(REF_DWCONV, &c));
  ref_run_conv_case(REF_DWCONV, &c, &r, &rng, label, stats);
}

static ref_conv_case dw_case(int32_t h, int32_t w, int32_t c, int32_t kh,
                             int32_t kw) {
  ref_conv_case k;
  memset(&k, 0, sizeof(k));
  k.params = ref_plain_conv_params();
  k.in.h = h, k.in.w = w, k.in.c = c;
  k.filter.h = kh, k.filter.w = kw;
  k.weight_bits = 8;
  k.per_channel = 1;
  return k;
}

TN_TEST(dwconv_edge_cases) {
  ref_data_ranges r = kRefDefaultRanges;
  r.shift_lo = -9, r.shift_hi = -5;
  ref_conv_case c = dw_case(1, 1, 7, 3, 3); /* 1x1 image, all taps padded */
  c.params.padding.top = c.params.padding.bottom = 1;
  c.params.padding.left = c.params.padding.right = 1;
  c.params.input_offset = 100;
  run_case(c, r, "dw.edge.1x1image", 1, NULL);

  c = dw_case(7, 9, 12, 2, 1); /* stride beyond kernel, 3 full blocks */
  c.params.stride_h = 3, c.params.stride_w = 2;
  c.params.padding.bottom = 2, c.params.padding.left = 1;
  run_case(c, r, "dw.edge.stride", 2, NULL);

  c = dw_case(8, 8, 6, 3, 3); /* dilation, asymmetric padding */
  c.params.dilation_h = 2, c.params.dilation_w = 3;
  c.params.padding.top = 3, c.params.padding.right = 2;
  c.params.input_offset = -127;
  c.params.output_offset = 127;
  run_case(c, r, "dw.edge.dilation", 3, NULL);

  c = dw_case(5, 5, 13, 3, 3); /* odd pixel count (25), 13 channels */
  c.params.padding.top = c.params.padding.bottom = 1;
  c.params.padding.left = c.params.padding.right = 1;
  c.weight_bits = 4;
  r.shift_lo = -6, r.shift_hi = -2;
  run_case(c, r, "dw.edge.w4", 4, NULL);
  c.weight_bits = 2;
  r.shift_lo = -4, r.shift_hi = 0;
  run_case(c, r, "dw.edge.w2", 5, NULL);

  ref_conv_stats s = {0, 0, 0, 0};
  c = dw_case(4, 6, 8, 3, 3); /* saturation both ways */
  c.params.padding.top = c.params.padding.left = 1;
  r.shift_lo = 0, r.shift_hi = 2;
  run_case(c, r, "dw.edge.saturate", 6, &s);
  TN_CHECK(s.at_max > s.outputs / 4);
  TN_CHECK(s.at_min > s.outputs / 4);
}

TN_TEST(dwconv_ds_cnn_layer) {
  /* 25x5x64, 3x3, stride 1, SAME padding: the DS-CNN depthwise layer. */
  ref_conv_case c = dw_case(25, 5, 64, 3, 3);
  c.params.padding.top = c.params.padding.bottom = 1;
  c.params.padding.left = c.params.padding.right = 1;
  c.params.input_offset = 128;
  c.params.output_offset = -128;
  c.params.activation.min = -128;
  ref_data_ranges r = kRefDefaultRanges;
  r.input_lo = -128, r.input_hi = 60;
  r.shift_lo = -9, r.shift_hi = -7;
  ref_conv_stats s = {0, 0, 0, 0};
  run_case(c, r, "dw.dscnn", 7, &s);
  TN_CHECK(s.at_max < s.outputs / 8);
}

TN_TEST(dwconv_rejects_bad_parameters) {
  static int8_t in[4 * 4 * 5], wts[3 * 3 * 5];
  int8_t out[4 * 4 * 5];
  static uint8_t scratch[2048];
  int32_t mult[5] = {1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30};
  int32_t shift[5] = {-3, -3, -3, -3, -3};
  tn_conv_params p = ref_plain_conv_params();
  p.padding.top = p.padding.bottom = p.padding.left = p.padding.right = 1;
  tn_dims in_d = {4, 4, 5}, f_d = {3, 3, 5}, out_d = {4, 4, 5};
  tn_quant_params q = {mult, shift, 1};
  tn_weights w = {wts, 8};
  static const tn_conv2d_s8_fn kFns[3] = {tn_dwconv2d_s8, tn_dwconv2d_s8_fast,
                                          tn_dwconv2d_s8_auto};
  for (int v = 0; v < 3; ++v) {
    tn_conv2d_s8_fn fn = kFns[v];
    TN_CHECK_STATUS(fn(&p, &q, &in_d, in, &f_d, &w, NULL, &out_d, out, scratch,
                       sizeof(scratch)),
                    TN_OK);
    memset(out, 0x44, sizeof(out));
    tn_dims bad = out_d;
    bad.c = 4; /* multiplier 1 only: output depth must equal input depth */
    TN_CHECK_STATUS(fn(&p, &q, &in_d, in, &f_d, &w, NULL, &bad, out, scratch,
                       sizeof(scratch)),
                    TN_ERR_ARG);
    bad = f_d;
    bad.c = 6;
    TN_CHECK_STATUS(fn(&p, &q, &in_d, in, &bad, &w, NULL, &out_d, out, scratch,
                       sizeof(scratch)),
                    TN_ERR_ARG);
    tn_conv_params bp = p;
    bp.dilation_w = 0;
    TN_CHECK_STATUS(fn(&bp, &q, &in_d, in, &f_d, &w, NULL, &out_d, out, scratch,
                       sizeof(scratch)),
                    TN_ERR_ARG);
    TN_CHECK_STATUS(fn(&p, &q, &in_d, in, &f_d, &w, NULL, &out_d, NULL, scratch,
                       sizeof(scratch)),
                    TN_ERR_NULL);
    for (size_t i = 0; i < sizeof(out); ++i) TN_CHECK_EQ(out[i], 0x44);
  }
  TN_CHECK_STATUS(tn_dwconv2d_s8_fast(&p, &q, &in_d, in, &f_d, &w, NULL, &out_d,
                                      out, scratch, 8),
                  TN_ERR_BUFFER_TOO_SMALL);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(dwconv_random_shapes_match_int64_reference),
      TN_CASE(dwconv_edge_cases),
      TN_CASE(dwconv_ds_cnn_layer),
      TN_CASE(dwconv_rejects_bad_parameters),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
