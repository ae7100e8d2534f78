/*
 * L2 normalisation of a vector: the sum of squares in ascending order, one
 * correctly rounded square root, then one division per element.
 */
#include "base/tn_math.h"
#include "train/tn_train_internal.h"

tn_status tn_l2_normalize_f32(uint32_t n, const float* in, float* out,
                              float* norm) {
  if (!in || !out) return TN_ERR_NULL;
  if (n == 0 || n > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  float ss = 0.0f;
  for (uint32_t i = 0; i < n; ++i) ss += in[i] * in[i];
  if (!(ss > 0.0f) || !tn_isfinitef(ss)) return TN_ERR_NUMERIC;
  const float nrm = tn_sqrtf(ss);
  for (uint32_t i = 0; i < n; ++i) out[i] = in[i] / nrm;
  if (norm) *norm = nrm;
  return TN_OK;
}
