// OpenSSL adapter of the sealed-record format; see record_opener.h.
#include "server/telemetry/record_opener.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

namespace tinyfleet::telemetry {

struct RecordOpener::Impl {
  EVP_CIPHER* cipher = nullptr;  // owned; AES-128-GCM from the default provider
  EVP_CIPHER_CTX* ctx = nullptr;  // owned
  bool keyed = false;             // ctx holds the schedule of `key`
  uint8_t key[TN_SEAL_KEY_SIZE] = {};

  ~Impl() {
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    OPENSSL_cleanse(key, sizeof(key));
  }
};

RecordOpener::RecordOpener(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
RecordOpener::~RecordOpener() = default;

Result<std::unique_ptr<RecordOpener>> RecordOpener::Create() {
  auto impl = std::make_unique<Impl>();
  impl->cipher = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  impl->ctx = EVP_CIPHER_CTX_new();
  if (impl->cipher == nullptr || impl->ctx == nullptr) {
    return InternalError("OpenSSL has no AES-128-GCM");
  }
  return std::unique_ptr<RecordOpener>(new RecordOpener(std::move(impl)));
}

Result<uint64_t> RecordOpener::Open(const tn_seal_key& key,
                                    std::string_view sealed,
                                    uint8_t* plaintext) {
  uint64_t counter = 0;
  const auto* in = reinterpret_cast<const uint8_t*>(sealed.data());
  if (tn_seal_peek_counter(in, sealed.size(), &counter) != TN_OK) {
    return InvalidArgumentError("malformed sealed record");
  }
  if (!tn_seal_device_id_ok(key.device_id, key.device_id_len)) {
    return InvalidArgumentError("invalid sealing key");
  }
  const size_t n = sealed.size() - TN_SEAL_OVERHEAD;

  // nonce = nonce_salt | counter (big-endian); aad = format | counter (as
  // sealed, little-endian) | device_id_len | device_id.
  uint8_t nonce[TN_SEAL_NONCE_SIZE];
  std::memcpy(nonce, key.nonce_salt, TN_SEAL_NONCE_SALT_SIZE);
  for (int i = 0; i < 8; ++i) {
    nonce[TN_SEAL_NONCE_SALT_SIZE + i] =
        static_cast<uint8_t>(counter >> (56 - 8 * i));
  }
  uint8_t aad[TN_SEAL_HEADER_SIZE + 1 + TN_SEAL_DEVICE_ID_MAX];
  std::memcpy(aad, in, TN_SEAL_HEADER_SIZE);
  aad[TN_SEAL_HEADER_SIZE] = key.device_id_len;
  std::memcpy(aad + TN_SEAL_HEADER_SIZE + 1, key.device_id, key.device_id_len);
  const int aad_len =
      static_cast<int>(TN_SEAL_HEADER_SIZE + 1 + key.device_id_len);

  Impl& s = *impl_;
  // The key schedule is kept while consecutive records share a key (a
  // session's batch); only the nonce is set per record.
  if (!s.keyed || CRYPTO_memcmp(s.key, key.aes_key, sizeof(s.key)) != 0) {
    s.keyed = false;
    if (EVP_DecryptInit_ex2(s.ctx, s.cipher, key.aes_key, nullptr, nullptr) !=
        1) {
      return InternalError("AES-GCM key setup failed");
    }
    std::memcpy(s.key, key.aes_key, sizeof(s.key));
    s.keyed = true;
  }
  int len = 0, fin = 0;
  bool ok = EVP_DecryptInit_ex2(s.ctx, nullptr, nullptr, nonce, nullptr) == 1 &&
            EVP_DecryptUpdate(s.ctx, nullptr, &len, aad, aad_len) == 1 &&
            EVP_DecryptUpdate(s.ctx, plaintext, &len, in + TN_SEAL_HEADER_SIZE,
                              static_cast<int>(n)) == 1 &&
            static_cast<size_t>(len) == n &&
            EVP_CIPHER_CTX_ctrl(
                s.ctx, EVP_CTRL_GCM_SET_TAG, TN_SEAL_TAG_SIZE,
                const_cast<uint8_t*>(in + TN_SEAL_HEADER_SIZE + n)) == 1;
  if (!ok) {
    OPENSSL_cleanse(plaintext, n);
    s.keyed = false;
    return InternalError("AES-GCM decryption failed");
  }
  // Final compares the tag (in constant time); on mismatch the plaintext
  // written above is not released.
  if (EVP_DecryptFinal_ex(s.ctx, plaintext + n, &fin) != 1) {
    OPENSSL_cleanse(plaintext, n);
    return UnauthenticatedError("sealed record does not authenticate");
  }
  return counter;
}

}  // namespace tinyfleet::telemetry
