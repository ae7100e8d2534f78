/*
 * FP32 depthwise conv2d backward (reference): grad_in is overwritten with
 * terms added in (oy, ox, ky, kx) order; grad_w and grad_b accumulate their
 * terms in ascending (oy, ox) order.
 */
#include <string.h>

#include "train/tn_train_internal.h"

tn_status tn_dwconv2d_backward_f32(const tn_train_conv* p, const float* in,
                                   const float* w, const float* grad_out,
                                   float* grad_in, float* grad_w,
                                   float* grad_b) {
  tn_train_shape os;
  tn_status st = tn__conv_check(p, 1, &os);
  if (st != TN_OK) return st;
  if (!grad_out) return TN_ERR_NULL;
  if (grad_in && !w) return TN_ERR_NULL;
  if (grad_w && !in) return TN_ERR_NULL;

  const int32_t ih = p->in.h, iw = p->in.w, c = p->in.c;
  const int32_t kh = p->kernel_h, kw = p->kernel_w;
  const int32_t oh = os.h, ow = os.w;
  if (grad_in) memset(grad_in, 0, sizeof(float) * tn_train_shape_count(p->in));
  for (int32_t oy = 0; oy < oh; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
    const int32_t ky1 = iy0 + kh > ih ? ih - iy0 : kh;
    for (int32_t ox = 0; ox < ow; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
      const int32_t kx1 = ix0 + kw > iw ? iw - ix0 : kw;
      const float* g = grad_out + ((size_t)oy * ow + ox) * c;
      if (grad_b) {
        for (int32_t ch = 0; ch < c; ++ch) grad_b[ch] += g[ch];
      }
      for (int32_t ky = ky0; ky < ky1; ++ky) {
        for (int32_t kx = kx0; kx < kx1; ++kx) {
          const size_t pix = ((size_t)(iy0 + ky) * iw + (ix0 + kx)) * c;
          const size_t tap = ((size_t)ky * kw + kx) * c;
          if (grad_in) {
            float* gi = grad_in + pix;
            const float* wk = w + tap;
            for (int32_t ch = 0; ch < c; ++ch) gi[ch] += g[ch] * wk[ch];
          }
          if (grad_w) {
            float* gw = grad_w + tap;
            const float* x = in + pix;
            for (int32_t ch = 0; ch < c; ++ch) gw[ch] += g[ch] * x[ch];
          }
        }
      }
    }
  }
  return TN_OK;
}
