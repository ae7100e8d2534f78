/*
 * FP32 fully connected backward (reference): the pointwise dense backward on
 * a single row. grad_in[ci] sums grad_out[co] * w[co][ci] over co ascending
 * from +0 (overwritten); grad_w[co][ci] += grad_out[co] * in[ci];
 * grad_b[co] += grad_out[co].
 */
#include "train/tn_train_internal.h"

tn_status tn_fc_backward_f32(const tn_train_fc* p, const float* in,
                             const float* w, const float* grad_out,
                             float* grad_in, float* grad_w, float* grad_b) {
  tn_status st = tn__fc_check(p);
  if (st != TN_OK) return st;
  if (!grad_out) return TN_ERR_NULL;
  if ((grad_in && !w) || (grad_w && !in)) return TN_ERR_NULL;
  tn__dense_backward_ref(1, p->in_features, p->out_features, in, w, grad_out,
                         grad_in, grad_w, grad_b);
  return TN_OK;
}
