// The dashboard's JSON API over a real HTTP server on 127.0.0.1 port 0,
// with an in-memory store, a registry with enrolled devices, telemetry rows
// and the event bus: authentication and roles, devices, telemetry queries,
// UNIMPLEMENTED sources, stream tickets, and the live event stream
// (delivery, resume, reset, revocation); rollout actions and their role.
#include "server/api/json_api.h"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "common/pki.h"
#include "server/store/sqlite_store.h"
#include "tests/server/http/raw_client.h"
#include "tests/support/test_env.h"

namespace tinyfleet::api {
namespace {

using testing::RawClient;

class JsonApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(store::OpenSqliteStore({}, clock_)).value();
    ca_ = std::move(pki::CertificateAuthority::Create("ca", clock_)).value();
    bus_ = std::make_unique<events::EventBus>(&clock_);
    registry_ =
        std::move(fleet::Registry::Create(store_.get(), ca_.get(), &clock_,
                                          nullptr, {}, bus_.get()))
            .value();
    auth_ =
        std::make_unique<Authenticator>(&store_->operator_tokens(), &clock_);
    viewer_ =
        "Bearer " + auth_->CreateToken("ui", store::Role::kViewer)->second;
    operator_ =
        "Bearer " + auth_->CreateToken("ops", store::Role::kOperator)->second;
    server_ = std::move(http::HttpServer::Bind("127.0.0.1", 0)).value();
    JsonApiSources sources;
    sources.events = bus_.get();
    sources.telemetry = &store_->telemetry();
    sources.clock = &clock_;
    if (WithRollouts() || WithRounds()) {
      artifacts_ =
          std::move(ota::ArtifactStore::Open(dir_.path() / "artifacts",
                                             &store_->artifacts(), &clock_))
              .value();
    }
    if (WithRounds()) {
      key_ = std::move(catalog::SigningKey::LoadOrCreate(dir_.path() / "keys"))
                 .value();
      catalog_ = std::move(catalog::ModelCatalog::Create(
                               store_.get(), artifacts_.get(), &key_,
                               bus_.get(), &clock_))
                     .value();
      dispatcher_ = adapt::RegistryDispatcher(registry_.get());
      rounds_ = std::move(adapt::RoundEngine::Create(
                              store_.get(), dispatcher_.get(), artifacts_.get(),
                              catalog_.get(), bus_.get(), &clock_))
                    .value();
      sources.rounds = rounds_.get();
    }
    if (WithRollouts()) {
      rollouts_ = std::move(ota::RolloutEngine::Create(
                                store_.get(), registry_.get(), artifacts_.get(),
                                bus_.get(), &clock_))
                      .value();
      sources.rollouts = rollouts_.get();
    }
    RegisterJsonApi(server_.get(), registry_.get(), auth_.get(), sources);
    server_->Start();
  }
  void TearDown() override { server_->Stop(); }
  virtual bool WithRollouts() const { return false; }
  virtual bool WithRounds() const { return false; }

  std::string Enroll(const store::Labels& labels = {}) {
    auto t =
        registry_->CreateEnrollmentTokens(1, std::nullopt, labels, "", "t");
    EXPECT_TRUE(t.ok());
    auto key = pki::GenerateEcPrivateKey();
    auto csr = pki::CreateCsr(*key, "x");
    v1::NodeInfo node;
    node.set_hardware_id("00112233445566778899aabbccddeeff");
    node.set_firmware_version("fw-1.2");
    auto e = registry_->Enroll(t->secrets[0], *csr, node, "agent/1");
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e->device.device_id;
  }

  // A complete GET; returns the whole response text.
  std::string Get(const std::string& target, const std::string& auth) {
    RawClient c(server_->port());
    c.Get(target, auth.empty() ? "" : "Authorization: " + auth + "\r\n");
    c.ReadUntilClosed();
    return c.text();
  }

  // A complete POST with a JSON body; returns the whole response text.
  std::string Post(const std::string& target, const std::string& auth,
                   const std::string& body = "") {
    RawClient c(server_->port());
    c.Write("POST " + target + " HTTP/1.1\r\nHost: x\r\n" +
            (auth.empty() ? "" : "Authorization: " + auth + "\r\n") +
            "Content-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
            body);
    c.ReadUntilClosed();
    return c.text();
  }

