/*
 * FP32 conv2d forward (reference), HWC activations and [Cout][Kh][Kw][Cin]
 * weights. Each output sums its products over (ky, kx, ci) in ascending
 * order from +0 and then adds its bias; padded positions are skipped.
 */
#include "train/tn_train_internal.h"

tn_status tn_conv2d_forward_f32(const tn_train_conv* p, const float* in,
                                const float* w, const float* b, float* out) {
  tn_train_shape os;
  tn_status st = tn__conv_check(p, 0, &os);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;

  const int32_t ih = p->in.h, iw = p->in.w, ic = p->in.c;
  const int32_t kh = p->kernel_h, kw = p->kernel_w;
  const int32_t oh = os.h, ow = os.w, oc = os.c;
  for (int32_t oy = 0; oy < oh; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
    const int32_t ky1 = iy0 + kh > ih ? ih - iy0 : kh;
    for (int32_t ox = 0; ox < ow; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
      const int32_t kx1 = ix0 + kw > iw ? iw - ix0 : kw;
      float* o = out + ((size_t)oy * ow + ox) * oc;
      for (int32_t co = 0; co < oc; ++co) {
        const float* wc = w + (size_t)co * kh * kw * ic;
        float acc = 0.0f;
        for (int32_t ky = ky0; ky < ky1; ++ky) {
          for (int32_t kx = kx0; kx < kx1; ++kx) {
            const float* x = in + ((size_t)(iy0 + ky) * iw + (ix0 + kx)) * ic;
            const float* wk = wc + ((size_t)ky * kw + kx) * ic;
            for (int32_t ci = 0; ci < ic; ++ci) acc += wk[ci] * x[ci];
          }
        }
        o[co] = b ? acc + b[co] : acc;
      }
    }
  }
  return TN_OK;
}
