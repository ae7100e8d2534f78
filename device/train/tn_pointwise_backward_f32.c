/*
 * FP32 pointwise convolution backward, reference. Per row r (pixel):
 * grad_b[co] += g[co]; grad_w[co][ci] += g[co] * in[r][ci]; grad_in[r][ci]
 * sums g[co] * w[co][ci] over co ascending from +0. Weight and bias
 * gradients thus receive their terms in ascending row order.
 */
#include "train/tn_train_internal.h"

void tn__dense_backward_ref(uint32_t rows, uint32_t in_c, uint32_t out_c,
                            const float* in, const float* w,
                            const float* grad_out, float* grad_in,
                            float* grad_w, float* grad_b) {
  for (uint32_t r = 0; r < rows; ++r) {
    const float* x = in ? in + (size_t)r * in_c : NULL;
    const float* g = grad_out + (size_t)r * out_c;
    if (grad_b) {
      for (uint32_t co = 0; co < out_c; ++co) grad_b[co] += g[co];
    }
    if (grad_w) {
      for (uint32_t co = 0; co < out_c; ++co) {
        float* gw = grad_w + (size_t)co * in_c;
        const float gc = g[co];
        for (uint32_t ci = 0; ci < in_c; ++ci) gw[ci] += gc * x[ci];
      }
    }
    if (grad_in) {
      float* gi = grad_in + (size_t)r * in_c;
      for (uint32_t ci = 0; ci < in_c; ++ci) gi[ci] = 0.0f;
      for (uint32_t co = 0; co < out_c; ++co) {
        const float* wr = w + (size_t)co * in_c;
        const float gc = g[co];
        for (uint32_t ci = 0; ci < in_c; ++ci) gi[ci] += gc * wr[ci];
      }
    }
  }
}

tn_status tn_pointwise_backward_f32(const tn_train_pointwise* p,
                                    const float* in, const float* w,
                                    const float* grad_out, float* grad_in,
                                    float* grad_w, float* grad_b) {
  uint32_t pixels;
  tn_status st = tn__pointwise_check(p, &pixels);
  if (st != TN_OK) return st;
  if (!grad_out) return TN_ERR_NULL;
  if ((grad_in && !w) || (grad_w && !in)) return TN_ERR_NULL;
  tn__dense_backward_ref(pixels, p->in.c, p->out_c, in, w, grad_out, grad_in,
                         grad_w, grad_b);
  return TN_OK;
}
