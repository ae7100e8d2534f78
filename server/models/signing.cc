// Blob signing and verification with OpenSSL: ECDSA P-256 over the blob
// digest; the blob stores r || s (32 bytes each, big-endian) and an 8-byte
// key id, the first bytes of SHA-256 over the 65-byte uncompressed public
// point (the same key-id rule as the telemetry keys, tn_seal_key_id).
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstring>
#include <memory>

#include "common/encoding.h"
#include "runtime/tn_runtime.h"
#include "server/models/models.h"
#include "server/models/runner.h"

namespace tinyfleet::models {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

std::unique_ptr<BIO, BioFree> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

Status CheckP256(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return InvalidArgumentError("the key is not an EC key");
  }
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                     sizeof(group), &len) != 1 ||
      std::strcmp(group, "prime256v1") != 0) {
    return InvalidArgumentError("the key is not on curve P-256");
  }
  return Status::Ok();
}

Result<Pkey> LoadPrivateKey(const std::string& pem) {
  auto bio = MemBio(pem);
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgumentError("not a PEM private key");
  TF_RETURN_IF_ERROR(CheckP256(key.get()));
  return key;
}

// A public key from SubjectPublicKeyInfo, a certificate or a private key.
Result<Pkey> LoadPublicKey(const std::string& pem) {
  {
    auto bio = MemBio(pem);
    Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (key) {
      TF_RETURN_IF_ERROR(CheckP256(key.get()));
      return key;
    }
  }
  {
    auto bio = MemBio(pem);
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (cert != nullptr) {
      Pkey key(X509_get_pubkey(cert));
      X509_free(cert);
      if (!key) return InvalidArgumentError("certificate without a key");
      TF_RETURN_IF_ERROR(CheckP256(key.get()));
      return key;
    }
  }
  return LoadPrivateKey(pem);
}

// 0x04 || X || Y.
Result<std::string> PublicPoint(EVP_PKEY* key) {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
      EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
    BN_free(x);
    BN_free(y);
    return InternalError("cannot read the EC public point");
  }
  Bn bx(x), by(y);
  std::string point(65, '\0');
  point[0] = 0x04;
  if (BN_bn2binpad(bx.get(), reinterpret_cast<uint8_t*>(&point[1]), 32) != 32 ||
      BN_bn2binpad(by.get(), reinterpret_cast<uint8_t*>(&point[33]), 32) !=
          32) {
    return InternalError("EC public point encoding");
  }
  return point;
}

std::array<uint8_t, 8> KeyIdOf(const std::string& point) {
  Sha256Digest d = Sha256(point);
  std::array<uint8_t, 8> id;
  std::memcpy(id.data(), d.data(), 8);
  return id;
}

struct VerifyContext {
  EVP_PKEY* key;
  std::array<uint8_t, 8> key_id;
  bool key_id_mismatch = false;
  bool empty_signature = false;
};

