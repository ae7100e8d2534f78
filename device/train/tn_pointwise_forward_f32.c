/*
 * FP32 pointwise (1x1) convolution forward, reference: a dense layer per
 * pixel. out[r][co] sums w[co][ci] * in[r][ci] over ci ascending from +0,
 * then adds b[co]. The FC forward is the same kernel on one row.
 */
#include "train/tn_train_internal.h"

void tn__dense_forward_ref(uint32_t rows, uint32_t in_c, uint32_t out_c,
                           const float* in, const float* w, const float* b,
                           float* out) {
  for (uint32_t r = 0; r < rows; ++r) {
    const float* x = in + (size_t)r * in_c;
    float* o = out + (size_t)r * out_c;
    for (uint32_t co = 0; co < out_c; ++co) {
      const float* wr = w + (size_t)co * in_c;
      float acc = 0.0f;
      for (uint32_t ci = 0; ci < in_c; ++ci) acc += wr[ci] * x[ci];
      o[co] = b ? acc + b[co] : acc;
    }
  }
}

tn_status tn_pointwise_forward_f32(const tn_train_pointwise* p, const float* in,
                                   const float* w, const float* b, float* out) {
  uint32_t pixels;
  tn_status st = tn__pointwise_check(p, &pixels);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;
  tn__dense_forward_ref(pixels, p->in.c, p->out_c, in, w, b, out);
  return TN_OK;
}
