/*
 * Pooling, global average pooling, residual add and clamp against
 * references written in the test: windows clipped to the image, TFLite's
 * half-away-from-zero averaging, TFLite int8 ADD arithmetic spelled out with
 * the test's own requantization, and ADD's agreement with real arithmetic
 * within one output step.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_rng.h"
#include "kernels/tn_kernels.h"
#include "kernels_ref.h"
#include "tn_test.h"

static int8_t g_in[4096], g_in2[4096];
static int8_t g_expected[4096];
static uint8_t g_out[4096 + 2 * REF_GUARD];

/* Reference pooling over the valid part of each window. */
static void ref_pool(int is_max, const tn_pool_params* p, const tn_dims* in,
                     const int8_t* x, const tn_dims* out, int8_t* y) {
  for (int32_t oy = 0; oy < out->h; ++oy) {
    for (int32_t ox = 0; ox < out->w; ++ox) {
      for (int32_t c = 0; c < in->c; ++c) {
        int64_t acc = is_max ? -1000 : 0;
        int64_t n = 0;
        for (int32_t fy = 0; fy < p->filter_h; ++fy) {
          for (int32_t fx = 0; fx < p->filter_w; ++fx) {
            int64_t iy = (int64_t)oy * p->stride_h - p->padding.top + fy;
            int64_t ix = (int64_t)ox * p->stride_w - p->padding.left + fx;
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) continue;
            int64_t v = x[(iy * in->w + ix) * in->c + c];
            if (is_max) {
              if (v > acc) acc = v;
            } else {
              acc += v;
            }
            ++n;
          }
        }
        TN_CHECK(n > 0);
        int64_t r = acc;
        if (!is_max && n > 0) {
          /* Nearest, ties away from zero, via doubled arithmetic. */
          int64_t a = acc < 0 ? -acc : acc;
          int64_t q = (2 * a + n) / (2 * n);
          r = acc < 0 ? -q : q;
        }
        if (r < p->activation.min) r = p->activation.min;
        if (r > p->activation.max) r = p->activation.max;
        y[(oy * out->w + ox) * in->c + c] = (int8_t)r;
      }
    }
  }
}

static int32_t pool_extent(int32_t in, int32_t a, int32_t b, int32_t k,
                           int32_t s) {
  if (k > in + a + b) return 0;
  return (in + a + b - k) / s + 1;
}

TN_TEST(pools_random_match_reference) {
  tn_rng rng;
  tn_rng_seed(&rng, 41, 1);
  char label[32];
  for (int i = 0; i < 300; ++i) {
    tn_pool_params p;
    memset(&p, 0, sizeof(p));
    tn_dims in = {tn_rng_range(&rng, 1, 12), tn_rng_range(&rng, 1, 12),
                  tn_rng_range(&rng, 1, 9)};
    p.filter_h = tn_rng_range(&rng, 1, 4);
    p.filter_w = tn_rng_range(&rng, 1, 4);
    p.stride_h = tn_rng_range(&rng, 1, 4);
    p.stride_w = tn_rng_range(&rng, 1, 4);
    p.padding.top = tn_rng_range(&rng, 0, p.filter_h - 1);
    p.padding.bottom = tn_rng_range(&rng, 0, p.filter_h - 1);
    p.padding.left = tn_rng_range(&rng, 0, p.filter_w - 1);
    p.padding.right = tn_rng_range(&rng, 0, p.filter_w - 1);
    p.activation.min = tn_rng_below(&rng, 2) ? -128 : -20;
    p.activation.max = tn_rng_below(&rng, 2) ? 127 : 90;
    tn_dims out = {pool_extent(in.h, p.padding.top, p.padding.bottom,
                               p.filter_h, p.stride_h),
                   pool_extent(in.w, p.padding.left, p.padding.right,
                               p.filter_w, p.stride_w),
                   in.c};
    if (out.h < 1 || out.w < 1) continue;
    size_t in_n = (size_t)in.h * in.w * in.c;
    size_t out_n = (size_t)out.h * out.w * out.c;
    ref_fill_s8(&rng, g_in, in_n, -128, 127);
    int8_t* y = (int8_t*)(g_out + REF_GUARD);
    for (int is_max = 0; is_max < 2; ++is_max) {
      ref_pool(is_max, &p, &in, g_in, &out, g_expected);
      ref_guard_init(g_out, out_n);
      tn_status st = is_max ? tn_maxpool_s8(&p, &in, g_in, &out, y)
                            : tn_avgpool_s8(&p, &in, g_in, &out, y);
      TN_CHECK_STATUS(st, TN_OK);
      TN_CHECK(ref_guard_ok(g_out, out_n));
      for (size_t k = 0; k < out_n; ++k) TN_CHECK_EQ(y[k], g_expected[k]);
      snprintf(label, sizeof(label), "%s.rand.%d", is_max ? "max" : "avg", i);
      tn_test_digest(label, y, out_n);
    }
  }
}

