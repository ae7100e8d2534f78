/* Cost model: the GAP9 profile equals the documented table, and layer and
 * model estimates follow the documented formulas, recomputed here from the
 * shapes (MACs, transfer bytes, overlap of DMA and compute with double
 * buffering, energy = cycles x power / frequency). */
#include <string.h>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "tn_test.h"

static fixture_model g_model;

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

TN_TEST(gap9_profile_matches_documented_table) {
  const tn_cost_profile* p = tn_cost_profile_gap9();
  TN_REQUIRE(p != NULL);
  /* docs/formats/model-blob.md, "Cost model". */
  TN_CHECK_EQ(p->freq_mhz, 370);
  TN_CHECK_EQ(p->power_uw, 50000);
  TN_CHECK_EQ(p->mmac_per_cycle[TN_KCLASS_CONV], 15500);
  TN_CHECK_EQ(p->mmac_per_cycle[TN_KCLASS_DEPTHWISE], 4000);
  TN_CHECK_EQ(p->mmac_per_cycle[TN_KCLASS_FC], 8000);
  TN_CHECK_EQ(p->mmac_per_cycle[TN_KCLASS_ELEMENTWISE], 8000);
  TN_CHECK_EQ(p->mmac_per_cycle[TN_KCLASS_SOFTMAX], 500);
  TN_CHECK_EQ(p->mmac_per_cycle[TN_KCLASS_FP32], 810);
  TN_CHECK_EQ(p->layer_overhead_cycles, 2000);
  TN_CHECK_EQ(p->tile_overhead_cycles, 300);
  TN_CHECK_EQ(p->dma_mbytes_per_cycle, 8000);
  TN_CHECK_EQ(p->train_macs_factor, 3);
}

TN_TEST(untiled_conv_layer) {
  fx_init(&g_model, 31, 20, 16, 8);
  uint16_t y = fx_conv(&g_model, TN_OP_CONV2D, g_model.graph.input_tensor, 16,
                       3, 1, 1, 8, -128, 127);
  fx_finish(&g_model, y);
  const tn_cost_profile* p = tn_cost_profile_gap9();
  tn_layer_cost c;
  TN_REQUIRE(tn_cost_layer(&g_model.graph, 0, NULL, p, &c) == TN_OK);
  uint64_t macs = 20ull * 16 * 16 * (3 * 3 * 8);
  TN_CHECK_EQ(c.macs, macs);
  TN_CHECK_EQ(tn_op_macs(&g_model.graph, 0), macs);
  TN_CHECK_EQ(c.kernel_class, TN_KCLASS_CONV);
  TN_CHECK_EQ(c.compute_cycles, ceil_div(macs * 1000, 15500));
  uint64_t bytes = 20ull * 16 * 8 /* input */ + 16ull * 72 /* weights */ +
                   16ull * 12 /* quant */ + 20ull * 16 * 16 /* output */;
  TN_CHECK_EQ(c.transfer_bytes, bytes);
  TN_CHECK_EQ(c.transfer_cycles, ceil_div(bytes * 1000, 8000));
  TN_CHECK_EQ(c.tiles, 1);
  TN_CHECK_EQ(c.overhead_cycles, 2000 + 300);
  TN_CHECK_EQ(c.cycles, 2300 + c.compute_cycles + c.transfer_cycles);
  TN_CHECK_EQ(c.energy_pj, c.cycles * 50000 / 370);
  uint64_t fields[4] = {c.cycles, c.energy_pj, c.transfer_bytes, c.macs};
  tn_test_digest("cost.conv_untiled", fields, sizeof(fields));
}

TN_TEST(tiled_layer_overlaps_transfers) {
  fx_init(&g_model, 32, 32, 32, 16);
  uint16_t y = fx_conv(&g_model, TN_OP_CONV2D, g_model.graph.input_tensor, 16,
                       3, 1, 1, 8, -128, 127);
  fx_finish(&g_model, y);
  const tn_cost_profile* p = tn_cost_profile_gap9();
  tn_tile tile = {8, 8, 0}; /* 4 row tiles x 2 channel tiles */
  tn_layer_cost c;
  TN_REQUIRE(tn_cost_layer(&g_model.graph, 0, &tile, p, &c) == TN_OK);
  TN_CHECK_EQ(c.tiles, 8);
  /* Input slab: (8 - 1) * 1 + 3 = 10 rows of 32 x 16, per tile; weights and
   * quant once per channel tile; output once. */
  uint64_t bytes =
      8ull * (10 * 32 * 16) + 2ull * (8 * 144 + 8 * 12) + 32ull * 32 * 16;
  TN_CHECK_EQ(c.transfer_bytes, bytes);
  uint64_t compute = ceil_div(c.macs * 1000, 15500);
  uint64_t transfer = ceil_div(bytes * 1000, 8000);
  uint64_t overlap = compute > transfer ? compute : transfer;
  TN_CHECK_EQ(c.cycles, 2000 + 8 * 300 + overlap + ceil_div(transfer, 8));
  tn_layer_cost whole;
  TN_REQUIRE(tn_cost_layer(&g_model.graph, 0, NULL, p, &whole) == TN_OK);
  TN_CHECK_EQ(whole.macs, c.macs);
  TN_CHECK(c.transfer_bytes > whole.transfer_bytes); /* halo re-reads */
  tn_tile bad = {0, 8, 0};
  TN_CHECK_STATUS(tn_cost_layer(&g_model.graph, 0, &bad, p, &c), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_cost_layer(&g_model.graph, 1, NULL, p, &c), TN_ERR_ARG);
}

