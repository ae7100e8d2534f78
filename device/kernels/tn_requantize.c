/*
 * Public entry to the TFLite requantization arithmetic
 * (MultiplyByQuantizedMultiplier), for rooms that requantize values outside
 * a kernel, e.g. the runtime or the latent-replay buffer.
 */
#include "kernels/tn_kernels_internal.h"

int32_t tn_requantize(int32_t acc, int32_t multiplier, int32_t shift) {
  if (shift < -31) shift = -31;
  if (shift > 30) shift = 30;
  return tn_mbqm(acc, multiplier, shift);
}
