// Telemetry ingest: records sealed by the node code are opened, stored once,
// queried; tampered, replayed, and decommissioned devices' records refused.
#include "server/telemetry/ingest.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

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

// Many sessions' batches through the opener pool and the writer, with
// batches small enough that opening and committing overlap many times:
// every record is stored exactly once, duplicates and forgeries are refused
// and counted, and the windows end where the counters do.
TEST_F(IngestTest, PipelinedBatchesFromManySessionsStoreEachRecordOnce) {
  IngestOptions opt;
  opt.max_batch_records = 50;
  opt.open_threads = 2;
  ingest_.reset();
  ingest_ = std::move(TelemetryIngest::Create(store_.get(), &gw_key_, &clock_,
                                              nullptr, opt))
                .value();
  // Four devices: the fixture's and three more, each with its own key.
  std::vector<std::string> ids{device_};
  std::vector<tn_seal_key> keys{seal_};
  for (int d = 0; d < 3; ++d) {
    tn_p256_keypair node;
    ASSERT_EQ(tn_p256_keypair_generate(Entropy, nullptr, &node), TN_OK);
    auto t = registry_->CreateEnrollmentTokens(1, std::nullopt, {}, "", "t");
    auto key = pki::GenerateEcPrivateKey();
    auto e = registry_->Enroll(
        t->secrets[0], *pki::CreateCsr(*key, "n"), {}, "",
        std::string(reinterpret_cast<char*>(node.public_key), 65));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    ids.push_back(e->device.device_id);
    tn_seal_key k;
    ASSERT_EQ(tn_seal_derive_node_side(
                  node.private_key,
                  reinterpret_cast<const uint8_t*>(gw_key_.public_key.data()),
                  reinterpret_cast<const uint8_t*>(ids.back().data()),
                  ids.back().size(), &k),
              TN_OK);
    keys.push_back(k);
  }
  const uint64_t kPerDevice = 300;
  // Each device is one session sending in order, as agents do; a lost
  // acknowledgement makes it resend the chunk before last, and at the end
  // the last two chunks and the forgery.
  std::vector<std::vector<std::vector<SealedInput>>> plan(ids.size());
  for (size_t d = 0; d < ids.size(); ++d) {
    seal_ = keys[d];
    std::vector<std::vector<SealedInput>> chunks;
    for (uint64_t c = 1; c <= kPerDevice; c += 10) {
      std::vector<SealedInput> chunk;
      for (uint64_t i = c; i < c + 10; ++i) chunk.push_back({i, Sealed(i, 3)});
      chunks.push_back(chunk);
    }
    // A forgery with a fresh counter, which must not move the window.
    std::string forged = Sealed(kPerDevice + 1, 3);
    forged[20] ^= 0x40;
    chunks.push_back({{kPerDevice + 1, forged}});
    const size_t n = chunks.size();
    for (size_t k = 0; k < n; ++k) {
      plan[d].push_back(chunks[k]);
      if (k >= 2) plan[d].push_back(chunks[k - 2]);
    }
    plan[d].push_back(chunks[n - 2]);
    plan[d].push_back(chunks[n - 1]);
  }
  size_t total = 0;
  for (const auto& p : plan) total += p.size();
  std::mutex mu;
  std::condition_variable cv;
  size_t answered = 0, failed = 0;
  uint64_t stored = 0;
  // Two submitting threads, each interleaving two devices' sessions.
  auto send = [&](size_t first) {
    for (size_t k = 0; k < plan[first].size(); ++k) {
      for (size_t d = first; d < ids.size(); d += 2) {
        ingest_->Submit(ids[d], plan[d][k], [&](Result<IngestOutcome> o) {
          std::lock_guard<std::mutex> lock(mu);
          ++answered;
          if (!o.ok()) {
            ++failed;
          } else {
            stored += o->stored;
          }
          cv.notify_all();
        });
      }
    }
  };
  std::thread a(send, 0), b(send, 1);
  a.join();
  b.join();
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return answered == total; });
  }
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(stored, ids.size() * kPerDevice);
  EXPECT_EQ(Stored(), ids.size() * kPerDevice);
  auto c = ingest_->counters();
  EXPECT_EQ(c.stored, ids.size() * kPerDevice);
  // The forgeries: once each as forged; their resends too, since a forged
  // counter never enters the window.
  EXPECT_EQ(c.forged, 2 * ids.size());
  EXPECT_EQ(c.replayed, ids.size() * kPerDevice);
  for (const auto& id : ids)
    EXPECT_EQ(*ingest_->HighestCounter(id), kPerDevice);
}

