/* Memory planner properties: live tensors never share bytes (checked with
 * lifetimes computed here independently), the arena holds every placement
 * and reuses dead tensors' memory, layers that do not fit L1 are tiled
 * within the budget with locally maximal tiles, plans validate as blobs,
 * and budget failures report the memory, the op and the overshoot. */
#include <string.h>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "tn_test.h"

static fixture_model g_model;
static uint8_t g_blob[96 * 1024];

/* A DS-CNN-like keyword-spotting network on a [49, 10, 1] input. */
static void ds_cnn(fixture_model* m, int with_tail) {
  fx_init(m, 21, 49, 10, 1);
  uint16_t x = fx_conv(m, TN_OP_CONV2D, m->graph.input_tensor, 64, 3, 2, 1, 8,
                       -128, 127);
  for (int i = 0; i < 4; ++i) {
    x = fx_conv(m, TN_OP_DWCONV2D, x, 64, 3, 1, 1, 8, -128, 127);
    x = fx_conv(m, TN_OP_PWCONV, x, 64, 1, 1, 0, i == 3 ? 4 : 8, -128, 127);
  }
  x = fx_global_avgpool(m, x);
  if (with_tail) {
    uint16_t f = fx_cut(m, x);
    x = fx_fc_f32(m, f, 12);
  } else {
    x = fx_fc(m, x, 12, 8);
  }
  fx_finish(m, x);
}

/* A residual block with a flatten, to exercise aliasing and long lives. */
static void residual(fixture_model* m) {
  fx_init(m, 22, 16, 16, 8);
  uint16_t a = fx_conv(m, TN_OP_CONV2D, m->graph.input_tensor, 16, 3, 1, 1, 8,
                       -128, 127);
  uint16_t b = fx_conv(m, TN_OP_DWCONV2D, a, 16, 3, 1, 1, 8, -128, 127);
  uint16_t c = fx_conv(m, TN_OP_PWCONV, b, 16, 1, 1, 0, 8, -128, 127);
  uint16_t d = fx_add(m, a, c);
  uint16_t e = fx_pool(m, TN_OP_MAXPOOL, d, 2, 2, 0);
  uint16_t f = fx_reshape(m, e, 1, 1, 8 * 8 * 16);
  uint16_t y = fx_fc(m, f, 10, 8);
  fx_finish(m, y);
}

/* One big layer: [64, 64, 32] -> conv 3x3 -> [64, 64, 32]. */
static void big_layer(fixture_model* m) {
  fx_init(m, 23, 64, 64, 32);
  uint16_t y = fx_conv(m, TN_OP_CONV2D, m->graph.input_tensor, 32, 3, 1, 1, 8,
                       -128, 127);
  fx_finish(m, y);
}

/* Lifetimes computed from the description: [producer, last reader]; the
 * input starts at 0, the output and the cut end at op_count. */
static void lifetimes(const fixture_model* m, uint32_t* first, uint32_t* last) {
  for (uint32_t t = 0; t < m->graph.tensor_count; ++t) first[t] = last[t] = 0;
  for (uint32_t i = 0; i < m->graph.op_count; ++i) {
    const tn_op_desc* op = &m->ops[i];
    first[op->output] = last[op->output] = i;
    last[op->input0] = i;
    if (op->input1 != TN_NO_TENSOR) last[op->input1] = i;
  }
  last[m->graph.output_tensor] = m->graph.op_count;
  if (m->has_tail) last[m->tail.cut_tensor] = m->graph.op_count;
}

/* Tensor whose bytes `t` shares through RESHAPE ops. */
static uint32_t alias_root(const fixture_model* m, uint32_t t) {
  for (uint32_t guard = 0; guard < FX_MAX_OPS; ++guard) {
    uint32_t producer = FX_MAX_OPS;
    for (uint32_t i = 0; i < m->graph.op_count; ++i) {
      if (m->ops[i].output == t) producer = i;
    }
    if (producer == FX_MAX_OPS || m->ops[producer].type != TN_OP_RESHAPE) {
      return t;
    }
    t = m->ops[producer].input0;
  }
  return t;
}

/* Checks the placement invariants; returns the bytes a perfect planner
 * needs at least (the largest sum of simultaneously live, unaliased
 * tensors). */
