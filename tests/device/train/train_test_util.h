/*
 * Helpers shared by the training tests: seeded random fills (tn_rng, so
 * identical on every target), float/double copies, central finite
 * differences in double precision over a caller-supplied scalar loss, and
 * tolerance checks.
 */
#ifndef TESTS_DEVICE_TRAIN_TRAIN_TEST_UTIL_H_
#define TESTS_DEVICE_TRAIN_TRAIN_TEST_UTIL_H_

#include <stdint.h>

#include "base/tn_rng.h"
#include "tn_test.h"

/* Uniform floats in [lo, hi). */
static inline void fill_uniform(tn_rng* rng, float* v, uint32_t n, float lo,
                                float hi) {
  for (uint32_t i = 0; i < n; ++i) {
    v[i] = lo + (hi - lo) * tn_rng_unit_f32(rng);
  }
}

static inline void to_double(const float* in, double* out, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) out[i] = (double)in[i];
}

static inline double abs_d(double x) { return x < 0 ? -x : x; }

/* Largest |a[i] - b[i]| / (1 + |b[i]|). */
static inline double max_rel_err(const float* a, const double* b, uint32_t n) {
  double worst = 0.0;
  for (uint32_t i = 0; i < n; ++i) {
    double e = abs_d((double)a[i] - b[i]) / (1.0 + abs_d(b[i]));
    if (e > worst) worst = e;
  }
  return worst;
}

/* A scalar loss of some double-precision variables. */
typedef double (*fd_loss_fn)(const void* ctx);

/* d loss / d v[i] for each of the n variables in v (which the loss reads
 * through ctx), by central differences with step h. */
static inline void finite_diff(fd_loss_fn loss, const void* ctx, double* v,
                               uint32_t n, double h, double* grad) {
  for (uint32_t i = 0; i < n; ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = loss(ctx);
    v[i] = keep - h;
    const double down = loss(ctx);
    v[i] = keep;
    grad[i] = (up - down) / (2.0 * h);
  }
}

/* Checks a float gradient against a double reference within `tol`
 * (relative to 1 + |reference|); prints the worst error on failure. */
#define CHECK_CLOSE(got, want, n, tol)                          \
  do {                                                          \
    double tn_err_ = max_rel_err((got), (want), (n));           \
    if (!(tn_err_ <= (tol))) {                                  \
      tn_test_fail(__FILE__, __LINE__, #got " ~ " #want, 0, 0); \
    }                                                           \
  } while (0)

#endif /* TESTS_DEVICE_TRAIN_TRAIN_TEST_UTIL_H_ */
