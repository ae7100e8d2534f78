// Host benchmarks of the model runtime: blob parse and validation (with the
// SHA-256 digest), build, memory planning, cost model, and full inference
// of the DS-CNN-S-like reference model untiled and tiled (MAC/s).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

namespace {

// One built DS-CNN blob (planned for `target`, optional L1 budget).
struct Built {
  fixture_model model;
  std::vector<uint8_t> blob = std::vector<uint8_t>(128 * 1024);
  size_t size = 0;
};

Built* Build(tn_target target, uint32_t l1_budget, bool tail) {
  static Built built[4];
  Built* b = &built[(target == TN_TARGET_GAP8 ? 1 : 0) + (tail ? 2 : 0)];
  fx_ds_cnn(&b->model, 1, tail ? 1 : 0);
  tn_plan_options opt;
  std::memset(&opt, 0, sizeof(opt));
  opt.l1_budget = l1_budget;
  if (tn_plan_memory(&b->model.graph, tail ? &b->model.tail : nullptr, target,
                     &opt, b->model.placements, b->model.tiles, &b->model.plan,
                     &b->model.report) != TN_OK ||
      fx_build(&b->model, target, 0, nullptr, nullptr, b->blob.data(),
               b->blob.size(), &b->size) != TN_OK) {
    return nullptr;
  }
  return b;
}

void BM_Sha256(benchmark::State& state) {
  std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 0xA5);
  uint8_t digest[32];
  for (auto _ : state) {
    tn_sha256(data.data(), data.size(), digest);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(1024)->Arg(64 * 1024);

void BM_BlobParse(benchmark::State& state) {
  Built* b = Build(TN_TARGET_GAP9, 0, false);
  if (b == nullptr) return state.SkipWithError("build failed");
  tn_blob blob;
  for (auto _ : state) {
    if (tn_blob_parse(b->blob.data(), b->size, nullptr, &blob) != TN_OK) {
      return state.SkipWithError("parse failed");
    }
    benchmark::DoNotOptimize(blob);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(b->size));
  state.counters["blob_bytes"] = static_cast<double>(b->size);
}
BENCHMARK(BM_BlobParse);

void BM_BlobBuild(benchmark::State& state) {
  Built* b = Build(TN_TARGET_GAP9, 0, false);
  if (b == nullptr) return state.SkipWithError("build failed");
  size_t size = 0;
  for (auto _ : state) {
    if (fx_build(&b->model, TN_TARGET_GAP9, 0, nullptr, nullptr, b->blob.data(),
                 b->blob.size(), &size) != TN_OK) {
      return state.SkipWithError("build failed");
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}
BENCHMARK(BM_BlobBuild);

void BM_PlanMemory(benchmark::State& state) {
  static fixture_model m;
  fx_ds_cnn(&m, 1, 0);
  tn_plan_options opt;
  std::memset(&opt, 0, sizeof(opt));
  opt.l1_budget = static_cast<uint32_t>(state.range(0));
  for (auto _ : state) {
    if (tn_plan_memory(&m.graph, nullptr, TN_TARGET_GAP8, &opt, m.placements,
                       m.tiles, &m.plan, &m.report) != TN_OK) {
      return state.SkipWithError("plan failed");
    }
  }
  state.counters["tiled_ops"] = m.report.tiled_ops;
}
BENCHMARK(BM_PlanMemory)->Arg(0)->Arg(8 * 1024);

void BM_CostModel(benchmark::State& state) {
  Built* b = Build(TN_TARGET_GAP9, 0, false);
  if (b == nullptr) return state.SkipWithError("build failed");
  tn_model_cost cost;
  for (auto _ : state) {
    tn_cost_model(&b->model.graph, b->model.tiles, b->model.graph.op_count,
                  tn_cost_profile_gap9(), &cost);
    benchmark::DoNotOptimize(cost);
  }
  state.counters["gap9_cycles"] = static_cast<double>(cost.cycles);
  state.counters["gap9_uJ"] = static_cast<double>(cost.energy_pj) / 1e6;
}
BENCHMARK(BM_CostModel);

// Full inference; arg 0: untiled, else the L1 budget of a tiled plan.
void BM_Infer(benchmark::State& state) {
  uint32_t budget = static_cast<uint32_t>(state.range(0));
  Built* b = Build(budget ? TN_TARGET_GAP8 : TN_TARGET_GAP9, budget, false);
  if (b == nullptr) return state.SkipWithError("build failed");
  tn_blob blob;
  tn_model model;
  tn_model_options opt = {static_cast<uint8_t>(budget ? 1 : 0)};
  size_t need = 0;
  if (tn_blob_parse(b->blob.data(), b->size, nullptr, &blob) != TN_OK ||
      tn_model_arena_size(&blob, &opt, &need) != TN_OK) {
    return state.SkipWithError("load failed");
  }
  std::vector<uint64_t> arena(need / 8 + 1);
  if (tn_model_init(&model, &blob, arena.data(), need, &opt) != TN_OK) {
    return state.SkipWithError("init failed");
  }
  tn_tensor_view in;
  tn_model_input(&model, &in);
  for (uint32_t i = 0; i < in.bytes; ++i) {
    static_cast<int8_t*>(in.data)[i] = static_cast<int8_t>(i * 7);
  }
  for (auto _ : state) {
    if (tn_model_run(&model) != TN_OK) return state.SkipWithError("run");
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(blob.meta_macs));
  state.counters["macs"] = static_cast<double>(blob.meta_macs);
  state.counters["arena_bytes"] = static_cast<double>(need);
  state.counters["tiled_ops"] = b->model.report.tiled_ops;
}
BENCHMARK(BM_Infer)->Arg(0)->Arg(16 * 1024)->Arg(8 * 1024);

// The FP32 tail alone (FC 64 -> 12 on the pooled latent).
void BM_RunTail(benchmark::State& state) {
  Built* b = Build(TN_TARGET_GAP9, 0, true);
  if (b == nullptr) return state.SkipWithError("build failed");
  tn_blob blob;
  tn_model model;
  size_t need = 0;
  if (tn_blob_parse(b->blob.data(), b->size, nullptr, &blob) != TN_OK ||
      tn_model_arena_size(&blob, nullptr, &need) != TN_OK) {
    return state.SkipWithError("load failed");
  }
  std::vector<uint64_t> arena(need / 8 + 1);
  tn_model_init(&model, &blob, arena.data(), need, nullptr);
  tn_model_run_front(&model);
  for (auto _ : state) {
    if (tn_model_run_tail(&model) != TN_OK) return state.SkipWithError("run");
  }
}
BENCHMARK(BM_RunTail);

}  // namespace

BENCHMARK_MAIN();