TN_TEST(global_avgpool_matches_full_window_avgpool) {
  tn_rng rng;
  tn_rng_seed(&rng, 42, 1);
  char label[32];
  for (int i = 0; i < 20; ++i) {
    tn_dims in = {tn_rng_range(&rng, 1, 25), tn_rng_range(&rng, 1, 10),
                  tn_rng_range(&rng, 1, 16)};
    size_t in_n = (size_t)in.h * in.w * in.c;
    ref_fill_s8(&rng, g_in, in_n, -128, 127);
    tn_pool_params p;
    memset(&p, 0, sizeof(p));
    p.filter_h = in.h, p.filter_w = in.w, p.stride_h = p.stride_w = 1;
    p.activation.min = -128, p.activation.max = 127;
    tn_dims out = {1, 1, in.c};
    ref_pool(0, &p, &in, g_in, &out, g_expected);
    int8_t* y = (int8_t*)(g_out + REF_GUARD);
    ref_guard_init(g_out, (size_t)in.c);
    TN_CHECK_STATUS(tn_global_avgpool_s8(&in, g_in, p.activation, y), TN_OK);
    TN_CHECK(ref_guard_ok(g_out, (size_t)in.c));
    for (int32_t c = 0; c < in.c; ++c) TN_CHECK_EQ(y[c], g_expected[c]);
    snprintf(label, sizeof(label), "gap.rand.%d", i);
    tn_test_digest(label, y, (size_t)in.c);
  }
}

TN_TEST(pools_reject_bad_parameters) {
  int8_t x[16] = {0}, y[16];
  tn_pool_params p;
  memset(&p, 0, sizeof(p));
  p.filter_h = p.filter_w = 2, p.stride_h = p.stride_w = 2;
  p.activation.min = -128, p.activation.max = 127;
  tn_dims in = {4, 4, 1}, out = {2, 2, 1};
  TN_CHECK_STATUS(tn_maxpool_s8(&p, &in, x, &out, y), TN_OK);
  tn_pool_params bp = p;
  bp.padding.top = 2; /* a window could lie entirely in the padding */
  TN_CHECK_STATUS(tn_maxpool_s8(&bp, &in, x, &out, y), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_avgpool_s8(&bp, &in, x, &out, y), TN_ERR_ARG);
  bp = p;
  bp.stride_w = 0;
  TN_CHECK_STATUS(tn_avgpool_s8(&bp, &in, x, &out, y), TN_ERR_ARG);
  tn_dims bad = {3, 2, 1};
  TN_CHECK_STATUS(tn_avgpool_s8(&p, &in, x, &bad, y), TN_ERR_ARG);
  bad = (tn_dims){2, 2, 2};
  TN_CHECK_STATUS(tn_maxpool_s8(&p, &in, x, &bad, y), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_maxpool_s8(&p, &in, NULL, &out, y), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_global_avgpool_s8(&in, x, (tn_activation){5, 4}, y),
                  TN_ERR_ARG);
  tn_dims huge = {300, 300, 1}; /* area above 65536 */
  TN_CHECK_STATUS(tn_global_avgpool_s8(&huge, x, p.activation, y), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_global_avgpool_s8(NULL, x, p.activation, y), TN_ERR_NULL);
}

