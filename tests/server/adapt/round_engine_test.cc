// RoundEngine against a real SQLite store, artifact store and catalog, with
// a fake dispatcher and clock; the test plays the nodes by answering train
// orders with TNUP updates. The model is the keyword-spotting DS-CNN
// fixture compiled with a one-layer trainable tail.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/encoding.h"
#include "dsp/tn_dsp.h"
#include "server/adapt/adapt.h"
#include "server/adapt/cost_model.h"
#include "server/models/models.h"
#include "server/store/sqlite_store.h"
#include "tests/support/test_env.h"

namespace tinyfleet::adapt {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream f(std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/" + name,
                  std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The first `n` records of a feature data set file, as a new file.
std::string HeadOfDataset(const std::string& file, uint32_t n) {
  tn_fset_view view;
  EXPECT_EQ(tn_fset_open(reinterpret_cast<const uint8_t*>(file.data()),
                         file.size(), &view),
            TN_OK);
  tn_fset_info info = view.info;
  info.sample_count = std::min(n, info.sample_count);
  std::vector<std::string> names(info.class_count);
  std::vector<const char*> ptrs;
  for (uint32_t c = 0; c < info.class_count; ++c) {
    char name[TN_FSET_CLASS_NAME_SIZE + 1];
    EXPECT_EQ(tn_fset_class_name(&view, c, name), TN_OK);
    names[c] = name;
  }
  for (const auto& s : names) ptrs.push_back(s.c_str());
  std::string out(tn_fset_file_size(&info), '\0');
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  EXPECT_EQ(tn_fset_write_header(&info, ptrs.data(), o, out.size()), TN_OK);
  for (uint32_t i = 0; i < info.sample_count; ++i) {
    tn_fset_record r;
    EXPECT_EQ(tn_fset_get(&view, i, &r), TN_OK);
    EXPECT_EQ(tn_fset_write_record(&info, i, &r, o, out.size()), TN_OK);
  }
  EXPECT_EQ(tn_fset_finish(o, out.size()), TN_OK);
  return out;
}

// Devices online and the messages sent to them.
class FakeDispatcher final : public Dispatcher {
 public:
  std::vector<std::string> OnlineDevices() override {
    std::lock_guard<std::mutex> lock(mu_);
    return {online_.begin(), online_.end()};
  }
  Status Send(const std::string& id, const v1::GatewayMessage& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!online_.count(id)) return UnavailableError(id + " is offline");
    sent_[id].push_back(m);
    return Status::Ok();
  }
  void SetOnline(const std::string& id, bool online) {
    std::lock_guard<std::mutex> lock(mu_);
    if (online) {
      online_.insert(id);
    } else {
      online_.erase(id);
    }
  }
  std::vector<v1::GatewayMessage> Sent(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_[id];
  }
  // The last train order sent to `id`.
  std::optional<v1::TrainOrder> LastOrder(const std::string& id) {
    std::optional<v1::TrainOrder> o;
    for (const auto& m : Sent(id))
      if (m.has_train_order()) o = m.train_order();
    return o;
  }

 private:
  std::mutex mu_;
  std::set<std::string> online_;
  std::map<std::string, std::vector<v1::GatewayMessage>> sent_;
};

class RoundEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto calib =
        models::Dataset::FromFeatureFile(ReadFixture("kws_calib.tnfs"));
    ASSERT_TRUE(calib.ok()) << calib.status().ToString();
    models::CompileOptions o;
    o.trainable_tail_layers = 1;
    o.model_id[0] = 0x5a;
    auto m = models::CompileOnnx(ReadFixture("ds_cnn_s.onnx"), *calib, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    blob_ = new std::string(std::move(m->blob));
    validation_ =
        new std::string(HeadOfDataset(ReadFixture("kws_test.tnfs"), 24));
  }
  static void TearDownTestSuite() {
    delete blob_;
    delete validation_;
  }

  void SetUp() override { Init(); }

  // A fresh gateway state: data directory, model kws:1 and six devices
  // (dev-0..3 at site "lab", dev-4..5 at "field"), all online.
  void Init() {
    engine_.reset();
    catalog_.reset();
    artifacts_.reset();
    store_.reset();
    dir_ = std::make_unique<testing::TempDir>();
    std::filesystem::create_directories(dir_->path() / "datasets");
    ASSERT_TRUE(WriteFileAtomic(dir_->path() / "datasets" / "validation.tnfs",
                                *validation_, 0600)
                    .ok());
    auto key = catalog::SigningKey::LoadOrCreate(dir_->path() / "pki");
    ASSERT_TRUE(key.ok());
    key_ = *key;
    Open();
    v1::UploadModelHeader h;
    h.set_name("kws");
    h.set_format(v1::MODEL_FORMAT_BLOB);
    auto model = catalog_->AddBlob(h, *blob_);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = *model;
    for (int i = 0; i < 6; ++i) {
      std::string id = "dev-" + std::to_string(i);
      AddDevice(id, i < 4 ? "lab" : "field");
      fake_.SetOnline(id, true);
    }
  }

