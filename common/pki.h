// Public-key infrastructure for gateway and agents, on OpenSSL 3.
//
// The gateway runs a small CA: it signs each enrolled device's CSR (EC P-256)
// with the device id as subject common name, and issues its own TLS server
// certificate. Agents generate their key and CSR locally; the private key
// never leaves the device's credentials directory. Everything is PEM text.
//
// Thread-safety: free functions are thread-safe; CertificateAuthority is
// immutable after creation and safe to share.
#ifndef TINYFLEET_COMMON_PKI_H_
#define TINYFLEET_COMMON_PKI_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace tinyfleet::pki {

// A new EC P-256 private key, PKCS#8 PEM.
Result<std::string> GenerateEcPrivateKey();

// The uncompressed public point (65 bytes: 0x04 || X || Y) of an EC P-256
// private key.
Result<std::string> EcPublicPoint(const std::string& key_pem);

// A PKCS#10 CSR for `key_pem`, subject CN=`common_name`, signed with SHA-256.
Result<std::string> CreateCsr(const std::string& key_pem,
                              const std::string& common_name);

struct CertificateInfo {
  std::string common_name;
  std::string serial_hex;
  // SHA-256 of the DER encoding, lowercase hex.
  std::string sha256_hex;
  int64_t not_before_unix = 0;
  int64_t not_after_unix = 0;
  std::string issuer_common_name;
};

// Parses the first certificate in `pem`.
Result<CertificateInfo> InspectCertificate(const std::string& pem);

// True when `cert_pem` was signed by `ca_pem` and is within its validity at
// `now_unix`.
Status VerifyCertificate(const std::string& cert_pem, const std::string& ca_pem,
                         int64_t now_unix);

struct IssuedCertificate {
  std::string pem;
  CertificateInfo info;
};

class CertificateAuthority {
 public:
  // Creates a self-signed CA (EC P-256, CN=`name`, valid 10 years).
  static Result<std::unique_ptr<CertificateAuthority>> Create(
      const std::string& name, const Clock& clock);
  // Loads a CA from PEM key and certificate; checks that they match.
  static Result<std::unique_ptr<CertificateAuthority>> Load(
      const std::string& key_pem, const std::string& cert_pem);
  // Loads ca.key/ca.crt from `dir`, or creates them (key mode 0600) when
  // neither exists. Fails when only one of the two exists.
  static Result<std::unique_ptr<CertificateAuthority>> LoadOrCreate(
      const std::filesystem::path& dir, const std::string& name,
      const Clock& clock);

  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

  const std::string& certificate_pem() const { return cert_pem_; }

  // Signs a device CSR: verifies its self-signature, requires an EC P-256
  // key, ignores its subject and sets CN=`common_name`, clientAuth usage,
  // a random 128-bit serial, validity [now - 5 min, now + `validity`].
  Result<IssuedCertificate> SignClientCsr(const std::string& csr_pem,
                                          const std::string& common_name,
                                          std::chrono::hours validity,
                                          const Clock& clock) const;

  // Issues a TLS server certificate with a fresh key for the given DNS names
  // and IP addresses (subjectAltName). Returns {key_pem, cert_pem}.
  Result<std::pair<std::string, std::string>> IssueServerCertificate(
      const std::string& common_name, const std::vector<std::string>& dns_names,
      const std::vector<std::string>& ip_addresses, std::chrono::hours validity,
      const Clock& clock) const;

 private:
  struct Impl;
  explicit CertificateAuthority(std::unique_ptr<Impl> impl,
                                std::string cert_pem);
  std::unique_ptr<Impl> impl_;
  std::string cert_pem_;
};

// Gateway TLS material in a directory: ca.key, ca.crt, server.key,
// server.crt. Missing files are created (server cert for localhost and
// 127.0.0.1 unless `hosts` says otherwise); existing ones are reused.
struct GatewayPki {
  std::unique_ptr<CertificateAuthority> ca;
  std::string server_key_pem;
  std::string server_cert_pem;
};
Result<GatewayPki> LoadOrCreateGatewayPki(const std::filesystem::path& dir,
                                          const std::vector<std::string>& hosts,
                                          const Clock& clock);

}  // namespace tinyfleet::pki

#endif  // TINYFLEET_COMMON_PKI_H_
