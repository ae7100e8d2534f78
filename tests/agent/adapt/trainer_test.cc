// Tests of the agent's Trainer against a small fake AgentService
// (FetchArtifact and UploadUpdate on 127.0.0.1, port 0) and a virtual node
// holding a keyword shard that runs the DS-CNN-S model with a trainable tail
// (installed by the agent's Updater from the same fake service): declines
// (no TRAIN capability, no model, another frozen part, unsupported kind,
// too few labelled examples for enrolment), a few-shot order's report,
// a full job (accepted, training, uploaded) whose upload resumes at the
// gateway's committed_bytes, the update kept on disk across a restart, a
// refused update, and cancellation.
#include "agent/adapt/trainer.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "adapt/tn_adapt.h"
#include "agent/link/node_link.h"
#include "agent/link/transport.h"
#include "agent/update/updater.h"
#include "common/encoding.h"
#include "server/models/dataset.h"
#include "server/models/models.h"
#include "tests/support/test_env.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::agent {
namespace {

using testing::TempDir;
using testing::WaitFor;

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/" + name,
                  std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// FetchArtifact over a map of artifacts; UploadUpdate that keeps committed
// bytes per round like the gateway does, and can be told to stop the first
// stream after some bytes ("resume from committed_bytes") or to refuse.
class FakeAgentService final : public v1::AgentService::Service {
 public:
  void Put(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    artifacts_[Sha256Hex(bytes)] = bytes;
  }

  grpc::Status FetchArtifact(
      grpc::ServerContext*, const v1::FetchArtifactRequest* req,
      grpc::ServerWriter<v1::ArtifactChunk>* w) override {
    std::string bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = artifacts_.find(req->artifact_id());
      if (it == artifacts_.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such artifact");
      }
      bytes = it->second;
    }
    for (uint64_t off = req->offset(); off < bytes.size(); off += 4096) {
      v1::ArtifactChunk c;
      c.set_offset(off);
      c.set_data(bytes.substr(off, 4096));
      Sha256Digest d = Sha256(c.data());
      c.set_sha256(std::string(reinterpret_cast<const char*>(d.data()), 32));
      c.set_total_bytes(bytes.size());
      w->Write(c);
    }
    return grpc::Status::OK;
  }

  grpc::Status UploadUpdate(grpc::ServerContext* ctx,
                            grpc::ServerReader<v1::UpdateChunk>* reader,
                            v1::UploadUpdateResponse* resp) override {
    auto md = ctx->client_metadata().find("x-tinyfleet-device-id");
    EXPECT_NE(md, ctx->client_metadata().end());
    v1::UpdateChunk c;
    std::lock_guard<std::mutex> lock(mu_);
    ++streams_;
    bool first_chunk = true;
    while (reader->Read(&c)) {
      std::string& have = uploads_[c.round_id()];
      if (first_chunk) first_offsets_.push_back(c.offset());
      first_chunk = false;
      attempts_.push_back(c.attempt());
      resp->set_committed_bytes(have.size());
      if (c.offset() > have.size()) {
        resp->set_reason("resume from committed_bytes");
        return grpc::Status::OK;
      }
      const uint64_t skip = have.size() - c.offset();
      if (skip < c.data().size()) have += c.data().substr(skip);
      resp->set_committed_bytes(have.size());
      if (stop_after_ > 0 && have.size() >= stop_after_) {
        stop_after_ = 0;  // once
        resp->set_reason("resume from committed_bytes");
        return grpc::Status::OK;
      }
      if (have.size() == c.total_bytes()) {
        Sha256Digest d = Sha256(have);
        EXPECT_EQ(c.sha256(),
                  std::string(reinterpret_cast<const char*>(d.data()), 32));
        resp->set_accepted(!refuse_);
        if (refuse_) resp->set_reason("trained against another frozen part");
        return grpc::Status::OK;
      }
    }
    return grpc::Status::OK;
  }

