/* DS-CNN-like layers and data for the kernel benchmarks (see the header). */
#include "kernels_layers.h"

#include <string.h>

#include "base/tn_rng.h"

#define KB_MAX_INPUT (25 * 5 * 256)
#define KB_MAX_OUTPUT (25 * 5 * 64)
#define KB_MAX_WEIGHTS (64 * 256)
#define KB_MAX_SCRATCH (64 * 1024)

static int8_t g_input[KB_MAX_INPUT];
static int8_t g_input2[KB_MAX_OUTPUT];
static int8_t g_weights[KB_MAX_WEIGHTS];
static uint8_t g_packed[KB_MAX_WEIGHTS];
static int32_t g_bias[64], g_mult[64], g_shift[64];
static int8_t g_output[KB_MAX_OUTPUT];
static uint8_t g_scratch[KB_MAX_SCRATCH];
static tn_weights g_w;

static tn_conv_params conv_params(int32_t stride, tn_padding pad) {
  tn_conv_params p;
  memset(&p, 0, sizeof(p));
  p.stride_h = p.stride_w = stride;
  p.dilation_h = p.dilation_w = 1;
  p.padding = pad;
  p.input_offset = 5;
  p.output_offset = -3;
  p.activation.min = -3; /* ReLU at the output zero point */
  p.activation.max = 127;
  return p;
}

static kb_layer g_layers[6];
static int g_ready;

static void init_layers(void) {
  if (g_ready) return;
  kb_layer* l = g_layers;
  memset(g_layers, 0, sizeof(g_layers));
  /* conv1: 49x10x1 -> 25x5x64, 10x4 filter, stride 2, SAME padding. */
  l[0].name = "conv1_49x10x1_10x4s2_64";
  l[0].kind = KB_CONV;
  l[0].params = conv_params(2, (tn_padding){4, 5, 1, 1});
  l[0].in = (tn_dims){49, 10, 1};
  l[0].filter = (tn_dims){10, 4, 1};
  l[0].out = (tn_dims){25, 5, 64};
  l[1].name = "dwconv_25x5x64_3x3";
  l[1].kind = KB_DWCONV;
  l[1].params = conv_params(1, (tn_padding){1, 1, 1, 1});
  l[1].in = (tn_dims){25, 5, 64};
  l[1].filter = (tn_dims){3, 3, 64};
  l[1].out = (tn_dims){25, 5, 64};
  l[2].name = "pwconv_25x5x64_64";
  l[2].kind = KB_PWCONV;
  l[2].params = conv_params(1, (tn_padding){0, 0, 0, 0});
  l[2].in = (tn_dims){25, 5, 64};
  l[2].filter = (tn_dims){1, 1, 64};
  l[2].out = (tn_dims){25, 5, 64};
  l[3].name = "fc_64_12";
  l[3].kind = KB_FC;
  l[3].in_features = 64;
  l[3].out_features = 12;
  l[3].params = conv_params(1, (tn_padding){0, 0, 0, 0});
  l[4].name = "pwconv_25x5x256_64";
  l[4].kind = KB_PWCONV;
  l[4].params = conv_params(1, (tn_padding){0, 0, 0, 0});
  l[4].in = (tn_dims){25, 5, 256};
  l[4].filter = (tn_dims){1, 1, 256};
  l[4].out = (tn_dims){25, 5, 64};
  l[5].name = "fc_256_64";
  l[5].kind = KB_FC;
  l[5].in_features = 256;
  l[5].out_features = 64;
  l[5].params = conv_params(1, (tn_padding){0, 0, 0, 0});
  g_ready = 1;
}

size_t kb_layer_count(void) { return TN_ARRAY_SIZE(g_layers); }

const kb_layer* kb_layer_at(size_t i) {
  init_layers();
  return i < TN_ARRAY_SIZE(g_layers) ? &g_layers[i] : NULL;
}

static size_t weight_count(const kb_layer* l) {
  switch (l->kind) {
    case KB_FC:
      return (size_t)l->in_features * (size_t)l->out_features;
    case KB_DWCONV:
      return (size_t)l->filter.h * l->filter.w * l->filter.c;
    default:
      return (size_t)l->out.c * l->filter.h * l->filter.w * l->filter.c;
  }
}

uint64_t kb_macs(const kb_layer* l) {
  if (l->kind == KB_FC) return (uint64_t)weight_count(l);
  /* Every weight is applied once per output pixel (depthwise included). */
  return (uint64_t)l->out.h * l->out.w * weight_count(l);
}

size_t kb_weight_bytes(const kb_layer* l, int32_t bits) {
  return tn_weights_packed_size(weight_count(l), bits);
}

