/*
 * Test-side references for the int8 kernels, written independently of the
 * kernels from the arithmetic definitions: 64-bit accumulation over plain
 * loops, TFLite's requantization spelled out literally (nudge and truncating
 * division, remainder-based rounding), and unpacked int8 weights. Also the
 * helpers the kernel tests share: random tensors, guarded buffers that catch
 * out-of-bounds writes, and random quantization parameters.
 */
#ifndef TESTS_DEVICE_KERNELS_KERNELS_REF_H_
#define TESTS_DEVICE_KERNELS_KERNELS_REF_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_rng.h"
#include "kernels/tn_kernels.h"

/* TFLite MultiplyByQuantizedMultiplier from its definition. */
int32_t ref_requantize(int64_t acc, int32_t multiplier, int32_t shift);

/* out = clamp(ref_requantize(acc) + offset, min, max); also checks the
 * accumulator fits int32 (the kernels' contract) and counts failures. */
int8_t ref_output(int64_t acc, int32_t multiplier, int32_t shift,
                  int32_t out_offset, tn_activation act);

/* Weight element i of an int8 array (the unpacked form of every layout). */
typedef struct ref_conv_case {
  tn_conv_params params;
  tn_dims in, filter, out;
  int32_t weight_bits; /* 8, 4 or 2 */
  int32_t per_channel;
} ref_conv_case;

/* Reference conv2d / depthwise / pointwise / fully connected over int8
 * inputs and unpacked int8 weights. */
void ref_conv2d(const ref_conv_case* c, const int8_t* input,
                const int8_t* weights, const int32_t* bias, const int32_t* mult,
                const int32_t* shift, int8_t* output);
void ref_dwconv2d(const ref_conv_case* c, const int8_t* input,
                  const int8_t* weights, const int32_t* bias,
                  const int32_t* mult, const int32_t* shift, int8_t* output);
void ref_fc(const tn_fc_params* p, int32_t in_features, const int8_t* input,
            int32_t out_features, const int8_t* weights, const int32_t* bias,
            const int32_t* mult, const int32_t* shift, int32_t per_channel,
            int8_t* output);

/* Random helpers. */
int8_t ref_rand_s8(tn_rng* rng, int32_t lo, int32_t hi);
void ref_fill_s8(tn_rng* rng, int8_t* v, size_t n, int32_t lo, int32_t hi);
/* Weights within the range of `bits`. */
void ref_fill_weights(tn_rng* rng, int8_t* v, size_t n, int32_t bits);
/* Random Q31 multipliers in [2^30, 2^31) and shifts in [lo, hi]. */
void ref_fill_quant(tn_rng* rng, int32_t* mult, int32_t* shift, int32_t n,
                    int32_t shift_lo, int32_t shift_hi);

/* A buffer with guard bytes on both sides. */
#define REF_GUARD 16
#define REF_GUARD_BYTE 0xA5
void ref_guard_init(uint8_t* buf, size_t payload);
/* 1 when both guard zones are intact. */
int ref_guard_ok(const uint8_t* buf, size_t payload);

/* ------------------------------------------------------------------------ */
/* Conv-family case runner                                                  */

typedef enum ref_conv_kind {
  REF_CONV = 0,
  REF_DWCONV = 1,
  REF_PWCONV = 2
} ref_conv_kind;

/* Data ranges for a generated case. */
typedef struct ref_data_ranges {
  int32_t input_lo, input_hi;
  int32_t bias_lo, bias_hi; /* bias_lo > bias_hi: no bias (NULL) */
  int32_t shift_lo, shift_hi;
} ref_data_ranges;

/* What a run observed, for coverage assertions. */
typedef struct ref_conv_stats {
  int32_t outputs;
  int32_t at_max; /* outputs equal to 127 */
  int32_t at_min; /* outputs equal to -128 */
  int32_t mismatches;
} ref_conv_stats;

/* Largest tensors a generated case may use. */
#define REF_MAX_INPUT 8192
#define REF_MAX_WEIGHTS 8192
#define REF_MAX_OUTPUT 8192
#define REF_MAX_SCRATCH 16384

/* Generates data for `c` within `ranges`, runs the int64 reference, the
 * kernel's reference, _fast and _auto variants; checks every output equals
 * the int64 reference, guard bytes around outputs and scratch are intact,
 * a one-byte-short scratch is refused without touching the output, and
 * digests the output under `label`. REQUIRES: sizes within REF_MAX_*. */
void ref_run_conv_case(ref_conv_kind kind, const ref_conv_case* c,
                       const ref_data_ranges* ranges, tn_rng* rng,
                       const char* label, ref_conv_stats* stats);

/* Fills out dims from in/filter/params; 0 when the geometry is invalid or
 * too large for REF_MAX_*. */
int ref_conv_complete(ref_conv_kind kind, ref_conv_case* c);

/* Default data ranges: full int8 inputs, bias +-4000, shifts -12..-4. */
extern const ref_data_ranges kRefDefaultRanges;

/* Stride/dilation 1, no padding or offsets, no clamp. */
tn_conv_params ref_plain_conv_params(void);

/* A random case (dims 1..9, kernels 1..4, strides and dilations 1..3,
 * paddings 0..2, random offsets, clamp, weight bits and per-channel flag),
 * retried until its geometry is valid. */
ref_conv_case ref_random_conv_case(tn_rng* rng, ref_conv_kind kind);

/* Runs `cases` random cases of `kind` from `seed`, digesting each under
 * "<prefix>.<i>", and checks both clamps and the interior were reached. */
void ref_run_random_conv_cases(ref_conv_kind kind, uint64_t seed, int cases,
                               const char* prefix);

#endif /* TESTS_DEVICE_KERNELS_KERNELS_REF_H_ */
