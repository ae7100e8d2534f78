/*
 * FP32 average pooling backward: grad_in is zeroed, then every window adds
 * grad_out / (kernel_h * kernel_w) to each of its inputs, in
 * (oy, ox, ky, kx) order (overlapping windows accumulate).
 */
#include <string.h>

#include "train/tn_train_internal.h"

tn_status tn_avgpool_backward_f32(const tn_train_pool* p, const float* grad_out,
                                  float* grad_in) {
  tn_train_shape os;
  tn_status st = tn_avgpool_out_shape(p, &os);
  if (st != TN_OK) return st;
  if (!grad_out || !grad_in) return TN_ERR_NULL;
  const uint32_t iw = p->in.w, c = p->in.c;
  const float area = (float)((uint32_t)p->kernel_h * p->kernel_w);
  memset(grad_in, 0, sizeof(float) * tn_train_shape_count(p->in));
  for (uint32_t oy = 0; oy < os.h; ++oy) {
    for (uint32_t ox = 0; ox < os.w; ++ox) {
      const float* g = grad_out + ((size_t)oy * os.w + ox) * c;
      for (uint32_t ky = 0; ky < p->kernel_h; ++ky) {
        for (uint32_t kx = 0; kx < p->kernel_w; ++kx) {
          float* gi = grad_in + ((size_t)(oy * p->stride_h + ky) * iw +
                                 (ox * p->stride_w + kx)) *
                                    c;
          for (uint32_t ch = 0; ch < c; ++ch) gi[ch] += g[ch] / area;
        }
      }
    }
  }
  return TN_OK;
}
