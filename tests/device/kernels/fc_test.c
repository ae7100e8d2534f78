/*
 * Fully connected: reference, fast and auto variants against the test's
 * int64 reference over random sizes (including lengths not multiple of 4 and
 * output counts not multiple of 4), 8/4/2-bit weights, per-tensor and
 * per-channel quantization, the DS-CNN classifier, scratch and parameter
 * errors.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_rng.h"
#include "kernels/tn_kernels.h"
#include "kernels_ref.h"
#include "tn_test.h"

enum { kMaxIn = 300, kMaxOut = 40 };

static int8_t g_in[kMaxIn];
static int8_t g_w[kMaxIn * kMaxOut];
static uint8_t g_packed[kMaxIn * kMaxOut];
static int32_t g_bias[kMaxOut], g_mult[kMaxOut], g_shift[kMaxOut];
static int8_t g_expected[kMaxOut];
static uint8_t g_out[kMaxOut + 2 * REF_GUARD];
static uint8_t g_scratch[8 * kMaxIn + 2 * REF_GUARD];

typedef struct fc_case {
  tn_fc_params p;
  int32_t in, out, bits, per_channel, has_bias;
  int32_t shift_lo, shift_hi;
} fc_case;

static void run_fc(const fc_case* c, tn_rng* rng, const char* label,
                   int32_t* at_max, int32_t* at_min) {
  ref_fill_s8(rng, g_in, (size_t)c->in, -128, 127);
  size_t wn = (size_t)c->in * (size_t)c->out;
  ref_fill_weights(rng, g_w, wn, c->bits);
  for (int32_t i = 0; i < c->out; ++i) {
    g_bias[i] = tn_rng_range(rng, -3000, 3000);
  }
  ref_fill_quant(rng, g_mult, g_shift, c->out, c->shift_lo, c->shift_hi);
  const int32_t* bias = c->has_bias ? g_bias : NULL;
  tn_quant_params q = {g_mult, g_shift, c->per_channel};
  tn_weights w = {g_w, 8};
  if (c->bits != 8) {
    TN_REQUIRE(tn_weights_pack(g_w, wn, c->bits, g_packed, sizeof(g_packed)) ==
               TN_OK);
    w.data = g_packed;
    w.bits = c->bits;
  }
  ref_fc(&c->p, c->in, g_in, c->out, g_w, bias, g_mult, g_shift, c->per_channel,
         g_expected);
  static const tn_fc_s8_fn kFns[3] = {tn_fc_s8, tn_fc_s8_fast, tn_fc_s8_auto};
  const size_t sizes[3] = {tn_fc_s8_buffer_size(c->in, c->out),
                           tn_fc_s8_fast_buffer_size(c->in, c->out),
                           tn_fc_s8_auto_buffer_size(c->in, c->out)};
  int8_t* out = (int8_t*)(g_out + REF_GUARD);
  for (int v = 0; v < 3; ++v) {
    TN_REQUIRE(sizes[v] <= sizeof(g_scratch) - 2 * REF_GUARD);
    void* scratch = sizes[v] ? g_scratch + REF_GUARD : NULL;
    ref_guard_init(g_out, (size_t)c->out);
    ref_guard_init(g_scratch, sizes[v]);
    if (sizes[v] > 0) {
      memset(out, 0x11, (size_t)c->out);
      TN_CHECK_STATUS(kFns[v](&c->p, &q, c->in, g_in, c->out, &w, bias, out,
                              scratch, sizes[v] - 1),
                      TN_ERR_BUFFER_TOO_SMALL);
      for (int32_t i = 0; i < c->out; ++i) TN_CHECK_EQ(out[i], 0x11);
    }
    TN_CHECK_STATUS(kFns[v](&c->p, &q, c->in, g_in, c->out, &w, bias, out,
                            scratch, sizes[v]),
                    TN_OK);
    TN_CHECK(ref_guard_ok(g_out, (size_t)c->out));
    TN_CHECK(ref_guard_ok(g_scratch, sizes[v]));
    for (int32_t i = 0; i < c->out; ++i) TN_CHECK_EQ(out[i], g_expected[i]);
  }
  for (int32_t i = 0; i < c->out; ++i) {
    *at_max += g_expected[i] == 127;
    *at_min += g_expected[i] == -128;
  }
  tn_test_digest(label, out, (size_t)c->out);
}

TN_TEST(fc_random_sizes_match_int64_reference) {
  tn_rng rng;
  tn_rng_seed(&rng, 31, 1);
  char label[32];
  int32_t at_max = 0, at_min = 0;
  for (int i = 0; i < 300; ++i) {
    fc_case c;
    memset(&c, 0, sizeof(c));
    c.in = tn_rng_range(&rng, 1, kMaxIn);
    c.out = tn_rng_range(&rng, 1, kMaxOut);
    static const int32_t kBits[3] = {8, 4, 2};
    c.bits = kBits[tn_rng_below(&rng, 3)];
    c.per_channel = (int32_t)tn_rng_below(&rng, 2);
    c.has_bias = tn_rng_below(&rng, 4) != 0;
    c.p.input_offset = tn_rng_range(&rng, -127, 128);
    c.p.output_offset = tn_rng_range(&rng, -128, 127);
    c.p.activation.min = -128;
    c.p.activation.max = 127;
    if (tn_rng_below(&rng, 3) == 0) c.p.activation.min = c.p.output_offset;
    /* Scale so the typical accumulator lands near the int8 range. */
    int32_t hi = c.bits == 8 ? -6 : (c.bits == 4 ? -3 : -1);
    c.shift_lo = hi - 8;
    c.shift_hi = hi;
    snprintf(label, sizeof(label), "fc.rand.%d", i);
    run_fc(&c, &rng, label, &at_max, &at_min);
  }
  TN_CHECK(at_max > 0);
  TN_CHECK(at_min > 0);
}

