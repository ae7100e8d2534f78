/*
 * Node inference kernels: int8 (TFLite-compatible) convolution, depthwise and
 * pointwise convolution, fully connected, pooling, residual add, softmax and
 * clamps, with per-channel fixed-point requantization and optional 4-bit or
 * 2-bit packed weights. Portable C11, no heap, no OS; every buffer belongs to
 * the caller. Results are bit-exact across targets and across the variants of
 * one kernel.
 *
 * Conventions shared by every kernel in this header:
 *  - Layout: activations HWC (channels last), batch 1. Conv weights OHWI
 *    ([out_c][kh][kw][in_c]); depthwise weights [kh][kw][c] (channel
 *    multiplier 1 only); fully connected weights [out][in].
 *  - Quantization follows TFLite int8: real = scale * (q - zero_point).
 *    `input_offset` is ADDED to every input value and equals the negated
 *    input zero point (range [-127, 128]); `output_offset` is the output zero
 *    point (range [-128, 127]). Weights are symmetric (zero point 0). Bias is
 *    int32 in units of input_scale * weight_scale, may be NULL (all zero) and
 *    must lie in [-2^30, 2^30].
 *  - Requantization of an accumulator `acc` for output channel `oc`:
 *        out = clamp(MBQM(acc, multiplier[oc], shift[oc]) + output_offset,
 *                    activation.min, activation.max)
 *    where MBQM is TFLite's MultiplyByQuantizedMultiplier (double rounding:
 *    SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), exposed as
 *    tn_requantize().
 *  - Variants: `tn_<op>_s8` is the plain reference; `tn_<op>_s8_fast` is
 *    the optimized portable variant, bit-exact with the reference;
 *    `tn_<op>_s8_auto` picks the best variant whose constraints hold (the
 *    fast one, or a PULP SIMD one in the GAP SDK port). All variants of one
 *    op share a signature, so they fit one dispatch table. Scratch comes from
 *    the caller; its size is `tn_<op>_s8[_variant]_buffer_size()` (0 means
 *    none is needed, and then `scratch` may be NULL). Scratch needs no
 *    particular alignment.
 *  - Checks: each kernel validates its parameters cheaply (O(channels)) and
 *    returns TN_ERR_NULL, TN_ERR_ARG or TN_ERR_BUFFER_TOO_SMALL without
 *    touching the output. Full model validation happens at load time in the
 *    runtime. Kernels never read or write outside the documented extents.
 *  - Input and output buffers must not overlap unless a function says so.
 */
#ifndef TN_KERNELS_TN_KERNELS_H_
#define TN_KERNELS_TN_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest accepted value of any single dimension (h, w, c, kernel size,
 * feature count). */
#define TN_KERNELS_MAX_DIM 32767
/* Largest accepted reduction length (kh * kw * in_c, or in features): keeps
 * every int32 accumulator exact whatever the order of summation. */
#define TN_KERNELS_MAX_REDUCTION 16384
/* Bias values must lie in [-TN_KERNELS_MAX_BIAS, TN_KERNELS_MAX_BIAS]. */
#define TN_KERNELS_MAX_BIAS (1L << 30)

/* ------------------------------------------------------------------------ */
/* Parameter structs                                                        */

/* Extents of an HWC tensor (batch 1). Each in [1, TN_KERNELS_MAX_DIM]. */
typedef struct tn_dims {
  int32_t h;
  int32_t w;
  int32_t c;
} tn_dims;

/* Implicit zero-point padding around the input, in pixels (each >= 0). Padded
 * positions contribute the input zero point, i.e. zero in real terms. */
typedef struct tn_padding {
  int32_t top;
  int32_t bottom;
  int32_t left;
  int32_t right;
} tn_padding;

/* Output clamp in the quantized domain: -128 <= min <= max <= 127. No clamp
 * is {-128, 127}; ReLU is {zp, 127}; ReLU6 is {zp, zp + round(6 / scale)}
 * (clipped); see tn_activation_range(). */
typedef struct tn_activation {
  int32_t min;
  int32_t max;
} tn_activation;

/* Convolution geometry and offsets (conv2d, depthwise, pointwise).
 * Output extents must equal
 *   out_h = (in_h + top + bottom - dilation_h * (kh - 1) - 1) / stride_h + 1
 * (likewise for w), and be >= 1. */
