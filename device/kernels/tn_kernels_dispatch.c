/*
 * Variant selection: one table per op lists its implementations, most
 * specialised first (PULP SIMD in the GAP SDK port, then the portable fast
 * variant, then the reference). tn_<op>_s8_auto() runs the first entry whose
 * constraints hold; tn_<op>_s8_auto_buffer_size() returns the largest scratch
 * any entry eligible for the shape may need, so a planner that reserves it
 * never sees TN_ERR_BUFFER_TOO_SMALL. Selection is deterministic and every
 * entry is bit-exact with the reference, so results never depend on which
 * one ran.
 */
#include "kernels/tn_kernels_internal.h"
#include "kernels/tn_kernels_pulp.h"

/* Shape-and-weights predicate of a conv-family entry; weight_bits 0 means
 * "any weight format" (shape only). */
typedef int (*conv_eligible_fn)(const tn_conv_params* params,
                                const tn_dims* input_dims,
                                const tn_dims* filter_dims,
                                const tn_dims* output_dims,
                                int32_t weight_bits);

typedef struct conv_impl {
  conv_eligible_fn eligible; /* NULL: always eligible */
  tn_conv2d_s8_buffer_size_fn buffer_size;
  tn_conv2d_s8_fn run;
} conv_impl;

static const conv_impl kConv2dImpls[] = {
#if defined(TN_KERNELS_PULP_SIMD)
    {tn_conv2d_s8_pulp_eligible, tn_conv2d_s8_pulp_buffer_size,
     tn_conv2d_s8_pulp},
#endif
    /* The im2col GEMM serves every valid shape and weight format. */
    {NULL, tn_conv2d_s8_fast_buffer_size, tn_conv2d_s8_fast},
    {NULL, tn_conv2d_s8_buffer_size, tn_conv2d_s8},
};

static const conv_impl kDwconv2dImpls[] = {
#if defined(TN_KERNELS_PULP_SIMD)
    {tn_dwconv2d_s8_pulp_eligible, tn_dwconv2d_s8_pulp_buffer_size,
     tn_dwconv2d_s8_pulp},
#endif
    {NULL, tn_dwconv2d_s8_fast_buffer_size, tn_dwconv2d_s8_fast},
    {NULL, tn_dwconv2d_s8_buffer_size, tn_dwconv2d_s8},
};

static const conv_impl kPwconv2dImpls[] = {
#if defined(TN_KERNELS_PULP_SIMD)
    {tn_pwconv2d_s8_pulp_eligible, tn_pwconv2d_s8_pulp_buffer_size,
     tn_pwconv2d_s8_pulp},
#endif
    {NULL, tn_pwconv2d_s8_fast_buffer_size, tn_pwconv2d_s8_fast},
    {NULL, tn_pwconv2d_s8_buffer_size, tn_pwconv2d_s8},
};

static size_t conv_auto_size(const conv_impl* impls, size_t n,
                             const tn_conv_params* params, const tn_dims* in,
                             const tn_dims* f, const tn_dims* out) {
  size_t need = 0;
  for (size_t i = 0; i < n; ++i) {
    if (impls[i].eligible && !impls[i].eligible(params, in, f, out, 0)) {
      continue;
    }
    size_t s = impls[i].buffer_size(params, in, f, out);
    if (s > need) need = s;
    if (impls[i].eligible == NULL) break; /* later entries are never chosen */
  }
  return need;
}

static tn_status conv_auto_run(const conv_impl* impls, size_t n,
                               const tn_conv_params* params,
                               const tn_quant_params* quant, const tn_dims* in,
                               const int8_t* input, const tn_dims* f,
                               const tn_weights* weights, const int32_t* bias,
                               const tn_dims* out, int8_t* output,
                               void* scratch, size_t scratch_size) {
  if (params == NULL || in == NULL || f == NULL || out == NULL ||
      weights == NULL) {
    return TN_ERR_NULL;
  }
  for (size_t i = 0; i < n; ++i) {
    if (impls[i].eligible &&
        !impls[i].eligible(params, in, f, out, weights->bits)) {
      continue;
    }
    return impls[i].run(params, quant, in, input, f, weights, bias, out, output,
                        scratch, scratch_size);
  }
  return TN_ERR_INTERNAL; /* the last entry is always eligible */
}