/* TFLite int8 ADD with the test's own requantization. */
static int8_t ref_add(const tn_add_params* p, int8_t a, int8_t b) {
  int64_t v1 = ((int64_t)a + p->input1_offset) * ((int64_t)1 << p->left_shift);
  int64_t v2 = ((int64_t)b + p->input2_offset) * ((int64_t)1 << p->left_shift);
  int64_t s1 = ref_requantize(v1, p->input1_multiplier, p->input1_shift);
  int64_t s2 = ref_requantize(v2, p->input2_multiplier, p->input2_shift);
  int64_t out =
      (int64_t)ref_requantize(s1 + s2, p->output_multiplier, p->output_shift) +
      p->output_offset;
  if (out < p->activation.min) out = p->activation.min;
  if (out > p->activation.max) out = p->activation.max;
  return (int8_t)out;
}

TN_TEST(add_random_scales_match_reference_and_real_sum) {
  tn_rng rng;
  tn_rng_seed(&rng, 43, 1);
  char label[32];
  int32_t worst_steps_x100 = 0;
  for (int i = 0; i < 60; ++i) {
    double s1 = 0.001 + 0.2 * tn_rng_unit_f32(&rng);
    double s2 = 0.001 + 0.2 * tn_rng_unit_f32(&rng);
    double so = 0.002 + 0.3 * tn_rng_unit_f32(&rng);
    int32_t z1 = tn_rng_range(&rng, -128, 127);
    int32_t z2 = tn_rng_range(&rng, -128, 127);
    int32_t zo = tn_rng_range(&rng, -128, 127);
    tn_add_params p;
    TN_REQUIRE(tn_add_s8_prepare(s1, z1, s2, z2, so, zo,
                                 (tn_activation){-128, 127}, &p) == TN_OK);
    size_t n = (size_t)tn_rng_range(&rng, 1, 600);
    ref_fill_s8(&rng, g_in, n, -128, 127);
    ref_fill_s8(&rng, g_in2, n, -128, 127);
    int8_t* y = (int8_t*)(g_out + REF_GUARD);
    ref_guard_init(g_out, n);
    TN_CHECK_STATUS(tn_add_s8(&p, n, g_in, g_in2, y), TN_OK);
    TN_CHECK(ref_guard_ok(g_out, n));
    for (size_t k = 0; k < n; ++k) {
      TN_CHECK_EQ(y[k], ref_add(&p, g_in[k], g_in2[k]));
      /* Against real arithmetic, where not clamped: within one step. */
      double real = s1 * (g_in[k] - z1) + s2 * (g_in2[k] - z2);
      double q = real / so + zo;
      if (q > -127.0 && q < 126.0) {
        double err = (y[k] - q) < 0 ? (q - y[k]) : (y[k] - q);
        int32_t e100 = (int32_t)(err * 100.0);
        if (e100 > worst_steps_x100) worst_steps_x100 = e100;
      }
    }
    snprintf(label, sizeof(label), "add.rand.%d", i);
    tn_test_digest(label, y, n);
  }
  TN_CHECK(worst_steps_x100 <= 60); /* at most 0.6 of an output step */
  printf("  add: worst error vs real sum %d.%02d output steps\n",
         (int)(worst_steps_x100 / 100), (int)(worst_steps_x100 % 100));
}

