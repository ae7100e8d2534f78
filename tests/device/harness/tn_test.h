/*
 * A minimal test harness for firmware code: plain C11, no heap, prints to
 * stdout only, so the same test program runs on the host and under QEMU
 * (rv32, semihosting).
 *
 * Bit-exactness across targets: tests call tn_test_digest() on every output
 * they compute. Each call prints "digest <label> <16 hex digits>" (FNV-1a 64
 * of the bytes); the rv32 runner compares these lines with the host's and
 * fails on any difference. Labels must be unique within a program.
 *
 * Usage:
 *   TN_TEST(conv_matches_reference) { TN_CHECK_EQ(1, 1); }
 *   int main(void) {
 *     static const tn_test_case cases[] = {TN_CASE(conv_matches_reference)};
 *     return tn_test_main(cases, TN_ARRAY_SIZE(cases));
 *   }
 */
#ifndef TESTS_DEVICE_HARNESS_TN_TEST_H_
#define TESTS_DEVICE_HARNESS_TN_TEST_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*tn_test_fn)(void);
typedef struct tn_test_case {
  const char* name;
  tn_test_fn fn;
} tn_test_case;

#define TN_TEST(name) static void name(void)
#define TN_CASE(name) \
  { #name, name }

/* Runs every case, prints a summary; returns 0 when all passed. */
int tn_test_main(const tn_test_case* cases, size_t count);

/* Records a failure of the running case (does not abort it). */
void tn_test_fail(const char* file, int line, const char* expr, long long lhs,
                  long long rhs);

/* Prints the digest line for `label` over `size` bytes of `data`. */
void tn_test_digest(const char* label, const void* data, size_t size);

/* FNV-1a 64 over bytes, chainable from `seed` (start with
 * TN_TEST_FNV_SEED). */
#define TN_TEST_FNV_SEED 0xcbf29ce484222325ULL
uint64_t tn_test_fnv1a(uint64_t seed, const void* data, size_t size);

/* Number of failures recorded so far in the running case. */
int tn_test_failures(void);

#define TN_CHECK(cond)                                          \
  do {                                                          \
    if (!(cond)) tn_test_fail(__FILE__, __LINE__, #cond, 0, 0); \
  } while (0)

#define TN_CHECK_EQ(a, b)                                           \
  do {                                                              \
    long long tn_a_ = (long long)(a), tn_b_ = (long long)(b);       \
    if (tn_a_ != tn_b_)                                             \
      tn_test_fail(__FILE__, __LINE__, #a " == " #b, tn_a_, tn_b_); \
  } while (0)

/* Checks a tn_status; prints both names on mismatch. */
#define TN_CHECK_STATUS(expr, expected) \
  TN_CHECK_EQ((int)(expr), (int)(expected))

/* Stops the running case when a check has failed (use after checks whose
 * failure would make later code read out of bounds). */
#define TN_REQUIRE(cond)                             \
  do {                                               \
    if (!(cond)) {                                   \
      tn_test_fail(__FILE__, __LINE__, #cond, 0, 0); \
      return;                                        \
    }                                                \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif /* TESTS_DEVICE_HARNESS_TN_TEST_H_ */
