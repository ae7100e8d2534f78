/*
 * FP32 ReLU backward: grad_in = grad_out where the forward output is > 0,
 * else +0. In place when grad_in == grad_out.
 */
#include "train/tn_train_internal.h"

tn_status tn_relu_backward_f32(uint32_t n, const float* out,
                               const float* grad_out, float* grad_in) {
  if (!out || !grad_out || !grad_in) return TN_ERR_NULL;
  if (n > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  for (uint32_t i = 0; i < n; ++i) {
    grad_in[i] = out[i] > 0.0f ? grad_out[i] : 0.0f;
  }
  return TN_OK;
}
