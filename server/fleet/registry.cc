#include "server/fleet/registry.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>

#include "common/encoding.h"
#include "common/log.h"
#include "secure/tn_secure.h"
#include "server/fleet/labels.h"

namespace tinyfleet::fleet {
namespace {

constexpr uint32_t kMaxPageSize = 1000;
constexpr uint32_t kDefaultPageSize = 100;

Result<std::string> NewId(std::string_view prefix, size_t chars) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  TF_ASSIGN_OR_RETURN(std::string raw, RandomBytes(chars));
  std::string id(prefix);
  for (char c : raw) id.push_back(kAlphabet[static_cast<uint8_t>(c) & 31]);
  return id;
}

std::string EncodePageToken(const std::string& last_id) {
  return HexEncode(last_id);
}

Result<std::string> DecodePageToken(const std::string& token) {
  if (token.empty()) return std::string();
  auto decoded = HexDecode(token);
  if (!decoded.ok() || decoded->size() > 128) {
    return InvalidArgumentError("invalid page_token");
  }
  return decoded;
}

uint32_t ClampPageSize(uint32_t n) {
  if (n == 0) return kDefaultPageSize;
  return std::min(n, kMaxPageSize);
}

Status ValidateNodeInfo(const v1::NodeInfo& node) {
  if (node.hardware_id().size() > 64 || node.firmware_version().size() > 64 ||
      node.transport().size() > 16 || node.slots_size() > 4) {
    return InvalidArgumentError("node info field out of bounds");
  }
  for (const auto& slot : node.slots()) {
    if (slot.name().size() > 8 || slot.model_id().size() > 64) {
      return InvalidArgumentError("node slot field out of bounds");
    }
  }
  return Status::Ok();
}

}  // namespace

Registry::Registry(store::Store* store, const pki::CertificateAuthority* ca,
                   const Clock* clock, prometheus::Registry* metrics,
                   RegistryOptions options, events::EventBus* events)
    : store_(store),
      ca_(ca),
      clock_(clock),
      options_(options),
      events_(events) {
  if (metrics) {
    connected_ = &prometheus::BuildGauge()
                      .Name("tinyfleet_agents_connected")
                      .Help("Devices with a live agent session")
                      .Register(*metrics)
                      .Add({});
    sessions_opened_ = &prometheus::BuildCounter()
                            .Name("tinyfleet_sessions_opened_total")
                            .Help("Agent sessions opened")
                            .Register(*metrics)
                            .Add({});
    sessions_closed_ = &prometheus::BuildCounter()
                            .Name("tinyfleet_sessions_closed_total")
                            .Help("Agent sessions closed, by reason")
                            .Register(*metrics);
    auto& enroll = prometheus::BuildCounter()
                       .Name("tinyfleet_enrollments_total")
                       .Help("Enrollment attempts, by result")
                       .Register(*metrics);
    enrollments_ = &enroll.Add({{"result", "enrolled"}});
    enrollments_refused_ = &enroll.Add({{"result", "refused"}});
  }
}

Registry::~Registry() = default;

Result<std::unique_ptr<Registry>> Registry::Create(
    store::Store* store, const pki::CertificateAuthority* ca,
    const Clock* clock, prometheus::Registry* metrics, RegistryOptions options,
    events::EventBus* events) {
  if (!store || !ca || !clock) {
    return InvalidArgumentError("registry needs a store, a CA and a clock");
  }
  if (options.heartbeat_interval < std::chrono::milliseconds(10) ||
      options.missed_heartbeats_offline < 1) {
    return InvalidArgumentError(
        "heartbeat interval must be >= 10 ms and missed heartbeats >= 1");
  }
  if (options.certificate_validity < std::chrono::hours(1)) {
    return InvalidArgumentError("certificate validity must be >= 1 h");
  }
  return std::unique_ptr<Registry>(
      new Registry(store, ca, clock, metrics, options, events));
}

