// Host benchmarks of the training room (device/train) and the deterministic
// math (device/base/tn_math.h): one training step of a DS-CNN-S-like tail
// (pointwise 64->64 + ReLU + global average pool + FC 64->12 on a 25x5x64
// latent), the pointwise/FC operators (reference against `_fast`), the
// elementary functions against the host libm, the replay buffer and the
// prototype classifier. Items processed are multiply-accumulates (MACs)
// for the operators and calls for the rest. Memory use of each structure is
// reported in the benchmark context.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "base/tn_math.h"
#include "base/tn_rng.h"
#include "train/tn_train.h"
}

namespace {

constexpr uint16_t kH = 25, kW = 5, kC = 64, kClasses = 12;
constexpr uint32_t kLatent = uint32_t{kH} * kW * kC;

std::vector<float> RandomVector(size_t n, uint64_t seed, float amp) {
  tn_rng rng;
  tn_rng_seed(&rng, seed, 9);
  std::vector<float> v(n);
  for (auto& x : v) x = amp * (2.0f * tn_rng_unit_f32(&rng) - 1.0f);
  return v;
}

// The DS-CNN-S-like trainable tail with all of its buffers.
class DsCnnTail {
 public:
  DsCnnTail() {
    tn_tail_layer layers[4];
    std::memset(layers, 0, sizeof(layers));
    layers[0].op = TN_TAIL_POINTWISE;
    layers[0].out_c = kC;
    layers[1].op = TN_TAIL_RELU;
    layers[2].op = TN_TAIL_GLOBAL_AVGPOOL;
    layers[3].op = TN_TAIL_FC;
    layers[3].out_c = kClasses;
    const tn_train_shape in = {kH, kW, kC};
    if (tn_tail_init(&tail_, layers, 4, in) != TN_OK) std::abort();
    tn_tail_buffer_sizes(&tail_, &sizes_);
    params_ = RandomVector(sizes_.params / 4, 1, 0.15f);
    grads_.assign(sizes_.grads / 4, 0.0f);
    momentum_.assign(sizes_.momentum / 4, 0.0f);
    acts_.assign(sizes_.activations / 4, 0.0f);
    scratch_.assign(sizes_.scratch / 4, 0.0f);
    input_ = RandomVector(kLatent, 2, 1.0f);
    for (auto& x : input_) x = x < 0 ? -x : x;  // post-ReLU latent
    tn_tail_buffers b = {params_.data(), grads_.data(),   momentum_.data(),
                         acts_.data(),   scratch_.data(), sizes_};
    if (tn_tail_bind(&tail_, &b) != TN_OK) std::abort();
  }
  tn_tail* tail() { return &tail_; }
  const float* input() const { return input_.data(); }
  const tn_tail_sizes& sizes() const { return sizes_; }

