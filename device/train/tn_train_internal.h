/*
 * Helpers shared by the training room's source files: argument checks and
 * size arithmetic that cannot overflow. Not part of the public API.
 */
#ifndef TN_TRAIN_TN_TRAIN_INTERNAL_H_
#define TN_TRAIN_TN_TRAIN_INTERNAL_H_

#include "train/tn_train.h"

/* a*b*c as a count, or 0 when any factor is 0 or the product exceeds
 * TN_TRAIN_MAX_ELEMENTS. */
static inline uint32_t tn__count3(uint32_t a, uint32_t b, uint32_t c) {
  uint64_t n = (uint64_t)a * (uint64_t)b;
  if (n == 0 || n > TN_TRAIN_MAX_ELEMENTS) return 0;
  n *= (uint64_t)c;
  if (n == 0 || n > TN_TRAIN_MAX_ELEMENTS) return 0;
  return (uint32_t)n;
}

static inline uint32_t tn__count4(uint32_t a, uint32_t b, uint32_t c,
                                  uint32_t d) {
  uint32_t n = tn__count3(a, b, c);
  return n ? tn__count3(n, d, 1) : 0;
}

/* Validates a conv parameter block; on success writes the output shape
 * (channels: out_c for conv2d, in.c for depthwise). */
tn_status tn__conv_check(const tn_train_conv* p, int depthwise,
                         tn_train_shape* out);

/* Validates a pointwise block; on success pixels = in.h * in.w. */
tn_status tn__pointwise_check(const tn_train_pointwise* p, uint32_t* pixels);

/* Validates an FC block. */
tn_status tn__fc_check(const tn_train_fc* p);

/* Validates SGD parameters and buffers and checks the gradients are
 * finite (TN_ERR_NUMERIC otherwise). w and w0 are float or tn_f16. */
tn_status tn__sgd_check(const tn_sgd_params* p, uint32_t n, const void* w,
                        const float* grad, const float* velocity,
                        const void* w0);

/* Dense kernels shared by pointwise and FC (rows = pixels, 1 for FC).
 * Arguments already validated; see tn_train.h for the summation orders. */
void tn__dense_forward_ref(uint32_t rows, uint32_t in_c, uint32_t out_c,
                           const float* in, const float* w, const float* b,
                           float* out);
void tn__dense_forward_fast(uint32_t rows, uint32_t in_c, uint32_t out_c,
                            const float* in, const float* w, const float* b,
                            float* out);
void tn__dense_backward_ref(uint32_t rows, uint32_t in_c, uint32_t out_c,
                            const float* in, const float* w,
                            const float* grad_out, float* grad_in,
                            float* grad_w, float* grad_b);
void tn__dense_backward_fast(uint32_t rows, uint32_t in_c, uint32_t out_c,
                             const float* in, const float* w,
                             const float* grad_out, float* grad_in,
                             float* grad_w, float* grad_b);

#if TN_TRAIN_HAVE_F16
/* Binary16-storage dense kernels (FP32 arithmetic, reference orders). */
void tn__dense_forward_f16(uint32_t rows, uint32_t in_c, uint32_t out_c,
                           const tn_f16* in, const tn_f16* w, const tn_f16* b,
                           tn_f16* out);
void tn__dense_backward_f16(uint32_t rows, uint32_t in_c, uint32_t out_c,
                            const tn_f16* in, const tn_f16* w,
                            const tn_f16* grad_out, tn_f16* grad_in,
                            float* grad_w, float* grad_b);
#endif

#endif /* TN_TRAIN_TN_TRAIN_INTERNAL_H_ */
