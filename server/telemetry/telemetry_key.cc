#include "server/telemetry/telemetry_key.h"

#include <openssl/rand.h>

#include <cstring>

#include "common/encoding.h"
#include "secure/tn_secure.h"

namespace tinyfleet::telemetry {

Result<GatewayTelemetryKey> GatewayTelemetryKey::LoadOrCreate(
    const std::filesystem::path& dir) {
  GatewayTelemetryKey k;
  auto path = dir / "telemetry.key";
  auto text = ReadFile(path);
  if (text.ok()) {
    std::string hex = *text;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r'))
      hex.pop_back();
    auto raw = HexDecode(hex);
    if (!raw.ok() || raw->size() != 32) {
      return DataLossError(path.string() + " is not a 32-byte hex key");
    }
    std::memcpy(k.private_key.data(), raw->data(), 32);
  } else if (text.status().code() == StatusCode::kNotFound) {
    tn_p256_keypair kp;
    tn_status st = tn_p256_keypair_generate(
        [](void*, uint8_t* out, size_t len) -> tn_status {
          return RAND_bytes(out, static_cast<int>(len)) == 1 ? TN_OK
                                                             : TN_ERR_CRYPTO;
        },
        nullptr, &kp);
    if (st != TN_OK) {
      return InternalError(std::string("telemetry key generation: ") +
                           tn_status_str(st));
    }
    std::memcpy(k.private_key.data(), kp.private_key, 32);
    tn_secure_wipe(&kp, sizeof(kp));
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    TF_RETURN_IF_ERROR(WriteFileAtomic(
        path,
        HexEncode(std::span<const uint8_t>(k.private_key.data(), 32)) + "\n",
        0600));
  } else {
    return text.status();
  }
  uint8_t pub[TN_P256_PUBLIC_KEY_SIZE];
  tn_status st = tn_p256_public_key(k.private_key.data(), pub);
  if (st != TN_OK) {
    return DataLossError(path.string() + ": invalid key (" + tn_status_str(st) +
                         ")");
  }
  k.public_key.assign(reinterpret_cast<char*>(pub), sizeof(pub));
  return k;
}

}  // namespace tinyfleet::telemetry