tn_status VerifyHook(void* ctx, const uint8_t digest[32],
                     const tn_blob_signature* sig) {
  auto* v = static_cast<VerifyContext*>(ctx);
  bool zero = true;
  for (int i = 0; i < 32; ++i) zero = zero && sig->r[i] == 0 && sig->s[i] == 0;
  if (zero) {
    v->empty_signature = true;
    return TN_ERR_BLOB_SIGNATURE;
  }
  if (std::memcmp(sig->key_id, v->key_id.data(), 8) != 0) {
    v->key_id_mismatch = true;
    return TN_ERR_BLOB_SIGNATURE;
  }
  std::unique_ptr<ECDSA_SIG, SigFree> es(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(sig->r, 32, nullptr);
  BIGNUM* s = BN_bin2bn(sig->s, 32, nullptr);
  if (!es || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(es.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return TN_ERR_CRYPTO;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(es.get(), &der);
  if (der_len <= 0) return TN_ERR_CRYPTO;
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> pctx(
      EVP_PKEY_CTX_new(v->key, nullptr));
  int ok = pctx && EVP_PKEY_verify_init(pctx.get()) == 1 &&
                   EVP_PKEY_CTX_set_signature_md(pctx.get(), EVP_sha256()) == 1
               ? EVP_PKEY_verify(pctx.get(), der, static_cast<size_t>(der_len),
                                 digest, 32)
               : -1;
  OPENSSL_free(der);
  if (ok == 1) return TN_OK;
  return ok == 0 ? TN_ERR_BLOB_SIGNATURE : TN_ERR_CRYPTO;
}

}  // namespace

Result<std::array<uint8_t, 8>> BlobKeyId(const std::string& pem) {
  TF_ASSIGN_OR_RETURN(Pkey key, LoadPublicKey(pem));
  TF_ASSIGN_OR_RETURN(std::string point, PublicPoint(key.get()));
  return KeyIdOf(point);
}

Result<std::string> SignBlob(std::string blob, const std::string& key_pem) {
  tn_blob b;
  tn_status st = tn_blob_parse(reinterpret_cast<const uint8_t*>(blob.data()),
                               blob.size(), nullptr, &b);
  if (st != TN_OK) return RuntimeError(st, "invalid model blob");
  if ((b.flags & TN_BLOB_FLAG_SIGNED) == 0 || b.signature == nullptr) {
    return FailedPreconditionError(
        "the blob has no signature section; compile it with "
        "reserve_signature");
  }
  TF_ASSIGN_OR_RETURN(Pkey key, LoadPrivateKey(key_pem));
  TF_ASSIGN_OR_RETURN(std::string point, PublicPoint(key.get()));
  const std::array<uint8_t, 8> key_id = KeyIdOf(point);
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(
      EVP_PKEY_CTX_new(key.get(), nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_sign(ctx.get(), nullptr, &len, b.digest, 32) != 1) {
    return InternalError("ECDSA signing failed");
  }
  std::string der(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<uint8_t*>(der.data()), &len,
                    b.digest, 32) != 1) {
    return InternalError("ECDSA signing failed");
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, SigFree> es(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  if (!es) return InternalError("ECDSA signature decoding failed");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(es.get(), &r, &s);
  uint8_t rs[64];
  if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32) {
    return InternalError("ECDSA signature encoding failed");
  }
  tn_blob_signature sig{TN_SIGNATURE_ALG_ECDSA_P256, key_id.data(), rs,
                        rs + 32};
  st = tn_blob_set_signature(reinterpret_cast<uint8_t*>(blob.data()),
                             blob.size(), &sig);
  if (st != TN_OK) return RuntimeError(st, "writing the signature");
  TF_RETURN_IF_ERROR(VerifyBlobSignature(blob, key_pem));
  return blob;
}

Status VerifyBlobSignature(std::string_view blob, const std::string& pem) {
  tn_blob b;
  tn_status st = tn_blob_parse(reinterpret_cast<const uint8_t*>(blob.data()),
                               blob.size(), nullptr, &b);
  if (st != TN_OK) return RuntimeError(st, "invalid model blob");
  if ((b.flags & TN_BLOB_FLAG_SIGNED) == 0) {
    return FailedPreconditionError("the blob is not signed");
  }
  TF_ASSIGN_OR_RETURN(Pkey key, LoadPublicKey(pem));
  TF_ASSIGN_OR_RETURN(std::string point, PublicPoint(key.get()));
  VerifyContext ctx{key.get(), KeyIdOf(point)};
  tn_blob_parse_options opt{};
  opt.require_signature = 1;
  opt.verify = VerifyHook;
  opt.verify_ctx = &ctx;
  st = tn_blob_parse(reinterpret_cast<const uint8_t*>(blob.data()), blob.size(),
                     &opt, &b);
  if (st == TN_OK) return Status::Ok();
  if (ctx.empty_signature) {
    return FailedPreconditionError(
        "the blob's signature section is empty (not signed yet)");
  }
  if (ctx.key_id_mismatch) {
    return UnauthenticatedError(
        "the blob was signed with another key (key id differs)");
  }
  if (st == TN_ERR_BLOB_SIGNATURE) {
    return UnauthenticatedError("the blob signature does not verify");
  }
  return RuntimeError(st, "signature check");
}

}  // namespace tinyfleet::models