  std::map<std::string, std::string> artifacts_;
  std::map<std::string, std::string> uploads_;
  std::vector<uint64_t> first_offsets_;
  std::vector<uint32_t> attempts_;
  uint64_t stop_after_ = 0;
  bool refuse_ = false;
  int streams_ = 0;
  std::mutex mu_;
};

struct Model {
  std::string blob;
  std::string tntl;
  std::string frozen;  // 32 bytes
};

// The keyword model with a one-layer FP32 tail and its starting TNTL.
const Model& KwsModel() {
  static const Model* model = [] {
    auto* m = new Model;
    auto calib = models::Dataset::FromFeatureFile(Fixture("kws_calib.tnfs"));
    EXPECT_TRUE(calib.ok());
    models::CompileOptions opt;
    opt.trainable_tail_layers = 1;
    opt.reserve_signature = false;
    auto compiled = models::CompileOnnx(Fixture("ds_cnn_s.onnx"), *calib, opt);
    EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
    m->blob = compiled->blob;
    tn_blob b;
    EXPECT_EQ(tn_blob_parse(reinterpret_cast<const uint8_t*>(m->blob.data()),
                            m->blob.size(), nullptr, &b),
              TN_OK);
    uint8_t frozen[32];
    EXPECT_EQ(tn_blob_frozen_sha256(&b, frozen), TN_OK);
    m->frozen.assign(reinterpret_cast<const char*>(frozen), 32);
    // The node's frozen hash is the one the model compiler reports.
    EXPECT_EQ(HexEncode(std::span<const uint8_t>(frozen, 32)),
              compiled->report.frozen_sha256);
    std::vector<float> params(b.tail_param_bytes / 4);
    std::memcpy(params.data(), b.tail_params, b.tail_param_bytes);
    m->tntl.resize(tn_tntl_size(static_cast<uint32_t>(params.size())));
    size_t n = 0;
    EXPECT_EQ(tn_tntl_encode(frozen, params.data(),
                             static_cast<uint32_t>(params.size()),
                             reinterpret_cast<uint8_t*>(m->tntl.data()),
                             m->tntl.size(), &n),
              TN_OK);
    return m;
  }();
  return *model;
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
    service_.Put(KwsModel().blob);
    service_.Put(KwsModel().tntl);
  }
  void TearDown() override {
    if (link_) link_->Close();
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    blocking_.join();
    server_->Shutdown();
  }

  GatewayEndpoint Endpoint() const {
    return {"127.0.0.1:" + std::to_string(port_), "", true};
  }
  Credentials Creds() const {
    Credentials c;
    c.device_id = "dev-1";
    return c;
  }

  // A virtual node (optionally with a shard of user 3) and its link.
  void StartNode(bool shard) {
    VirtualNodeOptions vo;
    vo.state_dir = dir_.path() / "node";
    vo.target = TN_TARGET_GAP9;
    vo.telemetry_interval = std::chrono::milliseconds(0);
    vo.accept_unsigned_models = true;
    if (shard) {
      vo.shard =
          std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/kws_users.tnfs";
      vo.user = 3;
    }
    Strand strand = boost::asio::make_strand(io_);
    auto t = MakeVirtualNodeTransport(strand, vo);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    link_ = NodeLink::Create(strand, std::move(*t));
    std::promise<Result<v1::NodeInfo>> p;
    link_->Connect([&p](Result<v1::NodeInfo> r) { p.set_value(std::move(r)); });
    auto info = p.get_future().get();
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ((info->capabilities() & TN_LINK_CAP_TRAIN) != 0, shard);
  }

  // Installs the keyword model on the node with the Updater.
  void Install() {
    UpdaterOptions uo;
    uo.endpoint = Endpoint();
    uo.credentials = Creds();
    uo.cache_dir = dir_.path() / "artifacts";
    std::promise<void> confirmed;
    std::atomic<bool> once{false};
    auto updater = Updater::Create(
        uo, link_, &blocking_, [&](const v1::UpdateProgress& p) {
          if ((p.stage() == "confirmed" || p.stage() == "failed") &&
              !once.exchange(true)) {
            EXPECT_EQ(p.stage(), "confirmed") << p.error();
            confirmed.set_value();
          }
        });
    v1::UpdateOrder o;
    o.set_order_id("install-1");
    o.set_artifact_id(Sha256Hex(KwsModel().blob));
    o.set_artifact_bytes(KwsModel().blob.size());
    o.set_artifact_sha256(o.artifact_id());
    o.set_action("install");
    updater->Handle(o);
    ASSERT_EQ(confirmed.get_future().wait_for(std::chrono::seconds(60)),
              std::future_status::ready);
  }

  std::shared_ptr<Trainer> MakeTrainer() {
    TrainerOptions to;
    to.endpoint = Endpoint();
    to.credentials = Creds();
    to.state_dir = dir_.path() / "rounds";
    to.poll_interval = std::chrono::milliseconds(5);
    to.upload_chunk = 256;
    return Trainer::Create(to, link_, io_, &blocking_,
                           [this](const v1::TrainProgress& p) {
                             std::lock_guard<std::mutex> lock(mu_);
                             progress_.push_back(p);
                           });
  }

  v1::TrainOrder Order(const std::string& round, uint32_t epochs = 2) {
    v1::TrainOrder o;
    o.set_round_id(round);
    o.set_tail_artifact_id(Sha256Hex(KwsModel().tntl));
    o.set_tail_artifact_bytes(KwsModel().tntl.size());
    o.set_tail_artifact_sha256(o.tail_artifact_id());
    o.set_kind(v1::ROUND_KIND_FEDERATED);
    auto* hp = o.mutable_hyperparameters();
    hp->set_local_epochs(epochs);
    hp->set_batch_size(8);
    hp->set_learning_rate(0.001);
    hp->set_momentum(0.9);
    o.set_model_ref("kws:1");
    o.set_frozen_sha256(KwsModel().frozen);
    o.set_seed(42);
    o.set_attempt(1);
    return o;
  }

  // The last report for `round` once it is one of the final stages.
  std::optional<v1::TrainProgress> Final(const std::string& round) {
    std::optional<v1::TrainProgress> last;
    WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu_);
          for (const auto& p : progress_) {
            if (p.round_id() == round &&
                (p.stage() == "uploaded" || p.stage() == "failed" ||
                 p.stage() == "declined")) {
              last = p;
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(120));
    return last;
  }

  std::vector<std::string> Stages(const std::string& round) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> s;
    for (const auto& p : progress_) {
      if (p.round_id() == round) s.push_back(p.stage());
    }
    return s;
  }

  TempDir dir_;
  FakeAgentService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  boost::asio::io_context io_;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_{boost::asio::make_work_guard(io_)};
  std::vector<std::thread> threads_;
  boost::asio::thread_pool blocking_{4};
  std::shared_ptr<NodeLink> link_;
  std::mutex mu_;
  std::vector<v1::TrainProgress> progress_;
};

