/*
 * Optimized portable int8 fully connected layer. The input, with its offset
 * added, is staged once as int16 in scratch; outputs are computed four rows
 * at a time so each staged input value feeds four multiply-adds, with the
 * reduction unrolled by four. Sub-byte weights are unpacked four rows at a
 * time into scratch. With batch 1 every weight is used exactly once, so a
 * weight load per multiply-add remains. Bit-exact with tn_fc_s8.
 */
#include "kernels/tn_kernels_internal.h"

size_t tn_fc_s8_fast_buffer_size(int32_t in_features, int32_t out_features) {
  if (in_features < 1 || in_features > TN_KERNELS_MAX_REDUCTION ||
      out_features < 1 || out_features > TN_KERNELS_MAX_DIM) {
    return 0;
  }
  /* int16 input + alignment slack + 4 unpacked rows for sub-byte weights. */
  return 1u + 2u * (size_t)in_features + 4u * (size_t)in_features;
}

/* Dot product of one int8 row with the staged input. */
static int32_t dot_row(const int8_t* w, const int16_t* x, int32_t n,
                       int32_t acc) {
  for (int32_t i = 0; i < n; ++i) acc += (int32_t)w[i] * x[i];
  return acc;
}

tn_status tn_fc_s8_fast(const tn_fc_params* params,
                        const tn_quant_params* quant, int32_t in_features,
                        const int8_t* input, int32_t out_features,
                        const tn_weights* weights, const int32_t* bias,
                        int8_t* output, void* scratch, size_t scratch_size) {
  tn_status st = tn_check_fc_call(params, quant, in_features, input,
                                  out_features, weights, bias, output);
  if (st != TN_OK) return st;
  if (scratch == NULL) return TN_ERR_NULL;
  if (scratch_size < tn_fc_s8_fast_buffer_size(in_features, out_features)) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  const int32_t n = in_features;
  int16_t* x = (int16_t*)(void*)(((uintptr_t)scratch + 1u) & ~(uintptr_t)1u);
  int8_t* rows = (int8_t*)(x + n);
  for (int32_t i = 0; i < n; ++i) {
    x[i] = (int16_t)((int32_t)input[i] + params->input_offset);
  }
  const int packed = weights->bits != 8;
  const int8_t* w8 = (const int8_t*)weights->data;
  const int32_t out_offset = params->output_offset;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;

  int32_t o = 0;
  for (; o + 4 <= out_features; o += 4) {
    const int8_t* r0;
    if (packed) {
      tn_weights_unpack_run(weights, (size_t)o * (size_t)n, 4u * (size_t)n,
                            rows, 1u);
      r0 = rows;
    } else {
      r0 = w8 + (size_t)o * (size_t)n;
    }
    const int8_t* r1 = r0 + n;
    const int8_t* r2 = r1 + n;
    const int8_t* r3 = r2 + n;
    int32_t a0 = bias ? bias[o] : 0, a1 = bias ? bias[o + 1] : 0;
    int32_t a2 = bias ? bias[o + 2] : 0, a3 = bias ? bias[o + 3] : 0;
    const int16_t* xp = x;
    const int16_t* xend4 = x + (n & ~3);
    while (xp != xend4) {
      int32_t v = xp[0];
      a0 += r0[0] * v, a1 += r1[0] * v, a2 += r2[0] * v, a3 += r3[0] * v;
      v = xp[1];
      a0 += r0[1] * v, a1 += r1[1] * v, a2 += r2[1] * v, a3 += r3[1] * v;
      v = xp[2];
      a0 += r0[2] * v, a1 += r1[2] * v, a2 += r2[2] * v, a3 += r3[2] * v;
      v = xp[3];
      a0 += r0[3] * v, a1 += r1[3] * v, a2 += r2[3] * v, a3 += r3[3] * v;
      xp += 4, r0 += 4, r1 += 4, r2 += 4, r3 += 4;
    }
    const int32_t rest = n & 3;
    a0 = dot_row(r0, xp, rest, a0);
    a1 = dot_row(r1, xp, rest, a1);
    a2 = dot_row(r2, xp, rest, a2);
    a3 = dot_row(r3, xp, rest, a3);
    const int32_t acc[4] = {a0, a1, a2, a3};
    for (int32_t j = 0; j < 4; ++j) {
      int32_t qi = tn_quant_index(quant, o + j);
      int32_t v = tn_mbqm(acc[j], quant->multiplier[qi], quant->shift[qi]);
      output[o + j] = (int8_t)tn_clamp32(v + out_offset, act_min, act_max);
    }
  }
  for (; o < out_features; ++o) {
    const int8_t* r;
    if (packed) {
      tn_weights_unpack_run(weights, (size_t)o * (size_t)n, (size_t)n, rows,
                            1u);
      r = rows;
    } else {
      r = w8 + (size_t)o * (size_t)n;
    }
    int32_t a = dot_row(r, x, n, bias ? bias[o] : 0);
    int32_t qi = tn_quant_index(quant, o);
    int32_t v = tn_mbqm(a, quant->multiplier[qi], quant->shift[qi]);
    output[o] = (int8_t)tn_clamp32(v + out_offset, act_min, act_max);
  }
  return TN_OK;
}
