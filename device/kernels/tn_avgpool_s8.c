/*
 * int8 average pooling (TFLite AVERAGE_POOL_2D int8): the sum over the part
 * of each window inside the image divided by the number of those pixels,
 * rounded half away from zero, then the fused clamp. Input and output share
 * scale and zero point.
 */
#include "kernels/tn_pool_check.h"

/* sum / count rounded half away from zero. REQUIRES: count > 0. */
static int32_t rounded_mean(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

tn_status tn_avgpool_s8(const tn_pool_params* params, const tn_dims* input_dims,
                        const int8_t* input, const tn_dims* output_dims,
                        int8_t* output) {
  tn_status st =
      tn_check_pool_call(params, input_dims, input, output_dims, output);
  if (st != TN_OK) return st;
  const int32_t in_h = input_dims->h, in_w = input_dims->w;
  const int32_t c = input_dims->c;
  for (int32_t oy = 0; oy < output_dims->h; ++oy) {
    const int32_t y0 = oy * params->stride_h - params->padding.top;
    const int32_t ky0 = y0 < 0 ? -y0 : 0;
    const int32_t ky1 =
        in_h - y0 < params->filter_h ? in_h - y0 : params->filter_h;
    for (int32_t ox = 0; ox < output_dims->w; ++ox) {
      const int32_t x0 = ox * params->stride_w - params->padding.left;
      const int32_t kx0 = x0 < 0 ? -x0 : 0;
      const int32_t kx1 =
          in_w - x0 < params->filter_w ? in_w - x0 : params->filter_w;
      const int32_t count = (ky1 - ky0) * (kx1 - kx0);
      int8_t* out = output + ((size_t)oy * output_dims->w + ox) * c;
      for (int32_t ch = 0; ch < c; ++ch) {
        int32_t sum = 0;
        for (int32_t ky = ky0; ky < ky1; ++ky) {
          const int8_t* row =
              input + ((size_t)(y0 + ky) * in_w + (size_t)(x0 + kx0)) * c + ch;
          for (int32_t i = 0; i < kx1 - kx0; ++i) sum += row[(size_t)i * c];
        }
        out[ch] =
            (int8_t)tn_clamp32(rounded_mean(sum, count), params->activation.min,
                               params->activation.max);
      }
    }
  }
  return TN_OK;
}