size_t tn_conv2d_s8_auto_buffer_size(const tn_conv_params* params,
                                     const tn_dims* input_dims,
                                     const tn_dims* filter_dims,
                                     const tn_dims* output_dims) {
  return conv_auto_size(kConv2dImpls, TN_ARRAY_SIZE(kConv2dImpls), params,
                        input_dims, filter_dims, output_dims);
}

tn_status tn_conv2d_s8_auto(const tn_conv_params* params,
                            const tn_quant_params* quant,
                            const tn_dims* input_dims, const int8_t* input,
                            const tn_dims* filter_dims,
                            const tn_weights* weights, const int32_t* bias,
                            const tn_dims* output_dims, int8_t* output,
                            void* scratch, size_t scratch_size) {
  return conv_auto_run(kConv2dImpls, TN_ARRAY_SIZE(kConv2dImpls), params, quant,
                       input_dims, input, filter_dims, weights, bias,
                       output_dims, output, scratch, scratch_size);
}

size_t tn_dwconv2d_s8_auto_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims) {
  return conv_auto_size(kDwconv2dImpls, TN_ARRAY_SIZE(kDwconv2dImpls), params,
                        input_dims, filter_dims, output_dims);
}

tn_status tn_dwconv2d_s8_auto(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size) {
  return conv_auto_run(kDwconv2dImpls, TN_ARRAY_SIZE(kDwconv2dImpls), params,
                       quant, input_dims, input, filter_dims, weights, bias,
                       output_dims, output, scratch, scratch_size);
}

size_t tn_pwconv2d_s8_auto_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims) {
  return conv_auto_size(kPwconv2dImpls, TN_ARRAY_SIZE(kPwconv2dImpls), params,
                        input_dims, filter_dims, output_dims);
}

tn_status tn_pwconv2d_s8_auto(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size) {
  return conv_auto_run(kPwconv2dImpls, TN_ARRAY_SIZE(kPwconv2dImpls), params,
                       quant, input_dims, input, filter_dims, weights, bias,
                       output_dims, output, scratch, scratch_size);
}

/* Fully connected. */
typedef int (*fc_eligible_fn)(int32_t in_features, int32_t out_features,
                              int32_t weight_bits);
typedef size_t (*fc_buffer_size_fn)(int32_t in_features, int32_t out_features);

typedef struct fc_impl {
  fc_eligible_fn eligible; /* NULL: always eligible */
  fc_buffer_size_fn buffer_size;
  tn_fc_s8_fn run;
} fc_impl;

static const fc_impl kFcImpls[] = {
#if defined(TN_KERNELS_PULP_SIMD)
    {tn_fc_s8_pulp_eligible, tn_fc_s8_pulp_buffer_size, tn_fc_s8_pulp},
#endif
    {NULL, tn_fc_s8_fast_buffer_size, tn_fc_s8_fast},
    {NULL, tn_fc_s8_buffer_size, tn_fc_s8},
};

size_t tn_fc_s8_auto_buffer_size(int32_t in_features, int32_t out_features) {
  size_t need = 0;
  for (size_t i = 0; i < TN_ARRAY_SIZE(kFcImpls); ++i) {
    if (kFcImpls[i].eligible &&
        !kFcImpls[i].eligible(in_features, out_features, 0)) {
      continue;
    }
    size_t s = kFcImpls[i].buffer_size(in_features, out_features);
    if (s > need) need = s;
    if (kFcImpls[i].eligible == NULL) break;
  }
  return need;
}

tn_status tn_fc_s8_auto(const tn_fc_params* params,
                        const tn_quant_params* quant, int32_t in_features,
                        const int8_t* input, int32_t out_features,
                        const tn_weights* weights, const int32_t* bias,
                        int8_t* output, void* scratch, size_t scratch_size) {
  if (weights == NULL) return TN_ERR_NULL;
  for (size_t i = 0; i < TN_ARRAY_SIZE(kFcImpls); ++i) {
    if (kFcImpls[i].eligible &&
        !kFcImpls[i].eligible(in_features, out_features, weights->bits)) {
      continue;
    }
    return kFcImpls[i].run(params, quant, in_features, input, out_features,
                           weights, bias, output, scratch, scratch_size);
  }
  return TN_ERR_INTERNAL;
}
