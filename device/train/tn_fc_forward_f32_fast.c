/*
 * FP32 fully connected forward, four output neurons at a time (four
 * independent accumulators sharing each input load). Same summation order
 * as tn_fc_forward_f32, hence bit-identical results.
 */
#include "train/tn_train_internal.h"

tn_status tn_fc_forward_f32_fast(const tn_train_fc* p, const float* in,
                                 const float* w, const float* b, float* out) {
  tn_status st = tn__fc_check(p);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;
  tn__dense_forward_fast(1, p->in_features, p->out_features, in, w, b, out);
  return TN_OK;
}
