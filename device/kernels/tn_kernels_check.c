/*
 * Parameter checks shared by the kernels. They are cheap (constant work plus
 * one pass over the per-channel arrays) and run at the top of every kernel
 * call, reference and fast alike, so both variants accept exactly the same
 * inputs. Model-level validation happens once at load time in the runtime.
 */
#include "kernels/tn_kernels_internal.h"
#include "kernels/tn_pool_check.h"

int tn_dims_valid(const tn_dims* d) {
  if (d->h < 1 || d->w < 1 || d->c < 1) return 0;
  if (d->h > TN_KERNELS_MAX_DIM || d->w > TN_KERNELS_MAX_DIM ||
      d->c > TN_KERNELS_MAX_DIM) {
    return 0;
  }
  int64_t n = (int64_t)d->h * d->w * d->c;
  return n <= INT32_MAX;
}

int32_t tn_conv_out_extent(int32_t in, int32_t pad_a, int32_t pad_b,
                           int32_t kernel, int32_t stride, int32_t dilation) {
  int64_t span = (int64_t)dilation * (kernel - 1) + 1;
  int64_t padded = (int64_t)in + pad_a + pad_b;
  if (span > padded) return 0;
  return (int32_t)((padded - span) / stride + 1);
}

tn_status tn_check_activation(tn_activation a) {
  if (a.min < -128 || a.max > 127 || a.min > a.max) return TN_ERR_ARG;
  return TN_OK;
}

tn_status tn_check_quant(const tn_quant_params* quant, const int32_t* bias,
                         int32_t channels) {
  if (quant == NULL || quant->multiplier == NULL || quant->shift == NULL) {
    return TN_ERR_NULL;
  }
  int32_t n = quant->per_channel ? channels : 1;
  for (int32_t i = 0; i < n; ++i) {
    if (quant->multiplier[i] < 0) return TN_ERR_ARG;
    if (quant->shift[i] < -31 || quant->shift[i] > 30) return TN_ERR_ARG;
  }
  if (bias != NULL) {
    for (int32_t i = 0; i < channels; ++i) {
      if (bias[i] < -TN_KERNELS_MAX_BIAS || bias[i] > TN_KERNELS_MAX_BIAS) {
        return TN_ERR_ARG;
      }
    }
  }
  return TN_OK;
}

static int in_range(int32_t v, int32_t lo, int32_t hi) {
  return v >= lo && v <= hi;
}

tn_status tn_check_conv_shape(tn_conv_kind kind, const tn_conv_params* p,
                              const tn_dims* in, const tn_dims* f,
                              const tn_dims* out) {
  if (p == NULL || in == NULL || f == NULL || out == NULL) return TN_ERR_NULL;
  if (!tn_dims_valid(in) || !tn_dims_valid(f) || !tn_dims_valid(out)) {
    return TN_ERR_ARG;
  }
  if (!in_range(p->stride_h, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->stride_w, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->dilation_h, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->dilation_w, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->padding.top, 0, TN_KERNELS_MAX_DIM) ||
      !in_range(p->padding.bottom, 0, TN_KERNELS_MAX_DIM) ||
      !in_range(p->padding.left, 0, TN_KERNELS_MAX_DIM) ||
      !in_range(p->padding.right, 0, TN_KERNELS_MAX_DIM)) {
    return TN_ERR_ARG;
  }
  if (!in_range(p->input_offset, -127, 128) ||
      !in_range(p->output_offset, -128, 127)) {
    return TN_ERR_ARG;
  }
  if (tn_check_activation(p->activation) != TN_OK) return TN_ERR_ARG;
  if (f->c != in->c) return TN_ERR_ARG;
  int64_t k = (int64_t)f->h * f->w;
  switch (kind) {
    case TN_CONV_GENERAL:
      k *= f->c;
      break;
    case TN_CONV_DEPTHWISE:
      if (out->c != in->c) return TN_ERR_ARG;
      break;
    case TN_CONV_POINTWISE:
      if (f->h != 1 || f->w != 1) return TN_ERR_ARG;
      if (p->padding.top != 0 || p->padding.bottom != 0 ||
          p->padding.left != 0 || p->padding.right != 0) {
        return TN_ERR_ARG;
      }
      k = f->c;
      break;
    default:
      return TN_ERR_ARG;
  }
  if (k > TN_KERNELS_MAX_REDUCTION) return TN_ERR_ARG;
  int32_t dil_h = kind == TN_CONV_POINTWISE ? 1 : p->dilation_h;
  int32_t dil_w = kind == TN_CONV_POINTWISE ? 1 : p->dilation_w;
  int32_t oh = tn_conv_out_extent(in->h, p->padding.top, p->padding.bottom,
                                  f->h, p->stride_h, dil_h);
  int32_t ow = tn_conv_out_extent(in->w, p->padding.left, p->padding.right,
                                  f->w, p->stride_w, dil_w);
  if (oh < 1 || ow < 1 || oh != out->h || ow != out->w) return TN_ERR_ARG;
  return TN_OK;
}

