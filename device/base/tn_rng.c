/* PCG32 (XSH-RR variant) after O'Neill's published description. */
#include "base/tn_rng.h"

#define TN_PCG_MULT 6364136223846793005ULL

void tn_rng_seed(tn_rng* rng, uint64_t seed, uint64_t stream) {
  rng->state = 0;
  rng->inc = (stream << 1) | 1u;
  (void)tn_rng_u32(rng);
  rng->state += seed;
  (void)tn_rng_u32(rng);
}

uint32_t tn_rng_u32(tn_rng* rng) {
  uint64_t old = rng->state;
  rng->state = old * TN_PCG_MULT + rng->inc;
  uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
  uint32_t rot = (uint32_t)(old >> 59);
  return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

uint32_t tn_rng_below(tn_rng* rng, uint32_t bound) {
  /* Reject the low values that would bias the modulo; at most two draws on
   * average for any bound, bounded in practice. */
  uint32_t threshold = (uint32_t)(-bound) % bound;
  for (;;) {
    uint32_t r = tn_rng_u32(rng);
    if (r >= threshold) return r % bound;
  }
}

int32_t tn_rng_range(tn_rng* rng, int32_t lo, int32_t hi) {
  uint32_t span = (uint32_t)((int64_t)hi - (int64_t)lo) + 1u;
  if (span == 0) return (int32_t)tn_rng_u32(rng); /* full 32-bit range */
  return (int32_t)((int64_t)lo + (int64_t)tn_rng_below(rng, span));
}

float tn_rng_unit_f32(tn_rng* rng) {
  return (float)(tn_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}
