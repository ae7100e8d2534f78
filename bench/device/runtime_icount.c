/*
 * Instruction counts of the model runtime on rv32 (run under QEMU with
 * -icount shift=0, i.e. device/port/rv32/run-qemu.sh, so minstret counts
 * exactly the retired instructions): SHA-256, blob parse and validation,
 * memory planning and the cost model on the DS-CNN-S-like reference model,
 * then full inference untiled and tiled (two L1 budgets), and the FP32
 * tail. Prints "icount <name> <instructions> <per unit>" lines and the
 * memory each piece needs.
 */
#include <stdio.h>
#include <string.h>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

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

static void report(const char* name, uint64_t n, uint64_t units) {
  unsigned long long per100 = units ? (n * 100u + units / 2u) / units : 0u;
  printf("icount %-28s %12llu  %8llu.%02llu per unit (%llu units)\n", name,
         (unsigned long long)n, per100 / 100u, per100 % 100u,
         (unsigned long long)units);
}

static fixture_model g_model;
static uint8_t g_blob[64 * 1024];
static uint64_t g_arena[160 * 1024 / 8];

static int build(tn_target target, uint32_t l1_budget, int tail, size_t* size,
                 uint64_t* plan_instructions) {
  fx_ds_cnn(&g_model, 1, tail);
  tn_plan_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.l1_budget = l1_budget;
  uint64_t t0 = instret();
  tn_status st = tn_plan_memory(&g_model.graph, tail ? &g_model.tail : NULL,
                                target, &opt, g_model.placements, g_model.tiles,
                                &g_model.plan, &g_model.report);
  *plan_instructions = instret() - t0;
  if (st != TN_OK) return 0;
  return fx_build(&g_model, target, 0, NULL, NULL, g_blob, sizeof(g_blob),
                  size) == TN_OK;
}

/* Loads the blob and runs one inference; returns its instruction count. */
static uint64_t infer(size_t size, int tiled, size_t* arena_size) {
  tn_blob blob;
  tn_model model;
  tn_model_options opt = {(uint8_t)tiled};
  if (tn_blob_parse(g_blob, size, NULL, &blob) != TN_OK ||
      tn_model_arena_size(&blob, &opt, arena_size) != TN_OK ||
      *arena_size > sizeof(g_arena) ||
      tn_model_init(&model, &blob, g_arena, *arena_size, &opt) != TN_OK) {
    printf("load failed\n");
    return 0;
  }
  tn_tensor_view in;
  (void)tn_model_input(&model, &in);
  for (uint32_t i = 0; i < in.bytes; ++i) ((int8_t*)in.data)[i] = (int8_t)i;
  uint64_t t0 = instret();
  tn_status st = tn_model_run(&model);
  uint64_t n = instret() - t0;
  return st == TN_OK ? n : 0;
}

