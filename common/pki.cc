#include "common/pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "common/encoding.h"

namespace tinyfleet::pki {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
void BioFree(BIO* b) { BIO_free_all(b); }
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BioFree>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION,
                               Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using StorePtr =
    std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX,
                    Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

// Drains OpenSSL's error queue into a message.
std::string SslError(const std::string& what) {
  std::string out = what;
  unsigned long e;
  bool first = true;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += first ? ": " : "; ";
    out += buf;
    first = false;
  }
  return out;
}

BioPtr MemBio(const std::string& s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<KeyPtr> ReadPrivateKey(const std::string& pem) {
  BioPtr bio = MemBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgumentError(SslError("unreadable private key"));
  return key;
}

Result<X509Ptr> ReadCertificate(const std::string& pem) {
  BioPtr bio = MemBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgumentError(SslError("unreadable certificate"));
  return cert;
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                nullptr)) {
    return InternalError(SslError("cannot encode private key"));
  }
  return BioToString(bio.get());
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) {
    return InternalError(SslError("cannot encode certificate"));
  }
  return BioToString(bio.get());
}

Result<KeyPtr> NewP256Key() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return InternalError(SslError("EC key generation failed"));
  return key;
}

bool IsP256(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char group[64] = {0};
  size_t len = 0;
  if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                      sizeof(group), &len)) {
    return false;
  }
  return std::string(group, len) == "prime256v1";
}

int64_t Asn1TimeToUnix(const ASN1_TIME* t) {
  std::tm tm{};
  if (!ASN1_TIME_to_tm(t, &tm)) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string NameCommonName(X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return "";
  X509_NAME_ENTRY* e = X509_NAME_get_entry(name, idx);
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(e);
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

CertificateInfo Describe(X509* cert) {
  CertificateInfo info;
  info.common_name = NameCommonName(X509_get_subject_name(cert));
  info.issuer_common_name = NameCommonName(X509_get_issuer_name(cert));
  BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (bn) {
    char* hex = BN_bn2hex(bn.get());
    info.serial_hex = hex;
    OPENSSL_free(hex);
    for (char& c : info.serial_hex) c = static_cast<char>(std::tolower(c));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  X509_digest(cert, EVP_sha256(), md, &md_len);
  info.sha256_hex = HexEncode(std::span<const uint8_t>(md, md_len));
  info.not_before_unix = Asn1TimeToUnix(X509_get0_notBefore(cert));
  info.not_after_unix = Asn1TimeToUnix(X509_get0_notAfter(cert));
  return info;
}

Status SetCommonName(X509_NAME* name, const std::string& cn) {
  if (cn.empty() || cn.size() > 64) {
    return InvalidArgumentError("common name must be 1..64 characters");
  }
  if (!X509_NAME_add_entry_by_NID(
          name, NID_commonName, MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(cn.data()),
          static_cast<int>(cn.size()), -1, 0)) {
    return InternalError(SslError("cannot set common name"));
  }
  return Status::Ok();
}

Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) {
    return InternalError(
        SslError(std::string("cannot add extension ") + value));
  }
  return Status::Ok();
}

Status SetRandomSerial(X509* cert) {
  BnPtr bn(BN_new());
  // 127 random bits keeps the DER INTEGER positive in 16 bytes.
  if (!bn || !BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) {
    return InternalError(SslError("cannot set serial"));
  }
  return Status::Ok();
}

Status SetValidity(X509* cert, const Clock& clock,
                   std::chrono::hours validity) {
  time_t now = static_cast<time_t>(clock.NowUnixMillis() / 1000);
  if (!ASN1_TIME_set(X509_getm_notBefore(cert), now - 300) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert),
                     now + static_cast<time_t>(validity.count()) * 3600)) {
    return InternalError(SslError("cannot set validity"));
  }
  return Status::Ok();
}

}  // namespace

struct CertificateAuthority::Impl {
  KeyPtr key;
  X509Ptr cert;
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<Impl> impl,
                                           std::string cert_pem)
    : impl_(std::move(impl)), cert_pem_(std::move(cert_pem)) {}

