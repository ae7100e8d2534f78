/*
 * FP32 fully connected forward (reference): the dense kernel of the
 * pointwise convolution on a single row. out[co] sums w[co][ci] * in[ci]
 * over ci ascending from +0, then adds b[co].
 */
#include "train/tn_train_internal.h"

tn_status tn_fc_forward_f32(const tn_train_fc* p, const float* in,
                            const float* w, const float* b, float* out) {
  tn_status st = tn__fc_check(p);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;
  tn__dense_forward_ref(1, p->in_features, p->out_features, in, w, b, out);
  return TN_OK;
}