typedef struct tn_conv_params {
  int32_t stride_h;   /* >= 1 */
  int32_t stride_w;   /* >= 1 */
  int32_t dilation_h; /* >= 1 */
  int32_t dilation_w; /* >= 1 */
  tn_padding padding;
  int32_t input_offset;  /* -input_zero_point, in [-127, 128] */
  int32_t output_offset; /* output zero point, in [-128, 127] */
  tn_activation activation;
} tn_conv_params;

/* Fully connected offsets and clamp (same meaning as in tn_conv_params). */
typedef struct tn_fc_params {
  int32_t input_offset;
  int32_t output_offset;
  tn_activation activation;
} tn_fc_params;

/* Requantization multipliers. `multiplier[i]` is a Q31 value in
 * [0, INT32_MAX] and `shift[i]` in [-31, 30] (> 0: left shift), as produced
 * by tn_quantize_multiplier(). `per_channel` != 0: one entry per output
 * channel; 0: entry 0 applies to every channel (per-tensor). The arrays are
 * borrowed for the duration of the call. */
typedef struct tn_quant_params {
  const int32_t* multiplier;
  const int32_t* shift;
  int32_t per_channel;
} tn_quant_params;

/* Weight storage. bits == 8: `data` is int8_t[count]. bits == 4 or 2: signed
 * two's-complement values packed low-bits-first: element i occupies bits
 * [(i*bits) % 8, (i*bits) % 8 + bits) of byte (i*bits) / 8; the buffer holds
 * tn_weights_packed_size(count, bits) bytes and unused high bits of the last
 * byte are ignored. 4-bit values are in [-8, 7], 2-bit values in [-2, 1].
 * Element order is the layout of the op (OHWI, [kh][kw][c], [out][in]). */
typedef struct tn_weights {
  const void* data;
  int32_t bits; /* 8, 4 or 2 */
} tn_weights;

/* Pooling geometry. Output extents follow the conv formula with dilation 1. */
typedef struct tn_pool_params {
  int32_t filter_h;   /* >= 1 */
  int32_t filter_w;   /* >= 1 */
  int32_t stride_h;   /* >= 1 */
  int32_t stride_w;   /* >= 1 */
  tn_padding padding; /* ignored positions, not counted; each side smaller
                         than the window in its dimension */
  tn_activation activation;
} tn_pool_params;

/* Elementwise add of two int8 tensors with their own scales (TFLite int8 ADD
 * arithmetic). Build with tn_add_s8_prepare(). */
typedef struct tn_add_params {
  int32_t input1_offset;     /* -zero_point1, in [-127, 128] */
  int32_t input2_offset;     /* -zero_point2, in [-127, 128] */
  int32_t left_shift;        /* in [0, 20]; TFLite uses 20 for int8 */
  int32_t input1_multiplier; /* Q31 in [0, INT32_MAX] */
  int32_t input1_shift;      /* in [-31, 0] */
  int32_t input2_multiplier;
  int32_t input2_shift;
  int32_t output_multiplier;
  int32_t output_shift;  /* in [-31, 30] */
  int32_t output_offset; /* output zero point, in [-128, 127] */
  tn_activation activation;
} tn_add_params;

/* TFLite int8 softmax: output scale 1/256, output zero point -128. Build
 * with tn_softmax_s8_prepare(). */
typedef struct tn_softmax_params {
  int32_t input_multiplier; /* Q31 in [0, INT32_MAX] */
  int32_t input_left_shift; /* in [0, 31] */
  int32_t diff_min;         /* <= 0: inputs below max + diff_min give -128 */
} tn_softmax_params;

/* ------------------------------------------------------------------------ */
/* Requantization and host-side quantization helpers                        */

/* TFLite MultiplyByQuantizedMultiplier: round(acc * multiplier * 2^(shift -
 * 31)) with TFLite's double rounding. REQUIRES: shift in [-31, 30]. A left
 * shift that overflows int32 wraps, as in TFLite. Pure; never fails. */
int32_t tn_requantize(int32_t acc, int32_t multiplier, int32_t shift);

/* HOST-SIDE (gateway compiler, tests); not called on the node at run time;
 * uses double. TFLite QuantizeMultiplier semantics: writes (multiplier, shift)
 * with real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) or 0.
 * real == 0 gives (0, 0); real < 2^-32 or so gives (0, 0); real >= 2^30
 * saturates to (INT32_MAX, 30). TN_ERR_ARG for negative or non-finite real,
 * TN_ERR_NULL for NULL outputs. */
