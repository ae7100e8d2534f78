/*
 * Fully connected backward with binary16 activations and weights, FP32
 * weight and bias gradients: the pointwise FP16 dense backward on one row.
 */
#include "train/tn_train_internal.h"

#if TN_TRAIN_HAVE_F16

tn_status tn_fc_backward_f16(const tn_train_fc* p, const tn_f16* in,
                             const tn_f16* w, const tn_f16* grad_out,
                             tn_f16* grad_in, float* grad_w, float* grad_b) {
  tn_status st = tn__fc_check(p);
  if (st != TN_OK) return st;
  if (!grad_out) return TN_ERR_NULL;
  if ((grad_in && !w) || (grad_w && !in)) return TN_ERR_NULL;
  tn__dense_backward_f16(1, p->in_features, p->out_features, in, w, grad_out,
                         grad_in, grad_w, grad_b);
  return TN_OK;
}

#else
typedef int
    tn__no_f16_fc_backward_f16; /* keeps the translation unit non-empty */
#endif
