/*
 * Fully connected forward with binary16 storage: the pointwise FP16 dense
 * kernel on one row (see tn_pointwise_forward_f16.c).
 */
#include "train/tn_train_internal.h"

#if TN_TRAIN_HAVE_F16

tn_status tn_fc_forward_f16(const tn_train_fc* p, const tn_f16* in,
                            const tn_f16* w, const tn_f16* b, tn_f16* out) {
  tn_status st = tn__fc_check(p);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;
  tn__dense_forward_f16(1, p->in_features, p->out_features, in, w, b, out);
  return TN_OK;
}

#else
typedef int
    tn__no_f16_fc_forward_f16; /* keeps the translation unit non-empty */
#endif
