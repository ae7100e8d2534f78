/*
 * FP32 depthwise conv2d forward (reference, channel multiplier 1), HWC
 * activations and [Kh][Kw][C] weights. Each output sums over (ky, kx) in
 * ascending order from +0, then adds its bias; padding is skipped.
 */
#include "train/tn_train_internal.h"

tn_status tn_dwconv2d_forward_f32(const tn_train_conv* p, const float* in,
                                  const float* w, const float* b, float* out) {
  tn_train_shape os;
  tn_status st = tn__conv_check(p, 1, &os);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;

  const int32_t ih = p->in.h, iw = p->in.w, c = p->in.c;
  const int32_t kh = p->kernel_h, kw = p->kernel_w;
  const int32_t oh = os.h, ow = os.w;
  for (int32_t oy = 0; oy < oh; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
    const int32_t ky1 = iy0 + kh > ih ? ih - iy0 : kh;
    for (int32_t ox = 0; ox < ow; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
      const int32_t kx1 = ix0 + kw > iw ? iw - ix0 : kw;
      float* o = out + ((size_t)oy * ow + ox) * c;
      for (int32_t ch = 0; ch < c; ++ch) o[ch] = 0.0f;
      for (int32_t ky = ky0; ky < ky1; ++ky) {
        for (int32_t kx = kx0; kx < kx1; ++kx) {
          const float* x = in + ((size_t)(iy0 + ky) * iw + (ix0 + kx)) * c;
          const float* wk = w + ((size_t)ky * kw + kx) * c;
          for (int32_t ch = 0; ch < c; ++ch) o[ch] += wk[ch] * x[ch];
        }
      }
      if (b) {
        for (int32_t ch = 0; ch < c; ++ch) o[ch] += b[ch];
      }
    }
  }
  return TN_OK;
}
