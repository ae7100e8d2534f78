/*
 * Test fixture: a tiny model-description assembler for the runtime tests.
 * It creates tensors and ops with shapes computed from the op parameters,
 * fills weights (int8 or packed 4/2-bit), quantization words and FP32 tail
 * parameters with deterministic pseudo-random values, plans memory and
 * builds blobs. Everything lives in one fixture_model value (no heap).
 */
#ifndef TESTS_DEVICE_RUNTIME_MODEL_FIXTURE_H_
#define TESTS_DEVICE_RUNTIME_MODEL_FIXTURE_H_

#include "base/tn_rng.h"
#include "runtime/tn_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FX_MAX_TENSORS 64
#define FX_MAX_OPS 64
#define FX_MAX_WEIGHTS 65536
#define FX_MAX_QUANT 4096
#define FX_MAX_PARAMS 8192

typedef struct fixture_model {
  tn_tensor_desc tensors[FX_MAX_TENSORS];
  tn_op_desc ops[FX_MAX_OPS];
  tn_graph_desc graph;
  uint8_t weights[FX_MAX_WEIGHTS];
  uint32_t weights_size;
  int32_t quant[FX_MAX_QUANT];
  uint32_t quant_words;
  float params[FX_MAX_PARAMS];
  uint32_t param_count;
  tn_tail_desc tail;
  int has_tail;
  tn_placement placements[FX_MAX_TENSORS];
  tn_tile tiles[FX_MAX_OPS];
  tn_memory_plan plan;
  tn_plan_report report;
  tn_rng rng;
} fixture_model;

/* Starts an empty model whose input is an int8 tensor [h, w, c]. */
void fx_init(fixture_model* m, uint64_t seed, uint32_t h, uint32_t w,
             uint32_t c);

/* Adds a tensor and returns its id. */
uint16_t fx_tensor(fixture_model* m, uint8_t dtype, uint32_t h, uint32_t w,
                   uint32_t c, float scale, int32_t zero_point);

/* Weighted int8 ops (CONV2D, DWCONV2D, PWCONV, FC) with random weights of
 * `bits` bits and random requantization; returns the output tensor. */
uint16_t fx_conv(fixture_model* m, uint8_t type, uint16_t in, uint32_t out_c,
                 uint8_t k, uint8_t stride, uint8_t pad, uint8_t bits,
                 int8_t act_min, int8_t act_max);
/* A general window: kernel, stride, dilation, padding (top, bottom, left,
 * right). */
typedef struct fx_window {
  uint8_t kh, kw, sh, sw, dh, dw, pt, pb, pl, pr;
} fx_window;
uint16_t fx_conv_rect(fixture_model* m, uint8_t type, uint16_t in,
                      uint32_t out_c, const fx_window* win, uint8_t bits,
                      int8_t act_min, int8_t act_max);
uint16_t fx_fc(fixture_model* m, uint16_t in, uint32_t out_n, uint8_t bits);
/* MAXPOOL / AVGPOOL (same quantization as the input). */
uint16_t fx_pool(fixture_model* m, uint8_t type, uint16_t in, uint8_t k,
                 uint8_t stride, uint8_t pad);
uint16_t fx_global_avgpool(fixture_model* m, uint16_t in);
uint16_t fx_add(fixture_model* m, uint16_t a, uint16_t b);
uint16_t fx_reshape(fixture_model* m, uint16_t in, uint32_t h, uint32_t w,
                    uint32_t c);
uint16_t fx_softmax(fixture_model* m, uint16_t in);

/* Starts the FP32 tail at `cut` (adds the DEQUANTIZE op). */
uint16_t fx_cut(fixture_model* m, uint16_t cut);
uint16_t fx_pw_f32(fixture_model* m, uint16_t in, uint32_t out_c);
uint16_t fx_fc_f32(fixture_model* m, uint16_t in, uint32_t out_n);
uint16_t fx_relu_f32(fixture_model* m, uint16_t in);
uint16_t fx_avgpool_f32(fixture_model* m, uint16_t in, uint8_t k,
                        uint8_t stride);

/* Marks `out` as the graph output and finalises the description. */
void fx_finish(fixture_model* m, uint16_t out);

/* Plans for `target` with default options. */
tn_status fx_plan(fixture_model* m, tn_target target);

/* Builds a blob (planned before) into out; canary optional. */
tn_status fx_build(fixture_model* m, tn_target target, int reserve_signature,
                   const void* canary_in, const void* canary_out, uint8_t* out,
                   size_t capacity, size_t* written);

/* The small CNN of the golden test: conv 3x3 (ReLU) -> maxpool 2x2 -> FC,
 * on a [10, 8, 3] input; with_tail adds an FP32 tail after the pool
 * (dequantize -> pointwise -> ReLU -> avgpool -> FC). */
void fx_small_cnn(fixture_model* m, uint64_t seed, int with_tail);

/* DS-CNN-S-like keyword spotting network on a [49, 10, 1] MFCC input:
 * conv 10x4 / 2 (64 channels, ReLU), 4 x (depthwise 3x3 + pointwise 64,
 * ReLU), global average pool, FC to 12 classes (int8, or the FP32 tail
 * with_tail: the pooled 64-vector is the cut). About 2.7 M MACs. */
void fx_ds_cnn(fixture_model* m, uint64_t seed, int with_tail);

#ifdef __cplusplus
}
#endif

#endif /* TESTS_DEVICE_RUNTIME_MODEL_FIXTURE_H_ */
