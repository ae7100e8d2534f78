/*
 * FP32 ReLU forward: out = in where in > 0, else +0 (NaN and -0 map to +0).
 * In place when out == in.
 */
#include "train/tn_train_internal.h"

tn_status tn_relu_forward_f32(uint32_t n, const float* in, float* out) {
  if (!in || !out) return TN_ERR_NULL;
  if (n > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  for (uint32_t i = 0; i < n; ++i) {
    const float v = in[i];
    out[i] = v > 0.0f ? v : 0.0f;
  }
  return TN_OK;
}
