// The registry with an in-memory store and a fake clock: token rules,
// enrollment, presence and the offline sweep.
#include "server/fleet/registry.h"

#include <gtest/gtest.h>

#include "common/pki.h"
#include "server/store/sqlite_store.h"

namespace tinyfleet::fleet {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(store::OpenSqliteStore({}, clock_)).value();
    ca_ = std::move(pki::CertificateAuthority::Create("ca", clock_)).value();
    RegistryOptions opt;
    opt.heartbeat_interval = std::chrono::milliseconds(1000);
    opt.missed_heartbeats_offline = 3;
    registry_ = std::move(Registry::Create(store_.get(), ca_.get(), &clock_,
                                           nullptr, opt))
                    .value();
  }

  Enrollment EnrollOne() {
    auto t = registry_->CreateEnrollmentTokens(1, std::nullopt, {}, "", "test");
    EXPECT_TRUE(t.ok());
    auto key = pki::GenerateEcPrivateKey();
    auto csr = pki::CreateCsr(*key, "x");
    v1::NodeInfo node;
    node.set_hardware_id("00112233445566778899aabbccddeeff");
    auto e = registry_->Enroll(t->secrets[0], *csr, node, "agent/1");
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return *e;
  }

  FakeClock clock_{SystemClock::Instance().NowUnixMillis()};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, TokenRequestsAreValidated) {
  EXPECT_EQ(registry_->CreateEnrollmentTokens(10001, std::nullopt, {}, "", "t")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      registry_->CreateEnrollmentTokens(1, std::chrono::seconds(0), {}, "", "t")
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      registry_
          ->CreateEnrollmentTokens(1, std::chrono::hours(24 * 31), {}, "", "t")
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      registry_
          ->CreateEnrollmentTokens(1, std::nullopt, {{"Bad Key", "v"}}, "", "t")
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  auto ok = registry_->CreateEnrollmentTokens(3, std::chrono::minutes(5), {},
                                              "", "t");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->secrets.size(), 3u);
  EXPECT_NE(ok->secrets[0], ok->secrets[1]);
  // Secrets are not stored, only their hashes.
  EXPECT_NE(ok->tokens[0].secret_hash, ok->secrets[0]);
}

TEST_F(RegistryTest, EnrollmentIssuesACertificateNamedAfterTheDevice) {
  Enrollment e = EnrollOne();
  auto info = pki::InspectCertificate(e.certificate_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, e.device.device_id);
  EXPECT_EQ(info->sha256_hex, e.device.cert_sha256);
  EXPECT_TRUE(pki::VerifyCertificate(e.certificate_pem, e.ca_certificate_pem,
                                     clock_.NowUnixMillis() / 1000)
                  .ok());
}

TEST_F(RegistryTest, SessionsPresenceAndSweep) {
  Enrollment a = EnrollOne();
  Enrollment b = EnrollOne();
  std::vector<std::string> kicked;
  auto kick = [&](const std::string& who) {
    return [&kicked, who](const Status& s) {
      kicked.push_back(who + ":" + std::string(StatusCodeName(s.code())));
    };
  };
  auto ta = registry_->OpenSession(a.device.device_id, a.device.cert_sha256, {},
                                   "", kick("a1"));
  ASSERT_TRUE(ta.ok());
  auto tb = registry_->OpenSession(b.device.device_id, b.device.cert_sha256, {},
                                   "", kick("b"));
  ASSERT_TRUE(tb.ok());
  EXPECT_EQ(registry_->online_count(), 2u);

  // A wrong certificate hash is refused.
  EXPECT_EQ(registry_->OpenSession(a.device.device_id, "00", {}, "", nullptr)
                .status()
                .code(),
            StatusCode::kUnauthenticated);
  // A second session replaces the first, which is kicked.
  auto ta2 = registry_->OpenSession(a.device.device_id, a.device.cert_sha256,
                                    {}, "", kick("a2"));
  ASSERT_TRUE(ta2.ok());
  ASSERT_EQ(kicked.size(), 1u);
  EXPECT_EQ(kicked[0], "a1:ABORTED");
  EXPECT_EQ(
      registry_->Heartbeat(a.device.device_id, ta->session_id, nullptr).code(),
      StatusCode::kNotFound);

  // Just inside the timeout nobody is swept; a heartbeat renews A.
  clock_.Advance(std::chrono::milliseconds(3000));
  EXPECT_EQ(registry_->Sweep(), 0u);
  ASSERT_TRUE(
      registry_->Heartbeat(a.device.device_id, ta2->session_id, nullptr).ok());
  clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(registry_->Sweep(), 1u);  // B missed three intervals
  EXPECT_EQ(kicked.back(), "b:DEADLINE_EXCEEDED");
  auto vb = registry_->GetDevice(b.device.device_id);
  EXPECT_EQ(vb->connectivity, Connectivity::kOffline);
  EXPECT_GT(vb->record.last_seen_at_ms, 0);
  EXPECT_EQ(registry_->GetDevice(a.device.device_id)->connectivity,
            Connectivity::kOnline);

  // Closing a stale session id is ignored; the current one goes offline.
  registry_->CloseSession(a.device.device_id, ta->session_id, "closed");
  EXPECT_EQ(registry_->online_count(), 1u);
  registry_->CloseSession(a.device.device_id, ta2->session_id, "closed");
  EXPECT_EQ(registry_->online_count(), 0u);
}

TEST_F(RegistryTest, DecommissionedDevicesCannotOpenSessions) {
  Enrollment a = EnrollOne();
  int kicks = 0;
  ASSERT_TRUE(registry_
                  ->OpenSession(a.device.device_id, a.device.cert_sha256, {},
                                "", [&](const Status&) { ++kicks; })
                  .ok());
  ASSERT_TRUE(registry_->Decommission(a.device.device_id, "retired").ok());
  EXPECT_EQ(kicks, 1);
  EXPECT_EQ(registry_
                ->OpenSession(a.device.device_id, a.device.cert_sha256, {}, "",
                              nullptr)
                .status()
                .code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(registry_->OpenSession("dev-unknown", "", {}, "", nullptr)
                .status()
                .code(),
            StatusCode::kUnauthenticated);
}

TEST_F(RegistryTest, NodeReportsAreBounded) {
  auto t = registry_->CreateEnrollmentTokens(1, std::nullopt, {}, "", "t");
  auto key = pki::GenerateEcPrivateKey();
  auto csr = pki::CreateCsr(*key, "x");
  v1::NodeInfo node;
  node.set_firmware_version(std::string(1000, 'v'));
  EXPECT_EQ(registry_->Enroll(t->secrets[0], *csr, node, "").status().code(),
            StatusCode::kInvalidArgument);
  // The token was not consumed by the refused attempt.
  node.set_firmware_version("ok");
  EXPECT_TRUE(registry_->Enroll(t->secrets[0], *csr, node, "").ok());
}

}  // namespace
}  // namespace tinyfleet::fleet
