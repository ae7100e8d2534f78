// The gateway's static P-256 telemetry key pair. Nodes derive their sealing
// key from its public half (docs/formats/telemetry.md); the gateway derives
// the same key per device from its private half. Kept in the PKI directory
// as telemetry.key (hex of the 32-byte scalar, mode 0600).
#ifndef TINYFLEET_SERVER_TELEMETRY_TELEMETRY_KEY_H_
#define TINYFLEET_SERVER_TELEMETRY_TELEMETRY_KEY_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace tinyfleet::telemetry {

struct GatewayTelemetryKey {
  std::array<uint8_t, 32> private_key{};
  std::string public_key;  // 65 bytes, uncompressed point

  // Loads <dir>/telemetry.key or creates it when absent.
  static Result<GatewayTelemetryKey> LoadOrCreate(
      const std::filesystem::path& dir);
};

}  // namespace tinyfleet::telemetry

#endif  // TINYFLEET_SERVER_TELEMETRY_TELEMETRY_KEY_H_