TEST(TrainParams, MapsTheOrderAndFillsDefaults) {
  v1::TrainOrder o;
  o.set_round_id("r");
  o.set_kind(v1::ROUND_KIND_LATENT_REPLAY);
  o.set_frozen_sha256(std::string(32, 'f'));
  o.set_tail_artifact_sha256(std::string(64, 'a'));
  o.set_tail_artifact_bytes(3196);
  o.set_seed(9);
  o.set_attempt(4);
  o.mutable_hyperparameters()->set_prox_mu(0.25);
  o.mutable_hyperparameters()->set_replay_bits(7);
  auto p = TrainParamsFor(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->kind, TN_LINK_TRAIN_LATENT_REPLAY);
  EXPECT_EQ(p->replay_bits, 7);
  EXPECT_EQ(p->replay_samples, 64u);
  EXPECT_EQ(p->local_epochs, 1);
  EXPECT_EQ(p->batch_size, 16);
  EXPECT_FLOAT_EQ(p->learning_rate, 0.01f);
  EXPECT_FLOAT_EQ(p->prox_mu, 0.25f);
  EXPECT_EQ(p->tail_size, 3196u);
  EXPECT_EQ(p->seed, 9u);
  EXPECT_EQ(p->attempt, 4u);
  Sha256Digest binding = Sha256(std::string("r"));
  EXPECT_EQ(std::memcmp(p->round_binding, binding.data(), 32), 0);

  o.set_kind(v1::ROUND_KIND_UNSPECIFIED);
  EXPECT_EQ(TrainParamsFor(o).status().code(), StatusCode::kInvalidArgument);
  o.set_kind(v1::ROUND_KIND_FEDERATED);
  o.mutable_hyperparameters()->set_momentum(1.5);
  EXPECT_EQ(TrainParamsFor(o).status().code(), StatusCode::kInvalidArgument);
  o.mutable_hyperparameters()->set_momentum(0.5);
  o.set_frozen_sha256("short");
  EXPECT_EQ(TrainParamsFor(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(TrainJobId("r", 1), TrainJobId("r", 2));
  EXPECT_NE(TrainJobId("r", 1), 0u);
}

TEST(TrainParams, MapsFewShotAndSelfLearning) {
  v1::TrainOrder o;
  o.set_round_id("r");
  o.set_kind(v1::ROUND_KIND_FEW_SHOT);
  o.set_frozen_sha256(std::string(32, 'f'));
  o.set_tail_artifact_sha256(std::string(64, 'a'));
  o.set_tail_artifact_bytes(3196);
  // Defaults: 3 shots, 5 % FAR; the shots travel in replay_samples.
  auto p = TrainParamsFor(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->kind, TN_LINK_TRAIN_FEW_SHOT);
  EXPECT_EQ(p->replay_bits, 0);
  EXPECT_EQ(p->replay_samples, 3u);
  EXPECT_FLOAT_EQ(p->target_far, 0.05f);
  o.mutable_hyperparameters()->set_shots(5);
  o.mutable_hyperparameters()->set_target_far(0.01);
  p = TrainParamsFor(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->replay_samples, 5u);
  EXPECT_FLOAT_EQ(p->target_far, 0.01f);
  o.mutable_hyperparameters()->set_target_far(1.5);
  EXPECT_EQ(TrainParamsFor(o).status().code(), StatusCode::kInvalidArgument);
  o.mutable_hyperparameters()->set_target_far(0.01);
  o.mutable_hyperparameters()->set_shots(70000);
  EXPECT_EQ(TrainParamsFor(o).status().code(), StatusCode::kInvalidArgument);
  // Self-learning: shots, no FAR (the field is reserved for other kinds).
  o.set_kind(v1::ROUND_KIND_SELF_LEARNING);
  o.mutable_hyperparameters()->set_shots(4);
  p = TrainParamsFor(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->kind, TN_LINK_TRAIN_SELF_LEARNING);
  EXPECT_EQ(p->replay_samples, 4u);
  EXPECT_EQ(p->target_far, 0.0f);
}

TEST_F(TrainerTest, DeclinesANodeWithoutTheTrainCapability) {
  StartNode(false);
  auto trainer = MakeTrainer();
  trainer->Handle(Order("r-cap"));
  auto f = Final("r-cap");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage(), "declined");
  EXPECT_NE(f->error().find("TRAIN capability"), std::string::npos)
      << f->error();
  EXPECT_EQ(trainer->stats().declined, 1u);
}

TEST_F(TrainerTest, DeclinesWhenTheNodeRunsNoModelOrAnotherOne) {
  StartNode(true);
  auto trainer = MakeTrainer();
  trainer->Handle(Order("r-none"));
  auto f = Final("r-none");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage(), "declined");
  EXPECT_NE(f->error().find("no model"), std::string::npos) << f->error();

  Install();
  v1::TrainOrder other = Order("r-other");
  std::string frozen = other.frozen_sha256();
  frozen[0] = static_cast<char>(frozen[0] ^ 1);
  other.set_frozen_sha256(frozen);
  trainer->Handle(other);
  f = Final("r-other");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage(), "declined");
  EXPECT_NE(f->error().find("another model"), std::string::npos) << f->error();

  v1::TrainOrder kind = Order("r-kind");
  kind.set_kind(v1::ROUND_KIND_UNSPECIFIED);
  trainer->Handle(kind);
  f = Final("r-kind");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage(), "declined");
  EXPECT_EQ(trainer->stats().declined, 3u);
  EXPECT_EQ(trainer->stats().jobs_started, 0u);
}