  std::string Ticket() {
    std::string r = Get("/api/v1/events/ticket", viewer_);
    size_t at = r.find("\"ticket\":\"");
    EXPECT_NE(at, std::string::npos) << r;
    if (at == std::string::npos) return "";
    at += 10;
    return r.substr(at, r.find('"', at) - at);
  }

  FakeClock clock_{SystemClock::Instance().NowUnixMillis()};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<events::EventBus> bus_;
  std::unique_ptr<fleet::Registry> registry_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<http::HttpServer> server_;
  testing::TempDir dir_;
  std::unique_ptr<ota::ArtifactStore> artifacts_;
  std::unique_ptr<ota::RolloutEngine> rollouts_;
  catalog::SigningKey key_;
  std::unique_ptr<catalog::ModelCatalog> catalog_;
  std::unique_ptr<adapt::Dispatcher> dispatcher_;
  std::unique_ptr<adapt::RoundEngine> rounds_;
  std::string viewer_;
  std::string operator_;
};

TEST_F(JsonApiTest, EveryRouteNeedsAToken) {
  for (const char* path :
       {"/api/v1/whoami", "/api/v1/devices", "/api/v1/devices/x",
        "/api/v1/telemetry?metric=inferences", "/api/v1/rollouts",
        "/api/v1/rounds", "/api/v1/models", "/api/v1/events/ticket",
        "/api/v1/events/recent", "/api/v1/events"}) {
    std::string r = Get(path, "");
    EXPECT_NE(r.find(" 401 "), std::string::npos) << path << "\n" << r;
    EXPECT_NE(r.find("\"code\":\"UNAUTHENTICATED\""), std::string::npos)
        << path;
    EXPECT_NE(Get(path, "Bearer nope").find(" 401 "), std::string::npos)
        << path;
  }
  std::string who = Get("/api/v1/whoami", viewer_);
  EXPECT_NE(who.find("\"name\":\"ui\""), std::string::npos) << who;
  EXPECT_NE(who.find("\"role\":\"ROLE_VIEWER\""), std::string::npos);
  EXPECT_NE(who.find("Cache-Control: no-store"), std::string::npos);
}

TEST_F(JsonApiTest, DevicesListFilterAndGet) {
  std::string a = Enroll({{"site", "lab"}});
  std::string b = Enroll({{"site", "hall"}});
  std::string all = Get("/api/v1/devices", viewer_);
  EXPECT_NE(all.find("\"total_count\":2"), std::string::npos) << all;
  EXPECT_NE(all.find(a), std::string::npos);
  std::string lab = Get("/api/v1/devices?label_selector=site%3Dlab", viewer_);
  EXPECT_NE(lab.find(a), std::string::npos);
  EXPECT_EQ(lab.find(b), std::string::npos);
  // No one is online: the (empty) list is left out of the JSON.
  std::string online =
      Get("/api/v1/devices?connectivity=CONNECTIVITY_ONLINE", viewer_);
  EXPECT_NE(online.find(" 200 "), std::string::npos);
  EXPECT_EQ(online.find("\"devices\""), std::string::npos) << online;
  EXPECT_NE(Get("/api/v1/devices?connectivity=sideways", viewer_).find(" 400 "),
            std::string::npos);
  EXPECT_NE(Get("/api/v1/devices?page_size=x", viewer_).find(" 400 "),
            std::string::npos);

  std::string one = Get("/api/v1/devices/" + a, viewer_);
  EXPECT_NE(one.find("\"device_id\":\"" + a + "\""), std::string::npos) << one;
  EXPECT_NE(one.find("\"firmware_version\":\"fw-1.2\""), std::string::npos);
  EXPECT_NE(Get("/api/v1/devices/dev-unknown", viewer_).find(" 404 "),
            std::string::npos);
  EXPECT_NE(Get("/api/v1/devices/a/b", viewer_).find(" 404 "),
            std::string::npos);

  ASSERT_TRUE(registry_->Decommission(b, "retired").ok());
  std::string gone =
      Get("/api/v1/devices?lifecycle=DEVICE_LIFECYCLE_DECOMMISSIONED", viewer_);
  EXPECT_NE(gone.find(b), std::string::npos) << gone;
  EXPECT_NE(gone.find("\"total_count\":1"), std::string::npos);
}

