/*
 * FP32 average pooling forward without padding: each output sums its
 * kernel_h x kernel_w window in (ky, kx) order from +0 and divides by the
 * window size.
 */
#include "train/tn_train_internal.h"

tn_status tn_avgpool_forward_f32(const tn_train_pool* p, const float* in,
                                 float* out) {
  tn_train_shape os;
  tn_status st = tn_avgpool_out_shape(p, &os);
  if (st != TN_OK) return st;
  if (!in || !out) return TN_ERR_NULL;
  const uint32_t iw = p->in.w, c = p->in.c;
  const float area = (float)((uint32_t)p->kernel_h * p->kernel_w);
  for (uint32_t oy = 0; oy < os.h; ++oy) {
    for (uint32_t ox = 0; ox < os.w; ++ox) {
      float* o = out + ((size_t)oy * os.w + ox) * c;
      for (uint32_t ch = 0; ch < c; ++ch) o[ch] = 0.0f;
      for (uint32_t ky = 0; ky < p->kernel_h; ++ky) {
        for (uint32_t kx = 0; kx < p->kernel_w; ++kx) {
          const float* x = in + ((size_t)(oy * p->stride_h + ky) * iw +
                                 (ox * p->stride_w + kx)) *
                                    c;
          for (uint32_t ch = 0; ch < c; ++ch) o[ch] += x[ch];
        }
      }
      for (uint32_t ch = 0; ch < c; ++ch) o[ch] = o[ch] / area;
    }
  }
  return TN_OK;
}