static uint32_t check_placements(const fixture_model* m) {
  uint32_t first[FX_MAX_TENSORS], last[FX_MAX_TENSORS];
  lifetimes(m, first, last);
  uint32_t n = m->graph.tensor_count;
  for (uint32_t a = 0; a < n; ++a) {
    const tn_placement* pa = &m->placements[a];
    TN_CHECK_EQ(pa->level, TN_MEM_L2);
    TN_CHECK_EQ(pa->offset % 8u, 0);
    TN_CHECK(pa->offset + pa->size <= m->plan.l2_arena_bytes);
    for (uint32_t b = a + 1; b < n; ++b) {
      const tn_placement* pb = &m->placements[b];
      int live_together = first[a] <= last[b] && first[b] <= last[a];
      int share = pa->offset < pb->offset + pb->size &&
                  pb->offset < pa->offset + pa->size;
      if (live_together && share) {
        /* Only a RESHAPE alias on the very same bytes may do this. */
        TN_CHECK(alias_root(m, a) == alias_root(m, b));
        TN_CHECK_EQ(pa->offset, pb->offset);
      }
    }
  }
  uint32_t lower = 0;
  for (uint32_t i = 0; i <= m->graph.op_count; ++i) {
    uint32_t sum = 0;
    for (uint32_t t = 0; t < n; ++t) {
      if (first[t] <= i && i <= last[t] && alias_root(m, t) == t) {
        sum += m->placements[t].size;
      }
    }
    if (sum > lower) lower = sum;
  }
  TN_CHECK(m->plan.l2_arena_bytes >= lower);
  return lower;
}

/* Tiles fit the budget, match the footprint formula, are taken only when
 * needed, and cannot grow by one row or one channel. */
static void check_tiles(const fixture_model* m, uint32_t l1_budget) {
  uint32_t max_l1 = 0;
  for (uint32_t i = 0; i < m->graph.op_count; ++i) {
    const tn_tile* t = &m->tiles[i];
    const tn_tensor_desc* out = &m->tensors[m->ops[i].output];
    uint32_t full = 0, fp = 0, grown = 0;
    TN_CHECK_STATUS(tn_tile_l1_bytes(&m->graph, i, out->h, out->c, &full),
                    TN_OK);
    TN_CHECK_STATUS(tn_tile_l1_bytes(&m->graph, i, t->tile_h, t->tile_c, &fp),
                    TN_OK);
    TN_CHECK_EQ(fp, t->l1_bytes);
    TN_CHECK(t->l1_bytes <= l1_budget);
    if (full <= l1_budget) {
      TN_CHECK_EQ(t->tile_h, out->h);
      TN_CHECK_EQ(t->tile_c, out->c);
    } else {
      TN_CHECK(t->tile_h < out->h || t->tile_c < out->c);
      if (t->tile_h < out->h) {
        TN_CHECK_STATUS(
            tn_tile_l1_bytes(&m->graph, i, t->tile_h + 1, t->tile_c, &grown),
            TN_OK);
        TN_CHECK(grown > l1_budget);
      }
      if (t->tile_c < out->c) {
        TN_CHECK_STATUS(
            tn_tile_l1_bytes(&m->graph, i, t->tile_h, t->tile_c + 1, &grown),
            TN_OK);
        TN_CHECK(grown > l1_budget);
      }
    }
    if (t->l1_bytes > max_l1) max_l1 = t->l1_bytes;
  }
  TN_CHECK_EQ(m->plan.l1_tile_bytes, max_l1);
}

/* Digest of the plan's field values (not struct bytes: no padding). */
static void digest_plan(const char* label, const fixture_model* m) {
  uint32_t words[3 * (FX_MAX_TENSORS + FX_MAX_OPS) + 3];
  uint32_t n = 0;
  for (uint32_t t = 0; t < m->graph.tensor_count; ++t) {
    words[n++] = m->placements[t].level;
    words[n++] = m->placements[t].offset;
    words[n++] = m->placements[t].size;
  }
  for (uint32_t i = 0; i < m->graph.op_count; ++i) {
    words[n++] = m->tiles[i].tile_h;
    words[n++] = m->tiles[i].tile_c;
    words[n++] = m->tiles[i].l1_bytes;
  }
  words[n++] = m->plan.l2_arena_bytes;
  words[n++] = m->plan.l1_tile_bytes;
  words[n++] = m->report.l2_required;
  tn_test_digest(label, words, n * sizeof(uint32_t));
}

static void build_and_parse(fixture_model* m, tn_target target) {
  size_t size = 0;
  TN_CHECK_STATUS(
      fx_build(m, target, 0, NULL, NULL, g_blob, sizeof(g_blob), &size), TN_OK);
}