 private:
  tn_tail tail_;
  tn_tail_sizes sizes_;
  std::vector<float> params_, grads_, momentum_, acts_, scratch_, input_;
};

// MACs of one forward + backward of the tail for one sample: pointwise
// forward and weight gradient (its input gradient is not needed), FC
// forward, weight and input gradients.
constexpr double kTailSampleMacs = 2.0 * kLatent * kC + 3.0 * kC * kClasses;

void BM_TailTrainSample(benchmark::State& state) {
  DsCnnTail t;
  uint32_t label = 0;
  for (auto _ : state) {
    float loss;
    if (tn_tail_train_sample(t.tail(), t.input(), label, &loss) != TN_OK) {
      state.SkipWithError("train_sample failed");
      break;
    }
    benchmark::DoNotOptimize(loss);
    label = (label + 1) % kClasses;
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(kTailSampleMacs));
}
BENCHMARK(BM_TailTrainSample);

void BM_TailForward(benchmark::State& state) {
  DsCnnTail t;
  for (auto _ : state) {
    const float* out;
    tn_tail_forward(t.tail(), t.input(), &out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() *
                          (int64_t{kLatent} * kC + kC * kClasses));
}
BENCHMARK(BM_TailForward);

void BM_TailSgdStep(benchmark::State& state) {
  DsCnnTail t;
  const tn_sgd_params p = {0.01f, 0.9f, 1e-4f, 0.0f, 1.0f / 8.0f};
  for (auto _ : state) {
    tn_tail_step(t.tail(), &p, nullptr);
  }
  state.counters["params"] = static_cast<double>(t.sizes().params / 4);
}
BENCHMARK(BM_TailSgdStep);

// A full mini-batch of 8: zero gradients, 8 samples, one SGD step.
void BM_TailMinibatch8(benchmark::State& state) {
  DsCnnTail t;
  const tn_sgd_params p = {0.01f, 0.9f, 1e-4f, 0.0f, 1.0f / 8.0f};
  for (auto _ : state) {
    tn_tail_zero_grad(t.tail());
    for (uint32_t s = 0; s < 8; ++s) {
      tn_tail_train_sample(t.tail(), t.input(), s % kClasses, nullptr);
    }
    tn_tail_step(t.tail(), &p, nullptr);
  }
  state.SetItemsProcessed(state.iterations() * 8 *
                          static_cast<int64_t>(kTailSampleMacs));
}
BENCHMARK(BM_TailMinibatch8);

// Pointwise 64->64 on 25x5 pixels; Arg(0) reference, Arg(1) fast.
void BM_PointwiseForward(benchmark::State& state) {
  const tn_train_pointwise p = {{kH, kW, kC}, kC};
  auto x = RandomVector(kLatent, 3, 1.0f);
  auto w = RandomVector(kC * kC, 4, 0.2f);
  auto b = RandomVector(kC, 5, 0.1f);
  std::vector<float> y(kLatent);
  auto fn =
      state.range(0) ? tn_pointwise_forward_f32_fast : tn_pointwise_forward_f32;
  for (auto _ : state) {
    fn(&p, x.data(), w.data(), b.data(), y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * int64_t{kLatent} * kC);
}
BENCHMARK(BM_PointwiseForward)->ArgName("fast")->Arg(0)->Arg(1);

void BM_PointwiseBackward(benchmark::State& state) {
  const tn_train_pointwise p = {{kH, kW, kC}, kC};
  auto x = RandomVector(kLatent, 3, 1.0f);
  auto w = RandomVector(kC * kC, 4, 0.2f);
  auto g = RandomVector(kLatent, 6, 0.1f);
  std::vector<float> gi(kLatent), gw(kC * kC), gb(kC);
  auto fn = state.range(0) ? tn_pointwise_backward_f32_fast
                           : tn_pointwise_backward_f32;
  for (auto _ : state) {
    fn(&p, x.data(), w.data(), g.data(), gi.data(), gw.data(), gb.data());
    benchmark::ClobberMemory();
  }
  // Input gradient and weight gradient: two MACs per weight and pixel.
  state.SetItemsProcessed(state.iterations() * 2 * int64_t{kLatent} * kC);
}
BENCHMARK(BM_PointwiseBackward)->ArgName("fast")->Arg(0)->Arg(1);

void BM_FcForward(benchmark::State& state) {
  const uint32_t in = static_cast<uint32_t>(state.range(1));
  const uint32_t out = static_cast<uint32_t>(state.range(2));
  const tn_train_fc p = {in, out};
  auto x = RandomVector(in, 3, 1.0f);
  auto w = RandomVector(size_t{in} * out, 4, 0.2f);
  auto b = RandomVector(out, 5, 0.1f);
  std::vector<float> y(out);
  auto fn = state.range(0) ? tn_fc_forward_f32_fast : tn_fc_forward_f32;
  for (auto _ : state) {
    fn(&p, x.data(), w.data(), b.data(), y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * int64_t{in} * out);
}
BENCHMARK(BM_FcForward)
    ->ArgNames({"fast", "in", "out"})
    ->Args({0, 64, 12})
    ->Args({1, 64, 12})
    ->Args({0, 1024, 256})
    ->Args({1, 1024, 256});

void BM_DwConvForwardBackward(benchmark::State& state) {
  const tn_train_conv p = {{kH, kW, kC}, 0, 3, 3, 1, 1, 1, 1, 1, 1};
  auto x = RandomVector(kLatent, 3, 1.0f);
  auto w = RandomVector(9 * kC, 4, 0.2f);
  auto b = RandomVector(kC, 5, 0.1f);
  std::vector<float> y(kLatent), gi(kLatent), gw(9 * kC), gb(kC);
  for (auto _ : state) {
    tn_dwconv2d_forward_f32(&p, x.data(), w.data(), b.data(), y.data());
    tn_dwconv2d_backward_f32(&p, x.data(), w.data(), y.data(), gi.data(),
                             gw.data(), gb.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * 3 * 9 * int64_t{kLatent});
}
BENCHMARK(BM_DwConvForwardBackward);

// Elementary functions: Arg(0) tn_math, Arg(1) the host libm.
void RunMath(benchmark::State& state, float (*tn)(float), float (*libm)(float),
             float lo, float hi) {
  std::vector<float> x(1024);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = lo + (hi - lo) * static_cast<float>(i) / 1024.0f;
  }
  auto fn = state.range(0) ? libm : tn;
  for (auto _ : state) {
    float acc = 0.0f;
    for (float v : x) acc += fn(v);
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
float LibmExp(float x) { return std::exp(x); }
float LibmLog(float x) { return std::log(x); }
float LibmSin(float x) { return std::sin(x); }
float LibmTanh(float x) { return std::tanh(x); }
float LibmSqrt(float x) { return std::sqrt(x); }
void BM_Expf(benchmark::State& s) { RunMath(s, tn_expf, LibmExp, -10, 10); }
void BM_Logf(benchmark::State& s) { RunMath(s, tn_logf, LibmLog, 0.01f, 100); }
void BM_Sinf(benchmark::State& s) { RunMath(s, tn_sinf, LibmSin, -100, 100); }
void BM_Tanhf(benchmark::State& s) { RunMath(s, tn_tanhf, LibmTanh, -5, 5); }
void BM_SqrtfSoft(benchmark::State& s) {
  RunMath(s, tn_sqrtf_soft, LibmSqrt, 0, 100);
}
BENCHMARK(BM_Expf)->ArgName("libm")->Arg(0)->Arg(1);
BENCHMARK(BM_Logf)->ArgName("libm")->Arg(0)->Arg(1);
BENCHMARK(BM_Sinf)->ArgName("libm")->Arg(0)->Arg(1);
BENCHMARK(BM_Tanhf)->ArgName("libm")->Arg(0)->Arg(1);
BENCHMARK(BM_SqrtfSoft)->ArgName("libm")->Arg(0)->Arg(1);

// Replay buffer on a 25x5x64 latent at 8 or 7 bits: quantize + pack (what
// an insertion that keeps the sample costs) and get (unpack + dequantize).
void BM_ReplayPack(benchmark::State& state) {
  const uint8_t bits = static_cast<uint8_t>(state.range(0));
  float scale;
  int32_t zp;
  tn_replay_calibrate(-2.0f, 2.0f, bits, &scale, &zp);
  auto x = RandomVector(kLatent, 8, 2.0f);
  std::vector<uint8_t> packed(kLatent);
  for (auto _ : state) {
    tn_replay_pack(kLatent, x.data(), bits, scale, zp, packed.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * int64_t{kLatent});
}
BENCHMARK(BM_ReplayPack)->ArgName("bits")->Arg(8)->Arg(7);

void BM_ReplayGet(benchmark::State& state) {
  const uint8_t bits = static_cast<uint8_t>(state.range(0));
  float scale;
  int32_t zp;
  tn_replay_calibrate(-2.0f, 2.0f, bits, &scale, &zp);
  const tn_replay_config c = {
      64, kLatent, bits, kClasses, TN_REPLAY_RESERVOIR, scale, zp};
  std::vector<uint32_t> storage((tn_replay_buffer_size(&c) + 3) / 4);
  tn_rng rng;
  tn_rng_seed(&rng, 7, 7);
  tn_replay r;
  tn_replay_init(&r, &c, storage.data(), storage.size() * 4, &rng);
  auto x = RandomVector(kLatent, 8, 2.0f);
  tn_replay_insert(&r, x.data(), 1, nullptr);
  std::vector<float> out(kLatent);
  for (auto _ : state) {
    uint16_t label;
    tn_replay_get(&r, 0, out.data(), &label);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * int64_t{kLatent});
}
BENCHMARK(BM_ReplayGet)->ArgName("bits")->Arg(8)->Arg(7);

void BM_ProtosClassify(benchmark::State& state) {
  constexpr uint32_t kDim = 64;
  std::vector<float> storage(tn_protos_buffer_size(kClasses, kDim) / 4);
  tn_protos p;
  tn_protos_init(&p, kClasses, kDim, storage.data(), storage.size() * 4);
  for (uint32_t c = 0; c < kClasses; ++c) {
    auto e = RandomVector(kDim, 100 + c, 1.0f);
    tn_protos_add_example(&p, c, e.data());
  }
  auto q = RandomVector(kDim, 99, 1.0f);
  for (auto _ : state) {
    uint32_t label;
    float score;
    tn_protos_classify(&p, q.data(), &label, &score);
    benchmark::DoNotOptimize(score);
  }
}
BENCHMARK(BM_ProtosClassify);

// Memory of each structure, in the benchmark output's context.
void AddMemoryContext() {
  DsCnnTail t;
  const auto& s = t.sizes();
  benchmark::AddCustomContext("tail_params_bytes", std::to_string(s.params));
  benchmark::AddCustomContext("tail_grads_momentum_bytes",
                              std::to_string(s.grads + s.momentum));
  benchmark::AddCustomContext("tail_activations_bytes",
                              std::to_string(s.activations));
  benchmark::AddCustomContext("tail_scratch_bytes", std::to_string(s.scratch));
  for (uint8_t bits : {uint8_t{8}, uint8_t{7}}) {
    const tn_replay_config c = {
        3000, kLatent, bits, kClasses, TN_REPLAY_RESERVOIR, 0.05f, 0};
    benchmark::AddCustomContext(
        "replay_3000x25x5x64_" + std::to_string(bits) + "bit_bytes",
        std::to_string(tn_replay_buffer_size(&c)));
  }
  benchmark::AddCustomContext(
      "replay_3000x25x5x64_f32_bytes",
      std::to_string(size_t{3000} * (4 * size_t{kLatent} + 2)));
  benchmark::AddCustomContext("protos_12x64_bytes",
                              std::to_string(tn_protos_buffer_size(12, 64)));
}

}  // namespace

int main(int argc, char** argv) {
  AddMemoryContext();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