TN_TEST(add_in_place_clamp_and_errors) {
  tn_add_params p;
  TN_REQUIRE(tn_add_s8_prepare(0.05, 3, 0.1, -7, 0.12, 10,
                               (tn_activation){10, 127}, &p) == TN_OK);
  int8_t a[64], b[64], expect[64];
  tn_rng rng;
  tn_rng_seed(&rng, 44, 1);
  ref_fill_s8(&rng, a, 64, -128, 127);
  ref_fill_s8(&rng, b, 64, -128, 127);
  for (int i = 0; i < 64; ++i) expect[i] = ref_add(&p, a[i], b[i]);
  TN_CHECK_STATUS(tn_add_s8(&p, 64, a, b, a), TN_OK); /* output aliases a */
  for (int i = 0; i < 64; ++i) {
    TN_CHECK_EQ(a[i], expect[i]);
    TN_CHECK(a[i] >= 10); /* ReLU at the output zero point */
  }
  tn_test_digest("add.inplace", a, 64);
  tn_add_params bp = p;
  bp.left_shift = 21;
  TN_CHECK_STATUS(tn_add_s8(&bp, 64, a, b, a), TN_ERR_ARG);
  bp = p;
  bp.input1_shift = 1;
  TN_CHECK_STATUS(tn_add_s8(&bp, 64, a, b, a), TN_ERR_ARG);
  bp = p;
  bp.output_multiplier = -5;
  TN_CHECK_STATUS(tn_add_s8(&bp, 64, a, b, a), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_add_s8(&p, 64, NULL, b, a), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_add_s8(NULL, 64, a, b, a), TN_ERR_NULL);
  TN_CHECK_STATUS(
      tn_add_s8_prepare(0.0, 0, 0.1, 0, 0.1, 0, (tn_activation){-128, 127}, &p),
      TN_ERR_ARG);
  TN_CHECK_STATUS(tn_add_s8_prepare(0.1, 128, 0.1, 0, 0.1, 0,
                                    (tn_activation){-128, 127}, &p),
                  TN_ERR_ARG);
}

TN_TEST(add_general_path_matches_reference) {
  /* Hand-built parameters outside what tn_add_s8_prepare() produces: no
   * left shift of the inputs and a left shift on the output, so the kernel
   * takes its general requantization path. */
  tn_add_params p;
  memset(&p, 0, sizeof(p));
  p.input1_offset = 7, p.input2_offset = -20, p.left_shift = 0;
  p.input1_multiplier = 1 << 30, p.input1_shift = 0;
  p.input2_multiplier = 1518500250, p.input2_shift = -2;
  p.output_multiplier = 1288490189, p.output_shift = 1;
  p.output_offset = -6;
  p.activation = (tn_activation){-128, 127};
  tn_rng rng;
  tn_rng_seed(&rng, 45, 1);
  int8_t a[500], b[500], y[500];
  ref_fill_s8(&rng, a, 500, -128, 127);
  ref_fill_s8(&rng, b, 500, -128, 127);
  TN_CHECK_STATUS(tn_add_s8(&p, 500, a, b, y), TN_OK);
  int32_t interior = 0;
  for (int i = 0; i < 500; ++i) {
    TN_CHECK_EQ(y[i], ref_add(&p, a[i], b[i]));
    interior += y[i] > -128 && y[i] < 127;
  }
  TN_CHECK(interior > 100);
  tn_test_digest("add.general", y, sizeof(y));
}

TN_TEST(clamp_in_place) {
  int8_t v[256];
  for (int i = 0; i < 256; ++i) v[i] = (int8_t)(i - 128);
  TN_CHECK_STATUS(tn_clamp_s8((tn_activation){-3, 100}, 256, v), TN_OK);
  for (int i = 0; i < 256; ++i) {
    int32_t want = i - 128 < -3 ? -3 : (i - 128 > 100 ? 100 : i - 128);
    TN_CHECK_EQ(v[i], want);
  }
  tn_test_digest("clamp", v, sizeof(v));
  TN_CHECK_STATUS(tn_clamp_s8((tn_activation){0, -1}, 256, v), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_clamp_s8((tn_activation){0, 1}, 3, NULL), TN_ERR_NULL);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(pools_random_match_reference),
      TN_CASE(global_avgpool_matches_full_window_avgpool),
      TN_CASE(pools_reject_bad_parameters),
      TN_CASE(add_random_scales_match_reference_and_real_sum),
      TN_CASE(add_in_place_clamp_and_errors),
      TN_CASE(add_general_path_matches_reference),
      TN_CASE(clamp_in_place),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
