/* Implementation of the firmware test harness (see tn_test.h). */
#include "tn_test.h"

#include <stdio.h>

static int g_case_failures;
static const char* g_case_name = "";

uint64_t tn_test_fnv1a(uint64_t seed, const void* data, size_t size) {
  const uint8_t* p = (const uint8_t*)data;
  uint64_t h = seed;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

void tn_test_fail(const char* file, int line, const char* expr, long long lhs,
                  long long rhs) {
  ++g_case_failures;
  if (lhs != rhs) {
    printf("  FAIL %s:%d: %s (%lld vs %lld) in %s\n", file, line, expr, lhs,
           rhs, g_case_name);
  } else {
    printf("  FAIL %s:%d: %s in %s\n", file, line, expr, g_case_name);
  }
}

int tn_test_failures(void) { return g_case_failures; }

void tn_test_digest(const char* label, const void* data, size_t size) {
  uint64_t h = tn_test_fnv1a(TN_TEST_FNV_SEED, data, size);
  printf("digest %s %08lx%08lx\n", label, (unsigned long)(h >> 32),
         (unsigned long)(h & 0xffffffffu));
}

int tn_test_main(const tn_test_case* cases, size_t count) {
  size_t failed = 0;
  for (size_t i = 0; i < count; ++i) {
    g_case_failures = 0;
    g_case_name = cases[i].name;
    printf("[ RUN  ] %s\n", cases[i].name);
    cases[i].fn();
    if (g_case_failures) {
      ++failed;
      printf("[ FAIL ] %s\n", cases[i].name);
    } else {
      printf("[  OK  ] %s\n", cases[i].name);
    }
  }
  printf("%lu of %lu cases passed\n", (unsigned long)(count - failed),
         (unsigned long)count);
  fflush(stdout);
  return failed ? 1 : 0;
}
