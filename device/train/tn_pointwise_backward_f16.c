/*
 * Pointwise convolution backward with binary16 activations and weights and
 * FP32 weight/bias gradients: the FP32 reference orders on exactly widened
 * operands; grad_in rounded once per element to binary16. Only built where
 * the compiler provides _Float16.
 */
#include "train/tn_train_internal.h"

#if TN_TRAIN_HAVE_F16

void tn__dense_backward_f16(uint32_t rows, uint32_t in_c, uint32_t out_c,
                            const tn_f16* in, const tn_f16* w,
                            const tn_f16* grad_out, tn_f16* grad_in,
                            float* grad_w, float* grad_b) {
  for (uint32_t r = 0; r < rows; ++r) {
    const tn_f16* g = grad_out + (size_t)r * out_c;
    if (grad_b) {
      for (uint32_t co = 0; co < out_c; ++co) grad_b[co] += (float)g[co];
    }
    if (grad_w) {
      const tn_f16* x = in + (size_t)r * in_c;
      for (uint32_t co = 0; co < out_c; ++co) {
        float* gw = grad_w + (size_t)co * in_c;
        const float gc = (float)g[co];
        for (uint32_t ci = 0; ci < in_c; ++ci) gw[ci] += gc * (float)x[ci];
      }
    }
    if (grad_in) {
      tn_f16* gi = grad_in + (size_t)r * in_c;
      for (uint32_t ci = 0; ci < in_c; ++ci) {
        float acc = 0.0f;
        for (uint32_t co = 0; co < out_c; ++co) {
          acc += (float)g[co] * (float)w[(size_t)co * in_c + ci];
        }
        gi[ci] = (tn_f16)acc;
      }
    }
  }
}

tn_status tn_pointwise_backward_f16(const tn_train_pointwise* p,
                                    const tn_f16* in, const tn_f16* w,
                                    const tn_f16* grad_out, tn_f16* grad_in,
                                    float* grad_w, float* grad_b) {
  uint32_t pixels;
  tn_status st = tn__pointwise_check(p, &pixels);
  if (st != TN_OK) return st;
  if (!grad_out) return TN_ERR_NULL;
  if ((grad_in && !w) || (grad_w && !in)) return TN_ERR_NULL;
  tn__dense_backward_f16(pixels, p->in.c, p->out_c, in, w, grad_out, grad_in,
                         grad_w, grad_b);
  return TN_OK;
}

#else
typedef int tn__no_f16_backward; /* keeps the translation unit non-empty */
#endif
