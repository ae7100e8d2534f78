// RolloutEngine over an in-memory store and a fake clock, with sessions
// that record the orders sent to them: what an "interrupted" report does
// (no failure, a new order after interrupted_retry) against a "failed" one
// (final, fails the gate and aborts), and that a device whose slot table
// already shows the version counts as confirmed without an order.
#include "server/ota/rollout_engine.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "common/pki.h"
#include "server/fleet/registry.h"
#include "server/store/sqlite_store.h"
#include "tests/support/test_env.h"

namespace tinyfleet::ota {
namespace {

class RolloutEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(store::OpenSqliteStore({}, clock_)).value();
    ca_ = std::move(pki::CertificateAuthority::Create("ca", clock_)).value();
    registry_ = std::move(fleet::Registry::Create(store_.get(), ca_.get(),
                                                  &clock_, nullptr, {}))
                    .value();
    artifacts_ = std::move(ArtifactStore::Open(dir_.path() / "artifacts",
                                               &store_->artifacts(), &clock_))
                     .value();
    RolloutEngineOptions opt;
    opt.interrupted_retry = std::chrono::seconds(2);
    opt.order_retry = std::chrono::seconds(60);
    engine_ = std::move(RolloutEngine::Create(store_.get(), registry_.get(),
                                              artifacts_.get(), nullptr,
                                              &clock_, opt))
                  .value();
    auto rec = artifacts_->Put(std::string(1000, 'b'), "blob");
    ASSERT_TRUE(rec.ok());
    store::ModelRecord m;
    m.model.set_name("kws");
    m.model.set_model_id(std::string(32, 'a'));
    m.model.set_blob_version(7);
    m.artifact_id = rec->artifact_id;
    ASSERT_TRUE(store_->models().Create(m).ok());
  }

  // Enrolls and connects a device whose active slot holds `model_id`
  // version `version`; orders sent to it are recorded.
  std::string Connect(const std::string& model_id, uint32_t version) {
    auto t = registry_->CreateEnrollmentTokens(1, std::nullopt, {}, "", "t");
    EXPECT_TRUE(t.ok());
    auto key = pki::GenerateEcPrivateKey();
    auto csr = pki::CreateCsr(*key, "x");
    v1::NodeInfo node;
    node.set_hardware_id("00112233445566778899aabbccddeeff");
    node.set_firmware_version("fw");
    auto* a = node.add_slots();
    a->set_name("A");
    a->set_state(v1::SLOT_STATE_ACTIVE);
    a->set_model_id(model_id);
    a->set_model_version(version);
    auto e = registry_->Enroll(t->secrets[0], *csr, node, "agent/1");
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    std::string id = e->device.device_id;
    auto s = registry_->OpenSession(
        id, "", node, "agent/1", [](const Status&) {},
        [this, id](const v1::GatewayMessage& m) {
          std::lock_guard<std::mutex> lock(mu_);
          if (m.has_update_order()) orders_[id].push_back(m.update_order());
          return true;
        });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return id;
  }

  size_t Orders(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return orders_[id].size();
  }

  v1::UpdateProgress Progress(const std::string& rollout,
                              const std::string& device,
                              const std::string& stage,
                              const std::string& code = "") {
    v1::UpdateProgress p;
    p.set_order_id(RolloutEngine::OrderId(rollout, device));
    p.set_stage(stage);
    p.set_error_code(code);
    p.set_error(code.empty() ? "" : "test");
    return p;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<fleet::Registry> registry_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<RolloutEngine> engine_;
  std::mutex mu_;
  std::map<std::string, std::vector<v1::UpdateOrder>> orders_;
};

TEST_F(RolloutEngineTest, InterruptedIsRetriedAndNeverCountsAsFailure) {
  std::string dev = Connect("", 0);
  v1::CreateRolloutRequest req;
  req.set_model_ref("kws:1");
  req.add_device_ids(dev);
  req.add_wave_percents(100);
  auto r = engine_->CreateRollout(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  engine_->Tick();
  ASSERT_EQ(Orders(dev), 1u);

  engine_->OnProgress(dev, Progress(r->rollout_id(), dev, "downloading"));
  engine_->OnProgress(
      dev, Progress(r->rollout_id(), dev, "interrupted", "UNAVAILABLE"));
  auto now = engine_->Get(r->rollout_id());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state(), v1::ROLLOUT_STATE_RUNNING);
  EXPECT_EQ(now->waves(0).failed(), 0u);

  // Not before interrupted_retry...
  clock_.Advance(std::chrono::milliseconds(1500));
  engine_->Tick();
  EXPECT_EQ(Orders(dev), 1u);
  // ...then the same order again, long before order_retry.
  clock_.Advance(std::chrono::milliseconds(1000));
  engine_->Tick();
  ASSERT_EQ(Orders(dev), 2u);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(orders_[dev][0].order_id(), orders_[dev][1].order_id());
  }
  engine_->OnProgress(dev, Progress(r->rollout_id(), dev, "confirmed"));
  engine_->Tick();
  now = engine_->Get(r->rollout_id());
  EXPECT_EQ(now->state(), v1::ROLLOUT_STATE_COMPLETED);
}

