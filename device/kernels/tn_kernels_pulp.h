/*
 * The slot for PULP SIMD variants in the GAP SDK port (GAP8/GAP9 XpulpV2:
 * 4-way int8 sdotp, hardware loops, post-increment loads). This tree carries
 * no implementation: the GAP SDK port compiles its own tn_<op>_s8_pulp.c
 * files next to this room and defines TN_KERNELS_PULP_SIMD, and
 * tn_kernels_dispatch.c then lists the PULP entries ahead of the portable
 * fast ones. Each PULP variant must be bit-exact with the reference (the
 * device tests run unchanged on the port), take the same arguments as the
 * reference, and report through its `_eligible` function the shapes it
 * serves (for instance in_c a multiple of 4, 8-bit weights); everything else
 * falls through to the portable variants. `weight_bits` 0 asks about the
 * shape alone (used to size scratch).
 */
#ifndef TN_KERNELS_TN_KERNELS_PULP_H_
#define TN_KERNELS_TN_KERNELS_PULP_H_

#include "kernels/tn_kernels.h"

#if defined(TN_KERNELS_PULP_SIMD)

int tn_conv2d_s8_pulp_eligible(const tn_conv_params* params,
                               const tn_dims* input_dims,
                               const tn_dims* filter_dims,
                               const tn_dims* output_dims, int32_t weight_bits);
size_t tn_conv2d_s8_pulp_buffer_size(const tn_conv_params* params,
                                     const tn_dims* input_dims,
                                     const tn_dims* filter_dims,
                                     const tn_dims* output_dims);
tn_status tn_conv2d_s8_pulp(const tn_conv_params* params,
                            const tn_quant_params* quant,
                            const tn_dims* input_dims, const int8_t* input,
                            const tn_dims* filter_dims,
                            const tn_weights* weights, const int32_t* bias,
                            const tn_dims* output_dims, int8_t* output,
                            void* scratch, size_t scratch_size);

int tn_dwconv2d_s8_pulp_eligible(const tn_conv_params* params,
                                 const tn_dims* input_dims,
                                 const tn_dims* filter_dims,
                                 const tn_dims* output_dims,
                                 int32_t weight_bits);
size_t tn_dwconv2d_s8_pulp_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims);
tn_status tn_dwconv2d_s8_pulp(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size);

int tn_pwconv2d_s8_pulp_eligible(const tn_conv_params* params,
                                 const tn_dims* input_dims,
                                 const tn_dims* filter_dims,
                                 const tn_dims* output_dims,
                                 int32_t weight_bits);
size_t tn_pwconv2d_s8_pulp_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims);
tn_status tn_pwconv2d_s8_pulp(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size);

int tn_fc_s8_pulp_eligible(int32_t in_features, int32_t out_features,
                           int32_t weight_bits);
size_t tn_fc_s8_pulp_buffer_size(int32_t in_features, int32_t out_features);
tn_status tn_fc_s8_pulp(const tn_fc_params* params,
                        const tn_quant_params* quant, int32_t in_features,
                        const int8_t* input, int32_t out_features,
                        const tn_weights* weights, const int32_t* bias,
                        int8_t* output, void* scratch, size_t scratch_size);

#endif /* TN_KERNELS_PULP_SIMD */

#endif /* TN_KERNELS_TN_KERNELS_PULP_H_ */