void Registry::Publish(const std::string& device_id, const char* change,
                       Connectivity connectivity, store::Lifecycle lifecycle) {
  if (!events_) return;
  v1::Event e;
  auto* d = e.mutable_device();
  d->set_device_id(device_id);
  d->set_change(change);
  auto* dev = d->mutable_device();
  dev->set_device_id(device_id);
  dev->set_connectivity(connectivity == Connectivity::kOnline
                            ? v1::CONNECTIVITY_ONLINE
                            : v1::CONNECTIVITY_OFFLINE);
  dev->set_lifecycle(lifecycle == store::Lifecycle::kActive
                         ? v1::DEVICE_LIFECYCLE_ACTIVE
                         : v1::DEVICE_LIFECYCLE_DECOMMISSIONED);
  events_->Publish(std::move(e));
}

// ---- Enrollment tokens -----------------------------------------------------

Result<CreatedTokens> Registry::CreateEnrollmentTokens(
    uint32_t count, std::optional<std::chrono::seconds> ttl,
    const store::Labels& labels, const std::string& description,
    const std::string& created_by) {
  if (count == 0) count = 1;
  if (count > options_.max_tokens_per_request) {
    return InvalidArgumentError(
        "count must be at most " +
        std::to_string(options_.max_tokens_per_request));
  }
  std::chrono::seconds lifetime = ttl.value_or(options_.default_token_ttl);
  if (lifetime <= std::chrono::seconds(0) ||
      lifetime > options_.max_token_ttl) {
    return InvalidArgumentError("ttl must be between 1 s and " +
                                std::to_string(options_.max_token_ttl.count()) +
                                " s");
  }
  TF_RETURN_IF_ERROR(ValidateLabels(labels));
  if (description.size() > 256) {
    return InvalidArgumentError("description must be at most 256 characters");
  }
  int64_t now = clock_->NowUnixMillis();
  CreatedTokens out;
  for (uint32_t i = 0; i < count; ++i) {
    store::EnrollmentTokenRecord t;
    TF_ASSIGN_OR_RETURN(t.token_id, NewId("et-", 16));
    TF_ASSIGN_OR_RETURN(std::string secret, RandomToken("tfe_"));
    t.secret_hash = Sha256Hex(secret);
    t.created_at_ms = now;
    t.expires_at_ms = now + lifetime.count() * 1000;
    t.labels = labels;
    t.description = description;
    t.created_by = created_by;
    out.tokens.push_back(std::move(t));
    out.secrets.push_back(std::move(secret));
  }
  TF_RETURN_IF_ERROR(store_->enrollment_tokens().Create(out.tokens));
  return out;
}

Result<std::vector<store::EnrollmentTokenRecord>>
Registry::ListEnrollmentTokens(bool include_inactive,
                               const std::string& page_token,
                               uint32_t page_size,
                               std::string* next_page_token) {
  TF_ASSIGN_OR_RETURN(std::string after, DecodePageToken(page_token));
  uint32_t limit = ClampPageSize(page_size);
  TF_ASSIGN_OR_RETURN(
      auto tokens,
      store_->enrollment_tokens().List(
          include_inactive, clock_->NowUnixMillis(), after, limit + 1));
  next_page_token->clear();
  if (tokens.size() > limit) {
    tokens.pop_back();
    *next_page_token = EncodePageToken(tokens.back().token_id);
  }
  return tokens;
}

Result<store::EnrollmentTokenRecord> Registry::RevokeEnrollmentToken(
    const std::string& token_id) {
  return store_->enrollment_tokens().Revoke(token_id);
}

