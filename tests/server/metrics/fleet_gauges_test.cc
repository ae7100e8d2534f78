// Fleet gauges over an in-memory store with a fake clock: devices by
// lifecycle, firmware and model, rollouts by state, the refresh interval,
// bounded label values, removal of values no longer seen, and a failing
// store.
#include "server/metrics/fleet_gauges.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "common/pki.h"
#include "server/fleet/registry.h"
#include "server/store/sqlite_store.h"

namespace tinyfleet::metrics {
namespace {

class FleetGaugesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(store::OpenSqliteStore({}, clock_)).value();
    ca_ = std::move(pki::CertificateAuthority::Create("ca", clock_)).value();
    registry_ = std::move(fleet::Registry::Create(store_.get(), ca_.get(),
                                                  &clock_, nullptr, {}))
                    .value();
  }

  std::string Enroll(const std::string& firmware, const std::string& model_id,
                     uint32_t model_version) {
    auto t = registry_->CreateEnrollmentTokens(1, std::nullopt, {}, "", "t");
    EXPECT_TRUE(t.ok());
    auto key = pki::GenerateEcPrivateKey();
    auto csr = pki::CreateCsr(*key, "x");
    v1::NodeInfo node;
    node.set_hardware_id("00112233445566778899aabbccddeeff");
    node.set_firmware_version(firmware);
    auto* a = node.add_slots();
    a->set_name("A");
    a->set_state(model_id.empty() ? v1::SLOT_STATE_EMPTY
                                  : v1::SLOT_STATE_ACTIVE);
    a->set_model_id(model_id);
    a->set_model_version(model_version);
    auto e = registry_->Enroll(t->secrets[0], *csr, node, "agent/1");
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e->device.device_id;
  }

  std::string Scrape() {
    return prometheus::TextSerializer().Serialize(metrics_.Collect());
  }

  bool Has(const std::string& line) {
    std::string text = Scrape();
    return text.find("\n" + line + "\n") != std::string::npos;
  }

  FakeClock clock_;
  prometheus::Registry metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<fleet::Registry> registry_;
};

TEST_F(FleetGaugesTest, CountsDevicesVersionsModelsAndRollouts) {
  const std::string kws_id(32, 'a');
  store::ModelRecord m;
  m.model.set_name("kws");
  m.model.set_model_id(kws_id);
  m.model.set_blob_version(1);
  m.artifact_id = std::string(64, 'f');
  ASSERT_TRUE(store_->artifacts()
                  .Put({m.artifact_id, 1024, "blob", clock_.NowUnixMillis()})
                  .ok());
  ASSERT_TRUE(store_->models().Create(m).ok());
  Enroll("1.0", kws_id, 1);
  Enroll("1.0", kws_id, 1);
  Enroll("1.1", std::string(32, 'b'), 3);
  std::string retired = Enroll("0.9", "", 0);
  ASSERT_TRUE(registry_->Decommission(retired, "old").ok());
  v1::Rollout r;
  r.set_rollout_id("r-1");
  r.set_state(v1::ROLLOUT_STATE_ABORTED);
  ASSERT_TRUE(store_->rollouts().Put(r).ok());
  r.set_rollout_id("r-2");
  r.set_state(v1::ROLLOUT_STATE_RUNNING);
  ASSERT_TRUE(store_->rollouts().Put(r).ok());

  auto gauges = FleetGauges::Create(store_.get(), &metrics_, &clock_);
  ASSERT_TRUE(gauges.ok());
  ASSERT_TRUE((*gauges)->Refresh(true).ok());
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"active\"} 3")) << Scrape();
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"decommissioned\"} 1"));
  EXPECT_TRUE(Has("tinyfleet_devices_by_firmware{firmware=\"1.0\"} 2"));
  EXPECT_TRUE(Has("tinyfleet_devices_by_firmware{firmware=\"1.1\"} 1"));
  // Retired devices are not counted by version.
  EXPECT_EQ(Scrape().find("firmware=\"0.9\""), std::string::npos);
  EXPECT_TRUE(Has("tinyfleet_devices_by_model{model=\"kws:1\"} 2"));
  // Not in the catalog: id prefix and version.
  EXPECT_TRUE(Has("tinyfleet_devices_by_model{model=\"bbbbbbbb:3\"} 1"));
  EXPECT_TRUE(Has("tinyfleet_rollouts{state=\"aborted\"} 1"));
  EXPECT_TRUE(Has("tinyfleet_rollouts{state=\"running\"} 1"));
  EXPECT_TRUE(Has("tinyfleet_rollouts{state=\"completed\"} 0"));
}