TN_TEST(ds_cnn_on_every_target) {
  static const tn_target targets[] = {TN_TARGET_HOST, TN_TARGET_GAP8,
                                      TN_TARGET_GAP9};
  for (uint32_t k = 0; k < 3; ++k) {
    ds_cnn(&g_model, (int)(k == 2));
    TN_REQUIRE(fx_plan(&g_model, targets[k]) == TN_OK);
    tn_target_profile prof;
    TN_CHECK_STATUS(tn_target_profile_get(targets[k], &prof), TN_OK);
    check_placements(&g_model);
    check_tiles(&g_model, prof.l1_bytes);
    TN_CHECK(g_model.report.l2_required <= prof.l2_bytes);
    TN_CHECK_EQ(g_model.report.l2_peak_bytes, g_model.plan.l2_arena_bytes);
    build_and_parse(&g_model, targets[k]);
    digest_plan(k == 0   ? "planner.ds_cnn.host"
                : k == 1 ? "planner.ds_cnn.gap8"
                         : "planner.ds_cnn.gap9_tail",
                &g_model);
  }
}

TN_TEST(memory_of_dead_tensors_is_reused) {
  ds_cnn(&g_model, 0);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP9) == TN_OK);
  uint32_t lower = check_placements(&g_model);
  uint32_t sum = 0;
  for (uint32_t t = 0; t < g_model.graph.tensor_count; ++t) {
    sum += g_model.placements[t].size;
  }
  /* A chain needs two live activations at a time, not all of them. */
  TN_CHECK(g_model.plan.l2_arena_bytes < sum / 3);
  /* Greedy placement of a chain is optimal up to alignment. */
  TN_CHECK(g_model.plan.l2_arena_bytes <= lower + 8u * 4u);
}

TN_TEST(residual_and_reshape) {
  residual(&g_model);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP8) == TN_OK);
  check_placements(&g_model);
  check_tiles(&g_model, 64u * 1024u);
  /* The flatten output sits on its input's bytes. */
  uint16_t flat = g_model.ops[5].output;
  TN_CHECK_EQ(g_model.ops[5].type, TN_OP_RESHAPE);
  TN_CHECK_EQ(g_model.placements[flat].offset,
              g_model.placements[g_model.ops[5].input0].offset);
  /* The skip input of the add is not overwritten by the branch. */
  uint16_t a = g_model.ops[0].output;
  for (uint32_t i = 1; i <= 2; ++i) {
    const tn_placement* pa = &g_model.placements[a];
    const tn_placement* pb = &g_model.placements[g_model.ops[i].output];
    TN_CHECK(pa->offset + pa->size <= pb->offset ||
             pb->offset + pb->size <= pa->offset);
  }
  build_and_parse(&g_model, TN_TARGET_GAP8);
  digest_plan("planner.residual.gap8", &g_model);
}

TN_TEST(tiling_when_a_layer_exceeds_l1) {
  big_layer(&g_model);
  /* 128 KiB in + 128 KiB out: above GAP9's 128 kB L1 and GAP8's 64 kB. */
  static const tn_target targets[] = {TN_TARGET_GAP9, TN_TARGET_GAP8};
  static const uint32_t budgets[] = {128u * 1024u, 64u * 1024u};
  for (uint32_t k = 0; k < 2; ++k) {
    TN_REQUIRE(fx_plan(&g_model, targets[k]) == TN_OK);
    check_tiles(&g_model, budgets[k]);
    TN_CHECK_EQ(g_model.report.tiled_ops, 1);
    const tn_tile* t = &g_model.tiles[0];
    TN_CHECK(t->tile_h < 64u);
    /* DORY-style: the budget is used well (double buffers > 3/4 of it). */
    TN_CHECK(t->l1_bytes > budgets[k] / 4u * 3u);
    digest_plan(k == 0 ? "planner.big.gap9" : "planner.big.gap8", &g_model);
  }
  /* The host profile keeps it whole. */
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_HOST) == TN_OK);
  TN_CHECK_EQ(g_model.report.tiled_ops, 0);
}

