/*
 * Reference int8 pointwise (1x1) convolution: every output pixel is a
 * matrix-vector product of the [out_c][in_c] weights with the input pixel it
 * samples (strides allowed, no padding), requantized per channel.
 */
#include "kernels/tn_kernels_internal.h"

size_t tn_pwconv2d_s8_buffer_size(const tn_conv_params* params,
                                  const tn_dims* input_dims,
                                  const tn_dims* filter_dims,
                                  const tn_dims* output_dims) {
  return 0;
}

tn_status tn_pwconv2d_s8(const tn_conv_params* params,
                         const tn_quant_params* quant,
                         const tn_dims* input_dims, const int8_t* input,
                         const tn_dims* filter_dims, const tn_weights* weights,
                         const int32_t* bias, const tn_dims* output_dims,
                         int8_t* output, void* scratch, size_t scratch_size) {
  tn_status st =
      tn_check_conv_call(TN_CONV_POINTWISE, params, quant, input_dims, input,
                         filter_dims, weights, bias, output_dims, output);
  if (st != TN_OK) return st;
  const int32_t in_w = input_dims->w, in_c = input_dims->c;
  const int32_t out_h = output_dims->h, out_w = output_dims->w;
  const int32_t out_c = output_dims->c;
  for (int32_t oy = 0; oy < out_h; ++oy) {
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int8_t* px = input + ((size_t)(oy * params->stride_h) * in_w +
                                  (size_t)(ox * params->stride_w)) *
                                     in_c;
      int8_t* out = output + ((size_t)oy * out_w + ox) * out_c;
      for (int32_t oc = 0; oc < out_c; ++oc) {
        int32_t acc = bias ? bias[oc] : 0;
        size_t wbase = (size_t)oc * in_c;
        for (int32_t ic = 0; ic < in_c; ++ic) {
          acc += ((int32_t)px[ic] + params->input_offset) *
                 (int32_t)tn_weights_get(weights, wbase + ic);
        }
        int32_t qi = tn_quant_index(quant, oc);
        int32_t v = tn_mbqm(acc, quant->multiplier[qi], quant->shift[qi]) +
                    params->output_offset;
        out[oc] = (int8_t)tn_clamp32(v, params->activation.min,
                                     params->activation.max);
      }
    }
  }
  return TN_OK;
}