  // Opens (or reopens, after a simulated crash) store, artifacts, catalog
  // and engine on the same files.
  void Open(RoundEngineOptions options = {}) {
    engine_.reset();
    catalog_.reset();
    artifacts_.reset();
    store_.reset();
    auto s = store::OpenSqliteStore({dir_->path() / "gateway.db"}, clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    auto a = ota::ArtifactStore::Open(dir_->path() / "artifacts",
                                      &store_->artifacts(), &clock_);
    ASSERT_TRUE(a.ok());
    artifacts_ = std::move(*a);
    auto c = catalog::ModelCatalog::Create(store_.get(), artifacts_.get(),
                                           &key_, &events_, &clock_);
    ASSERT_TRUE(c.ok());
    catalog_ = std::move(*c);
    options.datasets_dir = dir_->path() / "datasets";
    auto e = RoundEngine::Create(store_.get(), &fake_, artifacts_.get(),
                                 catalog_.get(), &events_, &clock_, options);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
  }

  void AddDevice(const std::string& id, const std::string& site) {
    store::EnrollmentTokenRecord t;
    t.token_id = "tok-" + id;
    t.secret_hash = "hash-" + id;
    t.expires_at_ms = clock_.NowUnixMillis() + 3'600'000;
    ASSERT_TRUE(store_->enrollment_tokens().Create({t}).ok());
    store::DeviceRecord d;
    d.device_id = id;
    d.cert_sha256 = "c-" + id;
    d.cert_serial = "1";
    d.labels["site"] = site;
    auto* slot = d.node.add_slots();
    slot->set_name("A");
    slot->set_state(v1::SLOT_STATE_ACTIVE);
    slot->set_model_id(model_.model_id());
    slot->set_model_version(model_.blob_version());
    auto r = store_->enrollment_tokens().ConsumeAndEnroll(
        t.secret_hash, clock_.NowUnixMillis(), d);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  // Sets what a device reports about its local training resources.
  void SetResources(const std::string& id, uint32_t samples, double budget_mj) {
    auto d = store_->devices().Get(id);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    v1::NodeInfo node = d->node;
    node.set_target(v1::TARGET_PROFILE_GAP9);
    node.set_train_samples(samples);
    node.set_train_energy_budget_mj(budget_mj);
    ASSERT_TRUE(store_->devices()
                    .UpdateNode(id, node, "test", clock_.NowUnixMillis())
                    .ok());
  }

  v1::StartRoundRequest Spec(uint32_t target, uint32_t min = 0) {
    v1::StartRoundRequest s;
    s.set_kind(v1::ROUND_KIND_FEDERATED);
    s.set_model_ref("kws:1");
    s.set_strategy(v1::AGGREGATION_STRATEGY_FEDAVG);
    s.set_target_clients(target);
    s.set_min_clients(min);
    s.set_label_selector("site=lab");
    s.mutable_hyperparameters()->set_local_epochs(1);
    s.mutable_deadline()->set_seconds(60);
    return s;
  }

  // A device's delta: small and different for every device.
  std::vector<float> DeltaOf(const std::string& device, size_t n,
                             float size = 1e-3f) {
    std::vector<float> d(n);
    uint32_t h = static_cast<uint32_t>(Sha256(device)[0]);
    for (size_t i = 0; i < n; ++i)
      d[i] = size * static_cast<float>(((i * 7 + h) % 13)) / 13.0f - size / 2;
    return d;
  }

  // The update a node answers its last order with.
  std::string UpdateFor(const std::string& device, uint32_t samples = 20,
                        float size = 1e-3f) {
    auto order = fake_.LastOrder(device);
    EXPECT_TRUE(order.has_value()) << device << " got no order";
    if (!order) return "";
    auto tail_bytes = artifacts_->ReadAll(order->tail_artifact_id());
    EXPECT_TRUE(tail_bytes.ok());
    auto tail = DecodeTail(*tail_bytes);
    EXPECT_TRUE(tail.ok());
    auto layout = ReadBlobTail(*blob_);
    EXPECT_TRUE(layout.ok());
    UpdateFile u;
    u.round_binding = RoundBinding(order->round_id());
    std::memcpy(u.frozen_sha256.data(), order->frozen_sha256().data(), 32);
    Sha256Digest start = Sha256(*tail_bytes);
    std::memcpy(u.start_sha256.data(), start.data(), 32);
    u.samples = samples;
    u.attempt = order->attempt();
    u.loss_before = 1.5f;
    u.loss_after = 1.0f;
    u.accuracy_before = 0.5f;
    u.accuracy_after = 0.6f;
    u.tensor_sizes = layout->tensor_sizes;
    u.delta = DeltaOf(device, tail->params.size(), size);
    return EncodeUpdate(u);
  }

  // Uploads in one chunk.
  Result<UploadStatus> Upload(const std::string& device,
                              const std::string& round_id,
                              const std::string& bytes, uint32_t attempt = 1) {
    v1::UpdateChunk c;
    c.set_round_id(round_id);
    c.set_offset(0);
    c.set_data(bytes);
    c.set_total_bytes(bytes.size());
    Sha256Digest d = Sha256(bytes);
    c.set_sha256(std::string(reinterpret_cast<const char*>(d.data()), 32));
    c.set_attempt(attempt);
    return engine_->ReceiveChunk(device, c);
  }

  std::string ResultTail(const std::string& round_id) {
    auto r = engine_->Get(round_id);
    EXPECT_TRUE(r.ok());
    auto bytes = artifacts_->ReadAll(r->result_tail_artifact_id());
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
    return bytes.ok() ? *bytes : "";
  }

  // A whole federated round over dev-0..dev-2 (target 3 of the four lab
  // devices); `crash` runs between steps to simulate a gateway restart.
  std::string RunRound(const std::function<void(int step)>& crash) {
    auto spec = Spec(3);
    spec.set_over_selection(0.34);  // every lab device is ordered
    auto r = engine_->StartRound(spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "";
    std::string id = r->round_id();
    auto ordered = [&] {
      auto o = fake_.LastOrder("dev-0");
      return o && o->round_id() == id;
    };
    for (int i = 0; i < 4 && !ordered(); ++i) {
      engine_->Tick();  // with one transition per tick
    }
    crash(0);
    for (int i = 0; i < 3; ++i) {
      std::string dev = "dev-" + std::to_string(i);
      auto st = Upload(dev, id, UpdateFor(dev, 10 + 10 * i));
      EXPECT_TRUE(st.ok() && st->accepted)
          << dev << " " << st.status().ToString() << " "
          << (st.ok() ? st->reason : "");
      crash(i + 1);
    }
    for (int i = 0; i < 5; ++i) {
      engine_->Tick();
      crash(10 + i);
    }
    auto done = engine_->Get(id);
    EXPECT_EQ(done->state(), v1::ROUND_STATE_COMPLETED) << done->reason();
    return ResultTail(id);
  }

  static std::string* blob_;
  static std::string* validation_;
  std::unique_ptr<testing::TempDir> dir_;
  FakeClock clock_;
  events::EventBus events_{&clock_};
  FakeDispatcher fake_;
  catalog::SigningKey key_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ota::ArtifactStore> artifacts_;
  std::unique_ptr<catalog::ModelCatalog> catalog_;
  std::unique_ptr<RoundEngine> engine_;
  v1::Model model_;
};

std::string* RoundEngineTest::blob_ = nullptr;
std::string* RoundEngineTest::validation_ = nullptr;

TEST_F(RoundEngineTest, SpecValidationNamesTheField) {
  auto expect = [&](v1::StartRoundRequest s, StatusCode code,
                    const std::string& word) {
    auto r = engine_->StartRound(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(word), std::string::npos)
        << r.status().message();
  };
  auto s = Spec(3);
  s.set_kind(v1::ROUND_KIND_UNSPECIFIED);
  expect(s, StatusCode::kInvalidArgument, "kind");
  s = Spec(0);
  expect(s, StatusCode::kInvalidArgument, "target_clients");
  s = Spec(2, 3);
  expect(s, StatusCode::kInvalidArgument, "min_clients");
  s = Spec(3);
  s.set_over_selection(-1);
  expect(s, StatusCode::kInvalidArgument, "over_selection");
  s = Spec(3);
  s.mutable_hyperparameters()->set_trim_ratio(0.5);
  expect(s, StatusCode::kInvalidArgument, "trim_ratio");
  s = Spec(3);
  s.set_label_selector("=");
  expect(s, StatusCode::kInvalidArgument, "");
  s = Spec(3);
  s.set_model_ref("kws:9");
  expect(s, StatusCode::kNotFound, "kws:9");
  s = Spec(3);
  s.set_validation_dataset("nope");
  expect(s, StatusCode::kNotFound, "nope");
  s = Spec(3);
  s.set_validation_dataset("../etc");
  expect(s, StatusCode::kInvalidArgument, "validation_dataset");
  s = Spec(3);
  s.mutable_deadline()->set_seconds(-5);
  expect(s, StatusCode::kInvalidArgument, "deadline");
  std::string next;
  auto list = engine_->List("", 0, &next);
  EXPECT_TRUE(list.ok() && list->empty());
}

TEST_F(RoundEngineTest, FedAvgRoundAggregatesEvaluatesAndPublishesEvents) {
  std::vector<v1::RoundState> states;
  ASSERT_TRUE(events_
                  .Subscribe(0,
                             [&](const v1::Event& e) {
                               if (e.has_round() &&
                                   (states.empty() ||
                                    states.back() != e.round().state()))
                                 states.push_back(e.round().state());
                             })
                  .ok());
  auto spec = Spec(3);
  spec.set_over_selection(0.3);  // ceil(3.9) = 4: every lab device
  auto r = engine_->StartRound(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state(), v1::ROUND_STATE_TRAINING);
  EXPECT_EQ(r->metrics().selected(), 4u);
  for (int i = 4; i < 6; ++i)  // other site: not selected
    EXPECT_FALSE(fake_.LastOrder("dev-" + std::to_string(i)).has_value());
  auto order = fake_.LastOrder("dev-0");
  ASSERT_TRUE(order.has_value());
  EXPECT_EQ(order->round_id(), r->round_id());
  EXPECT_EQ(order->attempt(), 1u);
  EXPECT_EQ(order->model_ref(), "kws:1");
  EXPECT_EQ(order->tail_artifact_id(), r->start_tail_artifact_id());
  EXPECT_EQ(HexEncode(order->frozen_sha256()), model_.frozen_sha256());

  std::vector<ClientDelta> sent;
  for (int i : {2, 0, 3}) {
    std::string dev = "dev-" + std::to_string(i);
    std::string bytes = UpdateFor(dev, 10 * (i + 1));
    auto u = DecodeUpdate(bytes);
    ASSERT_TRUE(u.ok());
    sent.push_back({dev, u->samples, u->delta});
    auto st = Upload(dev, r->round_id(), bytes);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_TRUE(st->accepted) << st->reason;
  }
  // Target reached: the fourth client is released, the round aggregates.
  auto got = engine_->Get(r->round_id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state(), v1::ROUND_STATE_AGGREGATING);
  bool cancelled = false;
  for (const auto& m : fake_.Sent("dev-1")) cancelled |= m.has_train_cancel();
  EXPECT_TRUE(cancelled);
  engine_->Tick();
  got = engine_->Get(r->round_id());
  ASSERT_EQ(got->state(), v1::ROUND_STATE_COMPLETED) << got->reason();
  EXPECT_EQ(got->metrics().reported(), 3u);
  EXPECT_GT(got->metrics().bytes_up(), 0u);
  EXPECT_GT(got->metrics().bytes_down(), 0u);
  EXPECT_NEAR(got->metrics().mean_loss(), 1.0, 1e-6);
  EXPECT_GT(got->metrics().accuracy_before(), 0.0);
  EXPECT_GT(got->metrics().accuracy_after(), 0.0);

  // The new tail is start + the sample-weighted mean of what was sent.
  auto start = DecodeTail(*artifacts_->ReadAll(r->start_tail_artifact_id()));
  auto tail = DecodeTail(ResultTail(r->round_id()));
  ASSERT_TRUE(start.ok() && tail.ok());
  auto expected = Aggregate(start->params, sent, {});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(tail->params, expected->tail);
  EXPECT_NE(tail->params, start->params);

  std::vector<v1::RoundState> want = {
      v1::ROUND_STATE_CREATED,    v1::ROUND_STATE_SELECTING,
      v1::ROUND_STATE_TRAINING,   v1::ROUND_STATE_AGGREGATING,
      v1::ROUND_STATE_EVALUATING, v1::ROUND_STATE_COMPLETED};
  EXPECT_EQ(states, want);
}

TEST_F(RoundEngineTest, DropoutsAndLateUpdatesAreToleratedDownToMinClients) {
  auto r = engine_->StartRound(Spec(4, 2));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->metrics().selected(), 4u);
  ASSERT_TRUE(Upload("dev-0", r->round_id(), UpdateFor("dev-0"))->accepted);
  v1::TrainProgress declined;
  declined.set_round_id(r->round_id());
  declined.set_stage("declined");
  declined.set_error("battery low");
  engine_->OnTrainProgress("dev-1", declined);
  ASSERT_TRUE(Upload("dev-2", r->round_id(), UpdateFor("dev-2"))->accepted);
  std::string late = UpdateFor("dev-3");
  engine_->Tick();
  EXPECT_EQ(engine_->Get(r->round_id())->state(), v1::ROUND_STATE_TRAINING);
  clock_.Advance(std::chrono::seconds(61));
  auto st = Upload("dev-3", r->round_id(), late);  // past the deadline
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->accepted);
  EXPECT_NE(st->reason.find("late"), std::string::npos);
  engine_->Tick();
  auto got = engine_->Get(r->round_id());
  ASSERT_EQ(got->state(), v1::ROUND_STATE_COMPLETED) << got->reason();
  EXPECT_EQ(got->metrics().reported(), 2u);
  EXPECT_EQ(got->metrics().late(), 1u);
  EXPECT_EQ(got->metrics().dropped(), 2u);  // declined + late
  std::map<std::string, std::string> by_device;
  for (const auto& c : got->clients()) by_device[c.device_id()] = c.state();
  EXPECT_EQ(by_device["dev-1"], "declined");
  EXPECT_EQ(by_device["dev-3"], "late");
}

TEST_F(RoundEngineTest, FailsWithAReasonBelowMinClients) {
  auto r = engine_->StartRound(Spec(4, 3));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(Upload("dev-0", r->round_id(), UpdateFor("dev-0"))->accepted);
  clock_.Advance(std::chrono::seconds(61));
  engine_->Tick();
  auto got = engine_->Get(r->round_id());
  EXPECT_EQ(got->state(), v1::ROUND_STATE_FAILED);
  EXPECT_NE(got->reason().find("1 of 4 clients reported"), std::string::npos)
      << got->reason();

  // Too few eligible devices fails at selection.
  auto spec = Spec(3);
  spec.set_label_selector("site=field");  // two devices
  auto small = engine_->StartRound(spec);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->state(), v1::ROUND_STATE_FAILED);
  EXPECT_NE(small->reason().find("2 eligible"), std::string::npos)
      << small->reason();
}

