/*
 * Deterministic single-precision elementary functions for the firmware.
 * libm implementations differ between targets (glibc on the host, picolibc
 * on the node), so device code calls these instead: each is built only from
 * IEEE-754 single-precision + - * / (round to nearest) and integer
 * operations, so with -ffp-contract=off it returns the same bits on x86-64
 * SSE, rv32 soft float and rv32 hard float. sin/cos reduce their argument
 * exactly with integer arithmetic (Payne-Hanek), exp with a two-part
 * (Cody-Waite) ln 2, log by splitting off the exponent; the reduced
 * arguments go through polynomials evaluated in a fixed order.
 *
 * Accuracy: maximum error in units in the last place (ulp) against
 * double-precision libm, measured on the host by
 * tests/device/base/math_test.c over 1/127 of all binary32 inputs of each
 * domain (the test enforces the bound in parentheses): tn_sqrtf 0.5
 * (correctly rounded), tn_expf 0.98 (1.5), tn_logf 0.91 (1.5), tn_sinf and
 * tn_cosf 1.57 (2), tn_tanhf 1.30 (2), tn_sigmoidf 2.30 (2.5). Figures and
 * costs are in docs/benchmarks/train.md.
 *
 * Special values: NaN in gives the canonical quiet NaN (bits 0x7fc00000)
 * out, as does any invalid operation (log of a negative number, sin of
 * infinity), so even NaN results are identical across targets.
 * Subnormal inputs and results are handled (no flush to zero).
 */
#ifndef TN_BASE_TN_MATH_H_
#define TN_BASE_TN_MATH_H_

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bits of the canonical quiet NaN every tn_math function returns. */
#define TN_F32_CANONICAL_NAN_BITS 0x7fc00000u

/* Reinterprets a float's bits as an integer and back (no conversion). */
static inline uint32_t tn_f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof(u));
  return u;
}
static inline float tn_f32_from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof(x));
  return x;
}

/* True when x is neither infinite nor NaN. */
static inline int tn_isfinitef(float x) {
  return (tn_f32_bits(x) & 0x7f800000u) != 0x7f800000u;
}

/* e^x. Overflows to +inf above 88.7228317, underflows to +0 below -104. */
float tn_expf(float x);

/* Natural logarithm. log(+0) = log(-0) = -inf, log(x < 0) = NaN. */
float tn_logf(float x);

/* Square root, correctly rounded (as IEEE-754 requires of sqrt, so the
 * hardware instruction is used where the target has one and gives the same
 * bits). sqrt(-0) = -0, sqrt(x < 0) = NaN. */
float tn_sqrtf(float x);

/* The integer-only, correctly rounded square root tn_sqrtf falls back to on
 * targets without a hardware square root. Exposed so tests can check it
 * against the hardware on the host. */
float tn_sqrtf_soft(float x);

/* Sine and cosine of x in radians, for every finite x (the range reduction
 * uses 224 bits of 2/pi). sin/cos of +-inf is NaN. */
float tn_sinf(float x);
float tn_cosf(float x);

/* Hyperbolic tangent; exactly +-1 for |x| >= 10. */
float tn_tanhf(float x);

/* Logistic function 1 / (1 + e^-x). */
float tn_sigmoidf(float x);

#ifdef __cplusplus
}
#endif

#endif /* TN_BASE_TN_MATH_H_ */
