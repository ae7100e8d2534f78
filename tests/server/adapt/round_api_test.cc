// The round RPCs of an in-process gateway: FleetService Start/Get/List/
// CancelRound with roles, a device's session receiving its TrainOrder and
// reporting TrainProgress, AgentService.UploadUpdate resumed by offset
// across a gateway restart (a stale attempt refused), and the `tinyfleet
// rounds` commands.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "agent/session/gateway_client.h"
#include "common/encoding.h"
#include "server/adapt/adapt.h"
#include "server/cli/cli.h"
#include "server/models/models.h"
#include "tests/support/test_env.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::adapt {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream f(std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/" + name,
                  std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class RoundApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto calib =
        models::Dataset::FromFeatureFile(ReadFixture("kws_calib.tnfs"));
    ASSERT_TRUE(calib.ok());
    models::CompileOptions o;
    o.trainable_tail_layers = 1;
    o.model_id[0] = 0x77;
    auto m = models::CompileOnnx(ReadFixture("ds_cnn_s.onnx"), *calib, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    blob_ = new std::string(std::move(m->blob));
  }
  static void TearDownTestSuite() { delete blob_; }

  void SetUp() override {
    StartGateway();
    // The model.
    auto ctx = testing::TestGateway::Ctx(gw_->admin_token());
    v1::Model model;
    auto w = fleet_->UploadModel(ctx.get(), &model);
    v1::UploadModelRequest req;
    req.mutable_header()->set_name("kws");
    req.mutable_header()->set_format(v1::MODEL_FORMAT_BLOB);
    req.mutable_header()->set_model_bytes(blob_->size());
    ASSERT_TRUE(w->Write(req));
    req.Clear();
    req.set_model_chunk(*blob_);
    ASSERT_TRUE(w->Write(req));
    w->WritesDone();
    grpc::Status st = w->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
    model_ = model;
    // One device running it.
    auto secrets = gw_->CreateEnrollmentTokens(1);
    ASSERT_EQ(secrets.size(), 1u);
    auto creds =
        agent::Enroll({gw_->target(), gw_->ca_pem(), false}, secrets[0], Node(),
                      agent::AgentVersion(), std::chrono::seconds(10));
    ASSERT_TRUE(creds.ok()) << creds.status().ToString();
    creds_ = *creds;
  }

  void StartGateway() {
    gw_ = std::make_unique<testing::TestGateway>(dir_.path() / "gw", &clock_);
    fleet_ = gw_->FleetStub();
  }

  v1::NodeInfo Node() const {
    v1::NodeInfo node;
    node.set_hardware_id("aa01");
    auto* slot = node.add_slots();
    slot->set_name("A");
    slot->set_state(v1::SLOT_STATE_ACTIVE);
    slot->set_model_id(model_.model_id());
    slot->set_model_version(model_.blob_version());
    return node;
  }

  std::unique_ptr<v1::AgentService::Stub> AgentStub() {
    return v1::AgentService::NewStub(
        agent::MakeChannel({gw_->target(), gw_->ca_pem(), false}, &creds_));
  }

  // Opens the device's session (hello, welcome).
  void OpenSession() {
    agent_ = AgentStub();
    session_ctx_ = std::make_unique<grpc::ClientContext>();
    session_ = agent_->Session(session_ctx_.get());
    v1::AgentMessage hello;
    *hello.mutable_hello()->mutable_node() = Node();
    ASSERT_TRUE(session_->Write(hello));
    v1::GatewayMessage welcome;
    ASSERT_TRUE(session_->Read(&welcome));
    ASSERT_TRUE(welcome.has_welcome());
  }
  void CloseSession() {
    if (!session_) return;
    session_ctx_->TryCancel();
    (void)session_->Finish();
    session_.reset();
  }
  void TearDown() override { CloseSession(); }

  // Reads session messages until a train order arrives.
  v1::TrainOrder NextOrder() {
    v1::GatewayMessage m;
    while (session_->Read(&m)) {
      if (m.has_train_order()) return m.train_order();
    }
    ADD_FAILURE() << "session ended without a train order";
    return {};
  }

  std::string FetchAll(const std::string& artifact_id) {
    auto stub = AgentStub();
    grpc::ClientContext ctx;
    v1::FetchArtifactRequest req;
    req.set_artifact_id(artifact_id);
    auto r = stub->FetchArtifact(&ctx, req);
    std::string out;
    v1::ArtifactChunk c;
    while (r->Read(&c)) out += c.data();
    EXPECT_TRUE(r->Finish().ok());
    return out;
  }

  std::string UpdateFor(const v1::TrainOrder& o) {
    std::string tail_bytes = FetchAll(o.tail_artifact_id());
    auto tail = DecodeTail(tail_bytes);
    EXPECT_TRUE(tail.ok()) << tail.status().ToString();
    auto layout = ReadBlobTail(*blob_);
    EXPECT_TRUE(layout.ok());
    UpdateFile u;
    u.round_binding = RoundBinding(o.round_id());
    std::memcpy(u.frozen_sha256.data(), o.frozen_sha256().data(), 32);
    Sha256Digest start = Sha256(tail_bytes);
    std::memcpy(u.start_sha256.data(), start.data(), 32);
    u.samples = 12;
    u.attempt = o.attempt();
    u.loss_after = 0.5f;
    u.tensor_sizes = layout->tensor_sizes;
    u.delta.assign(tail->params.size(), 1e-4f);
    return EncodeUpdate(u);
  }

  // Uploads bytes [from, to) of `update` in chunks of 64 bytes.
  grpc::Status Upload(const std::string& round_id, uint32_t attempt,
                      const std::string& update, size_t from, size_t to,
                      v1::UploadUpdateResponse* resp) {
    auto stub = AgentStub();
    grpc::ClientContext ctx;
    auto w = stub->UploadUpdate(&ctx, resp);
    if (from == to) {  // an empty chunk asks where to resume
      v1::UpdateChunk c;
      c.set_round_id(round_id);
      c.set_attempt(attempt);
      c.set_total_bytes(update.size());
      w->Write(c);
    }
    for (size_t at = from; at < to; at += 64) {
      v1::UpdateChunk c;
      c.set_round_id(round_id);
      c.set_attempt(attempt);
      c.set_offset(at);
      c.set_total_bytes(update.size());
      c.set_data(update.substr(at, std::min<size_t>(64, to - at)));
      if (at + 64 >= update.size()) {
        Sha256Digest d = Sha256(update);
        c.set_sha256(std::string(reinterpret_cast<const char*>(d.data()), 32));
      }
      if (!w->Write(c)) break;
    }
    w->WritesDone();
    return w->Finish();
  }

  int Cli(std::vector<std::string> args, const std::string& token) {
    auto ca = dir_.path() / "ca.crt";
    EXPECT_TRUE(WriteFileAtomic(ca, gw_->ca_pem()).ok());
    cli::Env env = {{"TINYFLEET_ADDRESS", gw_->target()},
                    {"TINYFLEET_CA", ca.string()},
                    {"TINYFLEET_TOKEN", token}};
    out_.str("");
    err_.str("");
    return cli::RunCli(args, env, out_, err_);
  }

  std::string ViewerToken() {
    auto ctx = testing::TestGateway::Ctx(gw_->admin_token());
    v1::CreateOperatorTokenRequest req;
    req.set_name("watcher");
    req.set_role(v1::ROLE_VIEWER);
    v1::CreateOperatorTokenResponse resp;
    EXPECT_TRUE(fleet_->CreateOperatorToken(ctx.get(), req, &resp).ok());
    return resp.secret();
  }

  static std::string* blob_;
  testing::TempDir dir_;
  FakeClock clock_{SystemClock::Instance().NowUnixMillis()};
  std::unique_ptr<testing::TestGateway> gw_;
  std::unique_ptr<v1::FleetService::Stub> fleet_;
  v1::Model model_;
  agent::Credentials creds_;
  std::unique_ptr<v1::AgentService::Stub> agent_;
  std::unique_ptr<grpc::ClientContext> session_ctx_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::AgentMessage, v1::GatewayMessage>>
      session_;
  std::ostringstream out_, err_;
};

