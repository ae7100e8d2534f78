/*
 * SGD step on binary16 weights with FP32 gradients and velocity: the
 * tn_sgd_step_f32 arithmetic on the exactly widened weight, the new weight
 * rounded once to binary16. Only built where _Float16 exists.
 */
#include "train/tn_train_internal.h"

#if TN_TRAIN_HAVE_F16

tn_status tn_sgd_step_f16(const tn_sgd_params* p, uint32_t n, tn_f16* w,
                          const float* grad, float* velocity,
                          const tn_f16* w0) {
  tn_status st = tn__sgd_check(p, n, w, grad, velocity, w0);
  if (st != TN_OK) return st;
  const float lr = p->lr, mom = p->momentum, wd = p->weight_decay;
  const float mu = p->prox_mu, scale = p->grad_scale;
  for (uint32_t i = 0; i < n; ++i) {
    const float wi = (float)w[i];
    float g = grad[i] * scale;
    if (wd != 0.0f) g = g + wd * wi;
    if (mu != 0.0f) g = g + mu * (wi - (float)w0[i]);
    float v = g;
    if (mom != 0.0f) {
      v = mom * velocity[i] + g;
      velocity[i] = v;
    }
    w[i] = (tn_f16)(wi - lr * v);
  }
  return TN_OK;
}

#else
typedef int tn__no_f16_sgd; /* keeps the translation unit non-empty */
#endif
