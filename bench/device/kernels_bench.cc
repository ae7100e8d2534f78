// Host benchmarks of the int8 kernels (device/kernels) on the DS-CNN-like
// layers of kernels_layers.h: reference and fast variants with 8-bit and
// 4-bit weights. Items processed are multiply-accumulates, so the reported
// items/s is MAC/s; the non-MAC ops count tensor elements. Scratch and
// weight bytes are reported as counters.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

extern "C" {
#include "kernels_layers.h"
}

namespace {

void RunLayer(benchmark::State& state, size_t index, int fast, int bits) {
  const kb_layer* layer = kb_layer_at(index);
  kb_prepare(layer, bits);
  for (auto _ : state) {
    if (kb_run(layer, fast) != TN_OK) {
      state.SkipWithError("kernel failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kb_macs(layer)));
  state.counters["scratch_B"] =
      static_cast<double>(kb_scratch_bytes(layer, fast));
  state.counters["weights_B"] =
      static_cast<double>(kb_weight_bytes(layer, bits));
}

void RunMisc(benchmark::State& state, tn_status (*fn)(void), int64_t units) {
  kb_prepare_misc();
  for (auto _ : state) {
    if (fn() != TN_OK) {
      state.SkipWithError("kernel failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * units);
}

int RegisterAll() {
  for (size_t i = 0; i < kb_layer_count(); ++i) {
    const kb_layer* layer = kb_layer_at(i);
    for (int bits : {8, 4}) {
      for (int fast : {0, 1}) {
        std::string name = std::string(layer->name) + "/w" +
                           std::to_string(bits) + (fast ? "/fast" : "/ref");
        benchmark::RegisterBenchmark(name.c_str(),
                                     [i, fast, bits](benchmark::State& s) {
                                       RunLayer(s, i, fast, bits);
                                     });
      }
    }
  }
  const int64_t n = static_cast<int64_t>(kb_misc_elements());
  benchmark::RegisterBenchmark(
      "global_avgpool_25x5x64",
      [n](benchmark::State& s) { RunMisc(s, kb_run_global_avgpool, n); });
  benchmark::RegisterBenchmark("avgpool_3x3_25x5x64", [n](benchmark::State& s) {
    RunMisc(s, kb_run_avgpool, n);
  });
  benchmark::RegisterBenchmark("maxpool_3x3_25x5x64", [n](benchmark::State& s) {
    RunMisc(s, kb_run_maxpool, n);
  });
  benchmark::RegisterBenchmark(
      "add_25x5x64", [n](benchmark::State& s) { RunMisc(s, kb_run_add, n); });
  benchmark::RegisterBenchmark("softmax_12", [](benchmark::State& s) {
    RunMisc(s, kb_run_softmax, 12);
  });
  return 0;
}

const int kRegistered = RegisterAll();

}  // namespace

BENCHMARK_MAIN();
