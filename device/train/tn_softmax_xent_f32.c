/*
 * Softmax cross-entropy loss and its gradient with respect to the logits,
 * numerically stable through the log-sum-exp shift by the largest logit.
 * Uses the deterministic exp/log of base/tn_math.h.
 */
#include "base/tn_math.h"
#include "train/tn_train_internal.h"

tn_status tn_softmax_xent_f32(uint32_t n, const float* logits, uint32_t label,
                              float* loss, float* grad, float* probs) {
  if (!logits || !loss) return TN_ERR_NULL;
  if (n == 0 || n > TN_TRAIN_MAX_ELEMENTS || label >= n) return TN_ERR_ARG;
  if (grad == logits || probs == logits) return TN_ERR_ARG;
  float m = logits[0];
  for (uint32_t i = 0; i < n; ++i) {
    if (!tn_isfinitef(logits[i])) return TN_ERR_NUMERIC;
    if (logits[i] > m) m = logits[i];
  }
  float s = 0.0f;
  for (uint32_t i = 0; i < n; ++i) s += tn_expf(logits[i] - m);
  /* s >= 1 (the largest logit contributes exp(0) = 1), so log(s) >= 0. */
  *loss = (tn_logf(s) + m) - logits[label];
  if (grad || probs) {
    for (uint32_t i = 0; i < n; ++i) {
      const float pi = tn_expf(logits[i] - m) / s;
      if (probs) probs[i] = pi;
      if (grad) grad[i] = i == label ? pi - 1.0f : pi;
    }
  }
  return TN_OK;
}
