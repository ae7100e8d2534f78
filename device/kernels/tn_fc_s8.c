/*
 * Reference int8 fully connected layer: out = requant(W (x + input_offset) +
 * bias) with [out][in] weights, per-tensor or per-output-channel
 * multipliers. Plain definition; the fast variant is tested against it.
 */
#include "kernels/tn_kernels_internal.h"

size_t tn_fc_s8_buffer_size(int32_t in_features, int32_t out_features) {
  return 0;
}

tn_status tn_fc_s8(const tn_fc_params* params, const tn_quant_params* quant,
                   int32_t in_features, const int8_t* input,
                   int32_t out_features, const tn_weights* weights,
                   const int32_t* bias, int8_t* output, void* scratch,
                   size_t scratch_size) {
  tn_status st = tn_check_fc_call(params, quant, in_features, input,
                                  out_features, weights, bias, output);
  if (st != TN_OK) return st;
  for (int32_t o = 0; o < out_features; ++o) {
    int32_t acc = bias ? bias[o] : 0;
    size_t wbase = (size_t)o * in_features;
    for (int32_t i = 0; i < in_features; ++i) {
      acc += ((int32_t)input[i] + params->input_offset) *
             (int32_t)tn_weights_get(weights, wbase + i);
    }
    int32_t qi = tn_quant_index(quant, o);
    int32_t v = tn_mbqm(acc, quant->multiplier[qi], quant->shift[qi]) +
                params->output_offset;
    output[o] =
        (int8_t)tn_clamp32(v, params->activation.min, params->activation.max);
  }
  return TN_OK;
}
