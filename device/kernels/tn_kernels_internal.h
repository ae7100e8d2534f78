/*
 * Private to the kernels room: TFLite/gemmlowp fixed-point primitives written
 * without undefined or implementation-defined shifts, the shared parameter
 * checks, and the GEMM engine behind the fast convolution variants. Nothing
 * here is part of the public API; include tn_kernels.h from other rooms.
 */
#ifndef TN_KERNELS_TN_KERNELS_INTERNAL_H_
#define TN_KERNELS_TN_KERNELS_INTERNAL_H_

#include <stddef.h>
#include <stdint.h>

#include "kernels/tn_kernels.h"

/* Keeps a hot loop in its own function so its register allocation is not
 * disturbed by the caller's live values. Only a hint. */
#if defined(__GNUC__)
#define TN_NOINLINE __attribute__((noinline))
#else
#define TN_NOINLINE
#endif

/* ------------------------------------------------------------------------ */
/* Integer helpers                                                          */

/* Arithmetic shift right (floor(v / 2^n)) for any sign. REQUIRES: 0 <= n <
 * width. Compiles to one `sra` on gcc and clang. */
static inline int32_t tn_asr32(int32_t v, int32_t n) {
  return v >= 0 ? (v >> n) : ~((~v) >> n);
}
static inline int64_t tn_asr64(int64_t v, int32_t n) {
  return v >= 0 ? (v >> n) : ~((~v) >> n);
}

/* The int32 with the same low 32 bits as `u` (two's complement wrap), with
 * no implementation-defined conversion. */
static inline int32_t tn_wrap_s32(uint32_t u) {
  return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* v * 2^n modulo 2^32, as TFLite's `x * (1 << n)`. REQUIRES: 0 <= n < 32. */
static inline int32_t tn_shl_wrap32(int32_t v, int32_t n) {
  return tn_wrap_s32((uint32_t)v << n);
}

static inline int32_t tn_clamp32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* ------------------------------------------------------------------------ */
/* gemmlowp / TFLite fixed point                                            */

/* SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties towards +inf,
 * saturating the one overflowing case a == b == INT32_MIN. */
static inline int32_t tn_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  /* For ab < 0 TFLite truncates (ab + 1 - 2^30) / 2^31 towards zero, which
   * equals floor((ab + 2^30) / 2^31); one formula covers both signs. */
  int64_t ab = (int64_t)a * (int64_t)b;
  return (int32_t)tn_asr64(ab + ((int64_t)1 << 30), 31);
}

/* Same as tn_srdhm for b >= 0 (the saturating case cannot occur). */
static inline int32_t tn_srdhm_nonneg(int32_t a, int32_t b) {
  int64_t ab = (int64_t)a * (int64_t)b;
  return (int32_t)tn_asr64(ab + ((int64_t)1 << 30), 31);
}

/* RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from
 * zero. REQUIRES: 0 <= exponent <= 31. */
