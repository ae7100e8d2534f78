// Activation range calibration (private to server/models): runs the float
// reference over calibration samples and records, per tensor, the range
// its quantization must cover.
//  - min-max: [min, max] over every value of every sample;
//  - percentile p: [(100 - p)-th percentile, p-th percentile] of the
//    values, from a 2048-bin histogram over the min-max range (a second
//    pass); each bound is the outer edge of its bin.
#ifndef TINYFLEET_SERVER_MODELS_CALIBRATE_H_
#define TINYFLEET_SERVER_MODELS_CALIBRATE_H_

#include <cstddef>
#include <vector>

#include "common/status.h"
#include "server/models/dataset.h"
#include "server/models/graph.h"
#include "server/models/lowering.h"
#include "server/models/models.h"

namespace tinyfleet::models {

// One range per tensor of `graph`. REQUIRES: samples of `data` have the
// input's element count. `max_samples` 0 uses all.
Result<std::vector<TensorRange>> Calibrate(const Graph& graph,
                                           const Dataset& data,
                                           Calibration method,
                                           double percentile,
                                           size_t max_samples);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_CALIBRATE_H_
