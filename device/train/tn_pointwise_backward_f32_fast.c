/*
 * FP32 pointwise convolution backward, blocked over four rows (pixels):
 * each weight-gradient row and each weight row is loaded once per four
 * pixels instead of once per pixel. Every element still receives its terms
 * in the reference order (rows ascending for grad_w and grad_b, output
 * channels ascending for grad_in), so results equal
 * tn_pointwise_backward_f32's bit for bit.
 */
#include "train/tn_train_internal.h"

void tn__dense_backward_fast(uint32_t rows, uint32_t in_c, uint32_t out_c,
                             const float* in, const float* w,
                             const float* grad_out, float* grad_in,
                             float* grad_w, float* grad_b) {
  uint32_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* g0 = grad_out + (size_t)r * out_c;
    const float* g1 = g0 + out_c;
    const float* g2 = g1 + out_c;
    const float* g3 = g2 + out_c;
    if (grad_b) {
      for (uint32_t co = 0; co < out_c; ++co) {
        grad_b[co] = (((grad_b[co] + g0[co]) + g1[co]) + g2[co]) + g3[co];
      }
    }
    if (grad_w) {
      const float* x0 = in + (size_t)r * in_c;
      const float* x1 = x0 + in_c;
      const float* x2 = x1 + in_c;
      const float* x3 = x2 + in_c;
      for (uint32_t co = 0; co < out_c; ++co) {
        float* gw = grad_w + (size_t)co * in_c;
        const float c0 = g0[co], c1 = g1[co], c2 = g2[co], c3 = g3[co];
        for (uint32_t ci = 0; ci < in_c; ++ci) {
          float acc = gw[ci];
          acc += c0 * x0[ci];
          acc += c1 * x1[ci];
          acc += c2 * x2[ci];
          acc += c3 * x3[ci];
          gw[ci] = acc;
        }
      }
    }
    if (grad_in) {
      float* i0 = grad_in + (size_t)r * in_c;
      float* i1 = i0 + in_c;
      float* i2 = i1 + in_c;
      float* i3 = i2 + in_c;
      for (uint32_t ci = 0; ci < in_c; ++ci) {
        i0[ci] = 0.0f;
        i1[ci] = 0.0f;
        i2[ci] = 0.0f;
        i3[ci] = 0.0f;
      }
      for (uint32_t co = 0; co < out_c; ++co) {
        const float* wr = w + (size_t)co * in_c;
        const float c0 = g0[co], c1 = g1[co], c2 = g2[co], c3 = g3[co];
        for (uint32_t ci = 0; ci < in_c; ++ci) {
          const float wv = wr[ci];
          i0[ci] += c0 * wv;
          i1[ci] += c1 * wv;
          i2[ci] += c2 * wv;
          i3[ci] += c3 * wv;
        }
      }
    }
  }
  if (r < rows) {
    tn__dense_backward_ref(
        rows - r, in_c, out_c, in ? in + (size_t)r * in_c : NULL, w,
        grad_out + (size_t)r * out_c,
        grad_in ? grad_in + (size_t)r * in_c : NULL, grad_w, grad_b);
  }
}

tn_status tn_pointwise_backward_f32_fast(const tn_train_pointwise* p,
                                         const float* in, const float* w,
                                         const float* grad_out, float* grad_in,
                                         float* grad_w, float* grad_b) {
  uint32_t pixels;
  tn_status st = tn__pointwise_check(p, &pixels);
  if (st != TN_OK) return st;
  if (!grad_out) return TN_ERR_NULL;
  if ((grad_in && !w) || (grad_w && !in)) return TN_ERR_NULL;
  tn__dense_backward_fast(pixels, p->in.c, p->out_c, in, w, grad_out, grad_in,
                          grad_w, grad_b);
  return TN_OK;
}