static inline int32_t tn_rdp(int32_t x, int32_t exponent) {
  uint32_t mask = (uint32_t)(((uint64_t)1 << exponent) - 1u);
  uint32_t remainder = (uint32_t)x & mask;
  uint32_t threshold = (mask >> 1) + (x < 0 ? 1u : 0u);
  return tn_asr32(x, exponent) + (remainder > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier (TFLite, double rounding).
 * REQUIRES: -31 <= shift <= 30. */
static inline int32_t tn_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
  int32_t left = shift > 0 ? shift : 0;
  int32_t right = shift > 0 ? 0 : -shift;
  return tn_rdp(tn_srdhm(tn_shl_wrap32(x, left), multiplier), right);
}

/* tn_mbqm for shift <= 0, |x| < 2^30 and multiplier >= 0, with the shift
 * prepared by tn_narrow_prepare(): the same result in fewer steps (see
 * tn_chan_requant_narrow for the derivation; a shift of 0 needs no rounding,
 * which `neg_adjust` 0 and `half` 0 express). */
typedef struct tn_narrow_shift {
  int32_t shift;       /* right shift e >= 0 */
  int32_t half;        /* 2^(e-1), or 0 when e == 0 */
  uint32_t neg_adjust; /* 1 when e > 0, else 0 */
} tn_narrow_shift;

static inline tn_narrow_shift tn_narrow_prepare(int32_t shift) {
  tn_narrow_shift s;
  s.shift = -shift;
  s.half = s.shift > 0 ? (int32_t)1 << (s.shift - 1) : 0;
  s.neg_adjust = s.shift > 0 ? 1u : 0u;
  return s;
}

static inline int32_t tn_mbqm_narrow(int32_t x, int32_t multiplier,
                                     tn_narrow_shift s) {
  const int64_t p = (int64_t)(x * 2) * (int64_t)multiplier;
  const uint32_t lo = (uint32_t)((uint64_t)p & 0xffffffffu);
  const int32_t t = (int32_t)tn_asr64(p, 32) + (int32_t)(lo >> 31);
  const int32_t neg = (int32_t)(((uint32_t)t >> 31) & s.neg_adjust);
  return tn_asr32(t - neg + s.half, s.shift);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent:
 * x * 2^exponent saturated to int32. REQUIRES: 1 <= exponent <= 30. */
static inline int32_t tn_sat_shl32(int32_t x, int32_t exponent) {
  int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return tn_shl_wrap32(x, exponent);
}

/* ------------------------------------------------------------------------ */
/* Shared parameter checks (tn_kernels_check.c)                             */

/* Which convolution family a geometry check is for. */
typedef enum tn_conv_kind {
  TN_CONV_GENERAL = 0,
  TN_CONV_DEPTHWISE = 1,
  TN_CONV_POINTWISE = 2
} tn_conv_kind;

/* Pointers, dims, geometry, offsets, clamp and weight bits of a conv-family
 * call; not the per-channel arrays. */
tn_status tn_check_conv_shape(tn_conv_kind kind, const tn_conv_params* params,
                              const tn_dims* input_dims,
                              const tn_dims* filter_dims,
                              const tn_dims* output_dims);
tn_status tn_check_conv_call(tn_conv_kind kind, const tn_conv_params* params,
                             const tn_quant_params* quant,
                             const tn_dims* input_dims, const int8_t* input,
                             const tn_dims* filter_dims,
                             const tn_weights* weights, const int32_t* bias,
                             const tn_dims* output_dims, const int8_t* output);

/* Multipliers in [0, INT32_MAX], shifts in [-31, 30] for `channels`
 * channels (entry 0 only when per-tensor); bias within +-2^30 when given. */
tn_status tn_check_quant(const tn_quant_params* quant, const int32_t* bias,
                         int32_t channels);

tn_status tn_check_activation(tn_activation activation);

/* Pointers, feature counts, offsets, clamp, weight bits and per-channel
 * arrays of a fully connected call. */
tn_status tn_check_fc_call(const tn_fc_params* params,
                           const tn_quant_params* quant, int32_t in_features,
                           const int8_t* input, int32_t out_features,
                           const tn_weights* weights, const int32_t* bias,
                           const int8_t* output);

/* A dims struct with every extent in [1, TN_KERNELS_MAX_DIM] and at most
 * INT32_MAX elements. */
int tn_dims_valid(const tn_dims* dims);

/* Unpacks elements [first, first + count) of `w` (bits 8, 4 or 2; the
 * caller has checked the extent) to out[0], out[stride], ... Fast runs of
 * whole bytes; used where the kernels unpack sub-byte weights once per
 * call. */
void tn_weights_unpack_run(const tn_weights* w, size_t first, size_t count,
                           int8_t* out, size_t stride);

/* Element count of valid dims. */
static inline size_t tn_dims_count(const tn_dims* d) {
  return (size_t)d->h * (size_t)d->w * (size_t)d->c;
}

/* Expected output extent of a conv/pool dimension, or 0 if the window does
 * not fit the padded input. All inputs already range-checked. */
int32_t tn_conv_out_extent(int32_t in, int32_t pad_a, int32_t pad_b,
                           int32_t kernel, int32_t stride, int32_t dilation);

/* Per-channel quantization entry index. */
static inline int32_t tn_quant_index(const tn_quant_params* q, int32_t ch) {
  return q->per_channel ? ch : 0;
}

/* Rounds a scratch pointer up to 4-byte alignment. */
static inline void* tn_align4(void* p) {
  uintptr_t u = (uintptr_t)p;
  return (void*)((u + 3u) & ~(uintptr_t)3u);
}

/* ------------------------------------------------------------------------ */
/* GEMM engine of the fast conv/pointwise variants (tn_gemm_s8_fast.c)      */

/* Requantization of one output channel, prepared once per call. */
typedef struct tn_chan_q {
  int32_t bias;        /* bias + input_offset * sum(weights of the channel) */
  int32_t multiplier;  /* >= 0 */
  int32_t left_shift;  /* max(shift, 0) */
  int32_t right_shift; /* max(-shift, 0) */
  uint32_t round_mask; /* 2^right_shift - 1 */
  uint32_t round_half; /* round_mask >> 1 */
  int32_t narrow;      /* 1: tn_chan_requant_narrow() applies (see there) */
  int32_t half;        /* 2^(right_shift - 1) when narrow */
} tn_chan_q;

/* Fills the shift fields and decides `narrow` from `acc_bound`, an upper
 * bound of |accumulator| for the channel (folded bias included). */
static inline void tn_chan_q_set_shift(tn_chan_q* q, int32_t shift,
                                       int64_t acc_bound) {
  q->left_shift = shift > 0 ? shift : 0;
  q->right_shift = shift > 0 ? 0 : -shift;
  q->round_mask = (uint32_t)(((uint64_t)1 << q->right_shift) - 1u);
  q->round_half = q->round_mask >> 1;
  q->narrow = shift < 0 && acc_bound < ((int64_t)1 << 30);
  q->half = q->narrow ? (int32_t)1 << (q->right_shift - 1) : 0;
}

/* Requantize an accumulator with a prepared channel (bias already added),
 * then offset and clamp. The same arithmetic as tn_mbqm for multiplier >=
 * 0 (tn_rdp with the mask precomputed). */
static inline int8_t tn_chan_requant(int32_t acc, const tn_chan_q* q,
                                     int32_t out_offset, int32_t act_min,
                                     int32_t act_max) {
  const int32_t x =
      tn_srdhm_nonneg(tn_shl_wrap32(acc, q->left_shift), q->multiplier);
  const uint32_t remainder = (uint32_t)x & q->round_mask;
  const uint32_t threshold = q->round_half + (x < 0 ? 1u : 0u);
  int32_t v = tn_asr32(x, q->right_shift) + (remainder > threshold ? 1 : 0);
  v += out_offset;
  if (v < act_min) v = act_min;
  if (v > act_max) v = act_max;
  return (int8_t)v;
}

/* tn_chan_requant for a `narrow` channel: no left shift, right shift e >= 1
 * and |acc| < 2^30. Then 2 * acc fits int32, so
 *   SRDHM(acc, m) = floor((2 acc m + 2^31) / 2^32)
 *                 = high word of 2 acc m, plus bit 31 of its low word,
 * and |SRDHM| < 2^30 lets RoundingDivideByPOT be computed as
 *   floor((t + 2^(e-1) - [t < 0]) / 2^e)
 * without overflow: the same results as tn_chan_requant in fewer steps. */
static inline int8_t tn_chan_requant_narrow(int32_t acc, const tn_chan_q* q,
                                            int32_t out_offset, int32_t act_min,
                                            int32_t act_max) {
  const int64_t p = (int64_t)(acc * 2) * (int64_t)q->multiplier;
  const uint32_t lo = (uint32_t)((uint64_t)p & 0xffffffffu);
  const int32_t t = (int32_t)tn_asr64(p, 32) + (int32_t)(lo >> 31);
  int32_t v = tn_asr32(t - (t < 0 ? 1 : 0) + q->half, q->right_shift);
  v += out_offset;
  if (v < act_min) v = act_min;
  if (v > act_max) v = act_max;
  return (int8_t)v;
}

/* Reduction length rounded up to the GEMM's unroll factor. */
static inline int32_t tn_gemm_k_padded(int32_t k) { return (k + 3) & ~3; }

/* Scratch for tn_conv_gemm_s8: channel table, packed weights, one 4-pixel
 * im2col tile, plus alignment slack. */
size_t tn_conv_gemm_s8_buffer_size(int32_t out_c, int32_t k);

/* The fast conv engine: im2col of 4 output pixels at a time into scratch,
 * weights unpacked and re-laid 4 channels interleaved ([block][k][4], zero
 * padded), a 4x4 register-blocked GEMM, per-channel requantization.
 * REQUIRES: tn_check_conv_call() passed (general or pointwise geometry),
 * scratch_size >= tn_conv_gemm_s8_buffer_size(). */
tn_status tn_conv_gemm_s8(const tn_conv_params* params,
                          const tn_quant_params* quant,
                          const tn_dims* input_dims, const int8_t* input,
                          const tn_dims* filter_dims, const tn_weights* weights,
                          const int32_t* bias, const tn_dims* output_dims,
                          int8_t* output, void* scratch, size_t scratch_size);

#endif /* TN_KERNELS_TN_KERNELS_INTERNAL_H_ */