TEST_F(RoundEngineTest, RefusesUpdatesThatDoNotBelongToTheRound) {
  auto r = engine_->StartRound(Spec(4, 1));
  ASSERT_TRUE(r.ok());
  // Trained against another frozen part.
  auto order = fake_.LastOrder("dev-0");
  std::string other = UpdateFor("dev-0");
  {
    auto u = DecodeUpdate(other);
    ASSERT_TRUE(u.ok());
    u->frozen_sha256[0] ^= 0xff;
    other = EncodeUpdate(*u);
  }
  auto st = Upload("dev-0", r->round_id(), other);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->accepted);
  EXPECT_NE(st->reason.find("frozen"), std::string::npos) << st->reason;
  // Bound to another round.
  std::string foreign = UpdateFor("dev-1");
  {
    auto u = DecodeUpdate(foreign);
    u->round_binding = RoundBinding("rd-other");
    foreign = EncodeUpdate(*u);
  }
  st = Upload("dev-1", r->round_id(), foreign);
  EXPECT_FALSE(st->accepted);
  EXPECT_NE(st->reason.find("another round"), std::string::npos);
  // Damaged bytes (whole-update hash mismatch).
  std::string damaged = UpdateFor("dev-2");
  damaged[200] ^= 1;
  st = Upload("dev-2", r->round_id(), damaged);
  EXPECT_FALSE(st->accepted);
  // A stale attempt is refused outright.
  auto stale = Upload("dev-3", r->round_id(), UpdateFor("dev-3"), 7);
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  // A device outside the round.
  EXPECT_EQ(Upload("dev-5", r->round_id(), UpdateFor("dev-3")).status().code(),
            StatusCode::kNotFound);
  auto got = engine_->Get(r->round_id());
  EXPECT_EQ(got->metrics().refused(), 3u);
  EXPECT_EQ(got->metrics().reported(), 0u);
}