CertificateAuthority::~CertificateAuthority() = default;

Result<std::string> GenerateEcPrivateKey() {
  TF_ASSIGN_OR_RETURN(KeyPtr key, NewP256Key());
  return KeyToPem(key.get());
}

Result<std::string> EcPublicPoint(const std::string& key_pem) {
  TF_ASSIGN_OR_RETURN(KeyPtr key, ReadPrivateKey(key_pem));
  if (!IsP256(key.get())) return InvalidArgumentError("key is not EC P-256");
  unsigned char buf[133];
  size_t len = 0;
  if (!EVP_PKEY_get_octet_string_param(key.get(),
                                       OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
                                       sizeof(buf), &len) ||
      len != 65 || buf[0] != 0x04) {
    return InternalError(SslError("cannot read the public point"));
  }
  return std::string(reinterpret_cast<char*>(buf), len);
}

Result<std::string> CreateCsr(const std::string& key_pem,
                              const std::string& common_name) {
  TF_ASSIGN_OR_RETURN(KeyPtr key, ReadPrivateKey(key_pem));
  ReqPtr req(X509_REQ_new());
  if (!req || !X509_REQ_set_version(req.get(), 0) ||
      !X509_REQ_set_pubkey(req.get(), key.get())) {
    return InternalError(SslError("cannot build CSR"));
  }
  TF_RETURN_IF_ERROR(
      SetCommonName(X509_REQ_get_subject_name(req.get()), common_name));
  if (!X509_REQ_sign(req.get(), key.get(), EVP_sha256())) {
    return InternalError(SslError("cannot sign CSR"));
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509_REQ(bio.get(), req.get())) {
    return InternalError(SslError("cannot encode CSR"));
  }
  return BioToString(bio.get());
}

Result<CertificateInfo> InspectCertificate(const std::string& pem) {
  TF_ASSIGN_OR_RETURN(X509Ptr cert, ReadCertificate(pem));
  return Describe(cert.get());
}

