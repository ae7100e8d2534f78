// Gateway + agents on 127.0.0.1: enrollment, sessions, presence, restarts,
// and every refusal the security model promises.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "agent/bridge/bridge.h"
#include "agent/outbox/outbox.h"
#include "agent/session/credentials.h"
#include "agent/session/gateway_client.h"
#include "agent/session/gateway_session.h"
#include "common/pki.h"
#include "server/fleet/registry.h"
#include "tests/support/test_env.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet {
namespace {

using agent::GatewayEndpoint;
using agent::GatewaySession;
using agent::SessionState;
using testing::TempDir;
using testing::TestGateway;
using testing::WaitFor;

v1::NodeInfo Node(int i) {
  v1::NodeInfo n;
  char hw[33];
  std::snprintf(hw, sizeof(hw), "%032x", i + 1);
  n.set_hardware_id(hw);
  n.set_firmware_version("tn-test-1");
  n.set_target(v1::TARGET_PROFILE_GAP9);
  n.set_transport("virtual");
  return n;
}

class GatewayAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ =
        std::make_unique<FakeClock>(SystemClock::Instance().NowUnixMillis());
    gw_ = std::make_unique<TestGateway>(dir_.path() / "gw", clock_.get());
    io_thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    for (auto& s : sessions_) {
      std::promise<void> done;
      s->Stop([&] { done.set_value(); });
      done.get_future().wait();
    }
    sessions_.clear();
    gw_.reset();
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  GatewayEndpoint Endpoint() const {
    return {gw_->target(), gw_->ca_pem(), false};
  }

  Result<agent::Credentials> EnrollOne(const std::string& token, int i) {
    return agent::Enroll(Endpoint(), token, Node(i), agent::AgentVersion(),
                         std::chrono::seconds(10));
  }

  std::shared_ptr<GatewaySession> StartSession(const agent::Credentials& c,
                                               int i) {
    agent::SessionOptions opt;
    opt.endpoint = Endpoint();
    opt.credentials = c;
    opt.initial_backoff = std::chrono::milliseconds(50);
    opt.max_backoff = std::chrono::milliseconds(500);
    opt.jitter_seed = static_cast<uint64_t>(i + 1);
    auto s = GatewaySession::Create(io_, opt, [i] { return Node(i); });
    s->Start();
    sessions_.push_back(s);
    return s;
  }