TN_TEST(fc_ds_cnn_classifier_and_edges) {
  tn_rng rng;
  tn_rng_seed(&rng, 32, 1);
  int32_t at_max = 0, at_min = 0;
  fc_case c;
  memset(&c, 0, sizeof(c));
  c.in = 64, c.out = 12, c.bits = 8, c.per_channel = 0, c.has_bias = 1;
  c.p.input_offset = 128, c.p.output_offset = 5;
  c.p.activation.min = -128, c.p.activation.max = 127;
  c.shift_lo = -10, c.shift_hi = -10;
  run_fc(&c, &rng, "fc.dscnn", &at_max, &at_min);
  c.in = 1, c.out = 1; /* smallest */
  run_fc(&c, &rng, "fc.1x1", &at_max, &at_min);
  c.in = 7, c.out = 9, c.shift_lo = 1, c.shift_hi = 3; /* saturating */
  run_fc(&c, &rng, "fc.saturate", &at_max, &at_min);
  TN_CHECK(at_max > 0 && at_min > 0);
}

TN_TEST(fc_rejects_bad_parameters) {
  int8_t in[8] = {0}, w8[8 * 4] = {0}, out[4];
  int32_t mult[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
  int32_t shift[4] = {0, 0, 0, 0};
  uint8_t scratch[64];
  tn_fc_params p = {0, 0, {-128, 127}};
  tn_quant_params q = {mult, shift, 1};
  tn_weights w = {w8, 8};
  static const tn_fc_s8_fn kFns[3] = {tn_fc_s8, tn_fc_s8_fast, tn_fc_s8_auto};
  for (int v = 0; v < 3; ++v) {
    tn_fc_s8_fn fn = kFns[v];
    memset(out, 0x22, sizeof(out));
    TN_CHECK_STATUS(fn(NULL, &q, 8, in, 4, &w, NULL, out, scratch, 64),
                    TN_ERR_NULL);
    TN_CHECK_STATUS(fn(&p, &q, 8, NULL, 4, &w, NULL, out, scratch, 64),
                    TN_ERR_NULL);
    TN_CHECK_STATUS(fn(&p, &q, 0, in, 4, &w, NULL, out, scratch, 64),
                    TN_ERR_ARG);
    TN_CHECK_STATUS(fn(&p, &q, 8, in, 0, &w, NULL, out, scratch, 64),
                    TN_ERR_ARG);
    TN_CHECK_STATUS(fn(&p, &q, TN_KERNELS_MAX_REDUCTION + 1, in, 4, &w, NULL,
                       out, scratch, 64),
                    TN_ERR_ARG);
    tn_fc_params bp = p;
    bp.input_offset = -128;
    TN_CHECK_STATUS(fn(&bp, &q, 8, in, 4, &w, NULL, out, scratch, 64),
                    TN_ERR_ARG);
    bp = p;
    bp.activation.max = 128;
    TN_CHECK_STATUS(fn(&bp, &q, 8, in, 4, &w, NULL, out, scratch, 64),
                    TN_ERR_ARG);
    tn_weights w5 = {w8, 5};
    TN_CHECK_STATUS(fn(&p, &q, 8, in, 4, &w5, NULL, out, scratch, 64),
                    TN_ERR_ARG);
    shift[3] = 31;
    TN_CHECK_STATUS(fn(&p, &q, 8, in, 4, &w, NULL, out, scratch, 64),
                    TN_ERR_ARG);
    shift[3] = 0;
    for (int i = 0; i < 4; ++i) TN_CHECK_EQ(out[i], 0x22);
  }
  TN_CHECK_STATUS(tn_fc_s8_fast(&p, &q, 8, in, 4, &w, NULL, out, NULL, 0),
                  TN_ERR_NULL);
  TN_CHECK_EQ(tn_fc_s8_fast_buffer_size(0, 4), 0);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(fc_random_sizes_match_int64_reference),
      TN_CASE(fc_ds_cnn_classifier_and_edges),
      TN_CASE(fc_rejects_bad_parameters),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
