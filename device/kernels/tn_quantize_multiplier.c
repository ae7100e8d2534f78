/*
 * HOST-SIDE helper for the gateway's model compiler and for tests: turns a
 * real multiplier into TFLite's (Q31 multiplier, shift) pair. It uses double
 * and frexp and is never called on the node at run time. Every operation is
 * exact in IEEE double (frexp, scaling by a power of two, adding 0.5 to a
 * value below 2^31), so the result is the same on every target.
 */
#include <math.h>

#include "kernels/tn_kernels.h"

tn_status tn_quantize_multiplier(double real, int32_t* multiplier,
                                 int32_t* shift) {
  if (multiplier == NULL || shift == NULL) return TN_ERR_NULL;
  if (!isfinite(real) || real < 0.0) return TN_ERR_ARG;
  if (real == 0.0) {
    *multiplier = 0;
    *shift = 0;
    return TN_OK;
  }
  int exponent = 0;
  double fraction = frexp(real, &exponent); /* real = fraction * 2^exponent */
  /* Round half away from zero (fraction > 0): floor(x + 0.5). */
  int64_t q = (int64_t)(ldexp(fraction, 31) + 0.5);
  if (q == ((int64_t)1 << 31)) {
    q /= 2;
    ++exponent;
  }
  if (exponent < -31) {
    /* Every product would round to zero; TFLite encodes that as (0, 0). */
    exponent = 0;
    q = 0;
  }
  if (exponent > 30) {
    exponent = 30;
    q = ((int64_t)1 << 31) - 1;
  }
  *multiplier = (int32_t)q;
  *shift = (int32_t)exponent;
  return TN_OK;
}