TEST_F(JsonApiTest, TelemetryQueries) {
  std::string id = Enroll();
  int64_t t0 = clock_.NowUnixMillis() - 60'000;
  std::vector<store::TelemetryRow> rows;
  for (int i = 0; i < 6; ++i) {
    store::TelemetryRow r;
    r.device_id = id;
    r.counter = static_cast<uint64_t>(i + 1);
    r.time_ms = t0 + i * 10'000;
    r.inferences = 10 * static_cast<uint64_t>(i + 1);
    r.confidence_mean = 0.5;
    rows.push_back(r);
  }
  ASSERT_TRUE(store_->telemetry().Append(rows, {}).ok());

  std::string raw =
      Get("/api/v1/telemetry?device_id=" + id + "&metric=inferences", viewer_);
  EXPECT_NE(raw.find(" 200 "), std::string::npos) << raw;
  size_t points = 0;
  for (size_t p = raw.find("\"value\""); p != std::string::npos;
       p = raw.find("\"value\"", p + 1)) {
    ++points;
  }
  EXPECT_EQ(points, 6u);
  EXPECT_NE(raw.find("\"value\":60"), std::string::npos);

  // Sum over every device in one bucket, with RFC 3339 bounds.
  auto rfc = [](int64_t ms) {
    return google::protobuf::util::TimeUtil::ToString(
        google::protobuf::util::TimeUtil::MillisecondsToTimestamp(ms));
  };
  std::string sum =
      Get("/api/v1/telemetry?metric=inferences&aggregation="
          "AGGREGATION_SUM&start=" +
              rfc(t0 - 1) + "&end=" + rfc(t0 + 120'000),
          viewer_);
  EXPECT_NE(sum.find("\"value\":210"), std::string::npos) << sum;
  std::string mean =
      Get("/api/v1/telemetry?device_id=" + id +
              "&metric=confidence&aggregation=mean&step=60s&"
              "start=" +
              std::to_string(t0) + "&end=" + std::to_string(t0 + 60'000),
          viewer_);
  EXPECT_NE(mean.find("\"value\":0.5"), std::string::npos) << mean;

  // Mistakes are 400s with the reason; unknown devices 404.
  EXPECT_NE(Get("/api/v1/telemetry?metric=inferences", viewer_).find(" 400 "),
            std::string::npos);
  EXPECT_NE(Get("/api/v1/telemetry?device_id=" + id + "&metric=joy", viewer_)
                .find("unknown metric"),
            std::string::npos);
  EXPECT_NE(Get("/api/v1/telemetry?device_id=" + id +
                    "&metric=inferences&start=yesterday",
                viewer_)
                .find(" 400 "),
            std::string::npos);
  EXPECT_NE(Get("/api/v1/telemetry?device_id=" + id +
                    "&metric=inferences&aggregation=mean&step=soon",
                viewer_)
                .find(" 400 "),
            std::string::npos);
  EXPECT_NE(Get("/api/v1/telemetry?device_id=dev-x&metric=inferences", viewer_)
                .find(" 404 "),
            std::string::npos);
}

TEST_F(JsonApiTest, MissingSourcesAnswerUnimplemented) {
  for (const char* path : {"/api/v1/rollouts", "/api/v1/rollouts/r-1",
                           "/api/v1/rounds", "/api/v1/models"}) {
    std::string r = Get(path, viewer_);
    EXPECT_NE(r.find(" 501 "), std::string::npos) << path << "\n" << r;
    EXPECT_NE(r.find("\"code\":\"UNIMPLEMENTED\""), std::string::npos);
  }
}

TEST_F(JsonApiTest, TicketsAreSingleUseAndShortLived) {
  std::string t = Ticket();
  ASSERT_EQ(t.size(), 64u);
  {
    RawClient c(server_->port());
    c.Get("/api/v1/events?ticket=" + t);
    ASSERT_TRUE(c.ReadUntil("event: hello"));
  }
  // Spent.
  EXPECT_NE(Get("/api/v1/events?ticket=" + t, "").find(" 401 "),
            std::string::npos);
  // Expired.
  std::string late = Ticket();
  clock_.Advance(std::chrono::seconds(31));
  EXPECT_NE(Get("/api/v1/events?ticket=" + late, "").find(" 401 "),
            std::string::npos);
  // A ticket of a token revoked meanwhile is refused.
  auto op = auth_->CreateToken("temp", store::Role::kViewer);
  ASSERT_TRUE(op.ok());
  std::string r = Get("/api/v1/events/ticket", "Bearer " + op->second);
  size_t at = r.find("\"ticket\":\"") + 10;
  std::string revoked = r.substr(at, r.find('"', at) - at);
  ASSERT_TRUE(auth_->Revoke(op->first.token_id).ok());
  EXPECT_NE(Get("/api/v1/events?ticket=" + revoked, "").find(" 401 "),
            std::string::npos);
}

TEST_F(JsonApiTest, EventStreamDeliversResumesAndResets) {
  std::string id = Enroll();  // event 1: enrolled
  RawClient c(server_->port());
  c.Get("/api/v1/events?ticket=" + Ticket());
  ASSERT_TRUE(c.ReadUntil("event: hello\ndata: {\"last_sequence\":\"1\"}"))
      << c.text();

  ASSERT_TRUE(registry_->SetLabels(id, {{"ring", "canary"}}, {}, false).ok());
  ASSERT_TRUE(c.ReadUntil("event: device\nid: 2\ndata: ")) << c.text();
  ASSERT_TRUE(c.ReadUntil("\"change\":\"labels\""));
  EXPECT_NE(c.text().find("\"device_id\":\"" + id + "\""), std::string::npos);
  ASSERT_TRUE(registry_->Decommission(id, "gone").ok());
  ASSERT_TRUE(c.ReadUntil("\"change\":\"decommissioned\""));

  // Resume after sequence 1 (query) and after 2 (Last-Event-ID header):
  // the backlog comes first.
  RawClient r1(server_->port());
  r1.Get("/api/v1/events?after_sequence=1&ticket=" + Ticket());
  ASSERT_TRUE(r1.ReadUntil("id: 3\n")) << r1.text();
  EXPECT_NE(r1.text().find("id: 2\n"), std::string::npos);
  RawClient r2(server_->port());
  r2.Get("/api/v1/events",
         "Authorization: " + viewer_ + "\r\nLast-Event-ID: 2\r\n");
  ASSERT_TRUE(r2.ReadUntil("id: 3\n")) << r2.text();
  EXPECT_EQ(r2.text().find("id: 2\n"), std::string::npos);

  // A sequence from before a restart (in the future here): reset first.
  RawClient r3(server_->port());
  r3.Get("/api/v1/events?after_sequence=999&ticket=" + Ticket());
  ASSERT_TRUE(r3.ReadUntil("event: reset\ndata: {\"last_sequence\":\"3\""))
      << r3.text();

  // Only the asked kinds.
  RawClient r4(server_->port());
  r4.Get("/api/v1/events?kinds=rollout&after_sequence=1&ticket=" + Ticket());
  ASSERT_TRUE(r4.ReadUntil("event: hello"));
  EXPECT_FALSE(
      r4.ReadUntil("event: device", 0, std::chrono::milliseconds(300)));
  EXPECT_NE(Get("/api/v1/events?kinds=weather", viewer_).find(" 400 "),
            std::string::npos);
}

TEST_F(JsonApiTest, EventsFallenOutOfTheRingAskForAReset) {
  // A bus that keeps 4 events.
  server_->Stop();
  bus_ = std::make_unique<events::EventBus>(&clock_, 4);
  registry_ =
      std::move(fleet::Registry::Create(store_.get(), ca_.get(), &clock_,
                                        nullptr, {}, bus_.get()))
          .value();
  server_ = std::move(http::HttpServer::Bind("127.0.0.1", 0)).value();
  JsonApiSources sources;
  sources.events = bus_.get();
  sources.clock = &clock_;
  RegisterJsonApi(server_.get(), registry_.get(), auth_.get(), sources);
  server_->Start();
  std::string id = Enroll();
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(
        registry_->SetLabels(id, {{"n", std::to_string(i)}}, {}, false).ok());
  }
  RawClient c(server_->port());
  c.Get("/api/v1/events?after_sequence=1&ticket=" + Ticket());
  ASSERT_TRUE(c.ReadUntil("event: reset\ndata: {\"last_sequence\":\"7\""))
      << c.text();

  // Recent events: the ring's newest, newest first, by device.
  std::string recent =
      Get("/api/v1/events/recent?device_id=" + id + "&limit=2", viewer_);
  size_t seven = recent.find("\"sequence\":\"7\"");
  size_t six = recent.find("\"sequence\":\"6\"");
  EXPECT_NE(seven, std::string::npos) << recent;
  EXPECT_NE(six, std::string::npos);
  EXPECT_LT(seven, six);
  EXPECT_EQ(recent.find("\"sequence\":\"5\""), std::string::npos);
  std::string all = Get("/api/v1/events/recent?limit=100", viewer_);
  EXPECT_NE(all.find("\"sequence\":\"4\""), std::string::npos) << all;
  EXPECT_EQ(all.find("\"sequence\":\"3\""), std::string::npos);
  EXPECT_NE(Get("/api/v1/events/recent?device_id=dev-x", viewer_)
                .find("{\"events\":[]}"),
            std::string::npos);
}

TEST_F(JsonApiTest, StoppingTheServerUnsubscribesItsStreams) {
  RawClient c(server_->port());
  c.Get("/api/v1/events?ticket=" + Ticket());
  ASSERT_TRUE(c.ReadUntil("event: hello"));
  server_->Stop();
  EXPECT_TRUE(c.ReadUntilClosed());
  // Publishing after the stop reaches no stream (and does not crash).
  std::string id = Enroll();
  EXPECT_FALSE(id.empty());
}

}  // namespace
}  // namespace tinyfleet::api

