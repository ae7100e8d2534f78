// Activation range calibration (see calibrate.h).
#include "server/models/calibrate.h"

#include <algorithm>
#include <cmath>

#include "server/models/float_executor.h"

namespace tinyfleet::models {
namespace {

constexpr size_t kBins = 2048;

}  // namespace

Result<std::vector<TensorRange>> Calibrate(const Graph& graph,
                                           const Dataset& data,
                                           Calibration method,
                                           double percentile,
                                           size_t max_samples) {
  const size_t n_tensors = graph.tensors.size();
  const size_t n =
      max_samples == 0 ? data.size() : std::min(data.size(), max_samples);
  if (n == 0) return InvalidArgumentError("the calibration set is empty");
  std::vector<float> lo(n_tensors, INFINITY), hi(n_tensors, -INFINITY);
  FloatExecutor exec(graph);
  bool finite = true;
  auto minmax = [&](int32_t t, std::span<const float> v) {
    float& l = lo[static_cast<size_t>(t)];
    float& h = hi[static_cast<size_t>(t)];
    for (float x : v) {
      if (!std::isfinite(x)) {
        finite = false;
        continue;
      }
      l = std::min(l, x);
      h = std::max(h, x);
    }
  };
  for (size_t i = 0; i < n; ++i) {
    TF_RETURN_IF_ERROR(exec.Run(data.sample(i), minmax));
  }
  if (!finite) {
    return InvalidArgumentError(
        "the float model produces non-finite values on the calibration set");
  }
  std::vector<TensorRange> ranges(n_tensors);
  for (size_t t = 0; t < n_tensors; ++t) {
    ranges[t] = lo[t] <= hi[t] ? TensorRange{lo[t], hi[t]} : TensorRange{};
  }
  if (method == Calibration::kMinMax) return ranges;

  if (!(percentile > 50.0) || percentile > 100.0) {
    return InvalidArgumentError("percentile must be in (50, 100]");
  }
  std::vector<std::vector<uint64_t>> hist(n_tensors,
                                          std::vector<uint64_t>(kBins, 0));
  auto fill = [&](int32_t t, std::span<const float> v) {
    const TensorRange& r = ranges[static_cast<size_t>(t)];
    const double width = static_cast<double>(r.hi) - r.lo;
    auto& h = hist[static_cast<size_t>(t)];
    for (float x : v) {
      size_t b = 0;
      if (width > 0) {
        const double f = (static_cast<double>(x) - r.lo) / width * kBins;
        b = static_cast<size_t>(std::clamp(f, 0.0, double{kBins - 1}));
      }
      ++h[b];
    }
  };
  for (size_t i = 0; i < n; ++i) {
    TF_RETURN_IF_ERROR(exec.Run(data.sample(i), fill));
  }
  const double tail = (100.0 - percentile) / 100.0;
  for (size_t t = 0; t < n_tensors; ++t) {
    const auto& h = hist[t];
    uint64_t total = 0;
    for (uint64_t c : h) total += c;
    if (total == 0) continue;
    const double width = (static_cast<double>(ranges[t].hi) - ranges[t].lo) /
                         static_cast<double>(kBins);
    const double clip = tail * static_cast<double>(total);
    // Lowest bin whose cumulative count exceeds the clipped tail, and the
    // highest one from the top.
    size_t b_lo = 0, b_hi = kBins - 1;
    double acc = 0;
    for (size_t b = 0; b < kBins; ++b) {
      acc += static_cast<double>(h[b]);
      if (acc > clip) {
        b_lo = b;
        break;
      }
    }
    acc = 0;
    for (size_t b = kBins; b-- > 0;) {
      acc += static_cast<double>(h[b]);
      if (acc > clip) {
        b_hi = b;
        break;
      }
    }
    ranges[t] = TensorRange{
        static_cast<float>(ranges[t].lo + width * static_cast<double>(b_lo)),
        static_cast<float>(ranges[t].lo +
                           width * static_cast<double>(b_hi + 1))};
  }
  return ranges;
}

}  // namespace tinyfleet::models