  v1::ListDevicesResponse List(
      v1::Connectivity c = v1::CONNECTIVITY_UNSPECIFIED) {
    auto stub = gw_->FleetStub();
    v1::ListDevicesRequest req;
    req.set_connectivity(c);
    v1::ListDevicesResponse resp;
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    grpc::Status st = stub->ListDevices(ctx.get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  TempDir dir_;
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<TestGateway> gw_;
  boost::asio::io_context io_;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_{boost::asio::make_work_guard(io_)};
  std::thread io_thread_;
  std::vector<std::shared_ptr<GatewaySession>> sessions_;
};

TEST_F(GatewayAgentTest, ThreeAgentsEnrollConnectAndAreListedOnline) {
  auto tokens = gw_->CreateEnrollmentTokens(3);
  ASSERT_EQ(tokens.size(), 3u);
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto creds = EnrollOne(tokens[i], i);
    ASSERT_TRUE(creds.ok()) << creds.status().ToString();
    EXPECT_EQ(creds->device_id.rfind("dev-", 0), 0u);
    ids.insert(creds->device_id);
    StartSession(*creds, i);
  }
  EXPECT_EQ(ids.size(), 3u);
  ASSERT_TRUE(WaitFor(
      [&] { return List(v1::CONNECTIVITY_ONLINE).devices_size() == 3; }));
  auto all = List();
  ASSERT_EQ(all.devices_size(), 3);
  for (const auto& d : all.devices()) {
    EXPECT_TRUE(ids.count(d.device_id()));
    EXPECT_EQ(d.connectivity(), v1::CONNECTIVITY_ONLINE);
    EXPECT_EQ(d.lifecycle(), v1::DEVICE_LIFECYCLE_ACTIVE);
    EXPECT_EQ(d.node().target(), v1::TARGET_PROFILE_GAP9);
    EXPECT_EQ(d.node().firmware_version(), "tn-test-1");
    EXPECT_FALSE(d.certificate_sha256().empty());
  }
  // Heartbeats flow and are acknowledged.
  EXPECT_TRUE(WaitFor([&] { return sessions_[0]->heartbeats_acked() >= 2; }));
}

TEST_F(GatewayAgentTest, StoppedAgentGoesOfflineAndSilentAgentTimesOut) {
  auto tokens = gw_->CreateEnrollmentTokens(2);
  auto a = EnrollOne(tokens[0], 0);
  auto b = EnrollOne(tokens[1], 1);
  ASSERT_TRUE(a.ok() && b.ok());
  auto sa = StartSession(*a, 0);
  ASSERT_TRUE(WaitFor([&] { return sa->state() == SessionState::kOnline; }));

  // B opens a session by hand and then falls silent (a hung agent).
  auto channel = agent::MakeChannel(Endpoint(), &*b);
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Session(&ctx);
  v1::AgentMessage hello;
  *hello.mutable_hello()->mutable_node() = Node(1);
  ASSERT_TRUE(stream->Write(hello));
  v1::GatewayMessage welcome;
  ASSERT_TRUE(stream->Read(&welcome));
  ASSERT_TRUE(welcome.has_welcome());
  EXPECT_EQ(welcome.welcome().device_id(), b->device_id);
  EXPECT_EQ(List(v1::CONNECTIVITY_ONLINE).devices_size(), 2);

  // Three missed heartbeat intervals later, only B is swept offline: A
  // keeps heartbeating, which the sweep sees at the advanced time.
  clock_->Advance(std::chrono::milliseconds(200 * 3 + 1));
  ASSERT_TRUE(WaitFor([&] { return sa->heartbeats_acked() >= 1; }));
  uint64_t acked = sa->heartbeats_acked();
  ASSERT_TRUE(WaitFor([&] { return sa->heartbeats_acked() > acked; }));
  EXPECT_EQ(gw_->gateway().Sweep(), 1u);
  auto online = List(v1::CONNECTIVITY_ONLINE);
  ASSERT_EQ(online.devices_size(), 1);
  EXPECT_EQ(online.devices(0).device_id(), a->device_id);
  // B's stream was closed by the gateway with DEADLINE_EXCEEDED.
  v1::GatewayMessage more;
  while (stream->Read(&more)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  // A stopped agent goes offline as soon as its stream ends.
  std::promise<void> stopped;
  sa->Stop([&] { stopped.set_value(); });
  stopped.get_future().wait();
  sessions_.clear();
  EXPECT_TRUE(WaitFor(
      [&] { return List(v1::CONNECTIVITY_ONLINE).devices_size() == 0; }));
  auto offline = List(v1::CONNECTIVITY_OFFLINE);
  EXPECT_EQ(offline.devices_size(), 2);
  for (const auto& d : offline.devices()) EXPECT_TRUE(d.has_last_seen_at());
}

TEST_F(GatewayAgentTest,
       RestartedGatewayKeepsDevicesAndAgentsResumeWithTheirCertificates) {
  auto tokens = gw_->CreateEnrollmentTokens(3);
  std::vector<agent::Credentials> creds;
  for (int i = 0; i < 3; ++i) {
    auto c = EnrollOne(tokens[i], i);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE(
        agent::SaveCredentials(dir_.path() / ("agent" + std::to_string(i)), *c)
            .ok());
    creds.push_back(*c);
  }
  for (int i = 0; i < 3; ++i) StartSession(creds[i], i);
  ASSERT_TRUE(WaitFor(
      [&] { return List(v1::CONNECTIVITY_ONLINE).devices_size() == 3; }));

  uint16_t port = gw_->gateway().grpc_port();
  std::string admin = gw_->admin_token();
  gw_.reset();  // stop: agents lose their sessions and back off
  ASSERT_TRUE(WaitFor([&] {
    for (auto& s : sessions_) {
      if (s->state() == SessionState::kOnline) return false;
    }
    return true;
  }));
  gw_ = std::make_unique<TestGateway>(dir_.path() / "gw", clock_.get(),
                                      std::chrono::milliseconds(200), port);
  EXPECT_EQ(gw_->admin_token(), admin);  // the admin token was not recreated
  // Every agent reconnects on its own with the certificate on disk.
  ASSERT_TRUE(WaitFor(
      [&] { return List(v1::CONNECTIVITY_ONLINE).devices_size() == 3; }));
  for (int i = 0; i < 3; ++i) {
    auto loaded =
        agent::LoadCredentials(dir_.path() / ("agent" + std::to_string(i)));
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->device_id, creds[i].device_id);
    EXPECT_GE(sessions_[i]->sessions_opened(), 2u);
  }
  EXPECT_EQ(List().devices_size(), 3);
}

TEST_F(GatewayAgentTest, WrongReusedAndExpiredTokensAreRefused) {
  auto tokens = gw_->CreateEnrollmentTokens(2);
  auto wrong = EnrollOne("tfe_not-a-real-token", 0);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);

