// Aggregation rules against hand computations, robustness to a poisoned
// client, clipping, and the tail / update / optimizer-state byte formats.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "server/adapt/adapt.h"

namespace tinyfleet::adapt {
namespace {

ClientDelta C(std::string id, uint64_t samples, std::vector<float> d) {
  return ClientDelta{std::move(id), samples, std::move(d)};
}

TEST(Aggregate, FedAvgIsTheSampleWeightedMean) {
  std::vector<float> start = {1.0f, -2.0f, 0.5f};
  std::vector<ClientDelta> clients = {
      C("a", 10, {1.0f, 2.0f, -1.0f}),
      C("b", 30, {-1.0f, 0.0f, 3.0f}),
      C("c", 60, {0.5f, 1.0f, 0.0f}),
  };
  auto r = Aggregate(start, clients, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // (10*1 + 30*-1 + 60*0.5) / 100 = 0.1; (20 + 0 + 60) / 100 = 0.8;
  // (-10 + 90 + 0) / 100 = 0.8
  EXPECT_NEAR(r->delta[0], 0.1f, 1e-6);
  EXPECT_NEAR(r->delta[1], 0.8f, 1e-6);
  EXPECT_NEAR(r->delta[2], 0.8f, 1e-6);
  EXPECT_NEAR(r->tail[0], 1.1f, 1e-6);
  EXPECT_NEAR(r->tail[1], -1.2f, 1e-6);
  EXPECT_NEAR(r->tail[2], 1.3f, 1e-6);
}

TEST(Aggregate, FedProxUsesTheFedAvgServerRule) {
  std::vector<float> start = {0.0f, 0.0f};
  std::vector<ClientDelta> clients = {C("a", 1, {1.0f, 3.0f}),
                                      C("b", 3, {5.0f, -1.0f})};
  AggregationOptions prox;
  prox.strategy = v1::AGGREGATION_STRATEGY_FEDPROX;
  auto a = Aggregate(start, clients, {});
  auto b = Aggregate(start, clients, prox);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tail, b->tail);
  EXPECT_FLOAT_EQ(b->tail[0], 4.0f);  // (1 + 15) / 4
  EXPECT_FLOAT_EQ(b->tail[1], 0.0f);  // (3 - 3) / 4
}

TEST(Aggregate, ResultDoesNotDependOnClientOrder) {
  std::vector<float> start(64, 0.25f);
  std::vector<ClientDelta> clients;
  for (int k = 0; k < 9; ++k) {
    std::vector<float> d(64);
    for (int i = 0; i < 64; ++i) d[i] = std::sin(0.37f * (k * 64 + i)) * 1e-3f;
    clients.push_back(C("dev-" + std::to_string(k), 7 + k, d));
  }
  auto a = Aggregate(start, clients, {});
  std::reverse(clients.begin(), clients.end());
  auto b = Aggregate(start, clients, {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tail, b->tail);  // bit for bit
}

std::vector<ClientDelta> HonestPlusPoisoned() {
  return {
      C("a", 10, {1.0f, -1.0f}),      C("b", 10, {1.2f, -0.8f}),
      C("c", 10, {0.8f, -1.2f}),      C("d", 10, {1.1f, -0.9f}),
      C("evil", 1000, {1e6f, -1e6f}),
  };
}

TEST(Aggregate, MedianIgnoresAPoisonedClient) {
  AggregationOptions o;
  o.strategy = v1::AGGREGATION_STRATEGY_MEDIAN;
  auto r = Aggregate(std::vector<float>{0, 0}, HonestPlusPoisoned(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FLOAT_EQ(r->tail[0], 1.1f);   // sorted 0.8 1 1.1 1.2 1e6
  EXPECT_FLOAT_EQ(r->tail[1], -1.0f);  // sorted -1e6 -1.2 -1 -0.9 -0.8
  // FedAvg, by contrast, is dragged away.
  auto avg = Aggregate(std::vector<float>{0, 0}, HonestPlusPoisoned(), {});
  ASSERT_TRUE(avg.ok());
  EXPECT_GT(avg->tail[0], 1000.0f);
}

TEST(Aggregate, MedianOfAnEvenCountAveragesTheMiddlePair) {
  AggregationOptions o;
  o.strategy = v1::AGGREGATION_STRATEGY_MEDIAN;
  auto r = Aggregate(
      std::vector<float>{0},
      {C("a", 1, {1}), C("b", 1, {2}), C("c", 1, {4}), C("d", 1, {100})}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_FLOAT_EQ(r->tail[0], 3.0f);
}

TEST(Aggregate, TrimmedMeanIgnoresAPoisonedClient) {
  AggregationOptions o;
  o.strategy = v1::AGGREGATION_STRATEGY_TRIMMED_MEAN;
  o.trim_ratio = 0.2;  // 5 clients: one dropped at each end
  auto r = Aggregate(std::vector<float>{0, 0}, HonestPlusPoisoned(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->tail[0], (1.0 + 1.1 + 1.2) / 3, 1e-6);
  EXPECT_NEAR(r->tail[1], (-1.2 - 1.0 - 0.9) / 3, 1e-6);
}

TEST(Aggregate, TrimmedMeanRefusesARatioThatLeavesNoClient) {
  AggregationOptions o;
  o.strategy = v1::AGGREGATION_STRATEGY_TRIMMED_MEAN;
  o.trim_ratio = 0.5;
  EXPECT_EQ(
      Aggregate(std::vector<float>{0}, {C("a", 1, {1}), C("b", 1, {2})}, o)
          .status()
          .code(),
      StatusCode::kInvalidArgument);
}

TEST(Aggregate, FedAdamOneStepMatchesAHandComputation) {
  AggregationOptions o;
  o.strategy = v1::AGGREGATION_STRATEGY_FEDADAM;
  o.server_learning_rate = 0.1;
  o.beta1 = 0.9;
  o.beta2 = 0.99;
  o.epsilon = 1e-3;
  std::vector<float> start = {0.5f, -0.5f};
  // Weighted mean delta: d = (0.2*1 + 0.6*3) / 4 = 0.5; (-0.4*1 + 0.0*3)/4
  // = -0.1.
  std::vector<ClientDelta> clients = {C("a", 1, {0.2f, -0.4f}),
                                      C("b", 3, {0.6f, 0.0f})};
  AdamState prev;
  prev.step = 4;
  prev.m = {0.1f, 0.0f};
  prev.v = {0.04f, 0.01f};
  auto r = Aggregate(start, clients, o, &prev);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // m0 = 0.9*0.1 + 0.1*0.5 = 0.14; v0 = 0.99*0.04 + 0.01*0.25 = 0.0421
  // x0 = 0.5 + 0.1 * 0.14 / (sqrt(0.0421) + 0.001)
  double m0 = 0.14, v0 = 0.0421;
  double x0 = 0.5 + 0.1 * m0 / (std::sqrt(v0) + 0.001);
  // m1 = 0.1*-0.1 = -0.01; v1 = 0.99*0.01 + 0.01*0.01 = 0.01
  double m1 = -0.01, v1 = 0.01;
  double x1 = -0.5 + 0.1 * m1 / (std::sqrt(v1) + 0.001);
  EXPECT_NEAR(r->tail[0], x0, 1e-6);
  EXPECT_NEAR(r->tail[1], x1, 1e-6);
  EXPECT_NEAR(r->adam.m[0], m0, 1e-7);
  EXPECT_NEAR(r->adam.v[0], v0, 1e-7);
  EXPECT_NEAR(r->adam.m[1], m1, 1e-7);
  EXPECT_NEAR(r->adam.v[1], v1, 1e-7);
  EXPECT_EQ(r->adam.step, 5u);
}

TEST(Aggregate, FedAdamStartsFromZeroMoments) {
  AggregationOptions o;
  o.strategy = v1::AGGREGATION_STRATEGY_FEDADAM;
  auto r = Aggregate(std::vector<float>{0}, {C("a", 1, {0.1f})}, o);
  ASSERT_TRUE(r.ok());
  // m = 0.01, v = 1e-4: step = 0.01 * 0.01 / (0.01 + 0.001)
  EXPECT_NEAR(r->tail[0], 0.01 * 0.01 / 0.011, 1e-7);
  EXPECT_EQ(r->adam.step, 1u);
}

TEST(Aggregate, ClipsEachDeltaOnReceipt) {
  AggregationOptions o;
  o.clip_norm = 1.0;
  auto r = Aggregate(std::vector<float>{0, 0},
                     {C("a", 1, {3.0f, 4.0f}), C("b", 1, {0.0f, 0.5f})}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->clipped, 1u);
  EXPECT_NEAR(r->tail[0], (0.6 + 0.0) / 2, 1e-6);
  EXPECT_NEAR(r->tail[1], (0.8 + 0.5) / 2, 1e-6);
}

TEST(Aggregate, RefusesMismatchedAndNonFiniteDeltas) {
  EXPECT_FALSE(Aggregate(std::vector<float>{0, 0}, {C("a", 1, {1})}, {}).ok());
  EXPECT_FALSE(
      Aggregate(std::vector<float>{0}, {C("a", 1, {std::nanf("")})}, {}).ok());
  EXPECT_FALSE(Aggregate(std::vector<float>{0}, {}, {}).ok());
  AggregationOptions none;
  none.strategy = v1::AGGREGATION_STRATEGY_NONE;
  EXPECT_FALSE(Aggregate(std::vector<float>{0}, {C("a", 1, {1})}, none).ok());
}

TEST(Formats, TailRoundTripsAndRejectsDamage) {
  TailFile t;
  t.frozen_sha256.fill(7);
  t.params = {1.5f, -2.0f, 0.0f};
  std::string bytes = EncodeTail(t);
  EXPECT_EQ(bytes.size(), 44u + 12u + 32u);
  auto back = DecodeTail(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->params, t.params);
  EXPECT_EQ(back->frozen_sha256, t.frozen_sha256);
  std::string bad = bytes;
  bad[50] ^= 1;
  EXPECT_FALSE(DecodeTail(bad).ok());
  EXPECT_FALSE(DecodeTail(bytes.substr(0, bytes.size() - 1)).ok());
}

TEST(Formats, UpdateRoundTripsWithinQuantizationError) {
  UpdateFile u;
  u.round_binding = RoundBinding("rd-1");
  u.frozen_sha256.fill(1);
  u.start_sha256.fill(2);
  u.samples = 40;
  u.attempt = 3;
  u.loss_before = 2.0f;
  u.loss_after = 1.0f;
  u.tensor_sizes = {4, 2};
  u.delta = {0.5f, -0.25f, 0.0f, 0.125f, -1.0f, 0.75f};
  auto back = DecodeUpdate(EncodeUpdate(u));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->tensor_sizes, u.tensor_sizes);
  EXPECT_EQ(back->samples, 40u);
  EXPECT_EQ(back->attempt, 3u);
  EXPECT_EQ(back->round_binding, u.round_binding);
  ASSERT_EQ(back->delta.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(back->delta[i], u.delta[i], 0.005);
  std::string bytes = EncodeUpdate(u);
  bytes[140] ^= 0x10;
  EXPECT_FALSE(DecodeUpdate(bytes).ok());  // checksum
}

TEST(Formats, AdamStateRoundTrips) {
  AdamState s;
  s.step = 9;
  s.m = {1, 2};
  s.v = {3, 4};
  auto back = AdamState::Decode(s.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->step, 9u);
  EXPECT_EQ(back->m, s.m);
  EXPECT_EQ(back->v, s.v);
  EXPECT_FALSE(AdamState::Decode("TNAS").ok());
}

}  // namespace
}  // namespace tinyfleet::adapt
