// A device's credentials on the agent's disk, in one directory:
//   device.key  EC P-256 private key (mode 0600, never leaves the directory)
//   device.crt  certificate issued by the gateway at enrollment
//   ca.crt      the gateway's CA, trusted for the server certificate
//   device.id   the device id assigned by the gateway
//   gateway_telemetry.pub  the gateway's telemetry public key, hex
//               (optional: gateways and nodes without telemetry)
// Written atomically file by file, device.id last, so a crash mid-save
// leaves no half-enrolled state that Load() would accept.
#ifndef TINYFLEET_AGENT_SESSION_CREDENTIALS_H_
#define TINYFLEET_AGENT_SESSION_CREDENTIALS_H_

#include <filesystem>
#include <string>

#include "common/status.h"

namespace tinyfleet::agent {

struct Credentials {
  std::string device_id;
  std::string key_pem;
  std::string certificate_pem;
  std::string ca_pem;
  // 65 bytes, or empty.
  std::string gateway_telemetry_public_key;
  // The gateway's model-signing key (65 bytes), or empty; kept in
  // model_signing.pub (hex).
  std::string model_signing_public_key;
};

// NOT_FOUND when the directory holds no complete set (not enrolled yet);
// DATA_LOSS when files exist but do not match each other.
Result<Credentials> LoadCredentials(const std::filesystem::path& dir);
Status SaveCredentials(const std::filesystem::path& dir, const Credentials& c);

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_SESSION_CREDENTIALS_H_
