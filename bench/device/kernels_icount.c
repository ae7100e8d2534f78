/*
 * Instruction counts of the int8 kernels on rv32 (run under QEMU with
 * -icount shift=0, i.e. device/port/rv32/run-qemu.sh, so minstret counts
 * exactly the retired instructions) on the DS-CNN-like layers of
 * kernels_layers.h: reference and fast variants, 8-bit and 4-bit weights.
 * Prints per layer the instructions per MAC of each variant, their ratio and
 * the scratch and weight memory each needs; then instructions per element of
 * the non-MAC ops.
 */
#include <stdio.h>

#include "kernels_layers.h"

static uint64_t instret(void) {
#if defined(__riscv)
  uint32_t hi, lo, hi2;
  do {
    __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
    __asm__ volatile("csrr %0, minstret" : "=r"(lo));
    __asm__ volatile("csrr %0, minstreth" : "=r"(hi2));
  } while (hi != hi2);
  return ((uint64_t)hi << 32) | lo;
#else
  return 0; /* host build: counts are meaningless */
#endif
}

/* x100 fixed point for printing without floating point. */
static unsigned long long per100(uint64_t n, uint64_t units) {
  return units ? (unsigned long long)((n * 100u + units / 2u) / units) : 0u;
}

static uint64_t count_layer(const kb_layer* l, int fast, int* ok) {
  uint64_t t0 = instret();
  tn_status st = kb_run(l, fast);
  uint64_t t1 = instret();
  if (st != TN_OK) *ok = 0;
  return t1 - t0;
}

static uint64_t count_misc(tn_status (*fn)(void), int* ok) {
  uint64_t t0 = instret();
  tn_status st = fn();
  uint64_t t1 = instret();
  if (st != TN_OK) *ok = 0;
  return t1 - t0;
}

int main(void) {
  int ok = 1;
  printf("%-22s %4s %10s %12s %12s %8s %8s %7s %7s %7s\n", "layer", "bits",
         "MACs", "ref instr", "fast instr", "ref/MAC", "fast/MAC", "ratio",
         "scratch", "weights");
  for (size_t i = 0; i < kb_layer_count(); ++i) {
    const kb_layer* l = kb_layer_at(i);
    static const int32_t kBits[2] = {8, 4};
    for (int b = 0; b < 2; ++b) {
      kb_prepare(l, kBits[b]);
      const uint64_t macs = kb_macs(l);
      const uint64_t ref = count_layer(l, 0, &ok);
      const uint64_t fast = count_layer(l, 1, &ok);
      const unsigned long long r = per100(ref, macs), f = per100(fast, macs);
      const unsigned long long ratio = per100(ref, fast);
      printf(
          "%-22s %4d %10llu %12llu %12llu %5llu.%02llu %5llu.%02llu "
          "%4llu.%02llu %7lu %7lu\n",
          l->name, (int)kBits[b], (unsigned long long)macs,
          (unsigned long long)ref, (unsigned long long)fast, r / 100, r % 100,
          f / 100, f % 100, ratio / 100, ratio % 100,
          (unsigned long)kb_scratch_bytes(l, 1),
          (unsigned long)kb_weight_bytes(l, kBits[b]));
    }
  }
  kb_prepare_misc();
  const uint64_t n = kb_misc_elements();
  struct {
    const char* name;
    tn_status (*fn)(void);
    uint64_t units;
  } misc[] = {
      {"global_avgpool_25x5x64", kb_run_global_avgpool, n},
      {"avgpool_3x3_25x5x64", kb_run_avgpool, n},
      {"maxpool_3x3_25x5x64", kb_run_maxpool, n},
      {"add_25x5x64", kb_run_add, n},
      {"softmax_12", kb_run_softmax, 12},
  };
  printf("%-22s %12s %10s %12s\n", "op", "elements", "instr", "instr/elem");
  for (size_t i = 0; i < sizeof(misc) / sizeof(misc[0]); ++i) {
    const uint64_t c = count_misc(misc[i].fn, &ok);
    const unsigned long long e = per100(c, misc[i].units);
    printf("%-22s %12llu %10llu %9llu.%02llu\n", misc[i].name,
           (unsigned long long)misc[i].units, (unsigned long long)c, e / 100,
           e % 100);
  }
  printf("%s\n", ok ? "all kernels returned TN_OK" : "A KERNEL FAILED");
  return ok ? 0 : 1;
}
