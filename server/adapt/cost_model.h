// Cost model of a round's local training on a node: how long the node's
// training job (device/adapt) runs and how much energy it spends, from the
// model's per-layer cycle estimates (the model compiler's GAP9 cost model,
// v1::Model.layers), the round's kind and hyper-parameters, the node's
// sample count and its target profile. The formula and the source of every
// constant are in docs/adaptation.md ("Cost model"). Pure functions, no
// state; thread-safe.
#ifndef TINYFLEET_SERVER_ADAPT_COST_MODEL_H_
#define TINYFLEET_SERVER_ADAPT_COST_MODEL_H_

#include <cstdint>

#include "common/status.h"
#include "tinyfleet/v1/common.pb.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::adapt {

// Clock and average active power a target runs training at.
struct TargetCost {
  double freq_mhz = 0;
  double power_mw = 0;
};
// GAP9, HOST (virtual nodes: GAP9 budgets apply) and UNSPECIFIED: 370 MHz,
// 50 mW (device/runtime/tn_cost.c). GAP8: 175 MHz and the same energy per
// cycle, 50 × 175 / 370 mW.
TargetCost TargetCostOf(v1::TargetProfile target);

// Per-sample cycle figures of a model with a trainable tail.
struct ModelCost {
  // One pass of the frozen front-end: the layers before the first
  // trainable one.
  uint64_t front_cycles = 0;
  // One forward pass of the tail: the first trainable layer and every layer
  // after it.
  uint64_t tail_cycles = 0;
};
// FAILED_PRECONDITION when the model has no trainable layer or its layers
// carry no cycle estimates (then no estimate can be made).
Result<ModelCost> ModelCostOf(const v1::Model& model);

// Cycles of one training step of the tail (forward, input gradient and
// weight gradient) per forward pass; the compiler's tn_cost_profile
// train_macs_factor.
inline constexpr double kTrainStepFactor = 3.0;
// The node holds out every 4th of its recordings for evaluation, so it has
// one held-out sample for every 3 it trains on (device/adapt).
inline constexpr double kHeldOutPerTrainSample = 1.0 / 3.0;
// Defaults the agent puts in the node's TRAIN parameters when the round
// leaves them 0 (agent/adapt/trainer.cc).
inline constexpr uint32_t kDefaultLocalEpochs = 1;
inline constexpr uint32_t kDefaultBatchSize = 16;
inline constexpr uint32_t kDefaultReplaySamples = 64;

struct TrainingEstimate {
  double cycles = 0;
  double time_ms = 0;
  double energy_mj = 0;
};

// The estimate for a round of `kind` with hyper-parameters `h` on a node
// that trains on `samples` samples and runs at `target`. Monotonic
// (non-decreasing) in samples and in local_epochs. FAILED_PRECONDITION when
// samples is 0 (the node has nothing to train on); INVALID_ARGUMENT for an
// unspecified kind.
Result<TrainingEstimate> EstimateTraining(const ModelCost& model,
                                          v1::RoundKind kind,
                                          const v1::RoundHyperparameters& h,
                                          uint32_t samples,
                                          v1::TargetProfile target);

}  // namespace tinyfleet::adapt

#endif  // TINYFLEET_SERVER_ADAPT_COST_MODEL_H_
