// Adaptation rounds through the whole system on 127.0.0.1: a gateway
// compiles the keyword-spotting fixture with a trainable FP32 tail and
// rolls it out to bridges whose virtual nodes each hold one user's shard of
// the keyword users set; a federated round then orders every node to
// train, the agents fetch the global tail, the nodes fine-tune it on their
// own data with the device training code, the agents upload the int8
// updates, and the gateway aggregates them. A round in which one node
// drops out completes with the others.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "agent/bridge/bridge.h"
#include "agent/link/transport.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "tests/support/test_env.h"

namespace tinyfleet {
namespace {

using testing::TempDir;
using testing::TestGateway;
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

std::string Running(const v1::Device& d) {
  for (const auto& s : d.node().slots()) {
    if (s.state() == v1::SLOT_STATE_ACTIVE) {
      return s.model_id() + "/" + std::to_string(s.model_version());
    }
  }
  return "";
}

class RoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ =
        std::make_unique<FakeClock>(SystemClock::Instance().NowUnixMillis());
    gw_ = std::make_unique<TestGateway>(dir_.path() / "gw", clock_.get());
    for (int i = 0; i < 2; ++i) io_threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    StopNodes();
    gw_.reset();
    work_.reset();
    io_.stop();
    for (auto& t : io_threads_) t.join();
    blocking_.join();
  }

  // Enrolls `n` bridges over virtual nodes holding users 1..n of the users
  // set; waits until all are online.
  void StartNodes(int n) {
    auto tokens = gw_->CreateEnrollmentTokens(n);
    ASSERT_EQ(tokens.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      agent::BridgeOptions bo;
      bo.name = "node" + std::to_string(i);
      bo.credentials_dir = dir_.path() / bo.name / "credentials";
      bo.endpoint = {gw_->target(), gw_->ca_pem(), false};
      bo.bootstrap_token = tokens[i];
      bo.initial_backoff = std::chrono::milliseconds(50);
      bo.max_backoff = std::chrono::milliseconds(500);
      auto node_dir = dir_.path() / bo.name / "node";
      const uint32_t user = static_cast<uint32_t>(i + 1);
      auto b = agent::Bridge::Create(
          io_, bo,
          [node_dir, user](agent::Strand strand) {
            agent::VirtualNodeOptions vo;
            vo.state_dir = node_dir;
            vo.target = TN_TARGET_GAP9;
            vo.telemetry_interval = std::chrono::milliseconds(0);
            vo.shard = FixturePath("kws_users.tnfs");
            vo.user = user;
            return std::move(agent::MakeVirtualNodeTransport(strand, vo))
                .value();
          },
          &blocking_);
      b->Start();
      bridges_.push_back(b);
    }
    ASSERT_TRUE(WaitFor(
        [&] {
          for (auto& b : bridges_) {
            if (b->state() != agent::BridgeState::kOnline) return false;
          }
          return true;
        },
        std::chrono::seconds(60)));
  }

  void StopBridge(size_t i) {
    if (!stopped_.insert(i).second) return;
    std::promise<void> done;
    bridges_[i]->Stop([&] { done.set_value(); });
    done.get_future().wait();
  }

  void StopNodes() {
    for (size_t i = 0; i < bridges_.size(); ++i) StopBridge(i);
    bridges_.clear();
    stopped_.clear();
  }

  // The fixture model compiled by the gateway with its last layer as the
  // trainable tail, rolled out to every node.
  v1::Model DeployModel() {
    auto stub = gw_->FleetStub();
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    // Compiling in a debug build takes longer than the usual 10 s.
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(120));
    v1::Model model;
    auto writer = stub->UploadModel(ctx.get(), &model);
    std::string onnx = Fixture("ds_cnn_s.onnx");
    std::string calib = Fixture("kws_calib.tnfs");
    v1::UploadModelRequest req;
    auto* h = req.mutable_header();
    h->set_name("kws");
    h->set_format(v1::MODEL_FORMAT_ONNX);
    h->set_model_bytes(onnx.size());
    h->set_calibration_bytes(calib.size());
    h->mutable_options()->set_target(v1::TARGET_PROFILE_GAP9);
    h->mutable_options()->set_trainable_tail_layers(1);
    EXPECT_TRUE(writer->Write(req));
    v1::UploadModelRequest m;
    m.set_model_chunk(onnx);
    EXPECT_TRUE(writer->Write(m));
    v1::UploadModelRequest c;
    c.set_calibration_chunk(calib);
    EXPECT_TRUE(writer->Write(c));
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    EXPECT_TRUE(st.ok()) << st.error_message();

    v1::CreateRolloutRequest rr;
    rr.set_model_ref(model.ref());
    rr.add_wave_percents(100);
    for (const auto& b : bridges_) rr.add_device_ids(b->device_id());
    v1::Rollout rollout;
    auto ctx2 = TestGateway::Ctx(gw_->admin_token());
    st = stub->CreateRollout(ctx2.get(), rr, &rollout);
    EXPECT_TRUE(st.ok()) << st.error_message();
    const std::string running =
        model.model_id() + "/" + std::to_string(model.blob_version());
    EXPECT_TRUE(WaitFor(
        [&] {
          gw_->gateway().TickRollouts();
          v1::ListDevicesRequest lr;
          lr.set_page_size(1000);
          v1::ListDevicesResponse resp;
          auto ctx3 = TestGateway::Ctx(gw_->admin_token());
          if (!stub->ListDevices(ctx3.get(), lr, &resp).ok()) return false;
          for (const auto& d : resp.devices()) {
            if (Running(d) != running) return false;
          }
          return resp.devices_size() == static_cast<int>(bridges_.size());
        },
        std::chrono::seconds(120)));
    return model;
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
    req.mutable_deadline()->set_seconds(600);
    auto stub = gw_->FleetStub();
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    v1::Round r;
    grpc::Status st = stub->StartRound(ctx.get(), req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
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
  boost::asio::io_context io_;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_{boost::asio::make_work_guard(io_)};
  std::vector<std::thread> io_threads_;
  boost::asio::thread_pool blocking_{4};
  std::vector<std::shared_ptr<agent::Bridge>> bridges_;
  std::set<size_t> stopped_;
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
  for (auto& b : bridges_) {
    auto s = b->trainer()->stats();
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
  size_t dropped = bridges_.size();
  ASSERT_TRUE(WaitFor(
      [&] {
        for (size_t i = 0; i < bridges_.size(); ++i) {
          auto t = bridges_[i]->trainer();
          if (t && t->busy()) {
            dropped = i;
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(60)));
  StopBridge(dropped);
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
  const std::string gone = bridges_[dropped]->device_id();
  for (const auto& c : r.clients()) {
    EXPECT_EQ(c.state(), c.device_id() == gone ? "dropped" : "reported")
        << c.DebugString();
  }
}

}  // namespace
}  // namespace tinyfleet