size_t kb_scratch_bytes(const kb_layer* l, int fast) {
  const tn_conv_params* p = &l->params;
  switch (l->kind) {
    case KB_CONV:
      return fast
                 ? tn_conv2d_s8_fast_buffer_size(p, &l->in, &l->filter, &l->out)
                 : tn_conv2d_s8_buffer_size(p, &l->in, &l->filter, &l->out);
    case KB_DWCONV:
      return fast ? tn_dwconv2d_s8_fast_buffer_size(p, &l->in, &l->filter,
                                                    &l->out)
                  : tn_dwconv2d_s8_buffer_size(p, &l->in, &l->filter, &l->out);
    case KB_PWCONV:
      return fast ? tn_pwconv2d_s8_fast_buffer_size(p, &l->in, &l->filter,
                                                    &l->out)
                  : tn_pwconv2d_s8_buffer_size(p, &l->in, &l->filter, &l->out);
    case KB_FC:
      return fast ? tn_fc_s8_fast_buffer_size(l->in_features, l->out_features)
                  : tn_fc_s8_buffer_size(l->in_features, l->out_features);
  }
  return 0;
}

static void fill(tn_rng* rng, int8_t* v, size_t n, int32_t lo, int32_t hi) {
  for (size_t i = 0; i < n; ++i) v[i] = (int8_t)tn_rng_range(rng, lo, hi);
}

void kb_prepare(const kb_layer* l, int32_t bits) {
  tn_rng rng;
  tn_rng_seed(&rng, 7, 7);
  fill(&rng, g_input, sizeof(g_input), -128, 127);
  const size_t wn = weight_count(l);
  const int32_t hi = (1 << (bits - 1)) - 1;
  fill(&rng, g_weights, wn, -hi - 1, hi);
  g_w.data = g_weights;
  g_w.bits = 8;
  if (bits != 8 && tn_weights_pack(g_weights, wn, bits, g_packed,
                                   sizeof(g_packed)) == TN_OK) {
    g_w.data = g_packed;
    g_w.bits = bits;
  }
  for (int i = 0; i < 64; ++i) {
    g_bias[i] = tn_rng_range(&rng, -2000, 2000);
    g_mult[i] = (int32_t)(0x40000000u + (tn_rng_u32(&rng) & 0x3fffffffu));
    g_shift[i] = bits == 8 ? -9 : -6;
  }
}

tn_status kb_run(const kb_layer* l, int fast) {
  const tn_quant_params q = {g_mult, g_shift, 1};
  const tn_conv_params* p = &l->params;
  const size_t s = kb_scratch_bytes(l, fast);
  if (s > sizeof(g_scratch)) return TN_ERR_BUFFER_TOO_SMALL;
  switch (l->kind) {
    case KB_CONV:
      return (fast ? tn_conv2d_s8_fast : tn_conv2d_s8)(
          p, &q, &l->in, g_input, &l->filter, &g_w, g_bias, &l->out, g_output,
          g_scratch, s);
    case KB_DWCONV:
      return (fast ? tn_dwconv2d_s8_fast : tn_dwconv2d_s8)(
          p, &q, &l->in, g_input, &l->filter, &g_w, g_bias, &l->out, g_output,
          g_scratch, s);
    case KB_PWCONV:
      return (fast ? tn_pwconv2d_s8_fast : tn_pwconv2d_s8)(
          p, &q, &l->in, g_input, &l->filter, &g_w, g_bias, &l->out, g_output,
          g_scratch, s);
    case KB_FC: {
      const tn_fc_params fp = {p->input_offset, p->output_offset,
                               p->activation};
      return (fast ? tn_fc_s8_fast : tn_fc_s8)(&fp, &q, l->in_features, g_input,
                                               l->out_features, &g_w, g_bias,
                                               g_output, g_scratch, s);
    }
  }
  return TN_ERR_ARG;
}

static const tn_dims kMisc = {25, 5, 64};
static tn_add_params g_add;
static tn_softmax_params g_softmax;

void kb_prepare_misc(void) {
  tn_rng rng;
  tn_rng_seed(&rng, 8, 8);
  fill(&rng, g_input, sizeof(g_input), -128, 127);
  fill(&rng, g_input2, sizeof(g_input2), -128, 127);
  tn_add_s8_prepare(0.05, 3, 0.08, -7, 0.1, 1, (tn_activation){-128, 127},
                    &g_add);
  tn_softmax_s8_prepare(1.0, 0.1, &g_softmax);
}

size_t kb_misc_elements(void) { return 25u * 5u * 64u; }

tn_status kb_run_global_avgpool(void) {
  return tn_global_avgpool_s8(&kMisc, g_input, (tn_activation){-128, 127},
                              g_output);
}

static tn_pool_params pool3x3(void) {
  tn_pool_params p;
  memset(&p, 0, sizeof(p));
  p.filter_h = p.filter_w = 3;
  p.stride_h = p.stride_w = 1;
  p.padding = (tn_padding){1, 1, 1, 1};
  p.activation = (tn_activation){-128, 127};
  return p;
}

tn_status kb_run_avgpool(void) {
  const tn_pool_params p = pool3x3();
  return tn_avgpool_s8(&p, &kMisc, g_input, &kMisc, g_output);
}

tn_status kb_run_maxpool(void) {
  const tn_pool_params p = pool3x3();
  return tn_maxpool_s8(&p, &kMisc, g_input, &kMisc, g_output);
}

tn_status kb_run_add(void) {
  return tn_add_s8(&g_add, kb_misc_elements(), g_input, g_input2, g_output);
}

tn_status kb_run_softmax(void) {
  return tn_softmax_s8(&g_softmax, 1, 12, g_input, g_output);
}