namespace tinyfleet::api {
namespace {

class JsonApiRolloutTest : public JsonApiTest {
 protected:
  bool WithRollouts() const override { return true; }

  // A running rollout of a catalogued model to devices labelled ring=a.
  std::string CreateRollout() {
    Enroll({{"ring", "a"}});  // a target that has not updated yet
    store::ModelRecord m;
    m.model.set_name("kws");
    m.model.set_model_id("00112233445566778899aabbccddeeff");
    m.model.set_blob_version(1);
    auto blob = artifacts_->Put("model blob", "model");
    EXPECT_TRUE(blob.ok()) << blob.status().ToString();
    m.artifact_id = blob.ok() ? blob->artifact_id : "";
    auto made = store_->models().Create(m);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    v1::CreateRolloutRequest req;
    req.set_model_ref("kws:1");
    req.set_label_selector("ring=a");
    auto r = rollouts_->CreateRollout(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->rollout_id() : "";
  }

  v1::RolloutState StateOf(const std::string& id) {
    auto r = rollouts_->Get(id);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->state() : v1::ROLLOUT_STATE_UNSPECIFIED;
  }
};

TEST_F(JsonApiRolloutTest, OperatorsPauseResumeAndAbortViewersCannot) {
  std::string id = CreateRollout();
  ASSERT_FALSE(id.empty());
  std::string base = "/api/v1/rollouts/" + id;
  ASSERT_EQ(StateOf(id), v1::ROLLOUT_STATE_RUNNING);

  // Reads are open to viewers.
  std::string got = Get(base, viewer_);
  EXPECT_NE(got.find(" 200 "), std::string::npos) << got;
  EXPECT_NE(got.find("\"state\":\"ROLLOUT_STATE_RUNNING\""), std::string::npos);

  // No token, then a viewer's: refused, and nothing changes.
  EXPECT_NE(Post(base + "/pause", "").find(" 401 "), std::string::npos);
  std::string denied = Post(base + "/pause", viewer_);
  EXPECT_NE(denied.find(" 403 "), std::string::npos) << denied;
  EXPECT_NE(denied.find("\"code\":\"PERMISSION_DENIED\""), std::string::npos);
  EXPECT_NE(Post(base + "/abort", viewer_).find(" 403 "), std::string::npos);
  EXPECT_EQ(StateOf(id), v1::ROLLOUT_STATE_RUNNING);

  // An operator pauses (the reason names them), resumes, aborts with a
  // reason of their own; each answer is the rollout after the change.
  std::string paused = Post(base + "/pause", operator_);
  EXPECT_NE(paused.find(" 200 "), std::string::npos) << paused;
  EXPECT_NE(paused.find("\"state\":\"ROLLOUT_STATE_PAUSED\""),
            std::string::npos);
  EXPECT_NE(paused.find("paused by ops"), std::string::npos) << paused;
  EXPECT_EQ(StateOf(id), v1::ROLLOUT_STATE_PAUSED);
  EXPECT_NE(Post(base + "/resume", operator_).find(" 200 "), std::string::npos);
  EXPECT_EQ(StateOf(id), v1::ROLLOUT_STATE_RUNNING);
  std::string aborted =
      Post(base + "/abort", operator_, "{\"reason\": \"wrong model\"}");
  EXPECT_NE(aborted.find(" 200 "), std::string::npos) << aborted;
  EXPECT_NE(aborted.find("wrong model"), std::string::npos);
  EXPECT_EQ(StateOf(id), v1::ROLLOUT_STATE_ABORTED);
  // An aborted rollout cannot resume: the engine's refusal comes through.
  std::string again = Post(base + "/resume", operator_);
  EXPECT_EQ(again.find(" 200 "), std::string::npos) << again;
  EXPECT_NE(again.find("\"code\":"), std::string::npos);
}

TEST_F(JsonApiRolloutTest, BadActionsPathsAndBodiesAreRefused) {
  std::string id = CreateRollout();
  ASSERT_FALSE(id.empty());
  std::string base = "/api/v1/rollouts/" + id;
  EXPECT_NE(Post(base + "/explode", operator_).find(" 404 "),
            std::string::npos);
  EXPECT_NE(Post(base, operator_).find(" 404 "), std::string::npos);
  EXPECT_NE(Post("/api/v1/rollouts/ro-nope/pause", operator_).find(" 404 "),
            std::string::npos);
  EXPECT_NE(Post(base + "/pause", operator_, "{not json").find(" 400 "),
            std::string::npos);
  EXPECT_NE(Post(base + "/pause", operator_, "{\"rollout_id\": \"ro-other\"}")
                .find(" 400 "),
            std::string::npos);
  EXPECT_NE(Post(base + "/pause", operator_,
                 "{\"reason\": \"" + std::string(2000, 'r') + "\"}")
                .find(" 400 "),
            std::string::npos);
  EXPECT_EQ(StateOf(id), v1::ROLLOUT_STATE_RUNNING);
  // Actions are POST only.
  EXPECT_NE(Get(base + "/pause", operator_).find(" 404 "), std::string::npos);
}

}  // namespace
}  // namespace tinyfleet::api

namespace tinyfleet::api {
namespace {

class JsonApiRoundsTest : public JsonApiTest {
 protected:
  bool WithRounds() const override { return true; }
};

TEST_F(JsonApiRoundsTest, RoundsAreListedAndShownToViewers) {
  store::RoundRecord rec;
  rec.round.set_round_id("rd-0001");
  rec.round.set_state(v1::ROUND_STATE_COMPLETED);
  rec.round.set_model_ref("kws:1");
  rec.round.mutable_metrics()->set_accuracy_before(0.81);
  rec.round.mutable_metrics()->set_accuracy_after(0.86);
  ASSERT_TRUE(store_->rounds().Put(rec).ok());
  rec.round.set_round_id("rd-0002");
  rec.round.set_state(v1::ROUND_STATE_FAILED);
  rec.round.set_reason("too few reports");
  ASSERT_TRUE(store_->rounds().Put(rec).ok());

  EXPECT_NE(Get("/api/v1/rounds", "").find(" 401 "), std::string::npos);
  std::string list = Get("/api/v1/rounds", viewer_);
  EXPECT_NE(list.find(" 200 "), std::string::npos) << list;
  EXPECT_NE(list.find("\"round_id\":\"rd-0001\""), std::string::npos) << list;
  EXPECT_NE(list.find("\"round_id\":\"rd-0002\""), std::string::npos);
  EXPECT_NE(list.find("\"accuracy_after\":0.86"), std::string::npos);
  // Paging: one at a time, then the next page.
  std::string first = Get("/api/v1/rounds?page_size=1", viewer_);
  EXPECT_NE(first.find("\"next_page_token\":\"rd-0001\""), std::string::npos)
      << first;
  EXPECT_EQ(first.find("rd-0002"), std::string::npos);
  std::string second =
      Get("/api/v1/rounds?page_size=1&page_token=rd-0001", viewer_);
  EXPECT_NE(second.find("rd-0002"), std::string::npos) << second;

  std::string one = Get("/api/v1/rounds/rd-0002", viewer_);
  EXPECT_NE(one.find("\"state\":\"ROUND_STATE_FAILED\""), std::string::npos)
      << one;
  EXPECT_NE(one.find("too few reports"), std::string::npos);
  EXPECT_NE(Get("/api/v1/rounds/rd-none", viewer_).find(" 404 "),
            std::string::npos);
}

}  // namespace
}  // namespace tinyfleet::api
