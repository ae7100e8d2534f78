/*
 * Reference int8 2-D convolution (HWC input, OHWI weights, any kernel size,
 * stride, asymmetric padding and dilation). Written as the plain definition:
 * for every output element, sum (input + input_offset) * weight over the
 * window positions inside the image, add the bias, requantize per channel.
 * The optimized variants are tested bit-exact against this one.
 */
#include "kernels/tn_kernels_internal.h"

size_t tn_conv2d_s8_buffer_size(const tn_conv_params* params,
                                const tn_dims* input_dims,
                                const tn_dims* filter_dims,
                                const tn_dims* output_dims) {
  return 0;
}

tn_status tn_conv2d_s8(const tn_conv_params* params,
                       const tn_quant_params* quant, const tn_dims* input_dims,
                       const int8_t* input, const tn_dims* filter_dims,
                       const tn_weights* weights, const int32_t* bias,
                       const tn_dims* output_dims, int8_t* output,
                       void* scratch, size_t scratch_size) {
  tn_status st =
      tn_check_conv_call(TN_CONV_GENERAL, params, quant, input_dims, input,
                         filter_dims, weights, bias, output_dims, output);
  if (st != TN_OK) return st;
  const int32_t in_h = input_dims->h, in_w = input_dims->w;
  const int32_t in_c = input_dims->c;
  const int32_t kh = filter_dims->h, kw = filter_dims->w;
  const int32_t out_h = output_dims->h, out_w = output_dims->w;
  const int32_t out_c = output_dims->c;
  for (int32_t oy = 0; oy < out_h; ++oy) {
    for (int32_t ox = 0; ox < out_w; ++ox) {
      for (int32_t oc = 0; oc < out_c; ++oc) {
        int32_t acc = bias ? bias[oc] : 0;
        for (int32_t ky = 0; ky < kh; ++ky) {
          int32_t iy = oy * params->stride_h - params->padding.top +
                       ky * params->dilation_h;
          if (iy < 0 || iy >= in_h) continue;
          for (int32_t kx = 0; kx < kw; ++kx) {
            int32_t ix = ox * params->stride_w - params->padding.left +
                         kx * params->dilation_w;
            if (ix < 0 || ix >= in_w) continue;
            const int8_t* px = input + ((size_t)iy * in_w + ix) * in_c;
            size_t wbase = (((size_t)oc * kh + ky) * kw + kx) * in_c;
            for (int32_t ic = 0; ic < in_c; ++ic) {
              acc += ((int32_t)px[ic] + params->input_offset) *
                     (int32_t)tn_weights_get(weights, wbase + ic);
            }
          }
        }
        int32_t qi = tn_quant_index(quant, oc);
        int32_t v = tn_mbqm(acc, quant->multiplier[qi], quant->shift[qi]) +
                    params->output_offset;
        v = tn_clamp32(v, params->activation.min, params->activation.max);
        output[((size_t)oy * out_w + ox) * out_c + oc] = (int8_t)v;
      }
    }
  }
  return TN_OK;
}