  ASSERT_TRUE(EnrollOne(tokens[0], 0).ok());
  auto reused = EnrollOne(tokens[0], 1);
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.status().code(), StatusCode::kUnauthenticated);

  clock_->Advance(std::chrono::hours(2));  // default ttl is 1 h
  auto expired = EnrollOne(tokens[1], 2);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(List().devices_size(), 1);  // nothing else was enrolled

  // A token's use is recorded.
  auto stub = gw_->FleetStub();
  v1::ListEnrollmentTokensRequest req;
  req.set_include_inactive(true);
  v1::ListEnrollmentTokensResponse resp;
  auto ctx = TestGateway::Ctx(gw_->admin_token());
  ASSERT_TRUE(stub->ListEnrollmentTokens(ctx.get(), req, &resp).ok());
  int used = 0;
  for (const auto& t : resp.tokens()) used += t.has_used_at();
  EXPECT_EQ(used, 1);
}

TEST_F(GatewayAgentTest, CertificateFromAnotherCaIsRefused) {
  auto tokens = gw_->CreateEnrollmentTokens(1);
  auto real = EnrollOne(tokens[0], 0);
  ASSERT_TRUE(real.ok());
  // A look-alike certificate for the same device id from a foreign CA.
  auto foreign = pki::CertificateAuthority::Create("impostor CA", *clock_);
  ASSERT_TRUE(foreign.ok());
  auto key = pki::GenerateEcPrivateKey();
  auto csr = pki::CreateCsr(*key, real->device_id);
  auto cert = (*foreign)->SignClientCsr(*csr, real->device_id,
                                        std::chrono::hours(24), *clock_);
  ASSERT_TRUE(cert.ok());
  agent::Credentials fake{real->device_id, *key, cert->pem,
                          gw_->ca_pem(),   "",   ""};
  auto stub = v1::AgentService::NewStub(agent::MakeChannel(Endpoint(), &fake));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->Session(&ctx);
  v1::AgentMessage hello;
  *hello.mutable_hello()->mutable_node() = Node(0);
  stream->Write(hello);
  v1::GatewayMessage msg;
  EXPECT_FALSE(stream->Read(&msg));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE)
      << st.error_message();
  EXPECT_EQ(List(v1::CONNECTIVITY_ONLINE).devices_size(), 0);

  // Without any certificate, a session is refused as unauthenticated.
  auto anon =
      v1::AgentService::NewStub(agent::MakeChannel(Endpoint(), nullptr));
  grpc::ClientContext ctx2;
  auto s2 = anon->Session(&ctx2);
  s2->Write(hello);
  EXPECT_FALSE(s2->Read(&msg));
  EXPECT_EQ(s2->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GatewayAgentTest, RolesAreEnforced) {
  auto stub = gw_->FleetStub();
  // Admin creates a viewer token.
  v1::CreateOperatorTokenRequest creq;
  creq.set_name("dashboard");
  creq.set_role(v1::ROLE_VIEWER);
  v1::CreateOperatorTokenResponse cresp;
  auto ctx = TestGateway::Ctx(gw_->admin_token());
  ASSERT_TRUE(stub->CreateOperatorToken(ctx.get(), creq, &cresp).ok());
  std::string viewer = cresp.secret();

  // The viewer can read ...
  v1::ListDevicesResponse list;
  auto c1 = TestGateway::Ctx(viewer);
  EXPECT_TRUE(stub->ListDevices(c1.get(), {}, &list).ok());
  // ... but not call an admin RPC or an operator RPC.
  v1::DecommissionDeviceRequest dreq;
  dreq.set_device_id("dev-x");
  v1::Device dev;
  auto c2 = TestGateway::Ctx(viewer);
  grpc::Status st = stub->DecommissionDevice(c2.get(), dreq, &dev);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(st.error_message().find("admin"), std::string::npos);
  v1::CreateEnrollmentTokensResponse tresp;
  auto c3 = TestGateway::Ctx(viewer);
  EXPECT_EQ(stub->CreateEnrollmentTokens(c3.get(), {}, &tresp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // No token, a wrong token, and a revoked token are unauthenticated.
  auto c4 = TestGateway::Ctx("");
  EXPECT_EQ(stub->ListDevices(c4.get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto c5 = TestGateway::Ctx("tfo_wrong");
  EXPECT_EQ(stub->ListDevices(c5.get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::RevokeOperatorTokenRequest rreq;
  rreq.set_token_id(cresp.token().token_id());
  v1::OperatorToken revoked;
  auto c6 = TestGateway::Ctx(gw_->admin_token());
  ASSERT_TRUE(stub->RevokeOperatorToken(c6.get(), rreq, &revoked).ok());
  auto c7 = TestGateway::Ctx(viewer);
  EXPECT_EQ(stub->ListDevices(c7.get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GatewayAgentTest, OversizeMessageIsRefusedAndNothingIsLost) {
  auto tokens = gw_->CreateEnrollmentTokens(1);
  ASSERT_TRUE(EnrollOne(tokens[0], 0).ok());
  auto stub = gw_->FleetStub();
  v1::CreateEnrollmentTokensRequest req;
  req.set_description(std::string(5 << 20, 'x'));  // above the 4 MiB limit
  v1::CreateEnrollmentTokensResponse resp;
  auto ctx = TestGateway::Ctx(gw_->admin_token());
  grpc::Status st = stub->CreateEnrollmentTokens(ctx.get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << st.error_message();
  // The gateway still serves and still has the device.
  EXPECT_EQ(List().devices_size(), 1);
}

TEST_F(GatewayAgentTest, DecommissionClosesTheSessionAndRefusesTheCertificate) {
  auto tokens = gw_->CreateEnrollmentTokens(1);
  auto c = EnrollOne(tokens[0], 0);
  ASSERT_TRUE(c.ok());
  std::atomic<int> denied{0};
  agent::SessionOptions opt;
  opt.endpoint = Endpoint();
  opt.credentials = *c;
  opt.initial_backoff = std::chrono::milliseconds(20);
  opt.max_backoff = std::chrono::milliseconds(50);
  auto s = GatewaySession::Create(io_, opt, [] { return Node(0); });
  s->OnStateChange([&](SessionState st, const Status& err) {
    if (st == SessionState::kBackoff &&
        err.code() == StatusCode::kPermissionDenied) {
      denied++;
    }
  });
  s->Start();
  sessions_.push_back(s);
  ASSERT_TRUE(WaitFor([&] { return s->state() == SessionState::kOnline; }));

  auto stub = gw_->FleetStub();
  v1::DecommissionDeviceRequest req;
  req.set_device_id(c->device_id);
  req.set_reason("stolen");
  v1::Device dev;
  auto ctx = TestGateway::Ctx(gw_->admin_token());
  ASSERT_TRUE(stub->DecommissionDevice(ctx.get(), req, &dev).ok());
  EXPECT_EQ(dev.lifecycle(), v1::DEVICE_LIFECYCLE_DECOMMISSIONED);
  // The live session is closed and every reconnection is refused.
  ASSERT_TRUE(WaitFor([&] { return denied.load() >= 2; }));
  EXPECT_NE(s->state(), SessionState::kOnline);
  EXPECT_EQ(List(v1::CONNECTIVITY_ONLINE).devices_size(), 0);
}

TEST_F(GatewayAgentTest, LabelsFilterAndPageTheDeviceList) {
  auto tokens = gw_->CreateEnrollmentTokens(5);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto c = EnrollOne(tokens[i], i);
    ASSERT_TRUE(c.ok());
    ids.push_back(c->device_id);
  }
  auto stub = gw_->FleetStub();
  for (int i = 0; i < 5; ++i) {
    v1::SetDeviceLabelsRequest req;
    req.set_device_id(ids[i]);
    (*req.mutable_labels())["ring"] = i < 2 ? "canary" : "main";
    v1::Device dev;
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    ASSERT_TRUE(stub->SetDeviceLabels(ctx.get(), req, &dev).ok());
    EXPECT_EQ(dev.labels().at("ring"), i < 2 ? "canary" : "main");
  }
  v1::ListDevicesRequest q;
  q.set_label_selector("ring=canary");
  v1::ListDevicesResponse resp;
  auto c1 = TestGateway::Ctx(gw_->admin_token());
  ASSERT_TRUE(stub->ListDevices(c1.get(), q, &resp).ok());
  EXPECT_EQ(resp.devices_size(), 2);
  EXPECT_EQ(resp.total_count(), 2u);

  // Paging walks every device exactly once.
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    v1::ListDevicesRequest p;
    p.set_page_size(2);
    p.set_page_token(token);
    v1::ListDevicesResponse r;
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    ASSERT_TRUE(stub->ListDevices(ctx.get(), p, &r).ok());
    EXPECT_EQ(r.total_count(), 5u);
    for (const auto& d : r.devices())
      EXPECT_TRUE(seen.insert(d.device_id()).second);
    token = r.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(pages, 3);

  // A malformed selector and a bad label are clear errors.
  v1::ListDevicesRequest bad;
  bad.set_label_selector("Ring=,=x");
  auto c2 = TestGateway::Ctx(gw_->admin_token());
  grpc::Status st = stub->ListDevices(c2.get(), bad, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::SetDeviceLabelsRequest badl;
  badl.set_device_id(ids[0]);
  (*badl.mutable_labels())["white space"] = "x";
  v1::Device dev;
  auto c3 = TestGateway::Ctx(gw_->admin_token());
  EXPECT_EQ(stub->SetDeviceLabels(c3.get(), badl, &dev).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto c4 = TestGateway::Ctx(gw_->admin_token());
  v1::GetDeviceRequest greq;
  greq.set_device_id("dev-doesnotexist");
  EXPECT_EQ(stub->GetDevice(c4.get(), greq, &dev).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(GatewayAgentTest, WatchEventsStreamsDeviceChanges) {
  auto stub = gw_->FleetStub();
  auto ctx = TestGateway::Ctx(gw_->admin_token());
  v1::WatchEventsRequest req;
  req.add_kinds("device");
  auto reader = stub->WatchEvents(ctx.get(), req);

  auto tokens = gw_->CreateEnrollmentTokens(1);
  auto c = EnrollOne(tokens[0], 0);
  ASSERT_TRUE(c.ok());
  auto s = StartSession(*c, 0);
  std::vector<std::string> changes;
  uint64_t last_seq = 0;
  v1::Event e;
  while (changes.size() < 2 && reader->Read(&e)) {
    EXPECT_EQ(e.device().device_id(), c->device_id);
    EXPECT_GT(e.sequence(), last_seq);
    last_seq = e.sequence();
    changes.push_back(e.device().change());
  }
  EXPECT_EQ(changes, (std::vector<std::string>{"enrolled", "online"}));
  ctx->TryCancel();
  reader->Finish();

  // Resuming after the first event replays the second.
  auto ctx2 = TestGateway::Ctx(gw_->admin_token());
  v1::WatchEventsRequest resume;
  resume.set_after_sequence(last_seq - 1);
  auto r2 = stub->WatchEvents(ctx2.get(), resume);
  ASSERT_TRUE(r2->Read(&e));
  EXPECT_EQ(e.sequence(), last_seq);
  EXPECT_EQ(e.device().change(), "online");
  ctx2->TryCancel();
  r2->Finish();

  // A bad kind is refused.
  auto ctx3 = TestGateway::Ctx(gw_->admin_token());
  v1::WatchEventsRequest bad;
  bad.add_kinds("weather");
  auto r3 = stub->WatchEvents(ctx3.get(), bad);
  EXPECT_FALSE(r3->Read(&e));
  EXPECT_EQ(r3->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// The whole chain: bridges reading their identity from virtual nodes over
// the link, enrolling with tokens, and coming back with the same identities.
TEST_F(GatewayAgentTest, BridgesOverVirtualNodesEnrollAndKeepTheirIdentities) {
  auto tokens = gw_->CreateEnrollmentTokens(3);
  boost::asio::thread_pool blocking(2);
  auto make = [&](int i, const std::string& token) {
    agent::BridgeOptions bo;
    bo.name = "node" + std::to_string(i);
    bo.credentials_dir = dir_.path() / bo.name / "credentials";
    bo.endpoint = Endpoint();
    bo.bootstrap_token = token;
    bo.initial_backoff = std::chrono::milliseconds(50);
    bo.max_backoff = std::chrono::milliseconds(200);
    auto node_dir = dir_.path() / bo.name / "node";
    return agent::Bridge::Create(
        io_, bo,
        [node_dir](agent::Strand strand) {
          agent::VirtualNodeOptions vo;
          vo.state_dir = node_dir;
          vo.target = TN_TARGET_GAP8;
          return std::move(agent::MakeVirtualNodeTransport(strand, vo)).value();
        },
        &blocking);
  };
  auto stop_all = [](std::vector<std::shared_ptr<agent::Bridge>>& bridges) {
    for (auto& b : bridges) {
      std::promise<void> done;
      b->Stop([&] { done.set_value(); });
      done.get_future().wait();
    }
  };
  std::vector<std::shared_ptr<agent::Bridge>> bridges;
  for (int i = 0; i < 3; ++i) bridges.push_back(make(i, tokens[i]));
  for (auto& b : bridges) b->Start();
  ASSERT_TRUE(WaitFor(
      [&] { return List(v1::CONNECTIVITY_ONLINE).devices_size() == 3; }));
  std::map<std::string, std::string> hw_by_id;
  auto listed = List();
  for (const auto& d : listed.devices()) {
    EXPECT_EQ(d.node().target(), v1::TARGET_PROFILE_GAP8);
    EXPECT_EQ(d.node().transport(), "virtual");
    EXPECT_EQ(d.node().hardware_id().size(), 32u);
    EXPECT_EQ(d.node().slots_size(), 2);
    hw_by_id[d.device_id()] = d.node().hardware_id();
  }
  EXPECT_EQ(hw_by_id.size(), 3u);
  stop_all(bridges);
  ASSERT_TRUE(WaitFor(
      [&] { return List(v1::CONNECTIVITY_ONLINE).devices_size() == 0; }));

  // Restarted without tokens: credentials and node identities come from disk.
  bridges.clear();
  for (int i = 0; i < 3; ++i) bridges.push_back(make(i, ""));
  for (auto& b : bridges) b->Start();
  ASSERT_TRUE(WaitFor(
      [&] { return List(v1::CONNECTIVITY_ONLINE).devices_size() == 3; }));
  auto relisted = List();
  for (const auto& d : relisted.devices()) {
    ASSERT_TRUE(hw_by_id.count(d.device_id()));
    EXPECT_EQ(hw_by_id[d.device_id()], d.node().hardware_id());
  }
  // A node without credentials and without a token waits for an operator.
  auto lonely = make(9, "");
  lonely->Start();
  EXPECT_TRUE(WaitFor([&] {
    return lonely->state() == agent::BridgeState::kEnrollmentRefused;
  }));
  bridges.push_back(lonely);
  stop_all(bridges);
  blocking.join();
}

// Sealed telemetry from virtual nodes through bridges, the outbox and the
// gateway; an agent cut off from the gateway and restarted delivers every
// record exactly once.
TEST_F(GatewayAgentTest,
       TelemetryIsDeliveredExactlyOnceAcrossOutagesAndRestarts) {
  auto tokens = gw_->CreateEnrollmentTokens(2);
  boost::asio::thread_pool blocking(2);
  auto outbox_path = dir_.path() / "agent" / "outbox.db";
  auto make = [&](int i, const std::string& token, agent::Outbox* outbox) {
    agent::BridgeOptions bo;
    bo.name = "tnode" + std::to_string(i);
    bo.credentials_dir = dir_.path() / bo.name / "credentials";
    bo.endpoint = Endpoint();
    bo.bootstrap_token = token;
    bo.initial_backoff = std::chrono::milliseconds(50);
    bo.max_backoff = std::chrono::milliseconds(200);
    bo.outbox = outbox;
    auto node_dir = dir_.path() / bo.name / "node";
    return agent::Bridge::Create(
        io_, bo,
        [node_dir](agent::Strand strand) {
          agent::VirtualNodeOptions vo;
          vo.state_dir = node_dir;
          vo.telemetry_interval = std::chrono::milliseconds(100);
          return std::move(agent::MakeVirtualNodeTransport(strand, vo)).value();
        },
        &blocking);
  };
  auto stop_all = [](std::vector<std::shared_ptr<agent::Bridge>>& bridges) {
    for (auto& b : bridges) {
      std::promise<void> done;
      b->Stop([&] { done.set_value(); });
      done.get_future().wait();
    }
    bridges.clear();
  };
  auto stored = [&]() -> uint64_t {
    auto stub = gw_->FleetStub();
    v1::QueryTelemetryRequest q;
    q.set_metric("records");
    q.set_aggregation(v1::AGGREGATION_COUNT);
    q.mutable_start()->set_seconds(0);
    *q.mutable_end() = google::protobuf::util::TimeUtil::GetCurrentTime();
    q.mutable_end()->set_seconds(q.end().seconds() + 3600);
    v1::QueryTelemetryResponse r;
    auto ctx = TestGateway::Ctx(gw_->admin_token());
    grpc::Status st = stub->QueryTelemetry(ctx.get(), q, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return r.points_size() ? static_cast<uint64_t>(r.points(0).value()) : 0;
  };

  uint64_t appended = 0;
  {
    auto outbox = agent::Outbox::Open({outbox_path});
    ASSERT_TRUE(outbox.ok());
    std::vector<std::shared_ptr<agent::Bridge>> bridges;
    for (int i = 0; i < 2; ++i)
      bridges.push_back(make(i, tokens[i], outbox->get()));
    for (auto& b : bridges) b->Start();
    ASSERT_TRUE(WaitFor([&] {
      return bridges[0]->keys_provisioned() >= 1 &&
             bridges[1]->keys_provisioned() >= 1;
    }));
    ASSERT_TRUE(WaitFor([&] { return stored() >= 6; }));

    // The gateway goes away; the nodes keep reporting into the outbox.
    uint16_t port = gw_->gateway().grpc_port();
    gw_.reset();
    uint64_t held = (*outbox)->stats().records;
    ASSERT_TRUE(
        WaitFor([&] { return (*outbox)->stats().records >= held + 6; }));
    // The agent restarts.
    stop_all(bridges);
    appended = (*outbox)->stats().appended;
    EXPECT_GT((*outbox)->stats().records, 0u);
    outbox->reset();
    gw_ = std::make_unique<TestGateway>(dir_.path() / "gw", clock_.get(),
                                        std::chrono::milliseconds(200), port);
  }
  auto outbox = agent::Outbox::Open({outbox_path});
  ASSERT_TRUE(outbox.ok());
  EXPECT_GT((*outbox)->stats().records, 0u);  // survived the restart
  std::vector<std::shared_ptr<agent::Bridge>> bridges;
  for (int i = 0; i < 2; ++i) bridges.push_back(make(i, "", outbox->get()));
  for (auto& b : bridges) b->Start();
  // Everything ever accepted by the agent reaches the gateway exactly once:
  // at some moment the outbox is empty and the gateway holds as many
  // records as the agent ever accepted.
  ASSERT_TRUE(WaitFor([&] {
    auto s = (*outbox)->stats();
    return s.records == 0 && stored() == appended + s.appended;
  }));
  stop_all(bridges);
  blocking.join();
}

}  // namespace
}  // namespace tinyfleet