TEST_F(TrainerTest, TrainsAndUploadsResumingAtCommittedBytes) {
  StartNode(true);
  Install();
  service_.stop_after_ = 300;  // the first stream ends after 300 bytes
  auto trainer = MakeTrainer();
  trainer->Handle(Order("r-1"));
  auto f = Final("r-1");
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(f->stage(), "uploaded") << f->error();
  EXPECT_EQ(Stages("r-1"),
            (std::vector<std::string>{"accepted", "training", "uploaded"}));
  EXPECT_GT(f->samples(), 0u);
  EXPECT_GT(f->loss(), 0.0);

  // The gateway holds a valid update for this round, from two streams, the
  // second starting where the first was committed.
  std::lock_guard<std::mutex> lock(service_.mu_);
  const std::string& up = service_.uploads_["r-1"];
  tn_tnup u;
  ASSERT_EQ(tn_tnup_decode(reinterpret_cast<const uint8_t*>(up.data()),
                           up.size(), &u),
            TN_OK);
  Sha256Digest binding = Sha256(std::string("r-1"));
  EXPECT_EQ(std::memcmp(u.meta.round_binding, binding.data(), 32), 0);
  EXPECT_EQ(std::memcmp(u.meta.frozen_sha256, KwsModel().frozen.data(), 32), 0);
  EXPECT_EQ(u.meta.attempt, 1u);
  ASSERT_EQ(service_.first_offsets_.size(), 2u);
  EXPECT_EQ(service_.first_offsets_[0], 0u);
  EXPECT_EQ(service_.first_offsets_[1], 512u);  // 2 chunks of 256 committed
  for (uint32_t a : service_.attempts_) EXPECT_EQ(a, 1u);
  auto stats = trainer->stats();
  EXPECT_EQ(stats.jobs_started, 1u);
  EXPECT_EQ(stats.tail_bytes, KwsModel().tntl.size());
  EXPECT_EQ(stats.update_bytes, up.size());
  EXPECT_EQ(stats.uploaded, 1u);
  EXPECT_FALSE(trainer->busy());
  // A repeated order gets the final report again, without a new job.
  trainer->Handle(Order("r-1"));
  EXPECT_EQ(trainer->stats().jobs_started, 1u);
}