TEST_F(RoundEngineTest, UploadResumesByOffsetAcrossARestart) {
  auto r = engine_->StartRound(Spec(1));
  ASSERT_TRUE(r.ok());
  std::string dev;
  for (int i = 0; i < 4 && dev.empty(); ++i) {
    if (fake_.LastOrder("dev-" + std::to_string(i)))
      dev = "dev-" + std::to_string(i);
  }
  ASSERT_FALSE(dev.empty());
  std::string bytes = UpdateFor(dev);
  v1::UpdateChunk c;
  c.set_round_id(r->round_id());
  c.set_total_bytes(bytes.size());
  c.set_attempt(1);
  c.set_data(bytes.substr(0, 100));
  auto st = engine_->ReceiveChunk(dev, c);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->committed_bytes, 100u);
  EXPECT_FALSE(st->complete);
  Open();  // the gateway restarts
  // A gap is not taken: the answer says where to resume.
  c.set_offset(150);
  c.set_data(bytes.substr(150, 10));
  st = engine_->ReceiveChunk(dev, c);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->committed_bytes, 100u);
  // An overlapping chunk continues where the committed bytes end.
  c.set_offset(50);
  c.set_data(bytes.substr(50));
  Sha256Digest d = Sha256(bytes);
  c.set_sha256(std::string(reinterpret_cast<const char*>(d.data()), 32));
  st = engine_->ReceiveChunk(dev, c);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->committed_bytes, bytes.size());
  EXPECT_TRUE(st->accepted) << st->reason;
  engine_->Tick();
  EXPECT_EQ(engine_->Get(r->round_id())->state(), v1::ROUND_STATE_COMPLETED);
}