TEST_F(RolloutEngineTest, FailedIsFinalAndAbortsTheRollout) {
  std::string dev = Connect("", 0);
  v1::CreateRolloutRequest req;
  req.set_model_ref("kws:1");
  req.add_device_ids(dev);
  req.add_wave_percents(100);
  auto r = engine_->CreateRollout(req);
  ASSERT_TRUE(r.ok());
  engine_->Tick();
  engine_->OnProgress(
      dev, Progress(r->rollout_id(), dev, "failed", "TN_ERR_BLOB_TARGET"));
  auto now = engine_->Get(r->rollout_id());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state(), v1::ROLLOUT_STATE_ABORTED);
  EXPECT_NE(now->reason().find("TN_ERR_BLOB_TARGET"), std::string::npos)
      << now->reason();
}

TEST_F(RolloutEngineTest, ADeviceAlreadyRunningTheVersionIsNotSentIt) {
  // The node reports the blob's own version (7), not the catalog's (1).
  std::string dev = Connect(std::string(32, 'a'), 7);
  v1::CreateRolloutRequest req;
  req.set_model_ref("kws:1");
  req.add_device_ids(dev);
  req.add_wave_percents(100);
  auto r = engine_->CreateRollout(req);
  ASSERT_TRUE(r.ok());
  engine_->Tick();
  engine_->Tick();
  EXPECT_EQ(Orders(dev), 0u);
  auto now = engine_->Get(r->rollout_id());
  EXPECT_EQ(now->state(), v1::ROLLOUT_STATE_COMPLETED);
}

// With `defer`, final reports queue one evaluation per rollout: three
// confirmations, one queued evaluation, which sees all three.
TEST_F(RolloutEngineTest, DeferredEvaluationsAreCoalescedPerRollout) {
  std::vector<std::function<void()>> queued;
  RolloutEngineOptions opt;
  opt.defer = [&queued](std::function<void()> fn) {
    queued.push_back(std::move(fn));
  };
  auto engine =
      std::move(RolloutEngine::Create(store_.get(), registry_.get(),
                                      artifacts_.get(), nullptr, &clock_, opt))
          .value();
  std::vector<std::string> devs = {Connect("", 0), Connect("", 0),
                                   Connect("", 0)};
  v1::CreateRolloutRequest req;
  req.set_model_ref("kws:1");
  for (const auto& d : devs) req.add_device_ids(d);
  req.add_wave_percents(100);
  auto r = engine->CreateRollout(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const auto& d : devs) ASSERT_EQ(Orders(d), 1u);

  for (const auto& d : devs)
    engine->OnProgress(d, Progress(r->rollout_id(), d, "confirmed"));
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(engine->Get(r->rollout_id())->state(), v1::ROLLOUT_STATE_RUNNING);
  queued[0]();
  auto now = engine->Get(r->rollout_id());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state(), v1::ROLLOUT_STATE_COMPLETED);
  EXPECT_EQ(now->waves(0).confirmed(), 3u);

  // Once it ran, the next report queues again.
  engine->OnProgress(devs[0], Progress(r->rollout_id(), devs[0], "confirmed"));
  EXPECT_EQ(queued.size(), 2u);
}

}  // namespace
}  // namespace tinyfleet::ota
