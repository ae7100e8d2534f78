/*
 * int8 elementwise add with independent input scales (TFLite int8 ADD), used
 * for residual connections: both inputs are offset, shifted left, rescaled to
 * a common scale, summed, and the sum requantized to the output scale, all
 * with TFLite's fixed-point rounding.
 */
#include "kernels/tn_kernels_internal.h"

static int multiplier_ok(int32_t m, int32_t shift, int32_t max_shift) {
  return m >= 0 && shift >= -31 && shift <= max_shift;
}

tn_status tn_add_s8(const tn_add_params* params, size_t count,
                    const int8_t* input1, const int8_t* input2,
                    int8_t* output) {
  if (params == NULL) return TN_ERR_NULL;
  if (count != 0 && (input1 == NULL || input2 == NULL || output == NULL)) {
    return TN_ERR_NULL;
  }
  const tn_add_params* p = params;
  if (p->input1_offset < -127 || p->input1_offset > 128 ||
      p->input2_offset < -127 || p->input2_offset > 128 ||
      p->output_offset < -128 || p->output_offset > 127 || p->left_shift < 0 ||
      p->left_shift > 20 ||
      !multiplier_ok(p->input1_multiplier, p->input1_shift, 0) ||
      !multiplier_ok(p->input2_multiplier, p->input2_shift, 0) ||
      !multiplier_ok(p->output_multiplier, p->output_shift, 30) ||
      tn_check_activation(p->activation) != TN_OK) {
    return TN_ERR_ARG;
  }
  /* |input + offset| <= 255, shifted by <= 20: below 2^28, so each scaled
   * input and their sum stay below 2^29 and no step can overflow. Without
   * a left shift on the output (the usual case) the narrow form of the
   * requantization applies to all three steps. */
  if (p->output_shift <= 0) {
    const tn_narrow_shift n1 = tn_narrow_prepare(p->input1_shift);
    const tn_narrow_shift n2 = tn_narrow_prepare(p->input2_shift);
    const tn_narrow_shift no = tn_narrow_prepare(p->output_shift);
    const int32_t scale = (int32_t)1 << p->left_shift;
    for (size_t i = 0; i < count; ++i) {
      const int32_t v1 = ((int32_t)input1[i] + p->input1_offset) * scale;
      const int32_t v2 = ((int32_t)input2[i] + p->input2_offset) * scale;
      const int32_t s1 = tn_mbqm_narrow(v1, p->input1_multiplier, n1);
      const int32_t s2 = tn_mbqm_narrow(v2, p->input2_multiplier, n2);
      const int32_t out =
          tn_mbqm_narrow(s1 + s2, p->output_multiplier, no) + p->output_offset;
      output[i] = (int8_t)tn_clamp32(out, p->activation.min, p->activation.max);
    }
    return TN_OK;
  }
  for (size_t i = 0; i < count; ++i) {
    const int32_t v1 =
        ((int32_t)input1[i] + p->input1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t v2 =
        ((int32_t)input2[i] + p->input2_offset) * ((int32_t)1 << p->left_shift);
    const int32_t s1 = tn_mbqm(v1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tn_mbqm(v2, p->input2_multiplier, p->input2_shift);
    const int32_t out =
        tn_mbqm(s1 + s2, p->output_multiplier, p->output_shift) +
        p->output_offset;
    output[i] = (int8_t)tn_clamp32(out, p->activation.min, p->activation.max);
  }
  return TN_OK;
}
