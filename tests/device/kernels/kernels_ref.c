/* Test-side reference arithmetic and helpers (see kernels_ref.h). */
#include "kernels_ref.h"

#include <stdio.h>
#include <string.h>

#include "tn_test.h"

/* SaturatingRoundingDoublingHighMul exactly as TFLite writes it: a nudge of
 * +2^30 or 1 - 2^30 by sign, then division truncating towards zero. */
static int32_t srdhm_literal(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^e rounded to nearest, ties away from zero, from the remainder. */
static int32_t rdp_literal(int32_t x, int32_t e) {
  if (e == 0) return x;
  int64_t d = (int64_t)1 << e;
  int64_t q = (int64_t)x / d; /* truncates */
  int64_t r = (int64_t)x % d; /* sign of x */
  int64_t twice = r < 0 ? -2 * r : 2 * r;
  if (twice >= d) q += x < 0 ? -1 : 1;
  return (int32_t)q;
}

int32_t ref_requantize(int64_t acc, int32_t multiplier, int32_t shift) {
  int32_t left = shift > 0 ? shift : 0;
  int32_t right = shift > 0 ? 0 : -shift;
  /* TFLite multiplies in int32; the product wraps modulo 2^32. */
  uint32_t wrapped = (uint32_t)(int32_t)acc * ((uint32_t)1 << left);
  int32_t x = wrapped <= 0x7fffffffu
                  ? (int32_t)wrapped
                  : (int32_t)(wrapped - 0x80000000u) + INT32_MIN;
  return rdp_literal(srdhm_literal(x, multiplier), right);
}

int8_t ref_output(int64_t acc, int32_t multiplier, int32_t shift,
                  int32_t out_offset, tn_activation act) {
  TN_CHECK(acc >= INT32_MIN && acc <= INT32_MAX);
  int64_t v = (int64_t)ref_requantize(acc, multiplier, shift) + out_offset;
  if (v < act.min) v = act.min;
  if (v > act.max) v = act.max;
  return (int8_t)v;
}

void ref_conv2d(const ref_conv_case* c, const int8_t* input,
                const int8_t* weights, const int32_t* bias, const int32_t* mult,
                const int32_t* shift, int8_t* output) {
  const tn_conv_params* p = &c->params;
  for (int32_t oy = 0; oy < c->out.h; ++oy) {
    for (int32_t ox = 0; ox < c->out.w; ++ox) {
      for (int32_t oc = 0; oc < c->out.c; ++oc) {
        int64_t acc = bias ? bias[oc] : 0;
        for (int32_t ky = 0; ky < c->filter.h; ++ky) {
          for (int32_t kx = 0; kx < c->filter.w; ++kx) {
            int64_t iy = (int64_t)oy * p->stride_h - p->padding.top +
                         (int64_t)ky * p->dilation_h;
            int64_t ix = (int64_t)ox * p->stride_w - p->padding.left +
                         (int64_t)kx * p->dilation_w;
            for (int32_t ic = 0; ic < c->in.c; ++ic) {
              /* Padding holds the zero point: real value 0. */
              int64_t x = -p->input_offset;
              if (iy >= 0 && iy < c->in.h && ix >= 0 && ix < c->in.w) {
                x = input[(iy * c->in.w + ix) * c->in.c + ic];
              }
              int64_t w = weights[((oc * c->filter.h + ky) * c->filter.w + kx) *
                                      c->in.c +
                                  ic];
              acc += (x + p->input_offset) * w;
            }
          }
        }
        int32_t q = c->per_channel ? oc : 0;
        output[(oy * c->out.w + ox) * c->out.c + oc] =
            ref_output(acc, mult[q], shift[q], p->output_offset, p->activation);
      }
    }
  }
}

void ref_dwconv2d(const ref_conv_case* c, const int8_t* input,
                  const int8_t* weights, const int32_t* bias,
                  const int32_t* mult, const int32_t* shift, int8_t* output) {
  const tn_conv_params* p = &c->params;
  const int32_t ch_n = c->in.c;
  for (int32_t oy = 0; oy < c->out.h; ++oy) {
    for (int32_t ox = 0; ox < c->out.w; ++ox) {
      for (int32_t ch = 0; ch < ch_n; ++ch) {
        int64_t acc = bias ? bias[ch] : 0;
        for (int32_t ky = 0; ky < c->filter.h; ++ky) {
          for (int32_t kx = 0; kx < c->filter.w; ++kx) {
            int64_t iy = (int64_t)oy * p->stride_h - p->padding.top +
                         (int64_t)ky * p->dilation_h;
            int64_t ix = (int64_t)ox * p->stride_w - p->padding.left +
                         (int64_t)kx * p->dilation_w;
            int64_t x = -p->input_offset;
            if (iy >= 0 && iy < c->in.h && ix >= 0 && ix < c->in.w) {
              x = input[(iy * c->in.w + ix) * ch_n + ch];
            }
            acc += (x + p->input_offset) *
                   weights[(ky * c->filter.w + kx) * ch_n + ch];
          }
        }
        int32_t q = c->per_channel ? ch : 0;
        output[(oy * c->out.w + ox) * ch_n + ch] =
            ref_output(acc, mult[q], shift[q], p->output_offset, p->activation);
      }
    }
  }
}

void ref_fc(const tn_fc_params* p, int32_t in_features, const int8_t* input,
            int32_t out_features, const int8_t* weights, const int32_t* bias,
            const int32_t* mult, const int32_t* shift, int32_t per_channel,
            int8_t* output) {
  for (int32_t o = 0; o < out_features; ++o) {
    int64_t acc = bias ? bias[o] : 0;
    for (int32_t i = 0; i < in_features; ++i) {
      acc += ((int64_t)input[i] + p->input_offset) *
             weights[(int64_t)o * in_features + i];
    }
    int32_t q = per_channel ? o : 0;
    output[o] =
        ref_output(acc, mult[q], shift[q], p->output_offset, p->activation);
  }
}

int8_t ref_rand_s8(tn_rng* rng, int32_t lo, int32_t hi) {
  return (int8_t)tn_rng_range(rng, lo, hi);
}

void ref_fill_s8(tn_rng* rng, int8_t* v, size_t n, int32_t lo, int32_t hi) {
  for (size_t i = 0; i < n; ++i) v[i] = ref_rand_s8(rng, lo, hi);
}

void ref_fill_weights(tn_rng* rng, int8_t* v, size_t n, int32_t bits) {
  int32_t hi = (1 << (bits - 1)) - 1;
  ref_fill_s8(rng, v, n, -hi - 1, hi);
}

void ref_fill_quant(tn_rng* rng, int32_t* mult, int32_t* shift, int32_t n,
                    int32_t shift_lo, int32_t shift_hi) {
  for (int32_t i = 0; i < n; ++i) {
    mult[i] = (int32_t)(0x40000000u + (tn_rng_u32(rng) & 0x3fffffffu));
    shift[i] = tn_rng_range(rng, shift_lo, shift_hi);
  }
}

void ref_guard_init(uint8_t* buf, size_t payload) {
  memset(buf, REF_GUARD_BYTE, REF_GUARD);
  memset(buf + REF_GUARD + payload, REF_GUARD_BYTE, REF_GUARD);
}

int ref_guard_ok(const uint8_t* buf, size_t payload) {
  for (size_t i = 0; i < REF_GUARD; ++i) {
    if (buf[i] != REF_GUARD_BYTE) return 0;
    if (buf[REF_GUARD + payload + i] != REF_GUARD_BYTE) return 0;
  }
  return 1;
}

static int8_t g_input[REF_MAX_INPUT];
static int8_t g_weights[REF_MAX_WEIGHTS];
static uint8_t g_packed[REF_MAX_WEIGHTS];
static int32_t g_bias[512];
static int32_t g_mult[512];
static int32_t g_shift[512];
static int8_t g_expected[REF_MAX_OUTPUT];
static uint8_t g_out[REF_MAX_OUTPUT + 2 * REF_GUARD];
static uint8_t g_scratch[REF_MAX_SCRATCH + 2 * REF_GUARD];

static int32_t extent(int32_t in, int32_t pa, int32_t pb, int32_t k, int32_t s,
                      int32_t d) {
  int64_t span = (int64_t)d * (k - 1) + 1;
  int64_t padded = (int64_t)in + pa + pb;
  if (span > padded) return 0;
  return (int32_t)((padded - span) / s + 1);
}

int ref_conv_complete(ref_conv_kind kind, ref_conv_case* c) {
  const tn_conv_params* p = &c->params;
  c->filter.c = c->in.c;
  if (kind == REF_DWCONV) c->out.c = c->in.c;
  int32_t dh = kind == REF_PWCONV ? 1 : p->dilation_h;
  int32_t dw = kind == REF_PWCONV ? 1 : p->dilation_w;
  c->out.h = extent(c->in.h, p->padding.top, p->padding.bottom, c->filter.h,
                    p->stride_h, dh);
  c->out.w = extent(c->in.w, p->padding.left, p->padding.right, c->filter.w,
                    p->stride_w, dw);
  if (c->out.h < 1 || c->out.w < 1) return 0;
  size_t wn = (size_t)c->filter.h * c->filter.w *
              (kind == REF_DWCONV ? 1u : (size_t)c->out.c) * c->in.c;
  if ((size_t)c->in.h * c->in.w * c->in.c > REF_MAX_INPUT) return 0;
  if (wn > REF_MAX_WEIGHTS) return 0;
  if ((size_t)c->out.h * c->out.w * c->out.c > REF_MAX_OUTPUT) return 0;
  if (c->out.c > 512) return 0;
  return 1;
}

static tn_status run_variant(ref_conv_kind kind, int variant,
                             const ref_conv_case* c, const tn_weights* w,
                             const int32_t* bias, const tn_quant_params* q,
                             int8_t* out, void* scratch, size_t scratch_size) {
  static const tn_conv2d_s8_fn kFns[3][3] = {
      {tn_conv2d_s8, tn_conv2d_s8_fast, tn_conv2d_s8_auto},
      {tn_dwconv2d_s8, tn_dwconv2d_s8_fast, tn_dwconv2d_s8_auto},
      {tn_pwconv2d_s8, tn_pwconv2d_s8_fast, tn_pwconv2d_s8_auto},
  };
  return kFns[kind][variant](&c->params, q, &c->in, g_input, &c->filter, w,
                             bias, &c->out, out, scratch, scratch_size);
}

static size_t variant_scratch(ref_conv_kind kind, int variant,
                              const ref_conv_case* c) {
  static const tn_conv2d_s8_buffer_size_fn kFns[3][3] = {
      {tn_conv2d_s8_buffer_size, tn_conv2d_s8_fast_buffer_size,
       tn_conv2d_s8_auto_buffer_size},
      {tn_dwconv2d_s8_buffer_size, tn_dwconv2d_s8_fast_buffer_size,
       tn_dwconv2d_s8_auto_buffer_size},
      {tn_pwconv2d_s8_buffer_size, tn_pwconv2d_s8_fast_buffer_size,
       tn_pwconv2d_s8_auto_buffer_size},
  };
  return kFns[kind][variant](&c->params, &c->in, &c->filter, &c->out);
}

void ref_run_conv_case(ref_conv_kind kind, const ref_conv_case* c,
                       const ref_data_ranges* r, tn_rng* rng, const char* label,
                       ref_conv_stats* stats) {
  const size_t in_n = (size_t)c->in.h * c->in.w * c->in.c;
  const size_t out_n = (size_t)c->out.h * c->out.w * c->out.c;
  const size_t w_n = (size_t)c->filter.h * c->filter.w *
                     (kind == REF_DWCONV ? 1u : (size_t)c->out.c) * c->in.c;
  const int32_t channels = c->out.c;
  ref_fill_s8(rng, g_input, in_n, r->input_lo, r->input_hi);
  ref_fill_weights(rng, g_weights, w_n, c->weight_bits);
  const int32_t* bias = NULL;
  if (r->bias_lo <= r->bias_hi) {
    for (int32_t i = 0; i < channels; ++i) {
      g_bias[i] = tn_rng_range(rng, r->bias_lo, r->bias_hi);
    }
    bias = g_bias;
  }
  ref_fill_quant(rng, g_mult, g_shift, channels, r->shift_lo, r->shift_hi);
  tn_quant_params q = {g_mult, g_shift, c->per_channel};

  tn_weights w = {g_weights, 8};
  if (c->weight_bits != 8) {
    TN_CHECK_STATUS(tn_weights_pack(g_weights, w_n, c->weight_bits, g_packed,
                                    sizeof(g_packed)),
                    TN_OK);
    w.data = g_packed;
    w.bits = c->weight_bits;
  }

  if (kind == REF_DWCONV) {
    ref_dwconv2d(c, g_input, g_weights, bias, g_mult, g_shift, g_expected);
  } else {
    /* Pointwise is conv2d with a 1x1 filter (dilation irrelevant). */
    ref_conv2d(c, g_input, g_weights, bias, g_mult, g_shift, g_expected);
  }

  int8_t* out = (int8_t*)(g_out + REF_GUARD);
  for (int variant = 0; variant < 3; ++variant) {
    size_t need = variant_scratch(kind, variant, c);
    TN_REQUIRE(need <= REF_MAX_SCRATCH);
    void* scratch = need ? g_scratch + REF_GUARD : NULL;
    if (need > 0) {
      /* One byte short: refused, output untouched. */
      ref_guard_init(g_out, out_n);
      memset(out, 0x5a, out_n);
      TN_CHECK_STATUS(
          run_variant(kind, variant, c, &w, bias, &q, out, scratch, need - 1),
          TN_ERR_BUFFER_TOO_SMALL);
      for (size_t i = 0; i < out_n; ++i) TN_CHECK_EQ((uint8_t)out[i], 0x5a);
    }
    ref_guard_init(g_out, out_n);
    ref_guard_init(g_scratch, need);
    memset(out, 0x5a, out_n);
    TN_CHECK_STATUS(
        run_variant(kind, variant, c, &w, bias, &q, out, scratch, need), TN_OK);
    TN_CHECK(ref_guard_ok(g_out, out_n));
    TN_CHECK(ref_guard_ok(g_scratch, need));
    int32_t bad = 0;
    for (size_t i = 0; i < out_n; ++i) bad += out[i] != g_expected[i];
    TN_CHECK_EQ(bad, 0);
    if (stats) stats->mismatches += bad;
  }
  if (stats) {
    stats->outputs += (int32_t)out_n;
    for (size_t i = 0; i < out_n; ++i) {
      stats->at_max += g_expected[i] == 127;
      stats->at_min += g_expected[i] == -128;
    }
  }
  tn_test_digest(label, out, out_n);
}

const ref_data_ranges kRefDefaultRanges = {-128, 127, -4000, 4000, -12, -4};

tn_conv_params ref_plain_conv_params(void) {
  tn_conv_params p;
  memset(&p, 0, sizeof(p));
  p.stride_h = p.stride_w = 1;
  p.dilation_h = p.dilation_w = 1;
  p.activation.min = -128;
  p.activation.max = 127;
  return p;
}

ref_conv_case ref_random_conv_case(tn_rng* rng, ref_conv_kind kind) {
  ref_conv_case c;
  for (;;) {
    memset(&c, 0, sizeof(c));
    c.params = ref_plain_conv_params();
    tn_conv_params* p = &c.params;
    c.in.h = tn_rng_range(rng, 1, 9);
    c.in.w = tn_rng_range(rng, 1, 9);
    c.in.c = tn_rng_range(rng, 1, 9);
    c.out.c = tn_rng_range(rng, 1, 9);
    p->stride_h = tn_rng_range(rng, 1, 3);
    p->stride_w = tn_rng_range(rng, 1, 3);
    if (kind == REF_PWCONV) {
      c.filter.h = c.filter.w = 1;
    } else {
      c.filter.h = tn_rng_range(rng, 1, 4);
      c.filter.w = tn_rng_range(rng, 1, 4);
      p->dilation_h = tn_rng_range(rng, 1, 3);
      p->dilation_w = tn_rng_range(rng, 1, 3);
      p->padding.top = tn_rng_range(rng, 0, 2);
      p->padding.bottom = tn_rng_range(rng, 0, 2);
      p->padding.left = tn_rng_range(rng, 0, 2);
      p->padding.right = tn_rng_range(rng, 0, 2);
    }
    p->input_offset = tn_rng_range(rng, -127, 128);
    p->output_offset = tn_rng_range(rng, -128, 127);
    if (tn_rng_below(rng, 3) == 0) {
      p->activation.min = tn_rng_range(rng, -128, 0);
      p->activation.max = tn_rng_range(rng, p->activation.min, 127);
    }
    static const int32_t kBits[3] = {8, 4, 2};
    c.weight_bits = kBits[tn_rng_below(rng, 3)];
    c.per_channel = (int32_t)tn_rng_below(rng, 2);
    if (ref_conv_complete(kind, &c)) return c;
  }
}

void ref_run_random_conv_cases(ref_conv_kind kind, uint64_t seed, int cases,
                               const char* prefix) {
  tn_rng rng;
  tn_rng_seed(&rng, seed, 1);
  ref_conv_stats stats = {0, 0, 0, 0};
  char label[48];
  for (int i = 0; i < cases; ++i) {
    ref_conv_case c = ref_random_conv_case(&rng, kind);
    ref_data_ranges r = kRefDefaultRanges;
    if (c.weight_bits == 4) r.shift_lo = -9, r.shift_hi = -1;
    if (c.weight_bits == 2) r.shift_lo = -7, r.shift_hi = 0;
    if (tn_rng_below(&rng, 5) == 0) r.bias_lo = 1, r.bias_hi = 0; /* none */
    snprintf(label, sizeof(label), "%s.%d", prefix, i);
    ref_run_conv_case(kind, &c, &r, &rng, label, &stats);
  }
  TN_CHECK_EQ(stats.mismatches, 0);
  /* The ranges must exercise both clamps and the interior. */
  TN_CHECK(stats.at_max > 0);
  TN_CHECK(stats.at_min > 0);
  TN_CHECK(stats.at_max + stats.at_min < stats.outputs / 2);
}
