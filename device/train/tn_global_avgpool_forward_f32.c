/*
 * FP32 global average pooling forward, [H][W][C] -> [C]: each channel sums
 * its pixels in ascending order from +0 and divides by H * W.
 */
#include "train/tn_train_internal.h"

tn_status tn_global_avgpool_forward_f32(tn_train_shape in_shape,
                                        const float* in, float* out) {
  if (!in || !out) return TN_ERR_NULL;
  if (!tn_train_shape_count(in_shape)) return TN_ERR_ARG;
  const uint32_t pixels = (uint32_t)in_shape.h * in_shape.w, c = in_shape.c;
  for (uint32_t ch = 0; ch < c; ++ch) out[ch] = 0.0f;
  for (uint32_t px = 0; px < pixels; ++px) {
    const float* x = in + (size_t)px * c;
    for (uint32_t ch = 0; ch < c; ++ch) out[ch] += x[ch];
  }
  const float n = (float)pixels;
  for (uint32_t ch = 0; ch < c; ++ch) out[ch] = out[ch] / n;
  return TN_OK;
}