TEST_F(RoundEngineTest, RestartMidTrainingOrMidAggregatingGivesTheSameTail) {
  // Each run starts from a fresh gateway (same model, same devices), so
  // the tails depend only on what the nodes sent.
  std::string uninterrupted = Sha256Hex(RunRound([](int) {}));
  ASSERT_NE(uninterrupted, Sha256Hex(""));

  // Killed after the second update (mid-TRAINING).
  Init();
  std::string mid_training = Sha256Hex(RunRound([&](int step) {
    if (step == 2) Open();
  }));
  EXPECT_EQ(mid_training, uninterrupted);

  // One transition per tick, killed right after AGGREGATING was committed.
  Init();
  RoundEngineOptions one;
  one.max_transitions_per_tick = 1;
  Open(one);
  bool killed = false;
  std::string mid_aggregating = Sha256Hex(RunRound([&](int step) {
    if (killed || step < 3) return;
    auto list = store_->rounds().ListUnfinished();
    ASSERT_TRUE(list.ok());
    for (const auto& r : *list) {
      if (r.round.state() == v1::ROUND_STATE_AGGREGATING) {
        Open(one);
        killed = true;
      }
    }
  }));
  EXPECT_TRUE(killed);
  EXPECT_EQ(mid_aggregating, uninterrupted);
}

