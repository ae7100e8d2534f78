// Telemetry ingest: records sealed by the node code are opened, stored once,
// queried; tampered, replayed, and decommissioned devices' records refused.
#include "server/telemetry/ingest.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>

#include "common/pki.h"
#include "secure/tn_secure.h"
#include "server/fleet/registry.h"
#include "server/store/sqlite_store.h"
#include "telemetry/tn_telemetry.h"
#include "tests/support/test_env.h"

namespace tinyfleet::telemetry {
namespace {

tn_status Entropy(void*, uint8_t* out, size_t len) {
  return RAND_bytes(out, static_cast<int>(len)) == 1 ? TN_OK : TN_ERR_CRYPTO;
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(store::OpenSqliteStore({dir_.path() / "gw.db"}, clock_))
                 .value();
    ca_ = std::move(pki::CertificateAuthority::Create("ca", clock_)).value();
    registry_ = std::move(fleet::Registry::Create(store_.get(), ca_.get(),
                                                  &clock_, nullptr, {}))
                    .value();
    gw_key_ = std::move(GatewayTelemetryKey::LoadOrCreate(dir_.path())).value();
    ingest_ = std::move(TelemetryIngest::Create(store_.get(), &gw_key_, &clock_,
                                                nullptr))
                  .value();
    // One node: its key pair, an enrollment carrying its public key, and
    // the sealing key it derives on its side.
    ASSERT_EQ(tn_p256_keypair_generate(Entropy, nullptr, &node_), TN_OK);
    auto t = registry_->CreateEnrollmentTokens(1, std::nullopt, {}, "", "t");
    auto key = pki::GenerateEcPrivateKey();
    auto csr = pki::CreateCsr(*key, "x");
    auto e = registry_->Enroll(
        t->secrets[0], *csr, {}, "",
        std::string(reinterpret_cast<char*>(node_.public_key), 65));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    device_ = e->device.device_id;
    ASSERT_EQ(tn_seal_derive_node_side(
                  node_.private_key,
                  reinterpret_cast<const uint8_t*>(gw_key_.public_key.data()),
                  reinterpret_cast<const uint8_t*>(device_.data()),
                  device_.size(), &seal_),
              TN_OK);
  }

  std::string Sealed(uint64_t counter, uint32_t inferences) {
    tn_telemetry_record rec{};
    rec.flags = TN_TELEMETRY_FLAG_TIME_VALID;
    rec.unix_ms = 1'700'000'000'000ULL + counter * 1000;
    rec.active_slot = TN_TELEMETRY_NO_SLOT;
    rec.inference_count = inferences;
    rec.confidence_hist[7] = inferences;
    rec.confidence_mean_q16 = inferences ? 60000 : 0;
    rec.feedback_total = 4;
    rec.feedback_correct = 3;
    rec.energy_uj = 100;
    uint8_t plain[TN_TELEMETRY_RECORD_MAX];
    size_t plen = 0;
    EXPECT_EQ(tn_telemetry_record_encode(&rec, plain, sizeof(plain), &plen),
              TN_OK);
    uint8_t out[TN_SEAL_MAX_SEALED];
    size_t olen = 0;
    EXPECT_EQ(tn_seal_record_with_counter(&seal_, counter, plain, plen, out,
                                          sizeof(out), &olen),
              TN_OK);
    return std::string(reinterpret_cast<char*>(out), olen);
  }

  uint64_t Stored() { return *store_->telemetry().CountRaw(); }

  testing::TempDir dir_;
  FakeClock clock_{SystemClock::Instance().NowUnixMillis()};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<fleet::Registry> registry_;
  GatewayTelemetryKey gw_key_;
  std::unique_ptr<TelemetryIngest> ingest_;
  tn_p256_keypair node_{};
  std::string device_;
  tn_seal_key seal_{};
};

TEST_F(IngestTest, StoresEachRecordOnceAndAnswersQueries) {
  std::vector<SealedInput> batch;
  for (uint64_t c = 1; c <= 5; ++c) batch.push_back({c, Sealed(c, 10 * c)});
  auto out = ingest_->SubmitSync(device_, batch);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->stored, 5u)
      << "forged " << ingest_->counters().forged << " malformed "
      << ingest_->counters().malformed << " device "
      << ingest_->counters().refused_device;
  EXPECT_EQ(out->ack_up_to, 5u);
  // The agent lost the acknowledgement and sends everything again.
  out = ingest_->SubmitSync(device_, batch);
  EXPECT_EQ(out->stored, 0u);
  EXPECT_EQ(out->refused, 5u);
  EXPECT_EQ(out->ack_up_to, 5u);
  EXPECT_EQ(Stored(), 5u);
  EXPECT_EQ(*ingest_->HighestCounter(device_), 5u);

