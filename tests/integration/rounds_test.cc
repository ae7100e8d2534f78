// Adaptation rounds through the whole system on 127.0.0.1: a gateway
// compiles the keyword-spotting fixture with a trainable FP32 tail and
// rolls it out to bridges whose virtual nodes each hold one user's shard of
// the keyword users set; a federated round then orders every node to
// train, the agents fetch the global tail, the nodes fine-tune it on their
// own data with the device training code, the agents upload the int8
// updates, and the gateway aggregates them. A round in which one node
// drops out completes with the others. A few-shot round enrols each
// user's keywords on its node and completes with per-node metrics and no
// new tail; a self-learning round pseudo-labels and fine-tunes on the
// nodes and is aggregated; nodes without enough labelled examples decline.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "agent/bridge/bridge.h"
#include "agent/link/transport.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "tests/support/test_env.h"
#include "tests/support/test_fleet.h"

namespace tinyfleet {
namespace {

using testing::RunningModel;
using testing::TempDir;
using testing::TestFleet;
using testing::TestGateway;
using testing::UploadModel;
using testing::WaitFor;

std::string FixturePath(const std::string& name) {
  return std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/" + name;
}

std::string Fixture(const std::string& name) {
  std::ifstream f(FixturePath(name), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class RoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ =
        std::make_unique<FakeClock>(SystemClock::Instance().NowUnixMillis());
    gw_ = std::make_unique<TestGateway>(dir_.path() / "gw", clock_.get());
    fleet_ = std::make_unique<TestFleet>(dir_.path() / "fleet");
  }
  void TearDown() override {
    fleet_.reset();
    gw_.reset();
  }

  // Enrolls `n` bridges over virtual nodes holding users 1..n of the users
  // set; waits until all are online.
  void StartNodes(int n) {
    ASSERT_TRUE(
        fleet_->Start(*gw_, n, [](int i, agent::VirtualNodeOptions* vo) {
          vo->target = TN_TARGET_GAP9;
          vo->shard = FixturePath("kws_users.tnfs");
          vo->user = static_cast<uint32_t>(i + 1);
        }));
  }

  // The fixture model compiled by the gateway with its last layer as the
  // trainable tail, rolled out to every node.
  v1::Model DeployModel() {
    auto stub = gw_->FleetStub();
    v1::UploadModelHeader h;
    h.set_name("kws");
    h.set_format(v1::MODEL_FORMAT_ONNX);
    h.mutable_options()->set_target(v1::TARGET_PROFILE_GAP9);
    h.mutable_options()->set_trainable_tail_layers(1);
    auto uploaded = UploadModel(*gw_, h, Fixture("ds_cnn_s.onnx"),
                                Fixture("kws_calib.tnfs"));
    EXPECT_TRUE(uploaded.ok()) << uploaded.status().ToString();
    v1::Model model = uploaded.ok() ? *uploaded : v1::Model();
    grpc::Status st;

    v1::CreateRolloutRequest rr;
    rr.set_model_ref(model.ref());
    rr.add_wave_percents(100);
    for (const auto& id : fleet_->DeviceIds()) rr.add_device_ids(id);
    v1::Rollout rollout;
    auto ctx2 = TestGateway::Ctx(gw_->admin_token());
    st = stub->CreateRollout(ctx2.get(), rr, &rollout);
    EXPECT_TRUE(st.ok()) << st.error_message();
    const std::string running = RunningModel(model);
    EXPECT_TRUE(WaitFor(
        [&] {
          gw_->gateway().TickRollouts();
          v1::ListDevicesRequest lr;
          lr.set_page_size(1000);
          v1::ListDevicesResponse resp;
          auto ctx3 = TestGateway::Ctx(gw_->admin_token());
          if (!stub->ListDevices(ctx3.get(), lr, &resp).ok()) return false;
          for (const auto& d : resp.devices()) {
            if (RunningModel(d) != running) return false;
          }
          return resp.devices_size() == static_cast<int>(fleet_->size());
        },
        std::chrono::seconds(120)));
    return model;
  }

  // StartRound with `req` and a 10-minute deadline, as the admin.
  v1::Round Start(v1::StartRoundRequest req) {
    req.mutable_deadline()->set_seconds(600);
    auto stub = gw_->FleetStub();
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    v1::Round r;
    grpc::Status st = stub->StartRound(ctx.get(), req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return r;
  }

  v1::Round StartRound(const v1::Model& model, uint32_t min_clients,
                       uint32_t target_clients, uint32_t epochs) {
    v1::StartRoundRequest req;
    req.set_kind(v1::ROUND_KIND_FEDERATED);
    req.set_model_ref(model.ref());
    req.set_strategy(v1::AGGREGATION_STRATEGY_FEDAVG);
    req.set_min_clients(min_clients);
    req.set_target_clients(target_clients);
    auto* hp = req.mutable_hyperparameters();
    hp->set_local_epochs(epochs);
    hp->set_batch_size(8);
    hp->set_learning_rate(0.001);
    hp->set_momentum(0.9);
    return Start(req);
  }

  // Starts a round of `kind` on every node, with `shots` examples per class.
  v1::Round StartEnrolRound(const v1::Model& model, v1::RoundKind kind,
                            uint32_t clients, uint32_t shots) {
    v1::StartRoundRequest req;
    req.set_kind(kind);
    req.set_model_ref(model.ref());
    req.set_min_clients(clients);
    req.set_target_clients(clients);
    auto* hp = req.mutable_hyperparameters();
    hp->set_shots(shots);
    hp->set_target_far(0.1);
    hp->set_local_epochs(2);
    hp->set_batch_size(8);
    hp->set_learning_rate(0.001);
    hp->set_momentum(0.9);
    return Start(req);
  }

  // Ticks the gateway until round `id` is finished.
  v1::Round WaitFinished(const std::string& id) {
    v1::Round r;
    EXPECT_TRUE(WaitFor(
        [&] {
          gw_->gateway().TickRounds();
          r = GetRound(id);
          return Finished(r);
        },
        std::chrono::seconds(240)))
        << r.DebugString();
    return r;
  }

  v1::Round GetRound(const std::string& id) {
    auto stub = gw_->FleetStub();
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    v1::GetRoundRequest req;
    req.set_round_id(id);
    v1::Round r;
    grpc::Status st = stub->GetRound(ctx.get(), req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return r;
  }

  static bool Finished(const v1::Round& r) {
    return r.state() == v1::ROUND_STATE_COMPLETED ||
           r.state() == v1::ROUND_STATE_FAILED ||
           r.state() == v1::ROUND_STATE_CANCELLED;
  }

  TempDir dir_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<TestGateway> gw_;
  std::unique_ptr<TestFleet> fleet_;
};

TEST_F(RoundsTest, SixNodesRunAFederatedRoundToCompletion) {
  StartNodes(6);
  v1::Model model = DeployModel();
  v1::Round started = StartRound(model, 4, 6, 2);
  ASSERT_FALSE(started.round_id().empty());
  v1::Round r;
  ASSERT_TRUE(WaitFor(
      [&] {
        gw_->gateway().TickRounds();
        r = GetRound(started.round_id());
        return Finished(r);
      },
      std::chrono::seconds(240)))
      << r.DebugString();
  ASSERT_EQ(r.state(), v1::ROUND_STATE_COMPLETED) << r.DebugString();
  EXPECT_EQ(r.metrics().reported(), 6u);
  EXPECT_FALSE(r.result_tail_artifact_id().empty());
  EXPECT_NE(r.result_tail_artifact_id(), r.start_tail_artifact_id());
  EXPECT_GT(r.metrics().bytes_up(), 0u);
  ASSERT_EQ(r.clients_size(), 6);
  for (const auto& c : r.clients()) {
    EXPECT_EQ(c.state(), "reported") << c.DebugString();
    EXPECT_GT(c.samples(), 0u);
    EXPECT_GT(c.loss_after(), 0.0);
  }
  // Every agent trained once on its node and uploaded once.
  for (size_t i = 0; i < fleet_->size(); ++i) {
    auto s = fleet_->bridge(i).trainer()->stats();
    EXPECT_EQ(s.jobs_started, 1u);
    EXPECT_EQ(s.uploaded, 1u);
    EXPECT_EQ(s.declined + s.failed, 0u);
  }
}

TEST_F(RoundsTest, ARoundCompletesWithTheRestWhenOneNodeDrops) {
  StartNodes(5);
  v1::Model model = DeployModel();
  // Many epochs, so the dropped node cannot finish before it stops.
  v1::Round started = StartRound(model, 3, 5, 30);
  ASSERT_FALSE(started.round_id().empty());
  // The first node to take its order goes away mid-training.
  size_t dropped = fleet_->size();
  ASSERT_TRUE(WaitFor(
      [&] {
        for (size_t i = 0; i < fleet_->size(); ++i) {
          auto t = fleet_->bridge(i).trainer();
          if (t && t->busy()) {
            dropped = i;
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(60)));
  fleet_->Stop(dropped);
  // The others report; then the deadline passes on the gateway's clock.
  v1::Round r;
  ASSERT_TRUE(WaitFor(
      [&] {
        gw_->gateway().TickRounds();
        r = GetRound(started.round_id());
        return r.metrics().reported() == 4 || Finished(r);
      },
      std::chrono::seconds(240)))
      << r.DebugString();
  EXPECT_EQ(r.state(), v1::ROUND_STATE_TRAINING) << r.DebugString();
  clock_->Advance(std::chrono::seconds(601));
  ASSERT_TRUE(WaitFor(
      [&] {
        gw_->gateway().TickRounds();
        r = GetRound(started.round_id());
        return Finished(r);
      },
      std::chrono::seconds(60)))
      << r.DebugString();
  ASSERT_EQ(r.state(), v1::ROUND_STATE_COMPLETED) << r.DebugString();
  EXPECT_EQ(r.metrics().reported(), 4u);
  EXPECT_EQ(r.metrics().dropped(), 1u);
  EXPECT_FALSE(r.result_tail_artifact_id().empty());
  const std::string gone = fleet_->bridge(dropped).device_id();
  for (const auto& c : r.clients()) {
    EXPECT_EQ(c.state(), c.device_id() == gone ? "dropped" : "reported")
        << c.DebugString();
  }
}

}  // namespace
}  // namespace tinyfleet

namespace tinyfleet {
namespace {

TEST_F(RoundsTest, FewShotThenSelfLearningRoundsCompleteWithNodeMetrics) {
  StartNodes(3);
  v1::Model model = DeployModel();

  // Few-shot: 3 shots of each of the 10 keywords per node; the results
  // (prototypes, threshold) stay on the nodes.
  v1::Round few =
      StartEnrolRound(model, v1::ROUND_KIND_FEW_SHOT, 3, /*shots=*/3);
  ASSERT_FALSE(few.round_id().empty());
  EXPECT_EQ(few.strategy(), v1::AGGREGATION_STRATEGY_NONE);
  v1::Round r = WaitFinished(few.round_id());
  ASSERT_EQ(r.state(), v1::ROUND_STATE_COMPLETED) << r.DebugString();
  EXPECT_EQ(r.metrics().reported(), 3u);
  EXPECT_TRUE(r.result_tail_artifact_id().empty());
  EXPECT_TRUE(r.result_model_ref().empty());
  ASSERT_EQ(r.clients_size(), 3);
  double mean_after = 0;
  for (const auto& c : r.clients()) {
    EXPECT_EQ(c.state(), "reported") << c.DebugString();
    EXPECT_EQ(c.samples(), 3u * 10u) << c.DebugString();
    EXPECT_GE(c.accuracy_before(), 0.0);
    EXPECT_LE(c.accuracy_before(), 1.0);
    // Open-set accuracy of the enrolled prototypes on the node's
    // evaluation clips: above what rejecting everything scores (the
    // negatives are a quarter of them) and far above chance (1 in 11).
    EXPECT_GT(c.accuracy_after(), 0.3) << c.DebugString();
    EXPECT_EQ(c.loss_after(), c.loss_before());
    // An update without coordinates: header, two tensor records, hash.
    EXPECT_EQ(c.total_bytes(), 132u + 2u * 12u + 32u);
    mean_after += c.accuracy_after() / 3;
  }
  EXPECT_NEAR(r.metrics().accuracy_after(), mean_after, 1e-6);
  // On average the prototypes do at least as well as the shared tail.
  EXPECT_GE(r.metrics().accuracy_after(), r.metrics().accuracy_before());
  std::printf(
      "few-shot round: open-set accuracy %.3f (tails) -> %.3f "
      "(prototypes)\n",
      r.metrics().accuracy_before(), r.metrics().accuracy_after());

  // Self-learning: prototypes from 3 shots of every class, pseudo-labels
  // for the rest, the tail fine-tuned and aggregated with FedAvg.
  v1::Round self =
      StartEnrolRound(model, v1::ROUND_KIND_SELF_LEARNING, 3, /*shots=*/3);
  ASSERT_FALSE(self.round_id().empty());
  EXPECT_EQ(self.strategy(), v1::AGGREGATION_STRATEGY_FEDAVG);
  r = WaitFinished(self.round_id());
  ASSERT_EQ(r.state(), v1::ROUND_STATE_COMPLETED) << r.DebugString();
  EXPECT_EQ(r.metrics().reported(), 3u);
  EXPECT_FALSE(r.result_tail_artifact_id().empty());
  EXPECT_NE(r.result_tail_artifact_id(), r.start_tail_artifact_id());
  for (const auto& c : r.clients()) {
    EXPECT_EQ(c.state(), "reported") << c.DebugString();
    // 36 shots and at least one accepted pseudo-label, at most the whole
    // pool (4 of the 7 clips per class that are not shots).
    EXPECT_GT(c.samples(), 3u * 12u) << c.DebugString();
    EXPECT_LE(c.samples(), 3u * 12u + 4u * 12u) << c.DebugString();
    EXPECT_LT(c.loss_after(), c.loss_before()) << c.DebugString();
    std::printf(
        "self-learning node: %u samples, loss %.3f -> %.3f, "
        "accuracy %.3f -> %.3f\n",
        c.samples(), c.loss_before(), c.loss_after(), c.accuracy_before(),
        c.accuracy_after());
  }
  for (size_t i = 0; i < fleet_->size(); ++i) {
    auto s = fleet_->bridge(i).trainer()->stats();
    EXPECT_EQ(s.uploaded, 2u);
    EXPECT_EQ(s.declined + s.failed, 0u);
  }
}

TEST_F(RoundsTest, NodesWithoutEnoughLabelledExamplesDecline) {
  StartNodes(2);
  v1::Model model = DeployModel();
  // Each user has 10 clips per class.
  v1::Round few =
      StartEnrolRound(model, v1::ROUND_KIND_FEW_SHOT, 2, /*shots=*/11);
  ASSERT_FALSE(few.round_id().empty());
  v1::Round r = WaitFinished(few.round_id());
  ASSERT_EQ(r.state(), v1::ROUND_STATE_FAILED) << r.DebugString();
  EXPECT_NE(r.reason().find("0 of 2 clients reported"), std::string::npos)
      << r.reason();
  ASSERT_EQ(r.clients_size(), 2);
  for (const auto& c : r.clients()) {
    EXPECT_EQ(c.state(), "declined") << c.DebugString();
    EXPECT_NE(c.error().find("11 labelled examples"), std::string::npos)
        << c.DebugString();
  }
  for (size_t i = 0; i < fleet_->size(); ++i) {
    EXPECT_EQ(fleet_->bridge(i).trainer()->stats().declined, 1u);
  }
}

TEST_F(RoundsTest, NodesReportTheirSamplesAndBudgetAndOneOverBudgetIsLeftOut) {
  // Node 0 may spend 1 J on a round, node 1 a nanojoule.
  ASSERT_TRUE(fleet_->Start(*gw_, 2, [](int i, agent::VirtualNodeOptions* vo) {
    vo->target = TN_TARGET_GAP9;
    vo->shard = FixturePath("kws_users.tnfs");
    vo->user = static_cast<uint32_t>(i + 1);
    vo->train_energy_budget_mj = i == 0 ? 1000 : 1e-6;
  }));
  v1::Model model = DeployModel();
  const std::vector<std::string> ids = fleet_->DeviceIds();
  ASSERT_EQ(ids.size(), 2u);
  auto stub = gw_->FleetStub();
  for (size_t i = 0; i < ids.size(); ++i) {
    v1::GetDeviceRequest g;
    g.set_device_id(ids[i]);
    v1::Device d;
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    ASSERT_TRUE(stub->GetDevice(ctx.get(), g, &d).ok());
    // 12 classes × 10 clips, every 4th held out.
    EXPECT_EQ(d.node().train_samples(), 90u) << ids[i];
    EXPECT_DOUBLE_EQ(d.node().train_energy_budget_mj(), i == 0 ? 1000 : 1e-6);
  }

  v1::StartRoundRequest req;
  req.set_kind(v1::ROUND_KIND_FEDERATED);
  req.set_model_ref(model.ref());
  req.set_min_clients(1);
  req.set_target_clients(2);
  req.set_min_samples(50);
  v1::Round r = Start(req);
  ASSERT_EQ(r.state(), v1::ROUND_STATE_TRAINING) << r.reason();
  EXPECT_EQ(r.metrics().eligible(), 1u);
  EXPECT_EQ(r.metrics().excluded_energy(), 1u);
  EXPECT_EQ(r.metrics().selected(), 1u);
  EXPECT_GT(r.metrics().estimated_energy_mj(), 1e-6);
  EXPECT_LT(r.metrics().estimated_energy_mj(), 1000);

  // With 100 samples required, neither node is eligible.
  req.set_min_samples(100);
  v1::Round none = Start(req);
  EXPECT_EQ(none.state(), v1::ROUND_STATE_FAILED);
  EXPECT_NE(none.reason().find("2 with too few samples (< 100)"),
            std::string::npos)
      << none.reason();

  v1::CancelRoundRequest c;
  c.set_round_id(r.round_id());
  v1::Round cancelled;
  auto ctx3 = TestGateway::Ctx(gw_->admin_token());
  EXPECT_TRUE(stub->CancelRound(ctx3.get(), c, &cancelled).ok());
}

}  // namespace
}  // namespace tinyfleet