Result<Enrollment> Registry::Enroll(const std::string& bootstrap_secret,
                                    const std::string& csr_pem,
                                    const v1::NodeInfo& node,
                                    const std::string& agent_version,
                                    const std::string& node_public_key) {
  auto refuse = [this](Status s) {
    if (enrollments_refused_) enrollments_refused_->Increment();
    return s;
  };
  if (bootstrap_secret.empty() || bootstrap_secret.size() > 128) {
    return refuse(UnauthenticatedError("a bootstrap token is required"));
  }
  Status valid = ValidateNodeInfo(node);
  if (!valid.ok()) return refuse(valid);
  if (agent_version.size() > 64) {
    return refuse(InvalidArgumentError("agent_version too long"));
  }
  if (!node_public_key.empty() &&
      (node_public_key.size() != TN_P256_PUBLIC_KEY_SIZE ||
       tn_p256_check_public_key(reinterpret_cast<const uint8_t*>(
           node_public_key.data())) != TN_OK)) {
    return refuse(InvalidArgumentError(
        "node_public_key must be an uncompressed P-256 point (65 bytes)"));
  }
  std::string hash = Sha256Hex(bootstrap_secret);
  int64_t now = clock_->NowUnixMillis();
  // Cheap check first so a bad token costs no signature.
  auto token = store_->enrollment_tokens().FindBySecretHash(hash);
  if (!token.ok() || token->used_at_ms != 0 || token->revoked ||
      token->expires_at_ms <= now) {
    return refuse(UnauthenticatedError(
        "enrollment token is unknown, used, revoked or expired"));
  }
  TF_ASSIGN_OR_RETURN(std::string device_id, NewId("dev-", 20));
  auto issued = ca_->SignClientCsr(csr_pem, device_id,
                                   options_.certificate_validity, *clock_);
  if (!issued.ok()) return refuse(issued.status());

  store::DeviceRecord device;
  device.device_id = device_id;
  device.node = node;
  device.agent_version = agent_version;
  device.cert_sha256 = issued->info.sha256_hex;
  device.cert_serial = issued->info.serial_hex;
  device.telemetry_public_key = node_public_key;
  auto stored = store_->enrollment_tokens().ConsumeAndEnroll(hash, now, device);
  if (!stored.ok()) return refuse(stored.status());
  if (enrollments_) enrollments_->Increment();
  TF_LOG(kInfo, "registry")
      << "enrolled " << device_id << " (hardware " << node.hardware_id()
      << ", token " << stored->enrollment_token_id << ")";
  Publish(stored->device_id, "enrolled", Connectivity::kOffline,
          store::Lifecycle::kActive);
  Enrollment out;
  out.device = std::move(stored).value();
  out.certificate_pem = issued->pem;
  out.ca_certificate_pem = ca_->certificate_pem();
  out.not_after_unix = issued->info.not_after_unix;
  return out;
}

// ---- Devices
// -------------------------------------------------------------------

DeviceView Registry::ToView(store::DeviceRecord record) const {
  DeviceView v;
  auto it = online_.find(record.device_id);
  v.connectivity =
      it != online_.end() ? Connectivity::kOnline : Connectivity::kOffline;
  auto dirty = dirty_last_seen_.find(record.device_id);
  if (dirty != dirty_last_seen_.end()) {
    record.last_seen_at_ms = std::max(record.last_seen_at_ms, dirty->second);
  }
  v.record = std::move(record);
  return v;
}

Result<DeviceView> Registry::GetDevice(const std::string& device_id) {
  if (device_id.empty() || device_id.size() > 64) {
    return InvalidArgumentError("device_id must be 1..64 characters");
  }
  TF_ASSIGN_OR_RETURN(auto record, store_->devices().Get(device_id));
  std::lock_guard<std::mutex> lock(mu_);
  return ToView(std::move(record));
}

Result<DeviceListResult> Registry::ListDevices(
    const DeviceListRequest& request) {
  store::DeviceQuery query;
  TF_ASSIGN_OR_RETURN(query.selector, ParseSelector(request.label_selector));
  TF_ASSIGN_OR_RETURN(query.after_id, DecodePageToken(request.page_token));
  query.lifecycle = request.lifecycle;
  query.limit = ClampPageSize(request.page_size);
  if (request.connectivity) {
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ids.reserve(online_.size());
      for (const auto& [id, p] : online_) ids.push_back(id);
    }
    query.ids = std::move(ids);
    query.exclude_ids = *request.connectivity == Connectivity::kOffline;
  }
  TF_ASSIGN_OR_RETURN(auto page, store_->devices().List(query));
  DeviceListResult out;
  out.total = page.total;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& d : page.devices) out.devices.push_back(ToView(std::move(d)));
  if (page.more && !out.devices.empty()) {
    out.next_page_token = EncodePageToken(out.devices.back().record.device_id);
  }
  return out;
}

