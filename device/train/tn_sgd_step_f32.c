/*
 * SGD step with momentum, weight decay and the FedProx proximal term, in
 * the order of operations stated in tn_train.h. Terms whose coefficient is
 * zero are skipped (not added as +0), so plain SGD is exactly w - lr * g.
 */
#include "base/tn_math.h"
#include "train/tn_train_internal.h"

tn_status tn__sgd_check(const tn_sgd_params* p, uint32_t n, const void* w,
                        const float* grad, const float* velocity,
                        const void* w0) {
  if (!p || !w || !grad) return TN_ERR_NULL;
  if (n > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  if (!(p->lr > 0.0f) || !tn_isfinitef(p->lr)) return TN_ERR_ARG;
  if (!(p->momentum >= 0.0f && p->momentum < 1.0f)) return TN_ERR_ARG;
  if (!(p->weight_decay >= 0.0f) || !tn_isfinitef(p->weight_decay)) {
    return TN_ERR_ARG;
  }
  if (!(p->prox_mu >= 0.0f) || !tn_isfinitef(p->prox_mu)) return TN_ERR_ARG;
  if (!(p->grad_scale > 0.0f) || !tn_isfinitef(p->grad_scale)) {
    return TN_ERR_ARG;
  }
  if (p->momentum > 0.0f && !velocity) return TN_ERR_NULL;
  if (p->prox_mu > 0.0f && !w0) return TN_ERR_NULL;
  for (uint32_t i = 0; i < n; ++i) {
    if (!tn_isfinitef(grad[i])) return TN_ERR_NUMERIC;
  }
  return TN_OK;
}

tn_status tn_sgd_step_f32(const tn_sgd_params* p, uint32_t n, float* w,
                          const float* grad, float* velocity, const float* w0) {
  tn_status st = tn__sgd_check(p, n, w, grad, velocity, w0);
  if (st != TN_OK) return st;
  const float lr = p->lr, mom = p->momentum, wd = p->weight_decay;
  const float mu = p->prox_mu, scale = p->grad_scale;
  for (uint32_t i = 0; i < n; ++i) {
    const float wi = w[i];
    float g = grad[i] * scale;
    if (wd != 0.0f) g = g + wd * wi;
    if (mu != 0.0f) g = g + mu * (wi - w0[i]);
    float v = g;
    if (mom != 0.0f) {
      v = mom * velocity[i] + g;
      velocity[i] = v;
    }
    w[i] = wi - lr * v;
  }
  return TN_OK;
}