TEST_F(TrainerTest, RunsAFewShotOrderAndUploadsItsReport) {
  StartNode(true);
  Install();
  auto trainer = MakeTrainer();
  v1::TrainOrder o = Order("r-few");
  o.set_kind(v1::ROUND_KIND_FEW_SHOT);
  o.mutable_hyperparameters()->set_shots(2);
  trainer->Handle(o);
  auto f = Final("r-few");
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(f->stage(), "uploaded") << f->error();
  // Two shots of each of the ten keywords of user 3's shard.
  EXPECT_EQ(f->samples(), 20u);
  EXPECT_GT(f->accuracy_after(), 0.0);
  std::lock_guard<std::mutex> lock(service_.mu_);
  const std::string& up = service_.uploads_["r-few"];
  tn_tnup u;
  ASSERT_EQ(tn_tnup_decode(reinterpret_cast<const uint8_t*>(up.data()),
                           up.size(), &u),
            TN_OK);
  EXPECT_EQ(u.flags, TN_TNUP_FLAG_SPARSE);
  EXPECT_EQ(up.size(), tn_tnup_empty_size(u.tensor_count));
}

TEST_F(TrainerTest, DeclinesEnrolmentWithoutEnoughLabelledExamples) {
  StartNode(true);
  Install();
  auto trainer = MakeTrainer();
  // User 3 has 10 recordings per class, far fewer than 40.
  v1::TrainOrder o = Order("r-shots");
  o.set_kind(v1::ROUND_KIND_SELF_LEARNING);
  o.mutable_hyperparameters()->set_shots(40);
  trainer->Handle(o);
  auto f = Final("r-shots");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage(), "declined");
  EXPECT_NE(f->error().find("40 labelled examples"), std::string::npos)
      << f->error();
  EXPECT_EQ(trainer->stats().declined, 1u);
  EXPECT_EQ(trainer->stats().uploaded, 0u);
}

