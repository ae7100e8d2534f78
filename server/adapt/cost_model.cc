// The cost model of a node's local training (docs/adaptation.md, "Cost
// model"). It follows the phases of the node's job in device/adapt: the
// frozen front-end runs once per local sample (latents are cached), then
// only the FP32 tail runs, for evaluation passes and training steps.
#include "server/adapt/cost_model.h"

#include <algorithm>
#include <cmath>

namespace tinyfleet::adapt {

TargetCost TargetCostOf(v1::TargetProfile target) {
  // GAP9 cluster clock and the assumed average power of the compiler's cost
  // model (device/runtime/tn_cost.c, docs/formats/model-blob.md § 10).
  constexpr TargetCost kGap9{370.0, 50.0};
  switch (target) {
    case v1::TARGET_PROFILE_GAP8:
      // GAP8 cluster maximum clock; same energy per cycle as GAP9.
      return {175.0, kGap9.power_mw * 175.0 / kGap9.freq_mhz};
    default:
      return kGap9;
  }
}

Result<ModelCost> ModelCostOf(const v1::Model& model) {
  ModelCost c;
  bool in_tail = false, any_cycles = false;
  for (const auto& l : model.layers()) {
    in_tail = in_tail || l.trainable();
    (in_tail ? c.tail_cycles : c.front_cycles) += l.cycles();
    any_cycles = any_cycles || l.cycles() > 0;
  }
  if (!in_tail) {
    return FailedPreconditionError("model " + model.ref() +
                                   " has no trainable layer");
  }
  if (!any_cycles) {
    return FailedPreconditionError("model " + model.ref() +
                                   " carries no cycle estimates");
  }
  return c;
}

Result<TrainingEstimate> EstimateTraining(const ModelCost& model,
                                          v1::RoundKind kind,
                                          const v1::RoundHyperparameters& h,
                                          uint32_t samples,
                                          v1::TargetProfile target) {
  if (samples == 0) {
    return FailedPreconditionError(
        "the node reports no local training samples");
  }
  const double n = samples;
  const double held_out = n * kHeldOutPerTrainSample;
  const double all = n + held_out;
  const double epochs =
      h.local_epochs() == 0 ? kDefaultLocalEpochs : h.local_epochs();
  const double front = static_cast<double>(model.front_cycles);
  const double tail = static_cast<double>(model.tail_cycles);
  const double step = kTrainStepFactor * tail;

  // Latents of every local sample, once.
  double cycles = all * front;
  switch (kind) {
    case v1::ROUND_KIND_FEDERATED:
      // Held-out evaluation before and after; every train sample once per
      // epoch.
      cycles += 2 * held_out * tail + epochs * n * step;
      break;
    case v1::ROUND_KIND_LATENT_REPLAY: {
      // As federated, plus the replays mixed into each mini-batch: a batch
      // of b holds rb = min(floor((b + 1) / 3), replay_samples) replays and
      // b - rb new samples.
      const uint32_t b =
          h.batch_size() == 0 ? kDefaultBatchSize : h.batch_size();
      const uint32_t replay =
          h.replay_samples() == 0 ? kDefaultReplaySamples : h.replay_samples();
      const uint32_t rb = std::min((b + 1) / 3, replay);
      const double batches = std::ceil(n / static_cast<double>(b - rb));
      const double units = n + batches * rb;
      cycles += 2 * held_out * tail + epochs * units * step;
      break;
    }
    case v1::ROUND_KIND_FEW_SHOT:
      // Two evaluations, the enrolment and the calibration visit every
      // sample; nothing is trained.
      cycles += 4 * all * tail;
      break;
    case v1::ROUND_KIND_SELF_LEARNING:
      // As few-shot plus the labelling pass; then at most every sample per
      // epoch (all pseudo-labels accepted: an upper bound).
      cycles += 5 * all * tail + epochs * all * step;
      break;
    default:
      return InvalidArgumentError("cost model: unknown round kind");
  }
  const TargetCost t = TargetCostOf(target);
  TrainingEstimate e;
  e.cycles = cycles;
  e.time_ms = cycles / (t.freq_mhz * 1e3);
  e.energy_mj = cycles * t.power_mw / (t.freq_mhz * 1e6);
  return e;
}

}  // namespace tinyfleet::adapt