TEST_F(RoundEngineTest, FedAdamStateCarriesOverToTheNextRoundOfTheLineage) {
  auto spec = Spec(2);
  spec.set_strategy(v1::AGGREGATION_STRATEGY_FEDADAM);
  std::string first_id, first_tail;
  for (int round = 0; round < 2; ++round) {
    auto r = engine_->StartRound(spec);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (round == 1) {
      EXPECT_EQ(r->start_tail_artifact_id(), first_tail);
    }
    int n = 0;
    for (int i = 0; i < 4 && n < 2; ++i) {
      std::string dev = "dev-" + std::to_string(i);
      auto o = fake_.LastOrder(dev);
      if (!o || o->round_id() != r->round_id()) continue;
      ASSERT_TRUE(Upload(dev, r->round_id(), UpdateFor(dev))->accepted);
      ++n;
    }
    engine_->Tick();
    auto rec = store_->rounds().Get(r->round_id());
    ASSERT_TRUE(rec.ok());
    ASSERT_EQ(rec->round.state(), v1::ROUND_STATE_COMPLETED)
        << rec->round.reason();
    auto adam = AdamState::Decode(rec->optimizer_state);
    ASSERT_TRUE(adam.ok());
    EXPECT_EQ(adam->step, static_cast<uint64_t>(round + 1));
    if (round == 0) {
      first_id = r->round_id();
      first_tail = rec->result_tail_id;
    } else {
      EXPECT_EQ(rec->start_round_id, first_id);
    }
  }
}

TEST_F(RoundEngineTest, AutoPromotePublishesADerivedSignedVersion) {
  auto spec = Spec(2);
  spec.set_auto_promote(true);
  spec.set_min_improvement(0);
  auto r = engine_->StartRound(spec);
  ASSERT_TRUE(r.ok());
  int n = 0;
  for (int i = 0; i < 4 && n < 2; ++i) {
    std::string dev = "dev-" + std::to_string(i);
    if (!fake_.LastOrder(dev)) continue;
    // Tiny deltas: the accuracy cannot drop, so the policy promotes.
    ASSERT_TRUE(
        Upload(dev, r->round_id(), UpdateFor(dev, 20, 1e-7f))->accepted);
    ++n;
  }
  engine_->Tick();
  auto got = engine_->Get(r->round_id());
  ASSERT_EQ(got->state(), v1::ROUND_STATE_COMPLETED) << got->reason();
  EXPECT_EQ(got->metrics().accuracy_after(), got->metrics().accuracy_before());
  ASSERT_EQ(got->result_model_ref(), "kws:2");
  auto made = catalog_->Get("kws:2");
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->model.parent_ref(), "kws:1");
  EXPECT_EQ(made->model.blob_version(), 2u);
  EXPECT_EQ(made->model.frozen_sha256(), model_.frozen_sha256());
  auto blob = artifacts_->ReadAll(made->artifact_id);
  ASSERT_TRUE(blob.ok());
  auto pub = catalog::SigningKey::LoadOrCreate(dir_->path() / "pki");
  EXPECT_TRUE(models::VerifyBlobSignature(*blob, pub->private_pem).ok());
  auto tail = ReadBlobTail(*blob);
  auto result = DecodeTail(ResultTail(r->round_id()));
  ASSERT_TRUE(tail.ok() && result.ok());
  EXPECT_EQ(tail->params, result->params);
  // The candidate's canary was recomputed: the node's self-test passes.
  auto inspected = models::InspectBlob(*blob);
  EXPECT_TRUE(inspected.ok()) << inspected.status().ToString();
}