TN_TEST(budget_failures_report_overshoot) {
  ds_cnn(&g_model, 0);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP9) == TN_OK);
  uint32_t required = g_model.report.l2_required;
  TN_CHECK(required > g_model.report.l2_peak_bytes); /* + quant words */

  tn_plan_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.l2_budget = required - 100u;
  tn_plan_report rep;
  TN_CHECK_STATUS(
      tn_plan_memory(&g_model.graph, NULL, TN_TARGET_GAP9, &opt,
                     g_model.placements, g_model.tiles, &g_model.plan, &rep),
      TN_ERR_MEMORY_BUDGET);
  TN_CHECK_EQ(rep.failed_level, TN_MEM_L2);
  TN_CHECK_EQ(rep.overshoot_bytes, 100);
  TN_CHECK_EQ(rep.l2_required, required);
  opt.l2_budget = required;
  TN_CHECK_STATUS(
      tn_plan_memory(&g_model.graph, NULL, TN_TARGET_GAP9, &opt,
                     g_model.placements, g_model.tiles, &g_model.plan, &rep),
      TN_OK);

  /* An L1 budget below the smallest tile of the first layer. */
  memset(&opt, 0, sizeof(opt));
  opt.l1_budget = 100;
  uint32_t smallest = 0;
  TN_CHECK_STATUS(tn_tile_l1_bytes(&g_model.graph, 0, 1, 1, &smallest), TN_OK);
  TN_CHECK(smallest > 100u);
  TN_CHECK_STATUS(
      tn_plan_memory(&g_model.graph, NULL, TN_TARGET_GAP9, &opt,
                     g_model.placements, g_model.tiles, &g_model.plan, &rep),
      TN_ERR_MEMORY_BUDGET);
  TN_CHECK_EQ(rep.failed_level, TN_MEM_L1);
  TN_CHECK_EQ(rep.failed_op, 0);
  TN_CHECK_EQ(rep.overshoot_bytes, smallest - 100u);

  /* A model too large for GAP8's 512 kB L2 but fine on GAP9. */
  fx_init(&g_model, 24, 128, 128, 16);
  uint16_t y = fx_conv(&g_model, TN_OP_CONV2D, g_model.graph.input_tensor, 16,
                       3, 1, 1, 8, -128, 127);
  fx_finish(&g_model, y);
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_GAP8), TN_ERR_MEMORY_BUDGET);
  TN_CHECK_EQ(g_model.report.failed_level, TN_MEM_L2);
  TN_CHECK_EQ(g_model.report.overshoot_bytes,
              g_model.report.l2_required - 512u * 1024u);
  TN_CHECK(g_model.report.l2_required >= 2u * 128u * 128u * 16u);
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_GAP9), TN_OK);
}

TN_TEST(malformed_graphs_are_refused) {
  residual(&g_model);
  g_model.ops[1].input0 = 200;
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_GAP9), TN_ERR_BLOB_GRAPH);
  residual(&g_model);
  g_model.ops[0].input0 = g_model.ops[2].output; /* use before production */
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_GAP9), TN_ERR_BLOB_GRAPH);
  residual(&g_model);
  g_model.tensors[1].h = 15; /* conv output shape wrong */
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_GAP9), TN_ERR_BLOB_SHAPE);
  residual(&g_model);
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_UNSPECIFIED), TN_ERR_BLOB_TARGET);
  /* Limits of the kernels: a reduction above 16384, a global pooling
   * window above 65536 pixels. */
  fx_init(&g_model, 25, 1, 1, 16385);
  fx_finish(&g_model, fx_fc(&g_model, g_model.graph.input_tensor, 1, 8));
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_HOST), TN_ERR_BLOB_SHAPE);
  fx_init(&g_model, 25, 1, 1, 16384);
  fx_finish(&g_model, fx_fc(&g_model, g_model.graph.input_tensor, 1, 8));
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_HOST), TN_OK);
  fx_init(&g_model, 26, 300, 300, 1);
  fx_finish(&g_model, fx_global_avgpool(&g_model, g_model.graph.input_tensor));
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_HOST), TN_ERR_BLOB_SHAPE);
  fx_init(&g_model, 26, 256, 256, 1);
  fx_finish(&g_model, fx_global_avgpool(&g_model, g_model.graph.input_tensor));
  TN_CHECK_STATUS(fx_plan(&g_model, TN_TARGET_HOST), TN_OK);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(ds_cnn_on_every_target),
      TN_CASE(memory_of_dead_tensors_is_reused),
      TN_CASE(residual_and_reshape),
      TN_CASE(tiling_when_a_layer_exceeds_l1),
      TN_CASE(budget_failures_report_overshoot),
      TN_CASE(malformed_graphs_are_refused),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
