// The cost model of local training: hand-computed values for small cases,
// monotonicity, and the cases where no estimate can be made.
#include "server/adapt/cost_model.h"

#include <gtest/gtest.h>

namespace tinyfleet::adapt {
namespace {

v1::RoundHyperparameters Epochs(uint32_t epochs) {
  v1::RoundHyperparameters h;
  h.set_local_epochs(epochs);
  return h;
}

TEST(CostModelTest, ModelCostSplitsAtTheFirstTrainableLayer) {
  v1::Model m;
  m.set_ref("kws:1");
  auto add = [&m](uint64_t cycles, bool trainable) {
    auto* l = m.add_layers();
    l->set_cycles(cycles);
    l->set_trainable(trainable);
  };
  add(500, false);
  add(300, false);
  add(200, true);
  add(50, false);  // after the first trainable layer: part of the tail
  auto c = ModelCostOf(m);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->front_cycles, 800u);
  EXPECT_EQ(c->tail_cycles, 250u);
}

TEST(CostModelTest, ModelWithoutTailOrCyclesHasNoCost) {
  v1::Model frozen;
  frozen.add_layers()->set_cycles(100);
  auto c = ModelCostOf(frozen);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);

  v1::Model no_cycles;
  no_cycles.add_layers()->set_trainable(true);
  c = ModelCostOf(no_cycles);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);
}

TEST(CostModelTest, FederatedRoundMatchesAHandComputedValue) {
  // 30 train samples, so 10 held out: latents 40 × 1000, evaluation
  // 2 × 10 × 200, training 2 epochs × 30 × 3 × 200 = 80,000 cycles.
  const ModelCost model{1000, 200};
  auto e = EstimateTraining(model, v1::ROUND_KIND_FEDERATED, Epochs(2), 30,
                            v1::TARGET_PROFILE_GAP9);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->cycles, 80'000);
  EXPECT_NEAR(e->time_ms, 80'000 / 370'000.0, 1e-12);     // 370 MHz
  EXPECT_NEAR(e->energy_mj, 80'000 * 50 / 370e6, 1e-15);  // 50 mW
  // GAP8: slower clock, same energy per cycle.
  auto g8 = EstimateTraining(model, v1::ROUND_KIND_FEDERATED, Epochs(2), 30,
                             v1::TARGET_PROFILE_GAP8);
  ASSERT_TRUE(g8.ok());
  EXPECT_NEAR(g8->time_ms, 80'000 / 175'000.0, 1e-12);
  EXPECT_NEAR(g8->energy_mj, e->energy_mj, 1e-15);
  // HOST nodes are costed as GAP9.
  auto host = EstimateTraining(model, v1::ROUND_KIND_FEDERATED, Epochs(2), 30,
                               v1::TARGET_PROFILE_HOST);
  ASSERT_TRUE(host.ok());
  EXPECT_DOUBLE_EQ(host->time_ms, e->time_ms);
}

TEST(CostModelTest, LatentReplayCountsTheReplaysOfEveryBatch) {
  // Batch 8: 3 replays and 5 new samples; 30 samples → 6 batches, 48 steps.
  v1::RoundHyperparameters h = Epochs(1);
  h.set_batch_size(8);
  auto e = EstimateTraining({1000, 200}, v1::ROUND_KIND_LATENT_REPLAY, h, 30,
                            v1::TARGET_PROFILE_GAP9);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->cycles, 40'000 + 4'000 + 48 * 600);
  // With one replay sample: batches of 1 replay and 7 new samples, 5
  // batches, 35 steps.
  h.set_replay_samples(1);
  e = EstimateTraining({1000, 200}, v1::ROUND_KIND_LATENT_REPLAY, h, 30,
                       v1::TARGET_PROFILE_GAP9);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->cycles, 40'000 + 4'000 + 35 * 600);
}

TEST(CostModelTest, MonotonicInSamplesAndEpochsForEveryKind) {
  const ModelCost model{270'000, 3'000};
  for (auto kind : {v1::ROUND_KIND_FEDERATED, v1::ROUND_KIND_LATENT_REPLAY,
                    v1::ROUND_KIND_FEW_SHOT, v1::ROUND_KIND_SELF_LEARNING}) {
    double last = 0;
    for (uint32_t n : {1u, 2u, 7u, 100u, 1000u, 100'000u}) {
      auto e =
          EstimateTraining(model, kind, Epochs(3), n, v1::TARGET_PROFILE_GAP9);
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      EXPECT_GT(e->energy_mj, last) << kind << " n=" << n;
      last = e->energy_mj;
    }
    last = 0;
    for (uint32_t epochs : {1u, 2u, 5u, 50u}) {
      auto e = EstimateTraining(model, kind, Epochs(epochs), 100,
                                v1::TARGET_PROFILE_GAP9);
      ASSERT_TRUE(e.ok());
      EXPECT_GE(e->time_ms, last) << kind << " epochs=" << epochs;
      // Few-shot trains nothing; every other kind grows with epochs.
      if (kind != v1::ROUND_KIND_FEW_SHOT && epochs > 1) {
        EXPECT_GT(e->time_ms, last);
      }
      last = e->time_ms;
    }
  }
}

TEST(CostModelTest, ZeroSamplesGivesNoEstimate) {
  auto e = EstimateTraining({1000, 200}, v1::ROUND_KIND_FEDERATED, Epochs(1), 0,
                            v1::TARGET_PROFILE_GAP9);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition);
  e = EstimateTraining({1000, 200}, v1::ROUND_KIND_UNSPECIFIED, Epochs(1), 5,
                       v1::TARGET_PROFILE_GAP9);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

TEST(CostModelTest, EpochsZeroMeansTheAgentDefaultOfOne) {
  auto zero = EstimateTraining({1000, 200}, v1::ROUND_KIND_FEDERATED, Epochs(0),
                               30, v1::TARGET_PROFILE_GAP9);
  auto one = EstimateTraining({1000, 200}, v1::ROUND_KIND_FEDERATED, Epochs(1),
                              30, v1::TARGET_PROFILE_GAP9);
  ASSERT_TRUE(zero.ok() && one.ok());
  EXPECT_DOUBLE_EQ(zero->cycles, one->cycles);
}

}  // namespace
}  // namespace tinyfleet::adapt