tn_status tn_check_conv_call(tn_conv_kind kind, const tn_conv_params* p,
                             const tn_quant_params* quant, const tn_dims* in,
                             const int8_t* input, const tn_dims* f,
                             const tn_weights* weights, const int32_t* bias,
                             const tn_dims* out, const int8_t* output) {
  if (input == NULL || output == NULL || weights == NULL ||
      weights->data == NULL) {
    return TN_ERR_NULL;
  }
  tn_status st = tn_check_conv_shape(kind, p, in, f, out);
  if (st != TN_OK) return st;
  if (weights->bits != 8 && weights->bits != 4 && weights->bits != 2) {
    return TN_ERR_ARG;
  }
  return tn_check_quant(quant, bias, out->c);
}

tn_status tn_check_fc_call(const tn_fc_params* params,
                           const tn_quant_params* quant, int32_t in_features,
                           const int8_t* input, int32_t out_features,
                           const tn_weights* weights, const int32_t* bias,
                           const int8_t* output) {
  if (params == NULL || input == NULL || output == NULL || weights == NULL ||
      weights->data == NULL) {
    return TN_ERR_NULL;
  }
  if (in_features < 1 || in_features > TN_KERNELS_MAX_REDUCTION ||
      out_features < 1 || out_features > TN_KERNELS_MAX_DIM) {
    return TN_ERR_ARG;
  }
  if (weights->bits != 8 && weights->bits != 4 && weights->bits != 2) {
    return TN_ERR_ARG;
  }
  if (params->input_offset < -127 || params->input_offset > 128 ||
      params->output_offset < -128 || params->output_offset > 127) {
    return TN_ERR_ARG;
  }
  if (tn_check_activation(params->activation) != TN_OK) return TN_ERR_ARG;
  return tn_check_quant(quant, bias, out_features);
}

tn_status tn_check_pool_call(const tn_pool_params* p, const tn_dims* in,
                             const int8_t* input, const tn_dims* out,
                             const int8_t* output) {
  if (p == NULL || in == NULL || input == NULL || out == NULL ||
      output == NULL) {
    return TN_ERR_NULL;
  }
  if (!tn_dims_valid(in) || !tn_dims_valid(out) || out->c != in->c) {
    return TN_ERR_ARG;
  }
  if (!in_range(p->filter_h, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->filter_w, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->stride_h, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->stride_w, 1, TN_KERNELS_MAX_DIM) ||
      !in_range(p->padding.top, 0, p->filter_h - 1) ||
      !in_range(p->padding.bottom, 0, p->filter_h - 1) ||
      !in_range(p->padding.left, 0, p->filter_w - 1) ||
      !in_range(p->padding.right, 0, p->filter_w - 1)) {
    return TN_ERR_ARG;
  }
  if ((int64_t)p->filter_h * p->filter_w > 65536) return TN_ERR_ARG;
  if (tn_check_activation(p->activation) != TN_OK) return TN_ERR_ARG;
  int32_t oh = tn_conv_out_extent(in->h, p->padding.top, p->padding.bottom,
                                  p->filter_h, p->stride_h, 1);
  int32_t ow = tn_conv_out_extent(in->w, p->padding.left, p->padding.right,
                                  p->filter_w, p->stride_w, 1);
  if (oh < 1 || ow < 1 || oh != out->h || ow != out->w) return TN_ERR_ARG;
  return TN_OK;
}
