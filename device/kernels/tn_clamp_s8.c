/*
 * Standalone int8 clamp, in place: ReLU / ReLU6 nodes that could not be fused
 * into the preceding kernel's output range.
 */
#include "kernels/tn_kernels_internal.h"

tn_status tn_clamp_s8(tn_activation activation, size_t count, int8_t* data) {
  if (data == NULL && count != 0) return TN_ERR_NULL;
  if (tn_check_activation(activation) != TN_OK) return TN_ERR_ARG;
  for (size_t i = 0; i < count; ++i) {
    data[i] = (int8_t)tn_clamp32(data[i], activation.min, activation.max);
  }
  return TN_OK;
}
