/*
 * Target memory profiles and the memory planner. The planner derives the
 * lifetime of every tensor from the op order, places activations in the L2
 * arena greedily by size at the lowest offset free of every tensor live at
 * the same time (so dead tensors' memory is reused), and for each layer
 * that does not fit L1 chooses output tiles (rows x channels) within the
 * budget, double buffering included, after DORY: the fewest L2 <-> L1
 * bytes first, then the largest L1 footprint. It runs on the gateway when
 * a model is compiled and is cheap enough to run on a node; its output is
 * re-validated by the parser like any other blob part.
 */
#include <string.h>

#include "runtime/tn_runtime_internal.h"

tn_status tn_target_profile_get(tn_target target, tn_target_profile* out) {
  if (out == NULL) return TN_ERR_NULL;
  out->target = target;
  switch (target) {
    case TN_TARGET_GAP8:
      out->l1_bytes = 64u * 1024u;
      out->l2_bytes = 512u * 1024u;
      out->nvm_bytes = 0; /* external flash, board-specific */
      return TN_OK;
    case TN_TARGET_GAP9:
      out->l1_bytes = 128u * 1024u;
      out->l2_bytes = 1536u * 1024u;
      out->nvm_bytes = 2048u * 1024u;
      return TN_OK;
    case TN_TARGET_HOST:
      /* The virtual node: generous, but bounded so that a blob cannot ask
       * for an absurd arena. */
      out->l1_bytes = 1024u * 1024u;
      out->l2_bytes = 64u * 1024u * 1024u;
      out->nvm_bytes = 64u * 1024u * 1024u;
      return TN_OK;
    case TN_TARGET_UNSPECIFIED:
      break;
  }
  return TN_ERR_BLOB_TARGET;
}

/* Lifetimes and alias roots of a graph description. */
typedef struct tn_plan_graph {
  uint16_t first[TN_BLOB_MAX_TENSORS];
  uint16_t last[TN_BLOB_MAX_TENSORS];
  uint16_t root[TN_BLOB_MAX_TENSORS];
  uint32_t bytes[TN_BLOB_MAX_TENSORS];
} tn_plan_graph;

/* Checks the graph with the parser's rules (ids, order, shapes) and
 * derives lifetimes, alias roots and tensor sizes; also sums the bytes of
 * quantization blocks and tail parameters that live in L2. */
static tn_status analyse(const tn_graph_desc* g, const tn_tail_desc* tail,
                         tn_plan_graph* pg, uint64_t* resident) {
  if (g->tensors == NULL || g->ops == NULL) return TN_ERR_NULL;
  if (g->tensor_count == 0 || g->tensor_count > TN_BLOB_MAX_TENSORS ||
      g->op_count == 0 || g->op_count > TN_BLOB_MAX_OPS) {
    return TN_ERR_BLOB_GRAPH;
  }
  if (g->input_tensor >= g->tensor_count ||
      g->output_tensor >= g->tensor_count) {
    return TN_ERR_BLOB_GRAPH;
  }
  uint8_t produced[TN_BLOB_MAX_TENSORS];
  for (uint32_t t = 0; t < g->tensor_count; ++t) {
    tn_status st = tn_tensor_bytes(&g->tensors[t], &pg->bytes[t]);
    if (st != TN_OK) return st;
    pg->first[t] = 0;
    pg->last[t] = 0;
    pg->root[t] = (uint16_t)t;
    produced[t] = 0;
  }
  produced[g->input_tensor] = 1;
  *resident = 0;
  for (uint32_t i = 0; i < g->op_count; ++i) {
    const tn_op_desc* op = &g->ops[i];
    if (op->input0 >= g->tensor_count || op->output >= g->tensor_count ||
        (op->input1 != TN_NO_TENSOR && op->input1 >= g->tensor_count)) {
      return TN_ERR_BLOB_GRAPH;
    }
    if (!produced[op->input0] || produced[op->output] ||
        (op->input1 != TN_NO_TENSOR && !produced[op->input1])) {
      return TN_ERR_BLOB_GRAPH;
    }
    const tn_tensor_desc* in1 =
        op->input1 == TN_NO_TENSOR ? NULL : &g->tensors[op->input1];
    tn_status st =
        tn_op_check(op, &g->tensors[op->input0], in1, &g->tensors[op->output]);
    if (st != TN_OK) return st;
    produced[op->output] = 1;
    pg->first[op->output] = (uint16_t)i;
    pg->last[op->output] = (uint16_t)i;
    pg->last[op->input0] = (uint16_t)i;
    if (op->input1 != TN_NO_TENSOR) pg->last[op->input1] = (uint16_t)i;
    if (op->type == TN_OP_RESHAPE) pg->root[op->output] = pg->root[op->input0];
    *resident += op->quant_size;
    if (tn_op_has_params(op->type)) *resident += op->weights_size;
  }
  for (uint32_t t = 0; t < g->tensor_count; ++t) {
    if (!produced[t]) return TN_ERR_BLOB_GRAPH;
  }
  pg->last[g->output_tensor] = (uint16_t)g->op_count;
  if (tail != NULL) {
    if (tail->cut_tensor >= g->tensor_count) return TN_ERR_BLOB_GRAPH;
    pg->last[tail->cut_tensor] = (uint16_t)g->op_count;
  }
  return TN_OK;
}