tn_status tn_quantize_multiplier(double real, int32_t* multiplier,
                                 int32_t* shift);

/* HOST-SIDE. Clamp range of a fused activation for an output with the given
 * scale (> 0) and zero point. */
typedef enum tn_activation_kind {
  TN_ACT_NONE = 0,
  TN_ACT_RELU = 1,
  TN_ACT_RELU6 = 2,
  TN_ACT_RELU_N1_TO_1 = 3
} tn_activation_kind;
tn_status tn_activation_range(tn_activation_kind kind, double output_scale,
                              int32_t output_zero_point, tn_activation* out);

/* HOST-SIDE. TFLite int8 ADD preparation (left_shift 20, twice the larger
 * input scale as common scale). Scales > 0; zero points in [-128, 127]. */
tn_status tn_add_s8_prepare(double input1_scale, int32_t input1_zero_point,
                            double input2_scale, int32_t input2_zero_point,
                            double output_scale, int32_t output_zero_point,
                            tn_activation activation, tn_add_params* out);

/* HOST-SIDE. TFLite int8 softmax preparation for softmax(beta * x): input
 * scaled to a Q5.26 difference, diff_min from the input radius. */
tn_status tn_softmax_s8_prepare(double beta, double input_scale,
                                tn_softmax_params* out);

/* ------------------------------------------------------------------------ */
/* Sub-byte weight packing                                                  */

/* Bytes needed for `count` values of `bits` (8, 4 or 2) bits; 0 for bad bits
 * or when the size would not fit a size_t. */
size_t tn_weights_packed_size(size_t count, int32_t bits);

/* Packs `count` int8 values into `out` (out_size bytes), low bits first.
 * TN_ERR_ARG if a value does not fit `bits` or bits is not 4 or 2 (8 is a
 * plain copy), TN_ERR_BUFFER_TOO_SMALL if out_size is short. Unused high bits
 * of the last byte are written as zero. */
tn_status tn_weights_pack(const int8_t* values, size_t count, int32_t bits,
                          uint8_t* out, size_t out_size);

/* Unpacks elements [first, first + count) of `weights` (which holds at least
 * first + count elements; `packed_size` bytes are readable) into `out`, sign
 * extended. TN_ERR_BUFFER_TOO_SMALL if the range exceeds packed_size. */
tn_status tn_weights_unpack(const tn_weights* weights, size_t packed_size,
                            size_t first, size_t count, int8_t* out);

/* One element; REQUIRES: index within the tensor, bits valid. */
int8_t tn_weights_get(const tn_weights* weights, size_t index);

/* ------------------------------------------------------------------------ */
/* Convolution (any kernel size, stride, padding, dilation)                 */
/*
 * input: input_dims (h, w, c); filter_dims: (kh, kw, in_c) with in_c equal to
 * input_dims->c; weights OHWI with output_dims->c output channels; bias
 * int32[out_c] or NULL; output: output_dims (h, w, out_c).
 * Reduction length kh * kw * in_c <= TN_KERNELS_MAX_REDUCTION.
 */
typedef tn_status (*tn_conv2d_s8_fn)(
    const tn_conv_params* params, const tn_quant_params* quant,
    const tn_dims* input_dims, const int8_t* input, const tn_dims* filter_dims,
    const tn_weights* weights, const int32_t* bias, const tn_dims* output_dims,
    int8_t* output, void* scratch, size_t scratch_size);
typedef size_t (*tn_conv2d_s8_buffer_size_fn)(const tn_conv_params* params,
                                              const tn_dims* input_dims,
                                              const tn_dims* filter_dims,
                                              const tn_dims* output_dims);

tn_status tn_conv2d_s8(const tn_conv_params* params,
                       const tn_quant_params* quant, const tn_dims* input_dims,
                       const int8_t* input, const tn_dims* filter_dims,
                       const tn_weights* weights, const int32_t* bias,
                       const tn_dims* output_dims, int8_t* output,
                       void* scratch, size_t scratch_size);
size_t tn_conv2d_s8_buffer_size(const tn_conv_params* params,
                                const tn_dims* input_dims,
                                const tn_dims* filter_dims,
                                const tn_dims* output_dims);

/* im2col into scratch + register-blocked GEMM (4 output channels x 4 output
 * pixels). Scratch holds the weights re-laid 4 channels interleaved (sub-byte
 * weights unpacked there), a 32-byte requantization record per channel and a
 * 4-pixel im2col tile: with oc4 = out_c rounded up to 4 and k4 = kh * kw *
 * in_c rounded up to 4, exactly oc4 * (k4 + 32) + 4 * k4 + 3 bytes (e.g.
 * 4771 for the DS-CNN first layer). Accepts every shape the reference
 * accepts. */