std::string* RoundApiTest::blob_ = nullptr;

TEST_F(RoundApiTest, RoundOverTheApiWithResumableUploadAcrossARestart) {
  OpenSession();
  std::string viewer = ViewerToken();
  v1::StartRoundRequest spec;
  spec.set_kind(v1::ROUND_KIND_FEDERATED);
  spec.set_model_ref("kws:1");
  spec.set_target_clients(1);
  spec.mutable_deadline()->set_seconds(600);
  v1::Round round;
  {
    auto ctx = testing::TestGateway::Ctx(viewer);
    EXPECT_EQ(fleet_->StartRound(ctx.get(), spec, &round).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    auto ctx = testing::TestGateway::Ctx(gw_->admin_token());
    v1::StartRoundRequest bad = spec;
    bad.set_target_clients(0);
    grpc::Status st = fleet_->StartRound(ctx.get(), bad, &round);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("target_clients"), std::string::npos);
  }
  {
    auto ctx = testing::TestGateway::Ctx(gw_->admin_token());
    grpc::Status st = fleet_->StartRound(ctx.get(), spec, &round);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(round.state(), v1::ROUND_STATE_TRAINING) << round.reason();
  v1::TrainOrder order = NextOrder();
  EXPECT_EQ(order.round_id(), round.round_id());
  EXPECT_EQ(order.attempt(), 1u);

  // Progress from the session shows in the client's state.
  v1::AgentMessage progress;
  progress.mutable_train_progress()->set_round_id(round.round_id());
  progress.mutable_train_progress()->set_stage("training");
  progress.mutable_train_progress()->set_accuracy_before(0.25);
  ASSERT_TRUE(session_->Write(progress));
  auto client_state = [&](const std::string& token) {
    auto ctx = testing::TestGateway::Ctx(token);
    v1::GetRoundRequest g;
    g.set_round_id(round.round_id());
    v1::Round r;
    if (!fleet_->GetRound(ctx.get(), g, &r).ok() || r.clients_size() != 1)
      return std::string();
    return r.clients(0).state();
  };
  EXPECT_TRUE(
      testing::WaitFor([&] { return client_state(viewer) == "training"; }));

  // Half the update, then the gateway restarts.
  std::string update = UpdateFor(order);
  v1::UploadUpdateResponse resp;
  grpc::Status st = Upload(round.round_id(), 1, update, 0, 128, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.committed_bytes(), 128u);
  EXPECT_FALSE(resp.accepted());
  CloseSession();
  gw_->Stop();
  StartGateway();

  // A stale attempt is refused; the right one resumes where it stopped.
  st = Upload(round.round_id(), 2, update, 128, update.size(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  resp.Clear();
  st = Upload(round.round_id(), 1, update, 0, 0, &resp);  // ask only
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.committed_bytes(), 128u);
  st = Upload(round.round_id(), 1, update, 128, update.size(), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.committed_bytes(), update.size());
  EXPECT_TRUE(resp.accepted()) << resp.reason();

  gw_->gateway().TickRounds();
  auto ctx = testing::TestGateway::Ctx(viewer);
  v1::GetRoundRequest g;
  g.set_round_id(round.round_id());
  ASSERT_TRUE(fleet_->GetRound(ctx.get(), g, &round).ok());
  EXPECT_EQ(round.state(), v1::ROUND_STATE_COMPLETED) << round.reason();
  EXPECT_EQ(round.metrics().reported(), 1u);
  EXPECT_FALSE(round.result_tail_artifact_id().empty());

  // The CLI.
  ASSERT_EQ(Cli({"rounds", "list"}, viewer), 0) << err_.str();
  EXPECT_NE(out_.str().find(round.round_id()), std::string::npos);
  EXPECT_NE(out_.str().find("completed"), std::string::npos) << out_.str();
  ASSERT_EQ(Cli({"rounds", "get", round.round_id()}, viewer), 0);
  EXPECT_NE(out_.str().find("1 selected, 1 reported"), std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("reported"), std::string::npos);
  // Nobody is online now: the round fails at selection, with the reason.
  ASSERT_EQ(Cli({"rounds", "start", "--kind", "federated", "--model", "kws:1",
                 "--clients", "16", "--strategy", "fedavg"},
                gw_->admin_token()),
            0)
      << err_.str();
  EXPECT_NE(out_.str().find("failed"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("0 eligible"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("1 offline"), std::string::npos) << out_.str();
  // --min-samples reaches the spec and the selection summary.
  ASSERT_EQ(Cli({"rounds", "start", "--model", "kws:1", "--clients", "1",
                 "--min-samples", "25"},
                gw_->admin_token()),
            0)
      << err_.str();
  EXPECT_NE(out_.str().find("0 eligible (min samples 25)"), std::string::npos)
      << out_.str();
  EXPECT_EQ(Cli({"rounds", "start", "--model", "kws:1", "--clients", "1",
                 "--min-samples", "-1"},
                gw_->admin_token()),
            2);
  EXPECT_EQ(Cli({"rounds", "cancel", round.round_id()}, gw_->admin_token()), 1);
  EXPECT_NE(err_.str().find("FAILED_PRECONDITION"), std::string::npos);
  EXPECT_EQ(Cli({"rounds", "start", "--model", "kws:1"}, gw_->admin_token()),
            2);  // usage: --clients missing
  EXPECT_EQ(
      Cli({"rounds", "start", "--model", "kws:1", "--clients", "2"}, viewer),
      1);
  EXPECT_NE(err_.str().find("PERMISSION_DENIED"), std::string::npos);
}

TEST_F(RoundApiTest, CancelRoundTellsTheDevice) {
  OpenSession();
  v1::StartRoundRequest spec;
  spec.set_kind(v1::ROUND_KIND_FEDERATED);
  spec.set_model_ref("kws:1");
  spec.set_target_clients(1);
  v1::Round round;
  auto ctx = testing::TestGateway::Ctx(gw_->admin_token());
  ASSERT_TRUE(fleet_->StartRound(ctx.get(), spec, &round).ok());
  (void)NextOrder();
  v1::CancelRoundRequest c;
  c.set_round_id(round.round_id());
  c.set_reason("operator changed their mind");
  auto ctx2 = testing::TestGateway::Ctx(gw_->admin_token());
  ASSERT_TRUE(fleet_->CancelRound(ctx2.get(), c, &round).ok());
  EXPECT_EQ(round.state(), v1::ROUND_STATE_CANCELLED);
  v1::GatewayMessage m;
  bool cancelled = false;
  while (!cancelled && session_->Read(&m)) cancelled = m.has_train_cancel();
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(m.train_cancel().round_id(), round.round_id());
}

}  // namespace
}  // namespace tinyfleet::adapt