TEST_F(FleetGaugesTest, CountsRoundsByState) {
  for (int i = 0; i < 3; ++i) {
    store::RoundRecord r;
    r.round.set_round_id("rd-" + std::to_string(i));
    r.round.set_state(i == 0 ? v1::ROUND_STATE_TRAINING
                             : v1::ROUND_STATE_COMPLETED);
    ASSERT_TRUE(store_->rounds().Put(r).ok());
  }
  auto gauges = FleetGauges::Create(store_.get(), &metrics_, &clock_);
  ASSERT_TRUE(gauges.ok());
  ASSERT_TRUE((*gauges)->Refresh(true).ok());
  EXPECT_TRUE(Has("tinyfleet_rounds{state=\"training\"} 1")) << Scrape();
  EXPECT_TRUE(Has("tinyfleet_rounds{state=\"completed\"} 2"));
  EXPECT_TRUE(Has("tinyfleet_rounds{state=\"failed\"} 0"));
}

TEST_F(FleetGaugesTest, RefreshesAtMostOncePerInterval) {
  Enroll("1.0", "", 0);
  FleetGaugesOptions o;
  o.min_interval = std::chrono::seconds(30);
  auto gauges = FleetGauges::Create(store_.get(), &metrics_, &clock_, o);
  ASSERT_TRUE(gauges.ok());
  ASSERT_TRUE((*gauges)->Refresh().ok());
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"active\"} 1"));
  EXPECT_TRUE(Has("tinyfleet_devices_by_model{model=\"none\"} 1"));
  Enroll("1.0", "", 0);
  ASSERT_TRUE((*gauges)->Refresh().ok());
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"active\"} 1"));
  clock_.Advance(std::chrono::seconds(31));
  ASSERT_TRUE((*gauges)->Refresh().ok());
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"active\"} 2"));
}

TEST_F(FleetGaugesTest, BoundsLabelValuesAndDropsVanishedOnes) {
  std::string a = Enroll("a", "", 0);
  Enroll("b", "", 0);
  Enroll("b", "", 0);
  Enroll("c", "", 0);
  Enroll("d\n\"x", "", 0);
  FleetGaugesOptions o;
  o.max_label_values = 2;
  o.page_size = 2;  // exercises paging
  auto gauges = FleetGauges::Create(store_.get(), &metrics_, &clock_, o);
  ASSERT_TRUE(gauges.ok());
  ASSERT_TRUE((*gauges)->Refresh(true).ok());
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"active\"} 5")) << Scrape();
  EXPECT_TRUE(Has("tinyfleet_devices_by_firmware{firmware=\"b\"} 2"));
  EXPECT_TRUE(Has("tinyfleet_devices_by_firmware{firmware=\"other\"} 3"));

  o.max_label_values = 10;
  prometheus::Registry fresh;
  auto wide = FleetGauges::Create(store_.get(), &fresh, &clock_, o);
  ASSERT_TRUE(wide.ok());
  ASSERT_TRUE((*wide)->Refresh(true).ok());
  std::string text = prometheus::TextSerializer().Serialize(fresh.Collect());
  // Reported bytes that are not printable become '?'.
  EXPECT_NE(text.find("firmware=\"d?\\\"x\"} 1"), std::string::npos) << text;
  ASSERT_TRUE(registry_->Decommission(a, "gone").ok());
  ASSERT_TRUE((*wide)->Refresh(true).ok());
  text = prometheus::TextSerializer().Serialize(fresh.Collect());
  EXPECT_EQ(text.find("firmware=\"a\""), std::string::npos) << text;
}