TEST_F(RoundEngineTest, FewShotRoundKeepsResultsOnTheNodesAndRecordsMetrics) {
  std::vector<v1::Round> events;
  ASSERT_TRUE(events_
                  .Subscribe(0,
                             [&](const v1::Event& e) {
                               if (e.has_round()) events.push_back(e.round());
                             })
                  .ok());
  auto spec = Spec(3);
  spec.set_kind(v1::ROUND_KIND_FEW_SHOT);
  spec.set_strategy(v1::AGGREGATION_STRATEGY_UNSPECIFIED);  // few-shot: NONE
  spec.set_auto_promote(true);  // nothing to promote: no new tail
  spec.mutable_hyperparameters()->set_shots(3);
  spec.mutable_hyperparameters()->set_target_far(0.05);
  auto r = engine_->StartRound(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->strategy(), v1::AGGREGATION_STRATEGY_NONE);
  int n = 0;
  const float after[3] = {0.7f, 0.8f, 0.9f};
  for (int i = 0; i < 4 && n < 3; ++i) {
    std::string dev = "dev-" + std::to_string(i);
    auto order = fake_.LastOrder(dev);
    if (!order) continue;
    EXPECT_EQ(order->kind(), v1::ROUND_KIND_FEW_SHOT);
    EXPECT_EQ(order->hyperparameters().shots(), 3u);
    auto u = DecodeUpdate(UpdateFor(dev, 30));
    ASSERT_TRUE(u.ok());
    u->delta.assign(u->delta.size(), 0.0f);  // the tail is not changed
    u->accuracy_before = 0.5f;
    u->accuracy_after = after[n];
    ASSERT_TRUE(Upload(dev, r->round_id(), EncodeUpdate(*u))->accepted);
    ++n;
  }
  ASSERT_EQ(n, 3);
  engine_->Tick();
  auto got = engine_->Get(r->round_id());
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->state(), v1::ROUND_STATE_COMPLETED) << got->reason();
  EXPECT_TRUE(got->result_tail_artifact_id().empty());
  EXPECT_TRUE(got->result_model_ref().empty());
  EXPECT_EQ(got->metrics().reported(), 3u);
  EXPECT_NEAR(got->metrics().accuracy_before(), 0.5, 1e-6);
  EXPECT_NEAR(got->metrics().accuracy_after(), 0.8, 1e-6);
  EXPECT_NEAR(got->metrics().mean_loss(), 1.0, 1e-6);
  int with_metrics = 0;
  for (const auto& c : got->clients()) {
    if (c.state() != "reported") continue;
    EXPECT_EQ(c.samples(), 30u);
    EXPECT_NEAR(c.accuracy_before(), 0.5, 1e-6);
    ++with_metrics;
  }
  EXPECT_EQ(with_metrics, 3);
  EXPECT_FALSE(catalog_->Get("kws:2").ok());  // no version published
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), v1::ROUND_STATE_COMPLETED);
  EXPECT_NEAR(events.back().metrics().accuracy_after(), 0.8, 1e-6);
}

TEST_F(RoundEngineTest, SelfLearningRoundAggregatesLikeAFederatedOne) {
  auto spec = Spec(2);
  spec.set_kind(v1::ROUND_KIND_SELF_LEARNING);
  spec.set_strategy(v1::AGGREGATION_STRATEGY_UNSPECIFIED);  // FEDAVG
  auto r = engine_->StartRound(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->strategy(), v1::AGGREGATION_STRATEGY_FEDAVG);
  int n = 0;
  for (int i = 0; i < 4 && n < 2; ++i) {
    std::string dev = "dev-" + std::to_string(i);
    if (!fake_.LastOrder(dev)) continue;
    ASSERT_TRUE(Upload(dev, r->round_id(), UpdateFor(dev))->accepted);
    ++n;
  }
  for (int i = 0; i < 3; ++i) engine_->Tick();
  auto got = engine_->Get(r->round_id());
  ASSERT_EQ(got->state(), v1::ROUND_STATE_COMPLETED) << got->reason();
  EXPECT_FALSE(got->result_tail_artifact_id().empty());
  EXPECT_NE(got->result_tail_artifact_id(), got->start_tail_artifact_id());
}

TEST_F(RoundEngineTest, CancelReleasesClientsAndIsFinal) {
  auto r = engine_->StartRound(Spec(2));
  ASSERT_TRUE(r.ok());
  auto c = engine_->Cancel(r->round_id(), "wrong model");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state(), v1::ROUND_STATE_CANCELLED);
  EXPECT_EQ(c->reason(), "wrong model");
  int cancels = 0;
  for (int i = 0; i < 4; ++i)
    for (const auto& m : fake_.Sent("dev-" + std::to_string(i)))
      cancels += m.has_train_cancel();
  EXPECT_EQ(cancels, 2);
  EXPECT_EQ(engine_->Cancel(r->round_id(), "").status().code(),
            StatusCode::kFailedPrecondition);
  auto counts = engine_->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[v1::ROUND_STATE_CANCELLED], 1u);
}

TEST_F(RoundEngineTest, SelectionIsDeterministicAndSkipsOfflineDevices) {
  fake_.SetOnline("dev-1", false);
  auto r = engine_->StartRound(Spec(2));
  ASSERT_TRUE(r.ok());
  std::vector<std::pair<uint64_t, std::string>> ranks;
  for (const char* d : {"dev-0", "dev-2", "dev-3"})
    ranks.emplace_back(RoundEngine::Rank(r->round_id(), d), d);
  std::sort(ranks.begin(), ranks.end());
  EXPECT_TRUE(fake_.LastOrder(ranks[0].second).has_value());
  EXPECT_TRUE(fake_.LastOrder(ranks[1].second).has_value());
  EXPECT_FALSE(fake_.LastOrder(ranks[2].second).has_value());
  EXPECT_FALSE(fake_.LastOrder("dev-1").has_value());
}

TEST_F(RoundEngineTest, AnOrderWithoutProgressIsSentAgainWithTheNextAttempt) {
  RoundEngineOptions o;
  o.order_retry = std::chrono::seconds(10);
  Open(o);
  auto r = engine_->StartRound(Spec(1));
  ASSERT_TRUE(r.ok());
  std::string dev;
  for (int i = 0; i < 4 && dev.empty(); ++i)
    if (fake_.LastOrder("dev-" + std::to_string(i)))
      dev = "dev-" + std::to_string(i);
  std::string first = UpdateFor(dev);  // answers attempt 1
  clock_.Advance(std::chrono::seconds(11));
  engine_->Tick();
  EXPECT_EQ(fake_.LastOrder(dev)->attempt(), 2u);
  EXPECT_EQ(Upload(dev, r->round_id(), first, 1).status().code(),
            StatusCode::kFailedPrecondition);
  auto st = Upload(dev, r->round_id(), UpdateFor(dev), 2);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->accepted) << st->reason;
}

}  // namespace
}  // namespace tinyfleet::adapt

