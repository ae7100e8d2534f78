/*
 * Private to the kernels room: the checks shared by the pooling kernels.
 */
#ifndef TN_KERNELS_TN_POOL_CHECK_H_
#define TN_KERNELS_TN_POOL_CHECK_H_

#include "kernels/tn_kernels_internal.h"

/* Pointers, dims, window geometry and clamp of a pooling call. Padding on
 * each side must be smaller than the window in that dimension, so every
 * window holds at least one input pixel. */
tn_status tn_check_pool_call(const tn_pool_params* params,
                             const tn_dims* input_dims, const int8_t* input,
                             const tn_dims* output_dims, const int8_t* output);

#endif /* TN_KERNELS_TN_POOL_CHECK_H_ */