// A store whose device listing fails on demand; the rest is the real one.
class FlakyStore final : public store::Store {
 public:
  explicit FlakyStore(store::Store* real) : real_(real), devices_(real) {}
  void Fail(bool fail) { devices_.fail = fail; }
  store::DeviceRepository& devices() override { return devices_; }
  store::EnrollmentTokenRepository& enrollment_tokens() override {
    return real_->enrollment_tokens();
  }
  store::OperatorTokenRepository& operator_tokens() override {
    return real_->operator_tokens();
  }
  store::TelemetryRepository& telemetry() override {
    return real_->telemetry();
  }
  store::ArtifactRepository& artifacts() override { return real_->artifacts(); }
  store::ModelRepository& models() override { return real_->models(); }
  store::RolloutRepository& rollouts() override { return real_->rollouts(); }
  store::RoundRepository& rounds() override { return real_->rounds(); }
  int schema_version() const override { return real_->schema_version(); }

 private:
  struct Devices final : store::DeviceRepository {
    explicit Devices(store::Store* s) : real(&s->devices()) {}
    Result<store::DeviceRecord> Get(const std::string& id) override {
      return real->Get(id);
    }
    Result<store::DevicePage> List(const store::DeviceQuery& q) override {
      if (fail) return UnavailableError("disk on fire");
      return real->List(q);
    }
    Result<store::DeviceRecord> UpdateLabels(
        const std::string& id, const store::Labels& set,
        const std::vector<std::string>& remove, bool replace) override {
      return real->UpdateLabels(id, set, remove, replace);
    }
    Status UpdateNode(const std::string& id, const v1::NodeInfo& node,
                      const std::string& agent, int64_t at) override {
      return real->UpdateNode(id, node, agent, at);
    }
    Status UpdateLastSeen(const std::map<std::string, int64_t>& s) override {
      return real->UpdateLastSeen(s);
    }
    Result<store::DeviceRecord> Decommission(const std::string& id,
                                             const std::string& reason,
                                             int64_t at) override {
      return real->Decommission(id, reason, at);
    }
    Result<uint64_t> Count(store::Lifecycle l) override {
      return real->Count(l);
    }
    store::DeviceRepository* real;
    bool fail = false;
  };
  store::Store* real_;
  Devices devices_;
};

TEST_F(FleetGaugesTest, AFailingStoreKeepsTheLastValuesAndIsCounted) {
  Enroll("1.0", "", 0);
  FlakyStore flaky(store_.get());
  auto gauges = FleetGauges::Create(&flaky, &metrics_, &clock_);
  ASSERT_TRUE(gauges.ok());
  ASSERT_TRUE((*gauges)->Refresh(true).ok());
  Enroll("1.0", "", 0);
  flaky.Fail(true);
  EXPECT_EQ((*gauges)->Refresh(true).code(), StatusCode::kUnavailable);
  EXPECT_EQ((*gauges)->Refresh(true).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"active\"} 1")) << Scrape();
  EXPECT_TRUE(Has("tinyfleet_fleet_gauges_errors_total 2"));
  flaky.Fail(false);
  ASSERT_TRUE((*gauges)->Refresh(true).ok());
  EXPECT_TRUE(Has("tinyfleet_devices{lifecycle=\"active\"} 2"));
}

TEST(FleetGaugesCreateTest, ValidatesItsArguments) {
  FakeClock clock;
  prometheus::Registry metrics;
  EXPECT_EQ(FleetGauges::Create(nullptr, &metrics, &clock).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tinyfleet::metrics
