/*
 * The DS-CNN-like layer shapes the kernel benchmarks measure, shared by the
 * host benchmark (kernels_bench.cc, Google Benchmark) and the rv32
 * instruction counter (kernels_icount.c): the MFCC input 49x10x1 through the
 * first conv (10x4, stride 2) to 25x5x64, a depthwise 3x3 and a pointwise
 * 64->64 on 25x5x64, global average pooling, and the 64->12 classifier; plus
 * the non-MAC ops (pools, residual add, softmax) on the same tensors. Each
 * layer owns static buffers filled with deterministic random data.
 */
#ifndef BENCH_DEVICE_KERNELS_LAYERS_H_
#define BENCH_DEVICE_KERNELS_LAYERS_H_

#include <stddef.h>
#include <stdint.h>

#include "kernels/tn_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kb_kind { KB_CONV, KB_DWCONV, KB_PWCONV, KB_FC } kb_kind;

typedef struct kb_layer {
  const char* name;
  kb_kind kind;
  tn_conv_params params; /* conv kinds */
  tn_dims in, filter, out;
  int32_t in_features, out_features; /* KB_FC */
} kb_layer;

/* The MAC layers: conv1, dwconv, pwconv, fc, plus pwconv with 256 input
 * channels and fc 256->64 (fixed costs and requantization amortized). */
size_t kb_layer_count(void);
const kb_layer* kb_layer_at(size_t i);

/* Multiply-accumulates of one call. */
uint64_t kb_macs(const kb_layer* layer);

/* Weight bytes at `bits` (8 or 4). */
size_t kb_weight_bytes(const kb_layer* layer, int32_t bits);

/* Scratch of the reference (fast == 0) or fast variant. */
size_t kb_scratch_bytes(const kb_layer* layer, int fast);

/* Fills input, weights (packed when bits != 8), bias and multipliers. */
void kb_prepare(const kb_layer* layer, int32_t bits);

/* Runs the reference (fast == 0) or fast variant on the prepared data. */
tn_status kb_run(const kb_layer* layer, int fast);

/* Non-MAC ops on the DS-CNN tensors (25x5x64): prepared once, then run. */
void kb_prepare_misc(void);
tn_status kb_run_global_avgpool(void); /* 25x5x64 -> 64 */
tn_status kb_run_avgpool(void);        /* 3x3 stride 1 pad 1, 25x5x64 */
tn_status kb_run_maxpool(void);        /* 3x3 stride 1 pad 1, 25x5x64 */
tn_status kb_run_add(void);            /* 25x5x64 residual add */
tn_status kb_run_softmax(void);        /* 12 classes */
size_t kb_misc_elements(void);         /* 25 * 5 * 64 */

#ifdef __cplusplus
}
#endif

#endif /* BENCH_DEVICE_KERNELS_LAYERS_H_ */