static int meets(const tn_plan_graph* pg, uint32_t a, uint32_t b) {
  return pg->first[a] <= pg->last[b] && pg->first[b] <= pg->last[a];
}

/* Places alias groups (one per root) in the L2 arena; members share the
 * root's offset. Returns the arena size. */
static tn_status place_l2(const tn_graph_desc* g, tn_plan_graph* pg,
                          tn_placement* placements, uint32_t* arena) {
  uint32_t n = g->tensor_count;
  /* Group lifetimes: extend each root over its aliases. */
  for (uint32_t t = 0; t < n; ++t) {
    uint32_t r = pg->root[t];
    if (r == t) continue;
    if (pg->first[t] < pg->first[r]) pg->first[r] = pg->first[t];
    if (pg->last[t] > pg->last[r]) pg->last[r] = pg->last[t];
  }
  uint16_t order[TN_BLOB_MAX_TENSORS];
  uint8_t placed[TN_BLOB_MAX_TENSORS];
  uint32_t roots = 0;
  for (uint32_t t = 0; t < n; ++t) {
    placed[t] = 0;
    if (pg->root[t] == t) order[roots++] = (uint16_t)t;
  }
  /* Largest first; ties by first use, then id (deterministic). Insertion
   * sort: n <= 256. */
  for (uint32_t i = 1; i < roots; ++i) {
    uint16_t v = order[i];
    uint32_t j = i;
    while (j > 0) {
      uint16_t u = order[j - 1];
      int before = pg->bytes[v] > pg->bytes[u] ||
                   (pg->bytes[v] == pg->bytes[u] &&
                    (pg->first[v] < pg->first[u] ||
                     (pg->first[v] == pg->first[u] && v < u)));
      if (!before) break;
      order[j] = u;
      --j;
    }
    order[j] = v;
  }
  uint64_t peak = 0;
  for (uint32_t i = 0; i < roots; ++i) {
    uint32_t t = order[i];
    uint64_t size = pg->bytes[t];
    /* Candidates: 0 and the aligned end of every conflicting placed group;
     * take the lowest that conflicts with none. */
    uint64_t best = UINT64_MAX;
    for (uint32_t c = 0; c <= roots; ++c) {
      uint64_t cand;
      if (c == roots) {
        cand = 0;
      } else {
        uint32_t u = order[c];
        if (!placed[u] || !meets(pg, t, u)) continue;
        cand = ((uint64_t)placements[u].offset + pg->bytes[u] + 7u) & ~7ull;
      }
      if (cand >= best) continue;
      int ok = 1;
      for (uint32_t k = 0; k < roots && ok; ++k) {
        uint32_t u = order[k];
        if (!placed[u] || !meets(pg, t, u)) continue;
        uint64_t u0 = placements[u].offset, u1 = u0 + pg->bytes[u];
        if (cand < u1 && u0 < cand + size) ok = 0;
      }
      if (ok) best = cand;
    }
    if (best + size > 0xFFFFFFF8u) return TN_ERR_OVERFLOW;
    placements[t].level = TN_MEM_L2;
    placements[t].offset = (uint32_t)best;
    placements[t].size = (uint32_t)size;
    placed[t] = 1;
    if (best + size > peak) peak = best + size;
  }
  for (uint32_t t = 0; t < n; ++t) {
    uint32_t r = pg->root[t];
    placements[t].level = TN_MEM_L2;
    placements[t].offset = placements[r].offset;
    placements[t].size = pg->bytes[t];
  }
  *arena = (uint32_t)((peak + 7u) & ~7ull);
  return TN_OK;
}

/* Chooses the tile of op `i`: the whole output when it fits; otherwise,
 * among tiles that fit `budget`, the one that moves the fewest L2 <-> L1
 * bytes (halo and input re-reads are what tiling costs), then the one that
 * uses the most L1, then fewer tiles, then more channels per tile. For each
 * channel tile size only the tallest fitting row tile is a candidate: with
 * the channels fixed, taller tiles never fit worse and never move more. */
