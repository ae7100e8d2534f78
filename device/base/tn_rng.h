/*
 * Deterministic pseudo-random numbers (PCG32) for reservoir sampling,
 * shuffling and tests. Identical sequences on every target for a given seed.
 * Not for cryptography. A tn_rng is owned by its caller; not thread-safe.
 */
#ifndef TN_BASE_TN_RNG_H_
#define TN_BASE_TN_RNG_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_rng {
  uint64_t state;
  uint64_t inc;
} tn_rng;

/* Seeds the generator; `stream` selects one of 2^63 independent sequences. */
void tn_rng_seed(tn_rng* rng, uint64_t seed, uint64_t stream);

/* Next uniformly distributed 32-bit value. */
uint32_t tn_rng_u32(tn_rng* rng);

/* Uniform integer in [0, bound) without modulo bias. REQUIRES: bound > 0. */
uint32_t tn_rng_below(tn_rng* rng, uint32_t bound);

/* Uniform integer in [lo, hi]. REQUIRES: lo <= hi. */
int32_t tn_rng_range(tn_rng* rng, int32_t lo, int32_t hi);

/* Uniform float in [0, 1) with 24 random bits (exact on every target). */
float tn_rng_unit_f32(tn_rng* rng);

#ifdef __cplusplus
}
#endif

#endif /* TN_BASE_TN_RNG_H_ */