TEST_F(TrainerTest, AnUpdateKeptOnDiskSurvivesARestart) {
  StartNode(true);
  Install();
  service_.refuse_ = true;  // the first agent's upload fails for good
  auto first = MakeTrainer();
  first->Handle(Order("r-2"));
  auto f = Final("r-2");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage(), "failed");
  EXPECT_NE(f->error().find("another frozen part"), std::string::npos)
      << f->error();
  {
    std::lock_guard<std::mutex> lock(service_.mu_);
    service_.refuse_ = false;
    service_.uploads_.clear();
  }
  std::string kept_before;
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_.clear();
  }
  // A new agent process (same state directory) given the repeated order
  // uploads the kept update without training again.
  auto second = MakeTrainer();
  second->Handle(Order("r-2"));
  f = Final("r-2");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->stage(), "uploaded") << f->error();
  EXPECT_EQ(second->stats().jobs_started, 0u);
  EXPECT_EQ(second->stats().tail_bytes, 0u);
  std::lock_guard<std::mutex> lock(service_.mu_);
  EXPECT_FALSE(service_.uploads_["r-2"].empty());
}

TEST_F(TrainerTest, CancelStopsTheNodesJob) {
  StartNode(true);
  Install();
  auto trainer = MakeTrainer();
  trainer->Handle(Order("r-3", /*epochs=*/500));
  ASSERT_TRUE(WaitFor([&] {
    auto s = Stages("r-3");
    return std::find(s.begin(), s.end(), "training") != s.end();
  }));
  v1::TrainCancel c;
  c.set_round_id("r-3");
  trainer->Cancel(c);
  ASSERT_TRUE(WaitFor([&] { return !trainer->busy(); }));
  EXPECT_EQ(trainer->stats().cancelled, 1u);
  // The node dropped the job.
  std::promise<Result<std::vector<uint8_t>>> p;
  tn_link_train_status q{TrainJobId("r-3", 1)};
  std::vector<uint8_t> payload(8);
  size_t n = 0;
  ASSERT_EQ(tn_link_train_status_encode(&q, payload.data(), payload.size(), &n),
            TN_OK);
  payload.resize(n);
  link_->Call(TN_LINK_MSG_TRAIN_STATUS, payload,
              [&p](Result<std::vector<uint8_t>> r) { p.set_value(r); });
  auto reply = p.get_future().get();
  ASSERT_TRUE(reply.ok());
  tn_link_train_status_reply st;
  ASSERT_EQ(
      tn_link_train_status_reply_decode(reply->data(), reply->size(), &st),
      TN_OK);
  EXPECT_EQ(st.state, TN_LINK_TRAIN_CANCELLED);
}

}  // namespace
}  // namespace tinyfleet::agent
