/*
 * Optimized portable int8 pointwise (1x1) convolution: the input pixels are
 * copied four at a time into an interleaved tile and multiplied by the
 * re-laid weights with the 4x4 register-blocked GEMM of tn_conv_gemm_s8.c.
 * Bit-exact with tn_pwconv2d_s8.
 */
#include "kernels/tn_kernels_internal.h"

size_t tn_pwconv2d_s8_fast_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims) {
  if (tn_check_conv_shape(TN_CONV_POINTWISE, params, input_dims, filter_dims,
                          output_dims) != TN_OK) {
    return 0;
  }
  return tn_conv_gemm_s8_buffer_size(output_dims->c, filter_dims->c);
}

tn_status tn_pwconv2d_s8_fast(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size) {
  tn_status st =
      tn_check_conv_call(TN_CONV_POINTWISE, params, quant, input_dims, input,
                         filter_dims, weights, bias, output_dims, output);
  if (st != TN_OK) return st;
  return tn_conv_gemm_s8(params, quant, input_dims, input, filter_dims, weights,
                         bias, output_dims, output, scratch, scratch_size);
}
