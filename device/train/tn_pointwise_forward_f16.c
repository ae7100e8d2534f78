/*
 * Pointwise convolution forward with binary16 storage: operands are widened
 * to FP32 exactly, summed in the FP32 reference order (ci ascending from
 * +0, bias last) and each output rounded once to binary16. Only built where
 * the compiler provides _Float16.
 */
#include "train/tn_train_internal.h"

#if TN_TRAIN_HAVE_F16

void tn__dense_forward_f16(uint32_t rows, uint32_t in_c, uint32_t out_c,
                           const tn_f16* in, const tn_f16* w, const tn_f16* b,
                           tn_f16* out) {
  for (uint32_t r = 0; r < rows; ++r) {
    const tn_f16* x = in + (size_t)r * in_c;
    tn_f16* o = out + (size_t)r * out_c;
    for (uint32_t co = 0; co < out_c; ++co) {
      const tn_f16* wr = w + (size_t)co * in_c;
      float acc = 0.0f;
      for (uint32_t ci = 0; ci < in_c; ++ci) {
        acc += (float)wr[ci] * (float)x[ci];
      }
      if (b) acc += (float)b[co];
      o[co] = (tn_f16)acc;
    }
  }
}

tn_status tn_pointwise_forward_f16(const tn_train_pointwise* p,
                                   const tn_f16* in, const tn_f16* w,
                                   const tn_f16* b, tn_f16* out) {
  uint32_t pixels;
  tn_status st = tn__pointwise_check(p, &pixels);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;
  tn__dense_forward_f16(pixels, p->in.c, p->out_c, in, w, b, out);
  return TN_OK;
}

#else
typedef int tn__no_f16_forward; /* keeps the translation unit non-empty */
#endif