static tn_status choose_tile(const tn_graph_desc* g, uint32_t i,
                             uint32_t budget, tn_tile* tile,
                             uint32_t* overshoot) {
  const tn_op_desc* op = &g->ops[i];
  const tn_tensor_desc* in0 = &g->tensors[op->input0];
  const tn_tensor_desc* out = &g->tensors[op->output];
  tile->tile_h = out->h;
  tile->tile_c = out->c;
  tile->l1_bytes = 0;
  if (!tn_op_is_tileable(op->type)) return TN_OK;
  uint32_t fp;
  tn_status st = tn_tile_footprint(op, in0, out, out->h, out->c, &fp);
  if (st == TN_OK && fp <= budget) {
    tile->l1_bytes = fp;
    return TN_OK;
  }
  uint32_t best_fp = 0, best_h = 0, best_c = 0;
  uint64_t best_tiles = 0, best_moved = 0;
  for (uint32_t tc = out->c; tc >= 1; --tc) {
    /* Largest th with footprint <= budget (monotone in th once tiled). */
    uint32_t lo = 1, hi = out->h, found = 0;
    while (lo <= hi) {
      uint32_t mid = lo + (hi - lo) / 2u;
      uint32_t f;
      if (tn_tile_footprint(op, in0, out, mid, tc, &f) == TN_OK &&
          f <= budget && !(mid == out->h && tc == out->c)) {
        found = mid;
        lo = mid + 1u;
      } else {
        hi = mid - 1u;
      }
    }
    if (found == 0) continue;
    uint32_t f = 0;
    (void)tn_tile_footprint(op, in0, out, found, tc, &f);
    uint64_t moved = tn_tile_transfer_bytes(op, in0, out, found, tc);
    uint64_t tiles =
        (uint64_t)((out->h + found - 1u) / found) * ((out->c + tc - 1u) / tc);
    int better = best_h == 0 || moved < best_moved ||
                 (moved == best_moved &&
                  (f > best_fp || (f == best_fp && tiles < best_tiles)));
    if (better) {
      best_fp = f;
      best_h = found;
      best_c = tc;
      best_tiles = tiles;
      best_moved = moved;
    }
  }
  if (best_h == 0) {
    uint32_t smallest = 0xFFFFFFFFu;
    (void)tn_tile_footprint(op, in0, out, 1, 1, &smallest);
    *overshoot = smallest - budget;
    return TN_ERR_MEMORY_BUDGET;
  }
  tile->tile_h = best_h;
  tile->tile_c = best_c;
  tile->l1_bytes = best_fp;
  return TN_OK;
}

tn_status tn_plan_memory(const tn_graph_desc* graph, const tn_tail_desc* tail,
                         tn_target target, const tn_plan_options* options,
                         tn_placement* placements, tn_tile* tiles,
                         tn_memory_plan* plan, tn_plan_report* report) {
  if (graph == NULL || placements == NULL || tiles == NULL || plan == NULL) {
    return TN_ERR_NULL;
  }
  tn_plan_report local;
  tn_plan_report* rep = report ? report : &local;
  memset(rep, 0, sizeof(*rep));
  rep->failed_op = TN_BLOB_MAX_OPS;
  tn_target_profile prof;
  tn_status st = tn_target_profile_get(target, &prof);
  if (st != TN_OK) return st;
  rep->l1_budget =
      options && options->l1_budget ? options->l1_budget : prof.l1_bytes;
  rep->l2_budget =
      options && options->l2_budget ? options->l2_budget : prof.l2_bytes;

  tn_plan_graph pg;
  uint64_t resident = 0;
  st = analyse(graph, tail, &pg, &resident);
  if (st != TN_OK) return st;
  if (options) resident += options->extra_l2_bytes;

  uint32_t arena = 0;
  st = place_l2(graph, &pg, placements, &arena);
  if (st != TN_OK) return st;
  rep->l2_peak_bytes = arena;
  uint64_t l2_need = (uint64_t)arena + resident;
  rep->l2_required = l2_need > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)l2_need;
  if (l2_need > rep->l2_budget) {
    rep->failed_level = TN_MEM_L2;
    rep->overshoot_bytes = rep->l2_required - rep->l2_budget;
    return TN_ERR_MEMORY_BUDGET;
  }

  uint32_t l1_peak = 0;
  for (uint32_t i = 0; i < graph->op_count; ++i) {
    uint32_t overshoot = 0;
    st = choose_tile(graph, i, rep->l1_budget, &tiles[i], &overshoot);
    if (st == TN_ERR_MEMORY_BUDGET) {
      rep->failed_level = TN_MEM_L1;
      rep->failed_op = i;
      rep->overshoot_bytes = overshoot;
      return st;
    }
    if (st != TN_OK) return st;
    if (tiles[i].l1_bytes > l1_peak) l1_peak = tiles[i].l1_bytes;
    const tn_tensor_desc* out = &graph->tensors[graph->ops[i].output];
    if (tiles[i].tile_h != out->h || tiles[i].tile_c != out->c) {
      ++rep->tiled_ops;
    }
  }
  rep->l1_peak_bytes = l1_peak;

  plan->target = target;
  plan->l2_arena_bytes = arena;
  plan->l1_arena_bytes = 0;
  plan->l1_tile_bytes = l1_peak;
  plan->placements = placements;
  plan->tiles = tiles;
  return TN_OK;
}