int main(void) {
  static uint8_t data[4096];
  uint8_t digest[32];
  memset(data, 0x5A, sizeof(data));
  uint64_t t0 = instret();
  (void)tn_sha256(data, sizeof(data), digest);
  report("sha256_4KiB_per_byte", instret() - t0, sizeof(data));

  size_t size = 0;
  uint64_t plan_n = 0;
  if (!build(TN_TARGET_GAP9, 0, 0, &size, &plan_n)) {
    printf("build failed\n");
    return 1;
  }
  report("plan_ds_cnn_gap9", plan_n, 1);
  tn_blob blob;
  t0 = instret();
  tn_status st = tn_blob_parse(g_blob, size, NULL, &blob);
  report("parse_ds_cnn_per_byte", instret() - t0, size);
  if (st != TN_OK) return 1;
  tn_model_cost cost;
  t0 = instret();
  (void)tn_cost_model(&g_model.graph, g_model.tiles, g_model.graph.op_count,
                      tn_cost_profile_gap9(), &cost);
  report("cost_model_ds_cnn", instret() - t0, 1);
  printf("figure gap9_estimate cycles=%llu energy_pj=%llu macs=%llu\n",
         (unsigned long long)cost.cycles, (unsigned long long)cost.energy_pj,
         (unsigned long long)cost.macs);

  /* Per-layer GAP9 estimates (integer arithmetic: the same on every
   * target). */
  for (uint32_t i = 0; i < g_model.graph.op_count; ++i) {
    tn_layer_cost lc;
    if (tn_cost_layer(&g_model.graph, i, &g_model.tiles[i],
                      tn_cost_profile_gap9(), &lc) != TN_OK) {
      return 1;
    }
    printf(
        "figure layer %2lu op=%-2u class=%u macs=%-7llu cycles=%-7llu "
        "energy_nj=%-6llu tiles=%lu\n",
        (unsigned long)i, g_model.ops[i].type, lc.kernel_class,
        (unsigned long long)lc.macs, (unsigned long long)lc.cycles,
        (unsigned long long)(lc.energy_pj / 1000u), (unsigned long)lc.tiles);
  }
  uint32_t sum = 0;
  for (uint32_t t = 0; t < g_model.graph.tensor_count; ++t) {
    sum += g_model.placements[t].size;
  }
  printf("figure l2_plan peak=%lu sum_of_tensors=%lu l2_required=%lu\n",
         (unsigned long)g_model.plan.l2_arena_bytes, (unsigned long)sum,
         (unsigned long)g_model.report.l2_required);

  size_t arena = 0;
  uint64_t n = infer(size, 0, &arena);
  report("infer_ds_cnn_untiled_per_mac", n, blob.meta_macs);
  printf("figure blob_bytes=%lu arena_bytes_untiled=%lu l2_peak=%lu\n",
         (unsigned long)size, (unsigned long)arena,
         (unsigned long)blob.l2_arena_bytes);

  static const uint32_t budgets[] = {16u * 1024u, 8u * 1024u};
  for (int k = 0; k < 2; ++k) {
    if (!build(TN_TARGET_GAP8, budgets[k], 0, &size, &plan_n)) return 1;
    n = infer(size, 1, &arena);
    char name[64];
    snprintf(name, sizeof(name), "infer_ds_cnn_tiled_%luk_per_mac",
             (unsigned long)(budgets[k] / 1024u));
    report(name, n, blob.meta_macs);
    printf("figure tiled_%luk tiled_ops=%lu arena_bytes=%lu plan_icount=%llu\n",
           (unsigned long)(budgets[k] / 1024u),
           (unsigned long)g_model.report.tiled_ops, (unsigned long)arena,
           (unsigned long long)plan_n);
  }

  /* Tile choice for one large layer, [64, 64, 32] -> conv 3x3 -> 32. */
  static const tn_target targets[] = {TN_TARGET_GAP9, TN_TARGET_GAP8};
  for (int k = 0; k < 2; ++k) {
    fx_init(&g_model, 23, 64, 64, 32);
    uint16_t y = fx_conv(&g_model, TN_OP_CONV2D, g_model.graph.input_tensor, 32,
                         3, 1, 1, 8, -128, 127);
    fx_finish(&g_model, y);
    t0 = instret();
    st = tn_plan_memory(&g_model.graph, NULL, targets[k], NULL,
                        g_model.placements, g_model.tiles, &g_model.plan,
                        &g_model.report);
    uint64_t plan_big = instret() - t0;
    if (st != TN_OK) return 1;
    uint32_t full = 0;
    (void)tn_tile_l1_bytes(&g_model.graph, 0, 64, 32, &full);
    tn_layer_cost whole, tiled;
    (void)tn_cost_layer(&g_model.graph, 0, NULL, tn_cost_profile_gap9(),
                        &whole);
    (void)tn_cost_layer(&g_model.graph, 0, &g_model.tiles[0],
                        tn_cost_profile_gap9(), &tiled);
    printf(
        "figure big_layer %s full_l1=%lu tile=%lux%lu l1=%lu tiles=%lu "
        "transfer=%llu cycles=%llu (untiled %llu) plan_icount=%llu\n",
        k == 0 ? "gap9" : "gap8", (unsigned long)full,
        (unsigned long)g_model.tiles[0].tile_h,
        (unsigned long)g_model.tiles[0].tile_c,
        (unsigned long)g_model.tiles[0].l1_bytes, (unsigned long)tiled.tiles,
        (unsigned long long)tiled.transfer_bytes,
        (unsigned long long)tiled.cycles, (unsigned long long)whole.cycles,
        (unsigned long long)plan_big);
  }

  /* The FP32 tail alone: FC 64 -> 12. */
  if (!build(TN_TARGET_GAP9, 0, 1, &size, &plan_n)) return 1;
  tn_model model;
  if (tn_blob_parse(g_blob, size, NULL, &blob) != TN_OK ||
      tn_model_arena_size(&blob, NULL, &arena) != TN_OK ||
      tn_model_init(&model, &blob, g_arena, arena, NULL) != TN_OK ||
      tn_model_run_front(&model) != TN_OK) {
    return 1;
  }
  t0 = instret();
  st = tn_model_run_tail(&model);
  report("run_tail_fc64x12_per_mac", instret() - t0, 64u * 12u);
  return st == TN_OK ? 0 : 1;
}