Status VerifyCertificate(const std::string& cert_pem, const std::string& ca_pem,
                         int64_t now_unix) {
  TF_ASSIGN_OR_RETURN(X509Ptr cert, ReadCertificate(cert_pem));
  TF_ASSIGN_OR_RETURN(X509Ptr ca, ReadCertificate(ca_pem));
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || !X509_STORE_add_cert(store.get(), ca.get()) ||
      !X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr)) {
    return InternalError(SslError("cannot set up verification"));
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(now_unix));
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    return UnauthenticatedError(std::string("certificate rejected: ") +
                                X509_verify_cert_error_string(err));
  }
  return Status::Ok();
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Create(
    const std::string& name, const Clock& clock) {
  auto impl = std::make_unique<Impl>();
  TF_ASSIGN_OR_RETURN(impl->key, NewP256Key());
  impl->cert.reset(X509_new());
  X509* cert = impl->cert.get();
  if (!cert || !X509_set_version(cert, 2)) {
    return InternalError(SslError("cannot create CA certificate"));
  }
  TF_RETURN_IF_ERROR(SetRandomSerial(cert));
  TF_RETURN_IF_ERROR(SetValidity(cert, clock, std::chrono::hours(24 * 3650)));
  TF_RETURN_IF_ERROR(SetCommonName(X509_get_subject_name(cert), name));
  if (!X509_set_issuer_name(cert, X509_get_subject_name(cert)) ||
      !X509_set_pubkey(cert, impl->key.get())) {
    return InternalError(SslError("cannot create CA certificate"));
  }
  TF_RETURN_IF_ERROR(AddExtension(cert, cert, NID_basic_constraints,
                                  "critical,CA:TRUE,pathlen:0"));
  TF_RETURN_IF_ERROR(
      AddExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
  TF_RETURN_IF_ERROR(
      AddExtension(cert, cert, NID_subject_key_identifier, "hash"));
  if (!X509_sign(cert, impl->key.get(), EVP_sha256())) {
    return InternalError(SslError("cannot self-sign CA"));
  }
  TF_ASSIGN_OR_RETURN(std::string pem, CertToPem(cert));
  return std::unique_ptr<CertificateAuthority>(
      new CertificateAuthority(std::move(impl), std::move(pem)));
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Load(
    const std::string& key_pem, const std::string& cert_pem) {
  auto impl = std::make_unique<Impl>();
  TF_ASSIGN_OR_RETURN(impl->key, ReadPrivateKey(key_pem));
  TF_ASSIGN_OR_RETURN(impl->cert, ReadCertificate(cert_pem));
  if (X509_check_private_key(impl->cert.get(), impl->key.get()) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("CA key does not match the CA certificate");
  }
  if (X509_check_ca(impl->cert.get()) == 0) {
    return InvalidArgumentError("CA certificate is not a CA");
  }
  TF_ASSIGN_OR_RETURN(std::string pem, CertToPem(impl->cert.get()));
  return std::unique_ptr<CertificateAuthority>(
      new CertificateAuthority(std::move(impl), std::move(pem)));
}

Result<std::unique_ptr<CertificateAuthority>>
CertificateAuthority::LoadOrCreate(const std::filesystem::path& dir,
                                   const std::string& name,
                                   const Clock& clock) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return UnavailableError("cannot create " + dir.string() + ": " +
                            ec.message());
  }
  auto key_path = dir / "ca.key";
  auto cert_path = dir / "ca.crt";
  bool has_key = std::filesystem::exists(key_path);
  bool has_cert = std::filesystem::exists(cert_path);
  if (has_key && has_cert) {
    TF_ASSIGN_OR_RETURN(std::string key, ReadFile(key_path));
    TF_ASSIGN_OR_RETURN(std::string cert, ReadFile(cert_path));
    auto ca = Load(key, cert);
    if (!ca.ok()) return ca.status().WithContext(dir.string());
    return ca;
  }
  if (has_key || has_cert) {
    return FailedPreconditionError(dir.string() +
                                   " holds only one of ca.key and ca.crt");
  }
  TF_ASSIGN_OR_RETURN(auto ca, Create(name, clock));
  TF_ASSIGN_OR_RETURN(std::string key_pem, KeyToPem(ca->impl_->key.get()));
  TF_RETURN_IF_ERROR(WriteFileAtomic(key_path, key_pem, 0600));
  TF_RETURN_IF_ERROR(WriteFileAtomic(cert_path, ca->certificate_pem(), 0644));
  return ca;
}