  store::TelemetryQuery q;
  q.device_id = device_;
  q.start_ms = 1'700'000'000'000;
  q.end_ms = 1'700'000'010'000;
  auto raw = store_->telemetry().Query(q);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  ASSERT_EQ(raw->size(), 5u);
  EXPECT_DOUBLE_EQ((*raw)[2].value, 30);
  q.aggregation = store::TelemetryAggregation::kSum;
  auto sum = store_->telemetry().Query(q);
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  ASSERT_EQ(sum->size(), 1u);
  EXPECT_DOUBLE_EQ((*sum)[0].value, 150);
  q.metric = store::TelemetryMetric::kAccuracy;
  q.aggregation = store::TelemetryAggregation::kMean;
  auto acc = store_->telemetry().Query(q);
  ASSERT_TRUE(acc.ok() && acc->size() == 1u);
  EXPECT_DOUBLE_EQ((*acc)[0].value, 0.75);

  // Downsampling keeps the aggregates and empties the raw table.
  EXPECT_EQ(*store_->telemetry().Downsample(1'700'000'010'000), 5u);
  EXPECT_EQ(Stored(), 0u);
  q.metric = store::TelemetryMetric::kInferences;
  q.aggregation = store::TelemetryAggregation::kSum;
  auto rolled = store_->telemetry().Query(q);
  ASSERT_TRUE(rolled.ok() && rolled->size() == 1u);
  EXPECT_DOUBLE_EQ((*rolled)[0].value, 150);
}

TEST_F(IngestTest, TamperedReplayedAndForeignRecordsAreRefused) {
  ASSERT_EQ(ingest_->SubmitSync(device_, {{1, Sealed(1, 1)}})->stored, 1u);
  // A flipped ciphertext bit.
  std::string tampered = Sealed(2, 1);
  tampered[12] ^= 0x01;
  auto out = ingest_->SubmitSync(device_, {{2, tampered}});
  EXPECT_EQ(out->stored, 0u);
  EXPECT_EQ(ingest_->counters().forged, 1u);
  // The forged record did not move the window: the genuine one still lands.
  EXPECT_EQ(ingest_->SubmitSync(device_, {{2, Sealed(2, 1)}})->stored, 1u);
  // Replay of an accepted counter.
  EXPECT_EQ(ingest_->SubmitSync(device_, {{1, Sealed(1, 99)}})->stored, 0u);
  EXPECT_GE(ingest_->counters().replayed, 1u);
  // Another device's key (records relayed under the wrong identity).
  auto t = registry_->CreateEnrollmentTokens(1, std::nullopt, {}, "", "t");
  auto key = pki::GenerateEcPrivateKey();
  auto other = registry_->Enroll(
      t->secrets[0], *pki::CreateCsr(*key, "y"), {}, "",
      std::string(reinterpret_cast<char*>(node_.public_key), 65));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(
      ingest_->SubmitSync(other->device.device_id, {{3, Sealed(3, 1)}})->stored,
      0u);
  EXPECT_EQ(ingest_->counters().forged, 2u);
  // A decommissioned device.
  ASSERT_TRUE(registry_->Decommission(device_, "gone").ok());
  ingest_->Forget(device_);
  auto refused = ingest_->SubmitSync(device_, {{3, Sealed(3, 1)}});
  EXPECT_EQ(refused->stored, 0u);
  EXPECT_EQ(refused->ack_up_to, 3u);
  EXPECT_EQ(ingest_->counters().refused_device, 1u);
  EXPECT_EQ(Stored(), 2u);
  // Garbage sizes are refused at the door.
  EXPECT_EQ(ingest_->SubmitSync(device_, {{4, std::string(2000, 'x')}})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST_F(IngestTest, WindowSurvivesRestart) {
  ASSERT_EQ(ingest_->SubmitSync(device_, {{7, Sealed(7, 1)}})->stored, 1u);
  ingest_.reset();
  ingest_ = std::move(TelemetryIngest::Create(store_.get(), &gw_key_, &clock_,
                                              nullptr))
                .value();
  EXPECT_EQ(ingest_->SubmitSync(device_, {{7, Sealed(7, 1)}})->stored, 0u);
  EXPECT_EQ(ingest_->SubmitSync(device_, {{8, Sealed(8, 1)}})->stored, 1u);
}

}  // namespace
}  // namespace tinyfleet::telemetry