TN_TEST(kernel_classes_rank_as_documented) {
  /* Same MACs through a depthwise and a pointwise layer: depthwise runs at
   * a lower MAC/cycle, so it must cost more compute cycles. */
  fx_init(&g_model, 33, 16, 16, 9);
  uint16_t a = fx_conv(&g_model, TN_OP_DWCONV2D, g_model.graph.input_tensor, 9,
                       3, 1, 1, 8, -128, 127);
  uint16_t b = fx_conv(&g_model, TN_OP_PWCONV, a, 9, 1, 1, 0, 8, -128, 127);
  fx_finish(&g_model, b);
  tn_layer_cost dw, pw;
  TN_REQUIRE(tn_cost_layer(&g_model.graph, 0, NULL, tn_cost_profile_gap9(),
                           &dw) == TN_OK);
  TN_REQUIRE(tn_cost_layer(&g_model.graph, 1, NULL, tn_cost_profile_gap9(),
                           &pw) == TN_OK);
  TN_CHECK_EQ(dw.macs, pw.macs);
  TN_CHECK_EQ(dw.kernel_class, TN_KCLASS_DEPTHWISE);
  TN_CHECK(dw.compute_cycles > pw.compute_cycles);
}

TN_TEST(model_totals_and_training_step) {
  fixture_model* m = &g_model;
  fx_init(m, 34, 49, 10, 1);
  uint16_t x = fx_conv(m, TN_OP_CONV2D, m->graph.input_tensor, 64, 3, 2, 1, 8,
                       -128, 127);
  x = fx_conv(m, TN_OP_DWCONV2D, x, 64, 3, 1, 1, 8, -128, 127);
  x = fx_conv(m, TN_OP_PWCONV, x, 64, 1, 1, 0, 8, -128, 127);
  x = fx_global_avgpool(m, x);
  uint16_t f = fx_cut(m, x);
  uint16_t y = fx_fc_f32(m, f, 12);
  fx_finish(m, y);
  TN_REQUIRE(fx_plan(m, TN_TARGET_GAP9) == TN_OK);
  const tn_cost_profile* p = tn_cost_profile_gap9();
  tn_model_cost mc;
  TN_REQUIRE(tn_cost_model(&m->graph, m->tiles, m->tail.first_op, p, &mc) ==
             TN_OK);
  uint64_t macs = 0, front = 0, tail = 0;
  for (uint32_t i = 0; i < m->graph.op_count; ++i) {
    tn_layer_cost c;
    TN_REQUIRE(tn_cost_layer(&m->graph, i, &m->tiles[i], p, &c) == TN_OK);
    macs += c.macs;
    if (i < m->tail.first_op) {
      front += c.cycles;
    } else {
      tail += c.cycles;
    }
  }
  TN_CHECK_EQ(mc.macs, macs);
  TN_CHECK_EQ(mc.front_cycles, front);
  TN_CHECK_EQ(mc.tail_cycles, tail);
  TN_CHECK_EQ(mc.cycles, front + tail);
  TN_CHECK_EQ(mc.energy_pj, (front + tail) * 50000 / 370);
  TN_CHECK_EQ(mc.train_step_cycles, 3 * tail);
  /* The FC tail: 64 x 12 MACs at 0.81 MAC/cycle. */
  tn_layer_cost fc;
  TN_REQUIRE(tn_cost_layer(&m->graph, m->graph.op_count - 1, NULL, p, &fc) ==
             TN_OK);
  TN_CHECK_EQ(fc.compute_cycles, ceil_div(64ull * 12 * 1000, 810));
  uint64_t fields[5] = {mc.macs, mc.cycles, mc.energy_pj, mc.train_step_cycles,
                        mc.train_step_energy_pj};
  tn_test_digest("cost.model", fields, sizeof(fields));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(gap9_profile_matches_documented_table),
      TN_CASE(untiled_conv_layer),
      TN_CASE(tiled_layer_overlaps_transfers),
      TN_CASE(kernel_classes_rank_as_documented),
      TN_CASE(model_totals_and_training_step),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