tn_status tn_conv2d_s8_fast(const tn_conv_params* params,
                            const tn_quant_params* quant,
                            const tn_dims* input_dims, const int8_t* input,
                            const tn_dims* filter_dims,
                            const tn_weights* weights, const int32_t* bias,
                            const tn_dims* output_dims, int8_t* output,
                            void* scratch, size_t scratch_size);
size_t tn_conv2d_s8_fast_buffer_size(const tn_conv_params* params,
                                     const tn_dims* input_dims,
                                     const tn_dims* filter_dims,
                                     const tn_dims* output_dims);

/* Best eligible variant; its scratch need is the _auto_buffer_size(). */
tn_status tn_conv2d_s8_auto(const tn_conv_params* params,
                            const tn_quant_params* quant,
                            const tn_dims* input_dims, const int8_t* input,
                            const tn_dims* filter_dims,
                            const tn_weights* weights, const int32_t* bias,
                            const tn_dims* output_dims, int8_t* output,
                            void* scratch, size_t scratch_size);
size_t tn_conv2d_s8_auto_buffer_size(const tn_conv_params* params,
                                     const tn_dims* input_dims,
                                     const tn_dims* filter_dims,
                                     const tn_dims* output_dims);

/* ------------------------------------------------------------------------ */
/* Depthwise convolution, channel multiplier 1                              */
/*
 * filter_dims: (kh, kw, c) with c == input_dims->c == output_dims->c;
 * weights [kh][kw][c]; bias int32[c] or NULL; quant per channel c.
 * Same signature and scratch contract as conv2d.
 */
tn_status tn_dwconv2d_s8(const tn_conv_params* params,
                         const tn_quant_params* quant,
                         const tn_dims* input_dims, const int8_t* input,
                         const tn_dims* filter_dims, const tn_weights* weights,
                         const int32_t* bias, const tn_dims* output_dims,
                         int8_t* output, void* scratch, size_t scratch_size);
size_t tn_dwconv2d_s8_buffer_size(const tn_conv_params* params,
                                  const tn_dims* input_dims,
                                  const tn_dims* filter_dims,
                                  const tn_dims* output_dims);
/* Channels in blocks of 4 x output pixels in pairs, one input pointer per
 * filter tap (padded taps point at a zero-point row, so no per-tap bounds
 * tests). Scratch holds 2 * kh * kw tap pointers, the weights unpacked to
 * int8 and re-laid, a 32-byte requantization record per channel and the
 * zero-point row: with c4 = c rounded up to 4, c4 * (kh * kw + 33) +
 * 2 * kh * kw * sizeof(void*) + alignment (2763 bytes for 25x5x64, 3x3 on
 * rv32). */
tn_status tn_dwconv2d_s8_fast(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size);
size_t tn_dwconv2d_s8_fast_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims);
tn_status tn_dwconv2d_s8_auto(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size);
size_t tn_dwconv2d_s8_auto_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims);

/* ------------------------------------------------------------------------ */
/* Pointwise (1x1) convolution                                              */
/*
 * filter_dims must be (1, 1, in_c); padding must be zero; strides >= 1
 * (dilation is ignored). Weights [out_c][in_c]. Same signature and scratch
 * contract as conv2d.
 */
tn_status tn_pwconv2d_s8(const tn_conv_params* params,
                         const tn_quant_params* quant,
                         const tn_dims* input_dims, const int8_t* input,
                         const tn_dims* filter_dims, const tn_weights* weights,
                         const int32_t* bias, const tn_dims* output_dims,
                         int8_t* output, void* scratch, size_t scratch_size);
size_t tn_pwconv2d_s8_buffer_size(const tn_conv_params* params,
                                  const tn_dims* input_dims,
                                  const tn_dims* filter_dims,
                                  const tn_dims* output_dims);
/* 4x4 register-blocked GEMM; scratch as conv2d_s8_fast with kh = kw = 1
 * (6403 bytes for 64 -> 64 channels). */
tn_status tn_pwconv2d_s8_fast(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size);
size_t tn_pwconv2d_s8_fast_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims);
tn_status tn_pwconv2d_s8_auto(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size);
size_t tn_pwconv2d_s8_auto_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims);

