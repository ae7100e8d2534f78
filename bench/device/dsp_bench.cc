// Host benchmarks of the audio front-end (device/dsp): table setup, one
// MFCC frame, a one-second clip to int8 features (49 frames, what the
// gateway and kws_features do per sample) and the validation of a feature
// data set file. Items processed are frames (or records for the file).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/tn_rng.h"
#include "dsp/tn_dsp.h"

namespace {

std::vector<int16_t> Noise(uint32_t n, int32_t amp) {
  tn_rng rng;
  tn_rng_seed(&rng, 1, 1);
  std::vector<int16_t> v(n);
  for (auto& x : v) x = static_cast<int16_t>(tn_rng_range(&rng, -amp, amp));
  return v;
}

struct FrontEnd {
  FrontEnd() : config(tn_mfcc_config_kws()) {
    state.resize(tn_mfcc_state_buffer_size(&config));
    scratch.resize(tn_mfcc_scratch_buffer_size(&config));
    if (tn_mfcc_init(&mfcc, &config, state.data(), state.size()) != TN_OK) {
      std::abort();
    }
  }
  tn_mfcc_config config;
  std::vector<uint8_t> state, scratch;
  tn_mfcc mfcc;
};

void BM_MfccInit(benchmark::State& s) {
  tn_mfcc_config c = tn_mfcc_config_kws();
  std::vector<uint8_t> state(tn_mfcc_state_buffer_size(&c));
  tn_mfcc m;
  for (auto _ : s) {
    if (tn_mfcc_init(&m, &c, state.data(), state.size()) != TN_OK) {
      s.SkipWithError("init failed");
    }
    benchmark::DoNotOptimize(state.data());
  }
  s.counters["state_bytes"] = static_cast<double>(state.size());
}
BENCHMARK(BM_MfccInit);

void BM_MfccFrame(benchmark::State& s) {
  FrontEnd fe;
  auto pcm = Noise(TN_KWS_WINDOW, 3000);
  float out[TN_KWS_COEFFS];
  for (auto _ : s) {
    tn_mfcc_frame_f32(&fe.mfcc, pcm.data(), out, fe.scratch.data(),
                      fe.scratch.size());
    benchmark::DoNotOptimize(out);
  }
  s.SetItemsProcessed(s.iterations());
}
BENCHMARK(BM_MfccFrame);

void BM_MfccClipS8(benchmark::State& s) {
  FrontEnd fe;
  auto pcm = Noise(TN_KWS_CLIP_SAMPLES, 3000);
  std::vector<int8_t> q(TN_KWS_FEATURES);
  for (auto _ : s) {
    tn_mfcc_compute_s8(&fe.mfcc, pcm.data(), TN_KWS_CLIP_SAMPLES, q.data(),
                       q.size(), nullptr, fe.scratch.data(), fe.scratch.size());
    benchmark::DoNotOptimize(q.data());
  }
  s.SetItemsProcessed(s.iterations() * TN_KWS_FRAMES);
}
BENCHMARK(BM_MfccClipS8);

void BM_FsetOpen(benchmark::State& s) {
  static const char* const kNames[] = {
      "_silence_", "_unknown_", "yes", "no",  "up",   "down",
      "left",      "right",     "on",  "off", "stop", "go"};
  const uint32_t n = static_cast<uint32_t>(s.range(0));
  tn_fset_info info;
  std::memset(&info, 0, sizeof(info));
  info.sample_count = n;
  info.frames = TN_KWS_FRAMES;
  info.coeffs = TN_KWS_COEFFS;
  info.class_count = 12;
  info.front_end = tn_mfcc_config_kws();
  std::vector<uint8_t> file(tn_fset_file_size(&info));
  std::vector<int8_t> feat(TN_KWS_FEATURES, 3);
  tn_fset_write_header(&info, kNames, file.data(), file.size());
  for (uint32_t i = 0; i < n; ++i) {
    tn_fset_record r = {i % 12u, 0, 0, i, feat.data()};
    tn_fset_write_record(&info, i, &r, file.data(), file.size());
  }
  tn_fset_finish(file.data(), file.size());
  tn_fset_view v;
  for (auto _ : s) {
    if (tn_fset_open(file.data(), file.size(), &v) != TN_OK) {
      s.SkipWithError("open failed");
    }
    benchmark::DoNotOptimize(v.info.sample_count);
  }
  s.SetItemsProcessed(s.iterations() * n);
  s.SetBytesProcessed(s.iterations() * static_cast<int64_t>(file.size()));
}
BENCHMARK(BM_FsetOpen)->Arg(500)->Arg(5000);

}  // namespace

BENCHMARK_MAIN();
