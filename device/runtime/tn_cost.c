/*
 * Cycle and energy estimates per layer and per model on the GAP9 cluster,
 * from throughput figures per kernel class, a fixed overhead per layer and
 * per tile, and an L2 <-> L1 transfer term. With more than one tile the
 * transfers are double buffered and overlap compute, so a tiled layer
 * costs max(compute, transfer) plus the first tile's transfer; a single
 * tile pays compute + transfer. Energy is cycles x average power /
 * frequency. All arithmetic is integer, so estimates are identical on
 * every target. The constants and their sources are listed in
 * docs/formats/model-blob.md ("Cost model").
 */
#include "runtime/tn_runtime_internal.h"

static const tn_cost_profile kGap9 = {
    370,   /* MHz: GAP9 cluster maximum clock */
    50000, /* uW: average active power of SoC + cluster under CNN load */
    {
        0,     /* NONE */
        15500, /* CONV: PULP-NN int8 conv, 8 cores */
        4000,  /* DEPTHWISE */
        8000,  /* FC */
        8000,  /* ELEMENTWISE: one element per core per cycle */
        500,   /* SOFTMAX: elements per cycle */
        810,   /* FP32: PULP-TrainLib */
    },
    2000, /* layer overhead: cluster fork/join, barriers, DMA setup */
    300,  /* tile overhead: DMA programming and wait per tile */
    8000, /* DMA: 8 bytes per cycle L2 <-> L1 */
    3,    /* training step = forward + input grad + weight grad */
};

const tn_cost_profile* tn_cost_profile_gap9(void) { return &kGap9; }

static uint64_t div_ceil(uint64_t a, uint64_t b) {
  return b == 0 ? 0 : (a + b - 1u) / b;
}

uint64_t tn_op_macs(const tn_graph_desc* graph, uint32_t op_index) {
  if (graph == NULL || op_index >= graph->op_count) return 0;
  const tn_op_desc* op = &graph->ops[op_index];
  if (op->input0 >= graph->tensor_count || op->output >= graph->tensor_count) {
    return 0;
  }
  return tn_op_macs_desc(op, &graph->tensors[op->input0],
                         &graph->tensors[op->output]);
}

tn_status tn_cost_layer(const tn_graph_desc* graph, uint32_t op_index,
                        const tn_tile* tile, const tn_cost_profile* profile,
                        tn_layer_cost* cost) {
  if (graph == NULL || profile == NULL || cost == NULL) return TN_ERR_NULL;
  if (graph->ops == NULL || graph->tensors == NULL) return TN_ERR_NULL;
  if (op_index >= graph->op_count) return TN_ERR_ARG;
  if (profile->freq_mhz == 0) return TN_ERR_ARG;
  const tn_op_desc* op = &graph->ops[op_index];
  if (op->input0 >= graph->tensor_count || op->output >= graph->tensor_count ||
      !tn_op_is_known(op->type)) {
    return TN_ERR_BLOB_GRAPH;
  }
  const tn_tensor_desc* in0 = &graph->tensors[op->input0];
  const tn_tensor_desc* out = &graph->tensors[op->output];
  uint32_t bytes;
  tn_status st = tn_tensor_bytes(in0, &bytes);
  if (st == TN_OK) st = tn_tensor_bytes(out, &bytes);
  if (st != TN_OK) return st;
  uint32_t th = out->h, tc = out->c;
  if (tile != NULL) {
    if (tile->tile_h == 0 || tile->tile_h > out->h || tile->tile_c == 0 ||
        tile->tile_c > out->c) {
      return TN_ERR_ARG;
    }
    th = tile->tile_h;
    tc = tile->tile_c;
  }
  uint8_t cls = tn_op_kernel_class(op->type);
  cost->kernel_class = cls;
  cost->macs = tn_op_macs_desc(op, in0, out);
  cost->compute_cycles =
      div_ceil(cost->macs * 1000u, profile->mmac_per_cycle[cls]);
  cost->tiles = 1;
  cost->transfer_bytes = 0;
  cost->transfer_cycles = 0;
  cost->overhead_cycles =
      cls == TN_KCLASS_NONE ? 0 : profile->layer_overhead_cycles;
  if (tn_op_is_tileable(op->type)) {
    cost->tiles = (uint32_t)(div_ceil(out->h, th) * div_ceil(out->c, tc));
    cost->transfer_bytes = tn_tile_transfer_bytes(op, in0, out, th, tc);
    cost->transfer_cycles =
        div_ceil(cost->transfer_bytes * 1000u, profile->dma_mbytes_per_cycle);
    cost->overhead_cycles +=
        (uint64_t)cost->tiles * profile->tile_overhead_cycles;
  }
  uint64_t body;
  if (cost->tiles > 1) {
    uint64_t overlap = cost->compute_cycles > cost->transfer_cycles
                           ? cost->compute_cycles
                           : cost->transfer_cycles;
    body = overlap + div_ceil(cost->transfer_cycles, cost->tiles);
  } else {
    body = cost->compute_cycles + cost->transfer_cycles;
  }
  cost->cycles = cost->overhead_cycles + body;
  cost->energy_pj = cost->cycles * profile->power_uw / profile->freq_mhz;
  return TN_OK;
}

tn_status tn_cost_model(const tn_graph_desc* graph, const tn_tile* tiles,
                        uint32_t tail_first_op, const tn_cost_profile* profile,
                        tn_model_cost* cost) {
  if (graph == NULL || profile == NULL || cost == NULL) return TN_ERR_NULL;
  if (tail_first_op > graph->op_count) return TN_ERR_ARG;
  cost->macs = 0;
  cost->cycles = 0;
  cost->energy_pj = 0;
  cost->front_cycles = 0;
  cost->tail_cycles = 0;
  cost->train_step_cycles = 0;
  cost->train_step_energy_pj = 0;
  for (uint32_t i = 0; i < graph->op_count; ++i) {
    tn_layer_cost lc;
    tn_status st =
        tn_cost_layer(graph, i, tiles ? &tiles[i] : NULL, profile, &lc);
    if (st != TN_OK) return st;
    cost->macs += lc.macs;
    cost->cycles += lc.cycles;
    if (i < tail_first_op) {
      cost->front_cycles += lc.cycles;
    } else {
      cost->tail_cycles += lc.cycles;
      /* Training replays the tail forward and adds the backward passes. */
      cost->train_step_cycles +=
          (uint64_t)profile->train_macs_factor * lc.cycles;
    }
  }
  cost->energy_pj = cost->cycles * profile->power_uw / profile->freq_mhz;
  cost->train_step_energy_pj =
      cost->train_step_cycles * profile->power_uw / profile->freq_mhz;
  return TN_OK;
}
