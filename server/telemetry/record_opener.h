// The gateway's opener of sealed telemetry records: the procedure of
// docs/formats/telemetry.md section 3 (format, counter, AES-128-GCM with the
// nonce salt | big-endian counter nonce and the format | counter |
// device id associated data) over OpenSSL's EVP AES-128-GCM, which uses the
// CPU's AES and carry-less multiply instructions. It is bit-compatible with
// the node's sealing in device/secure (mbedTLS); nodes keep that
// implementation, and this adapter is the only GCM code on the gateway.
// Internal to the telemetry room (used by TelemetryIngest and its tests).
//
// Thread-safety: thread-compatible. A RecordOpener holds one cipher context
// that it re-keys only when the key changes, so give each thread its own.
#ifndef TINYFLEET_SERVER_TELEMETRY_RECORD_OPENER_H_
#define TINYFLEET_SERVER_TELEMETRY_RECORD_OPENER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/status.h"
#include "secure/tn_secure.h"

namespace tinyfleet::telemetry {

class RecordOpener {
 public:
  static Result<std::unique_ptr<RecordOpener>> Create();
  ~RecordOpener();
  RecordOpener(const RecordOpener&) = delete;
  RecordOpener& operator=(const RecordOpener&) = delete;

  // Verifies and decrypts `sealed` under `key` (derived with
  // tn_seal_derive_gateway_side). On success writes the record's
  // sealed.size() - TN_SEAL_OVERHEAD bytes to plaintext[0..) and returns the
  // authenticated counter. `plaintext` holds at least TN_SEAL_MAX_PLAINTEXT
  // bytes and does not overlap `sealed`; on failure its first bytes are
  // zeroed and nothing of the record is released.
  // Errors: kInvalidArgument (length outside 26..1018, format not 1, counter
  // 0, or an invalid key), kUnauthenticated (tag mismatch: tampered bytes,
  // another device id or key), kInternal (the crypto library failed).
  Result<uint64_t> Open(const tn_seal_key& key, std::string_view sealed,
                        uint8_t* plaintext);

 private:
  struct Impl;
  explicit RecordOpener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyfleet::telemetry

#endif  // TINYFLEET_SERVER_TELEMETRY_RECORD_OPENER_H_