// A store whose telemetry appends fail on demand; the rest is the real one.
class FailingStore final : public store::Store {
 public:
  explicit FailingStore(store::Store* real) : real_(real), telemetry_(real) {}
  void FailAppends(bool fail) { telemetry_.fail = fail; }
  store::DeviceRepository& devices() override { return real_->devices(); }
  store::EnrollmentTokenRepository& enrollment_tokens() override {
    return real_->enrollment_tokens();
  }
  store::OperatorTokenRepository& operator_tokens() override {
    return real_->operator_tokens();
  }
  store::TelemetryRepository& telemetry() override { return telemetry_; }
  store::ArtifactRepository& artifacts() override { return real_->artifacts(); }
  store::ModelRepository& models() override { return real_->models(); }
  store::RolloutRepository& rollouts() override { return real_->rollouts(); }
  store::RoundRepository& rounds() override { return real_->rounds(); }
  int schema_version() const override { return real_->schema_version(); }

 private:
  struct Telemetry final : store::TelemetryRepository {
    explicit Telemetry(store::Store* s) : real(&s->telemetry()) {}
    Result<uint64_t> Append(
        const std::vector<store::TelemetryRow>& rows,
        const std::map<std::string, store::TelemetryWindow>& w) override {
      if (fail) return UnavailableError("disk full");
      return real->Append(rows, w);
    }
    Result<store::TelemetryWindow> Window(const std::string& id) override {
      return real->Window(id);
    }
    Result<std::vector<store::TelemetryPoint>> Query(
        const store::TelemetryQuery& q) override {
      return real->Query(q);
    }
    Result<uint64_t> Downsample(int64_t before_ms) override {
      return real->Downsample(before_ms);
    }
    Result<uint64_t> CountRaw() override { return real->CountRaw(); }
    Result<std::pair<uint64_t, uint64_t>> FeedbackByModel(
        const std::vector<std::string>& ids, uint32_t version,
        int64_t since_ms) override {
      return real->FeedbackByModel(ids, version, since_ms);
    }
    store::TelemetryRepository* real;
    std::atomic<bool> fail{false};
  };
  store::Store* real_;
  Telemetry telemetry_;
};

// The acknowledgement follows the commit: when it is answered the records
// are in the store, and a batch whose transaction failed is answered with
// the error (no acknowledgement), leaving the window so the resend lands.
TEST_F(IngestTest, AcknowledgesOnlyCommittedRecords) {
  FailingStore failing(store_.get());
  ingest_.reset();
  ingest_ =
      std::move(TelemetryIngest::Create(&failing, &gw_key_, &clock_, nullptr))
          .value();
  std::vector<SealedInput> batch;
  for (uint64_t c = 1; c <= 3; ++c) batch.push_back({c, Sealed(c, 1)});
  failing.FailAppends(true);
  auto out = ingest_->SubmitSync(device_, batch);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Stored(), 0u);
  EXPECT_EQ(*ingest_->HighestCounter(device_), 0u);

  failing.FailAppends(false);
  uint64_t stored_when_acknowledged = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool answered = false;
  ingest_->Submit(device_, batch, [&](Result<IngestOutcome> o) {
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->stored, 3u);
    EXPECT_EQ(o->ack_up_to, 3u);
    uint64_t n = *store_->telemetry().CountRaw();
    std::lock_guard<std::mutex> lock(mu);
    stored_when_acknowledged = n;
    answered = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return answered; });
  EXPECT_EQ(stored_when_acknowledged, 3u);
  EXPECT_EQ(*ingest_->HighestCounter(device_), 3u);
  lock.unlock();
  ingest_.reset();  // before `failing` goes
}

TEST_F(IngestTest, RefusesZeroOpenThreads) {
  IngestOptions opt;
  opt.open_threads = 0;
  EXPECT_EQ(
      TelemetryIngest::Create(store_.get(), &gw_key_, &clock_, nullptr, opt)
          .status()
          .code(),
      StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tinyfleet::telemetry