Result<DeviceView> Registry::SetLabels(const std::string& device_id,
                                       const store::Labels& set,
                                       const std::vector<std::string>& remove,
                                       bool replace) {
  TF_RETURN_IF_ERROR(ValidateLabels(set));
  for (const auto& k : remove) TF_RETURN_IF_ERROR(ValidateLabelKey(k));
  TF_ASSIGN_OR_RETURN(auto record, store_->devices().UpdateLabels(
                                       device_id, set, remove, replace));
  if (record.labels.size() > 64) {
    return InvalidArgumentError("a device may carry at most 64 labels");
  }
  DeviceView view;
  {
    std::lock_guard<std::mutex> lock(mu_);
    view = ToView(std::move(record));
  }
  Publish(device_id, "labels", view.connectivity, view.record.lifecycle);
  return view;
}

Result<DeviceView> Registry::Decommission(const std::string& device_id,
                                          const std::string& reason) {
  if (reason.size() > 256) {
    return InvalidArgumentError("reason must be at most 256 characters");
  }
  TF_ASSIGN_OR_RETURN(auto record,
                      store_->devices().Decommission(device_id, reason,
                                                     clock_->NowUnixMillis()));
  SessionKick kick;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = online_.find(device_id);
    if (it != online_.end()) {
      kick = std::move(it->second.kick);
      online_.erase(it);
      if (connected_) connected_->Decrement();
      if (sessions_closed_)
        sessions_closed_->Add({{"reason", "decommissioned"}}).Increment();
    }
  }
  if (kick) kick(PermissionDeniedError("device decommissioned"));
  TF_LOG(kInfo, "registry") << "decommissioned " << device_id;
  Publish(device_id, "decommissioned", Connectivity::kOffline,
          store::Lifecycle::kDecommissioned);
  std::lock_guard<std::mutex> lock(mu_);
  return ToView(std::move(record));
}

// ---- Sessions
// ------------------------------------------------------------------

Result<SessionTicket> Registry::OpenSession(const std::string& device_id,
                                            const std::string& cert_sha256,
                                            const v1::NodeInfo& node,
                                            const std::string& agent_version,
                                            SessionKick kick,
                                            SessionSend send) {
  TF_RETURN_IF_ERROR(ValidateNodeInfo(node));
  if (agent_version.size() > 64) {
    return InvalidArgumentError("agent_version too long");
  }
  auto record = store_->devices().Get(device_id);
  if (!record.ok()) {
    if (record.status().code() == StatusCode::kNotFound) {
      return UnauthenticatedError("certificate names an unknown device");
    }
    return record.status();
  }
  if (record->lifecycle != store::Lifecycle::kActive) {
    return PermissionDeniedError("device " + device_id + " is decommissioned");
  }
  if (!cert_sha256.empty() && record->cert_sha256 != cert_sha256) {
    return UnauthenticatedError(
        "certificate is not the one issued to this device");
  }
  int64_t now = clock_->NowUnixMillis();
  // Reconnections usually report what is already stored: skip the write
  // (and its fsync); last-seen is flushed in batches by Sweep().
  if (record->agent_version != agent_version ||
      record->node.SerializeAsString() != node.SerializeAsString()) {
    TF_RETURN_IF_ERROR(
        store_->devices().UpdateNode(device_id, node, agent_version, now));
  }

  SessionKick previous;
  SessionTicket ticket;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& p = online_[device_id];
    if (p.kick) {
      previous = std::move(p.kick);
      if (sessions_closed_)
        sessions_closed_->Add({{"reason", "replaced"}}).Increment();
    } else if (connected_) {
      connected_->Increment();
    }
    p.session_id = next_session_id_++;
    p.last_heartbeat = clock_->SteadyNow();
    p.kick = std::move(kick);
    p.send = std::move(send);
    ticket.session_id = p.session_id;
    dirty_last_seen_[device_id] = now;
  }
  ticket.heartbeat_interval = options_.heartbeat_interval;
  if (sessions_opened_) sessions_opened_->Increment();
  if (previous) previous(AbortedError("replaced by a newer session"));
  if (!previous) {
    Publish(device_id, "online", Connectivity::kOnline,
            store::Lifecycle::kActive);
  }
  return ticket;
}

