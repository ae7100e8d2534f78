/*
 * FP32 global average pooling backward: every pixel of channel c receives
 * grad_out[c] / (H * W). grad_in is overwritten.
 */
#include "train/tn_train_internal.h"

tn_status tn_global_avgpool_backward_f32(tn_train_shape in_shape,
                                         const float* grad_out,
                                         float* grad_in) {
  if (!grad_out || !grad_in) return TN_ERR_NULL;
  if (!tn_train_shape_count(in_shape)) return TN_ERR_ARG;
  const uint32_t pixels = (uint32_t)in_shape.h * in_shape.w, c = in_shape.c;
  const float n = (float)pixels;
  for (uint32_t px = 0; px < pixels; ++px) {
    float* gi = grad_in + (size_t)px * c;
    for (uint32_t ch = 0; ch < c; ++ch) gi[ch] = grad_out[ch] / n;
  }
  return TN_OK;
}
