// Unit tests of the C++ base: Status/Result, encodings, files, PKI.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/pki.h"
#include "common/status.h"
#include "tests/support/test_env.h"

namespace tinyfleet {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  TF_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, ResultCarriesValueOrError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().ToString(), "INVALID_ARGUMENT: odd");
  EXPECT_EQ(r.status().WithContext("q").message(), "q: odd");
  Result<int> bad = Status::Ok();  // a bug made visible, not a silent OK
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
}

TEST(EncodingTest, HexAndBase64Url) {
  EXPECT_EQ(HexEncode(std::string("\x01\xab\xff", 3)), "01abff");
  EXPECT_EQ(*HexDecode("01ABff"), std::string("\x01\xab\xff", 3));
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
  // RFC 4648 test vectors, unpadded, URL alphabet.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto a = RandomToken("t_"), b = RandomToken("t_");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), 2u + 43u);
}

TEST(EncodingTest, AtomicWriteReplacesWholeFile) {
  testing::TempDir dir;
  auto p = dir.path() / "f";
  EXPECT_EQ(ReadFile(p).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(p, "first", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(p, "second", 0600).ok());
  EXPECT_EQ(*ReadFile(p), "second");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "f.tmp"));
  auto perms = std::filesystem::status(p).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::group_read,
            std::filesystem::perms::none);
}

TEST(PkiTest, CaSignsCsrWithDeviceIdAndVerifies) {
  FakeClock clock(SystemClock::Instance().NowUnixMillis());
  auto ca = pki::CertificateAuthority::Create("test CA", clock);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto key = pki::GenerateEcPrivateKey();
  ASSERT_TRUE(key.ok());
  auto csr = pki::CreateCsr(*key, "whatever-the-agent-says");
  ASSERT_TRUE(csr.ok());
  auto cert =
      (*ca)->SignClientCsr(*csr, "dev-abc", std::chrono::hours(24), clock);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  EXPECT_EQ(cert->info.common_name,
            "dev-abc");  // subject is the gateway's choice
  EXPECT_EQ(cert->info.issuer_common_name, "test CA");
  EXPECT_EQ(cert->info.sha256_hex.size(), 64u);
  int64_t now = clock.NowUnixMillis() / 1000;
  EXPECT_TRUE(
      pki::VerifyCertificate(cert->pem, (*ca)->certificate_pem(), now).ok());
  // Expired after its validity; and not from another CA.
  EXPECT_FALSE(pki::VerifyCertificate(cert->pem, (*ca)->certificate_pem(),
                                      now + 2 * 86400)
                   .ok());
  auto other = pki::CertificateAuthority::Create("other", clock);
  EXPECT_FALSE(
      pki::VerifyCertificate(cert->pem, (*other)->certificate_pem(), now).ok());
}

TEST(PkiTest, SignRejectsBadCsrs) {
  FakeClock clock(SystemClock::Instance().NowUnixMillis());
  auto ca = pki::CertificateAuthority::Create("test CA", clock);
  ASSERT_TRUE(ca.ok());
  auto garbage =
      (*ca)->SignClientCsr("not a csr", "dev-x", std::chrono::hours(1), clock);
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  auto key = pki::GenerateEcPrivateKey();
  auto csr = pki::CreateCsr(*key, "x");
  // Flip a byte inside the base64 body: the self-signature no longer holds
  // (or the CSR no longer parses); either way it is refused.
  std::string tampered = *csr;
  tampered[tampered.size() / 2] =
      tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  auto bad =
      (*ca)->SignClientCsr(tampered, "dev-x", std::chrono::hours(1), clock);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(PkiTest, GatewayPkiIsCreatedOnceAndReused) {
  testing::TempDir dir;
  FakeClock clock(SystemClock::Instance().NowUnixMillis());
  auto first = pki::LoadOrCreateGatewayPki(dir.path(),
                                           {"localhost", "127.0.0.1"}, clock);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = pki::LoadOrCreateGatewayPki(dir.path(), {"localhost"}, clock);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->ca->certificate_pem(), second->ca->certificate_pem());
  EXPECT_EQ(first->server_cert_pem, second->server_cert_pem);
  // A directory with only half a CA is an error, not silently replaced.
  std::filesystem::remove(dir.path() / "ca.key");
  EXPECT_EQ(pki::LoadOrCreateGatewayPki(dir.path(), {}, clock).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tinyfleet