Status Registry::Heartbeat(const std::string& device_id, uint64_t session_id,
                           const std::vector<v1::ModelSlot>* slots) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = online_.find(device_id);
    if (it == online_.end() || it->second.session_id != session_id) {
      return NotFoundError("session is not current");
    }
    it->second.last_heartbeat = clock_->SteadyNow();
    dirty_last_seen_[device_id] = clock_->NowUnixMillis();
  }
  if (slots && !slots->empty()) {
    auto record = store_->devices().Get(device_id);
    if (record.ok()) {
      v1::NodeInfo node = record->node;
      node.clear_slots();
      for (const auto& s : *slots) *node.add_slots() = s;
      TF_RETURN_IF_ERROR(store_->devices().UpdateNode(
          device_id, node, record->agent_version, clock_->NowUnixMillis()));
    }
  }
  return Status::Ok();
}

void Registry::CloseSession(const std::string& device_id, uint64_t session_id,
                            const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = online_.find(device_id);
    if (it == online_.end() || it->second.session_id != session_id) return;
    online_.erase(it);
    dirty_last_seen_[device_id] = clock_->NowUnixMillis();
    if (connected_) connected_->Decrement();
    if (sessions_closed_)
      sessions_closed_->Add({{"reason", reason}}).Increment();
  }
  Publish(device_id, "offline", Connectivity::kOffline,
          store::Lifecycle::kActive);
}

size_t Registry::Sweep() {
  auto timeout =
      options_.heartbeat_interval * options_.missed_heartbeats_offline;
  std::vector<SessionKick> kicks;
  std::vector<std::string> timed_out;
  std::map<std::string, int64_t> flush;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = clock_->SteadyNow();
    for (auto it = online_.begin(); it != online_.end();) {
      if (now - it->second.last_heartbeat > timeout) {
        kicks.push_back(std::move(it->second.kick));
        timed_out.push_back(it->first);
        TF_LOG(kInfo, "registry")
            << it->first << " missed " << options_.missed_heartbeats_offline
            << " heartbeats: offline";
        it = online_.erase(it);
        if (connected_) connected_->Decrement();
        if (sessions_closed_)
          sessions_closed_->Add({{"reason", "timeout"}}).Increment();
      } else {
        ++it;
      }
    }
    flush.swap(dirty_last_seen_);
  }
  Status s = store_->devices().UpdateLastSeen(flush);
  if (!s.ok()) {
    TF_LOG(kWarning, "registry")
        << "last-seen flush failed, will retry: " << s.ToString();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, at] : flush) {
      auto& v = dirty_last_seen_[id];
      v = std::max(v, at);
    }
  }
  for (auto& kick : kicks) {
    if (kick) kick(DeadlineExceededError("no heartbeat within the timeout"));
  }
  for (const auto& id : timed_out) {
    Publish(id, "offline", Connectivity::kOffline, store::Lifecycle::kActive);
  }
  return kicks.size();
}

Status Registry::SendToDevice(const std::string& device_id,
                              const v1::GatewayMessage& message) {
  SessionSend send;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = online_.find(device_id);
    if (it == online_.end() || !it->second.send) {
      return UnavailableError(device_id + " is offline");
    }
    send = it->second.send;
  }
  if (!send(message))
    return UnavailableError(device_id + " session is closing");
  return Status::Ok();
}

std::vector<std::string> Registry::OnlineDevices() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  out.reserve(online_.size());
  for (const auto& [id, p] : online_) out.push_back(id);
  return out;
}

size_t Registry::online_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return online_.size();
}

}  // namespace tinyfleet::fleet
