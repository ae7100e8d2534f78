// The device registry: enrollment tokens, enrollment (CSR signing), the
// device list, labels, decommissioning, and presence (which devices have a
// live session, heartbeats, online/offline with a timeout, last-seen).
//
// Durable state lives in the Store; presence is in memory and rebuilt as
// agents reconnect (last-seen times are flushed to the store by Sweep()).
//
// Thread-safety: all methods are thread-safe. Session kick callbacks are
// invoked without the registry's lock held.
#ifndef TINYFLEET_SERVER_FLEET_REGISTRY_H_
#define TINYFLEET_SERVER_FLEET_REGISTRY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/pki.h"
#include "common/status.h"
#include "server/events/event_bus.h"
#include "server/store/store.h"
#include "tinyfleet/v1/agent.pb.h"
#include "tinyfleet/v1/common.pb.h"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace tinyfleet::fleet {

struct RegistryOptions {
  // Interval agents are told to heartbeat at. Default 5 s.
  std::chrono::milliseconds heartbeat_interval{5000};
  // A device with no heartbeat for this many intervals is offline and its
  // session is closed. Default 3.
  int missed_heartbeats_offline = 3;
  // Validity of device certificates. Default 1 year.
  std::chrono::hours certificate_validity{24 * 365};
  // Enrollment token lifetime bounds.
  std::chrono::seconds default_token_ttl{3600};
  std::chrono::seconds max_token_ttl{30 * 24 * 3600};
  uint32_t max_tokens_per_request = 10000;
};

enum class Connectivity { kOnline, kOffline };

struct DeviceView {
  store::DeviceRecord record;
  Connectivity connectivity = Connectivity::kOffline;
};

struct DeviceListRequest {
  std::string label_selector;
  std::optional<Connectivity> connectivity;
  store::Lifecycle lifecycle = store::Lifecycle::kActive;
  uint32_t page_size = 100;
  std::string page_token;
};

struct DeviceListResult {
  std::vector<DeviceView> devices;
  std::string next_page_token;
  uint64_t total = 0;
};

struct CreatedTokens {
  std::vector<store::EnrollmentTokenRecord> tokens;
  std::vector<std::string> secrets;  // same order as tokens
};

struct Enrollment {
  store::DeviceRecord device;
  std::string certificate_pem;
  std::string ca_certificate_pem;
  int64_t not_after_unix = 0;
};

// Called to close a session from the gateway side (replaced, decommissioned,
// timed out). Must not block.
using SessionKick = std::function<void(const Status& reason)>;
// Queues a message on a session's stream. Must not block; false when the
// session is closing.
using SessionSend = std::function<bool(const v1::GatewayMessage& message)>;

struct SessionTicket {
  uint64_t session_id = 0;
  std::chrono::milliseconds heartbeat_interval{0};
};

class Registry {
 public:
  // `store`, `ca`, `clock`, `metrics` and `events` must outlive the
  // registry; `metrics` and `events` may be null. Device changes (enrolled,
  // online, offline, labels, decommissioned) are published on `events`.
  static Result<std::unique_ptr<Registry>> Create(
      store::Store* store, const pki::CertificateAuthority* ca,
      const Clock* clock, prometheus::Registry* metrics,
      RegistryOptions options, events::EventBus* events = nullptr);
  ~Registry();

  // ---- Enrollment tokens and enrollment ----
  Result<CreatedTokens> CreateEnrollmentTokens(
      uint32_t count, std::optional<std::chrono::seconds> ttl,
      const store::Labels& labels, const std::string& description,
      const std::string& created_by);
  Result<std::vector<store::EnrollmentTokenRecord>> ListEnrollmentTokens(
      bool include_inactive, const std::string& page_token, uint32_t page_size,
      std::string* next_page_token);
  Result<store::EnrollmentTokenRecord> RevokeEnrollmentToken(
      const std::string& token_id);
  // Consumes a bootstrap token and signs the CSR. UNAUTHENTICATED for any
  // unusable token (unknown, used, revoked, expired) without saying which.
  // `node_public_key`, when not empty, is the node's P-256 telemetry key
  // (65-byte uncompressed point; refused when not on the curve).
  Result<Enrollment> Enroll(const std::string& bootstrap_secret,
                            const std::string& csr_pem,
                            const v1::NodeInfo& node,
                            const std::string& agent_version,
                            const std::string& node_public_key = "");

  // ---- Devices ----
  Result<DeviceView> GetDevice(const std::string& device_id);
  Result<DeviceListResult> ListDevices(const DeviceListRequest& request);
  Result<DeviceView> SetLabels(const std::string& device_id,
                               const store::Labels& set,
                               const std::vector<std::string>& remove,
                               bool replace);
  // Marks the device decommissioned and closes its session.
  Result<DeviceView> Decommission(const std::string& device_id,
                                  const std::string& reason);

  // ---- Sessions ----
  // Checks that the device exists, is active, and that `cert_sha256` is the
  // certificate it was enrolled with; records the node's report; marks it
  // online. A previous session of the same device is kicked.
  Result<SessionTicket> OpenSession(const std::string& device_id,
                                    const std::string& cert_sha256,
                                    const v1::NodeInfo& node,
                                    const std::string& agent_version,
                                    SessionKick kick,
                                    SessionSend send = nullptr);
  // Sends a message to the device's current session. UNAVAILABLE when the
  // device is offline or its session closing.
  Status SendToDevice(const std::string& device_id,
                      const v1::GatewayMessage& message);
  // Ids of the devices online now.
  std::vector<std::string> OnlineDevices() const;
  // Records a heartbeat. NOT_FOUND when the session is not current.
  Status Heartbeat(const std::string& device_id, uint64_t session_id,
                   const std::vector<v1::ModelSlot>* slots);
  // Idempotent; ignores sessions that are no longer current.
  void CloseSession(const std::string& device_id, uint64_t session_id,
                    const std::string& reason);
  // Marks devices with missed heartbeats offline and closes their sessions,
  // and flushes last-seen times to the store. Call periodically (e.g. every
  // heartbeat interval). Returns the number of devices marked offline.
  size_t Sweep();

  size_t online_count() const;
  const RegistryOptions& options() const { return options_; }

 private:
  struct Presence {
    uint64_t session_id = 0;
    std::chrono::steady_clock::time_point last_heartbeat;
    SessionKick kick;
    SessionSend send;
  };

  Registry(store::Store* store, const pki::CertificateAuthority* ca,
           const Clock* clock, prometheus::Registry* metrics,
           RegistryOptions options, events::EventBus* events);
  // Publishes a device change (no lock held).
  void Publish(const std::string& device_id, const char* change,
               Connectivity connectivity, store::Lifecycle lifecycle);
  DeviceView ToView(store::DeviceRecord record) const;  // REQUIRES: mu_ held

  store::Store* store_;
  const pki::CertificateAuthority* ca_;
  const Clock* clock_;
  RegistryOptions options_;
  events::EventBus* events_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Presence> online_;  // guarded by mu_
  std::map<std::string, int64_t> dirty_last_seen_;    // guarded by mu_
  uint64_t next_session_id_ = 1;                      // guarded by mu_

  prometheus::Gauge* connected_ = nullptr;
  prometheus::Counter* sessions_opened_ = nullptr;
  prometheus::Family<prometheus::Counter>* sessions_closed_ = nullptr;
  prometheus::Counter* enrollments_ = nullptr;
  prometheus::Counter* enrollments_refused_ = nullptr;
};

}  // namespace tinyfleet::fleet

#endif  // TINYFLEET_SERVER_FLEET_REGISTRY_H_