/* ------------------------------------------------------------------------ */
/* Fully connected                                                          */
/*
 * input int8[in_features]; weights [out_features][in_features]; bias
 * int32[out_features] or NULL; output int8[out_features]. Both counts in
 * [1, TN_KERNELS_MAX_REDUCTION] (in) / [1, TN_KERNELS_MAX_DIM] (out).
 */
typedef tn_status (*tn_fc_s8_fn)(const tn_fc_params* params,
                                 const tn_quant_params* quant,
                                 int32_t in_features, const int8_t* input,
                                 int32_t out_features,
                                 const tn_weights* weights, const int32_t* bias,
                                 int8_t* output, void* scratch,
                                 size_t scratch_size);
tn_status tn_fc_s8(const tn_fc_params* params, const tn_quant_params* quant,
                   int32_t in_features, const int8_t* input,
                   int32_t out_features, const tn_weights* weights,
                   const int32_t* bias, int8_t* output, void* scratch,
                   size_t scratch_size);
size_t tn_fc_s8_buffer_size(int32_t in_features, int32_t out_features);
/* 4 outputs per pass with the reduction unrolled by 4. Scratch: the input
 * plus its offset staged as int16 and 4 rows of unpacked sub-byte weights,
 * 6 * in_features + 1 bytes. */
tn_status tn_fc_s8_fast(const tn_fc_params* params,
                        const tn_quant_params* quant, int32_t in_features,
                        const int8_t* input, int32_t out_features,
                        const tn_weights* weights, const int32_t* bias,
                        int8_t* output, void* scratch, size_t scratch_size);
size_t tn_fc_s8_fast_buffer_size(int32_t in_features, int32_t out_features);
tn_status tn_fc_s8_auto(const tn_fc_params* params,
                        const tn_quant_params* quant, int32_t in_features,
                        const int8_t* input, int32_t out_features,
                        const tn_weights* weights, const int32_t* bias,
                        int8_t* output, void* scratch, size_t scratch_size);
size_t tn_fc_s8_auto_buffer_size(int32_t in_features, int32_t out_features);

/* ------------------------------------------------------------------------ */
/* Pooling (input and output share scale and zero point, as in TFLite)      */

/* Max over the valid (non-padded) window, then clamp. Output channels equal
 * input channels. No scratch. */
tn_status tn_maxpool_s8(const tn_pool_params* params, const tn_dims* input_dims,
                        const int8_t* input, const tn_dims* output_dims,
                        int8_t* output);

/* Mean over the valid window, rounded half away from zero (TFLite
 * AVERAGE_POOL_2D int8), then clamp. Window area <= 65536. No scratch. */
tn_status tn_avgpool_s8(const tn_pool_params* params, const tn_dims* input_dims,
                        const int8_t* input, const tn_dims* output_dims,
                        int8_t* output);

/* Average pool whose window is the whole image: output int8[c]. Same
 * rounding as tn_avgpool_s8; h * w <= 65536. */
tn_status tn_global_avgpool_s8(const tn_dims* input_dims, const int8_t* input,
                               tn_activation activation, int8_t* output);

/* ------------------------------------------------------------------------ */
/* Elementwise                                                              */

/* out[i] = TFLite int8 ADD of in1[i] and in2[i] (residual connections).
 * `output` may alias in1 or in2 exactly (in place). */
tn_status tn_add_s8(const tn_add_params* params, size_t count,
                    const int8_t* input1, const int8_t* input2, int8_t* output);

/* data[i] = clamp(data[i], min, max) in place (standalone ReLU/ReLU6). */
tn_status tn_clamp_s8(tn_activation activation, size_t count, int8_t* data);

/* TFLite int8 softmax over each of `rows` rows of `row_size` values: output
 * scale 1/256, zero point -128; fixed-point exp and reciprocal, no floats.
 * Max abs error vs float softmax, measured over the test set: see
 * docs/benchmarks/kernels.md. row_size in [1, 4095] (the Q12.19 sum of
 * exps must not overflow); diff_min must keep min(255, -diff_min) <<
 * input_left_shift within int32, as tn_softmax_s8_prepare() does. */
tn_status tn_softmax_s8(const tn_softmax_params* params, int32_t rows,
                        int32_t row_size, const int8_t* input, int8_t* output);

#ifdef __cplusplus
}
#endif

#endif /* TN_KERNELS_TN_KERNELS_H_ */