Result<IssuedCertificate> CertificateAuthority::SignClientCsr(
    const std::string& csr_pem, const std::string& common_name,
    std::chrono::hours validity, const Clock& clock) const {
  if (csr_pem.size() > 16 * 1024) return InvalidArgumentError("CSR too large");
  BioPtr bio = MemBio(csr_pem);
  ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return InvalidArgumentError(SslError("unreadable CSR"));
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (!pub) return InvalidArgumentError("CSR has no public key");
  if (!IsP256(pub)) {
    return InvalidArgumentError("CSR key must be EC P-256");
  }
  if (X509_REQ_verify(req.get(), pub) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("CSR signature does not verify");
  }
  X509Ptr cert(X509_new());
  X509* c = cert.get();
  if (!c || !X509_set_version(c, 2) || !X509_set_pubkey(c, pub) ||
      !X509_set_issuer_name(c, X509_get_subject_name(impl_->cert.get()))) {
    return InternalError(SslError("cannot build certificate"));
  }
  TF_RETURN_IF_ERROR(SetRandomSerial(c));
  TF_RETURN_IF_ERROR(SetValidity(c, clock, validity));
  TF_RETURN_IF_ERROR(SetCommonName(X509_get_subject_name(c), common_name));
  X509* issuer = impl_->cert.get();
  TF_RETURN_IF_ERROR(
      AddExtension(c, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  TF_RETURN_IF_ERROR(
      AddExtension(c, issuer, NID_key_usage, "critical,digitalSignature"));
  TF_RETURN_IF_ERROR(AddExtension(c, issuer, NID_ext_key_usage, "clientAuth"));
  TF_RETURN_IF_ERROR(
      AddExtension(c, issuer, NID_authority_key_identifier, "keyid"));
  if (!X509_sign(c, impl_->key.get(), EVP_sha256())) {
    return InternalError(SslError("cannot sign certificate"));
  }
  IssuedCertificate out;
  TF_ASSIGN_OR_RETURN(out.pem, CertToPem(c));
  out.info = Describe(c);
  return out;
}

Result<std::pair<std::string, std::string>>
CertificateAuthority::IssueServerCertificate(
    const std::string& common_name, const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses, std::chrono::hours validity,
    const Clock& clock) const {
  TF_ASSIGN_OR_RETURN(KeyPtr key, NewP256Key());
  X509Ptr cert(X509_new());
  X509* c = cert.get();
  if (!c || !X509_set_version(c, 2) || !X509_set_pubkey(c, key.get()) ||
      !X509_set_issuer_name(c, X509_get_subject_name(impl_->cert.get()))) {
    return InternalError(SslError("cannot build server certificate"));
  }
  TF_RETURN_IF_ERROR(SetRandomSerial(c));
  TF_RETURN_IF_ERROR(SetValidity(c, clock, validity));
  TF_RETURN_IF_ERROR(SetCommonName(X509_get_subject_name(c), common_name));
  std::string san;
  for (const auto& d : dns_names)
    san += (san.empty() ? "" : ",") + ("DNS:" + d);
  for (const auto& ip : ip_addresses) {
    san += (san.empty() ? "" : ",") + ("IP:" + ip);
  }
  X509* issuer = impl_->cert.get();
  TF_RETURN_IF_ERROR(
      AddExtension(c, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  TF_RETURN_IF_ERROR(AddExtension(c, issuer, NID_key_usage,
                                  "critical,digitalSignature,keyEncipherment"));
  TF_RETURN_IF_ERROR(AddExtension(c, issuer, NID_ext_key_usage, "serverAuth"));
  if (!san.empty()) {
    TF_RETURN_IF_ERROR(
        AddExtension(c, issuer, NID_subject_alt_name, san.c_str()));
  }
  if (!X509_sign(c, impl_->key.get(), EVP_sha256())) {
    return InternalError(SslError("cannot sign server certificate"));
  }
  TF_ASSIGN_OR_RETURN(std::string key_pem, KeyToPem(key.get()));
  TF_ASSIGN_OR_RETURN(std::string cert_pem, CertToPem(c));
  return std::make_pair(std::move(key_pem), std::move(cert_pem));
}

Result<GatewayPki> LoadOrCreateGatewayPki(const std::filesystem::path& dir,
                                          const std::vector<std::string>& hosts,
                                          const Clock& clock) {
  GatewayPki pki;
  TF_ASSIGN_OR_RETURN(pki.ca, CertificateAuthority::LoadOrCreate(
                                  dir, "tinyfleet gateway CA", clock));
  auto key_path = dir / "server.key";
  auto cert_path = dir / "server.crt";
  if (std::filesystem::exists(key_path) && std::filesystem::exists(cert_path)) {
    TF_ASSIGN_OR_RETURN(pki.server_key_pem, ReadFile(key_path));
    TF_ASSIGN_OR_RETURN(pki.server_cert_pem, ReadFile(cert_path));
    return pki;
  }
  std::vector<std::string> dns, ips;
  for (const auto& h : hosts) {
    bool is_ip = !h.empty() &&
                 (h.find_first_not_of("0123456789.") == std::string::npos ||
                  h.find(':') != std::string::npos);
    (is_ip ? ips : dns).push_back(h);
  }
  TF_ASSIGN_OR_RETURN(auto issued, pki.ca->IssueServerCertificate(
                                       "tinyfleet gateway", dns, ips,
                                       std::chrono::hours(24 * 825), clock));
  TF_RETURN_IF_ERROR(WriteFileAtomic(key_path, issued.first, 0600));
  TF_RETURN_IF_ERROR(WriteFileAtomic(cert_path, issued.second, 0644));
  pki.server_key_pem = std::move(issued.first);
  pki.server_cert_pem = std::move(issued.second);
  return pki;
}

}  // namespace tinyfleet::pki
