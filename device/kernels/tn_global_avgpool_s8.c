/*
 * int8 global average pooling: one mean per channel over the whole image,
 * with the rounding of tn_avgpool_s8 (half away from zero), then the clamp.
 * Input and output share scale and zero point.
 */
#include "kernels/tn_kernels_internal.h"

tn_status tn_global_avgpool_s8(const tn_dims* input_dims, const int8_t* input,
                               tn_activation activation, int8_t* output) {
  if (input_dims == NULL || input == NULL || output == NULL) {
    return TN_ERR_NULL;
  }
  if (!tn_dims_valid(input_dims)) return TN_ERR_ARG;
  if (tn_check_activation(activation) != TN_OK) return TN_ERR_ARG;
  const int64_t area = (int64_t)input_dims->h * input_dims->w;
  if (area > 65536) return TN_ERR_ARG;
  const int32_t count = (int32_t)area;
  const int32_t c = input_dims->c;
  for (int32_t ch = 0; ch < c; ++ch) {
    const int8_t* p = input + ch;
    int32_t sum = 0;
    for (int32_t i = 0; i < count; ++i) sum += p[(size_t)i * c];
    int32_t mean =
        sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    output[ch] = (int8_t)tn_clamp32(mean, activation.min, activation.max);
  }
  return TN_OK;
}