namespace tinyfleet::adapt {
namespace {

TEST_F(RoundEngineTest, SelectionExcludesBySamplesEnergyBudgetAndDeadline) {
  auto cost = ModelCostOf(model_);
  ASSERT_TRUE(cost.ok()) << cost.status().ToString();
  auto spec = Spec(1, 1);
  spec.set_min_samples(10);
  auto at100 = EstimateTraining(*cost, spec.kind(), spec.hyperparameters(), 100,
                                v1::TARGET_PROFILE_GAP9);
  ASSERT_TRUE(at100.ok()) << at100.status().ToString();
  ASSERT_GT(at100->energy_mj, 0);
  ASSERT_LT(at100->time_ms, 60'000);
  SetResources("dev-0", 100, 1e6);                     // eligible
  SetResources("dev-1", 0, 0);                         // samples unknown
  SetResources("dev-2", 100, at100->energy_mj * 0.5);  // over its budget
  SetResources("dev-3", 1'000'000, 0);  // about 1,000 s of training

  auto r = engine_->StartRound(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state(), v1::ROUND_STATE_TRAINING) << r->reason();
  const auto& m = r->metrics();
  EXPECT_EQ(m.eligible(), 1u);
  EXPECT_EQ(m.excluded_offline(), 0u);
  EXPECT_EQ(m.excluded_model(), 0u);
  EXPECT_EQ(m.excluded_samples(), 1u);
  EXPECT_EQ(m.excluded_energy(), 1u);
  EXPECT_EQ(m.excluded_deadline(), 1u);
  EXPECT_EQ(m.selected(), 1u);
  EXPECT_DOUBLE_EQ(m.estimated_energy_mj(), at100->energy_mj);
  EXPECT_DOUBLE_EQ(m.estimated_time_ms(), at100->time_ms);
  EXPECT_TRUE(fake_.LastOrder("dev-0").has_value());
  for (const char* d : {"dev-1", "dev-2", "dev-3"})
    EXPECT_FALSE(fake_.LastOrder(d).has_value()) << d;

  // The same nodes without a minimum: dev-1 (unknown samples) is eligible.
  auto open = Spec(1, 1);
  auto r2 = engine_->StartRound(open);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->metrics().eligible(), 2u);
  EXPECT_EQ(r2->metrics().excluded_samples(), 0u);

  // A longer deadline lets dev-3 in; a budget above the estimate, dev-2.
  SetResources("dev-2", 100, at100->energy_mj * 1.01);
  auto patient = Spec(1, 1);
  patient.set_min_samples(10);
  patient.mutable_deadline()->set_seconds(7 * 86'400);
  auto r3 = engine_->StartRound(patient);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->metrics().eligible(), 3u) << r3->reason();
}

TEST_F(RoundEngineTest, TooFewEligibleSaysWhyEachDeviceWasExcluded) {
  auto cost = ModelCostOf(model_);
  ASSERT_TRUE(cost.ok());
  SetResources("dev-0", 100, 0);
  SetResources("dev-1", 3, 0);
  SetResources("dev-2", 100, 1e-9);
  SetResources("dev-3", 1'000'000, 0);
  fake_.SetOnline("dev-0", false);
  auto spec = Spec(2, 2);
  spec.set_min_samples(10);
  auto r = engine_->StartRound(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state(), v1::ROUND_STATE_FAILED);
  for (const char* part :
       {"0 eligible", "needs at least 2", "1 offline",
        "1 with too few samples (< 10)", "1 over their energy budget",
        "1 too slow for the deadline"}) {
    EXPECT_NE(r->reason().find(part), std::string::npos)
        << "\"" << part << "\" not in: " << r->reason();
  }
  EXPECT_EQ(r->reason().find("another model"), std::string::npos);

  // A node running another model is counted as such.
  fake_.SetOnline("dev-0", true);
  auto d = store_->devices().Get("dev-0");
  ASSERT_TRUE(d.ok());
  v1::NodeInfo node = d->node;
  node.mutable_slots(0)->set_model_version(model_.blob_version() + 1);
  ASSERT_TRUE(store_->devices().UpdateNode("dev-0", node, "test", 0).ok());
  auto r2 = engine_->StartRound(spec);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->metrics().excluded_model(), 1u);
  EXPECT_NE(r2->reason().find("1 running another model"), std::string::npos)
      << r2->reason();
}

TEST_F(RoundEngineTest, MinSamplesIsValidated) {
  auto spec = Spec(1);
  spec.set_min_samples(10'000'001);
  auto r = engine_->StartRound(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("min_samples"), std::string::npos);
}

}  // namespace
}  // namespace tinyfleet::adapt
