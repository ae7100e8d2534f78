#include "agent/bridge/bridge.h"

#include <boost/asio/post.hpp>
#include <cstring>

#include "common/encoding.h"
#include "common/log.h"

namespace tinyfleet::agent {
namespace asio = boost::asio;

const char* BridgeStateName(BridgeState s) {
  switch (s) {
    case BridgeState::kStarting:
      return "starting";
    case BridgeState::kNodeUnavailable:
      return "node-unavailable";
    case BridgeState::kEnrolling:
      return "enrolling";
    case BridgeState::kEnrollmentRefused:
      return "enrollment-refused";
    case BridgeState::kConnecting:
      return "connecting";
    case BridgeState::kOnline:
      return "online";
    case BridgeState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::shared_ptr<Bridge> Bridge::Create(asio::io_context& io,
                                       BridgeOptions options,
                                       TransportFactory transport,
                                       asio::thread_pool* blocking) {
  return std::shared_ptr<Bridge>(
      new Bridge(io, std::move(options), std::move(transport), blocking));
}

Bridge::Bridge(asio::io_context& io, BridgeOptions options,
               TransportFactory transport, asio::thread_pool* blocking)
    : io_(io),
      strand_(asio::make_strand(io)),
      options_(std::move(options)),
      transport_factory_(std::move(transport)),
      blocking_(blocking),
      retry_timer_(strand_) {}

std::string Bridge::device_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return device_id_;
}

std::string Bridge::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

uint32_t Bridge::node_info_capabilities() const {
  std::lock_guard<std::mutex> lock(mu_);
  return node_info_.capabilities();
}

std::shared_ptr<Trainer> Bridge::trainer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trainer_;
}

std::shared_ptr<Updater> Bridge::updater() const {
  std::lock_guard<std::mutex> lock(mu_);
  return updater_;
}

uint64_t Bridge::keys_provisioned() const {
  std::lock_guard<std::mutex> lock(mu_);
  return key_provisioned_;
}

std::shared_ptr<GatewaySession> Bridge::session() const {
  std::lock_guard<std::mutex> lock(mu_);
  return session_;
}

void Bridge::SetState(BridgeState s, const std::string& error) {
  state_.store(s);
  if (!error.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = error;
  }
}

void Bridge::Start() {
  asio::post(strand_, [self = shared_from_this()] {
    std::unique_ptr<ByteTransport> transport =
        self->transport_factory_(self->strand_);
    self->transport_ = transport.get();
    self->link_ = NodeLink::Create(self->strand_, std::move(transport),
                                   self->options_.link);
    std::weak_ptr<Bridge> weak = self;
    self->link_->OnDisconnected([weak](const Status& why) {
      auto b = weak.lock();
      if (!b || b->stopping_) return;
      TF_LOG(kWarning, "bridge")
          << b->options_.name << ": node link lost: " << why.ToString();
      b->retry_timer_.expires_after(b->options_.node_retry);
      b->retry_timer_.async_wait([weak](boost::system::error_code ec) {
        if (auto bb = weak.lock(); bb && !ec) bb->ConnectNode();
      });
    });
    self->link_->OnTelemetry([weak](uint64_t counter, std::string sealed,
                                    std::function<void(const Status&)> ack) {
      auto b = weak.lock();
      if (!b) return ack(UnavailableError("bridge stopped"));
      b->OnNodeTelemetry(counter, std::move(sealed), std::move(ack));
    });
    self->ConnectNode();
  });
}

void Bridge::OnNodeTelemetry(uint64_t counter, std::string sealed,
                             std::function<void(const Status&)> ack) {
  std::string device;
  std::shared_ptr<GatewaySession> session;
  {
    std::lock_guard<std::mutex> lock(mu_);
    device = device_id_;
    session = session_;
  }
  if (!options_.outbox || device.empty()) {
    ack(UnavailableError("no outbox or not enrolled yet"));
    return;
  }
  options_.outbox->Append({device, counter, std::move(sealed)},
                          [ack, session](const Status& s) {
                            ack(s);
                            if (s.ok() && session) session->NotifyTelemetry();
                          });
}

void Bridge::ProvisionNodeKey() {
  std::weak_ptr<Bridge> weak = shared_from_this();
  link_->KeyInfo([weak](Result<tn_link_key_info_reply> info) {
    auto b = weak.lock();
    if (!b || b->stopping_) return;
    if (!info.ok()) {
      TF_LOG(kWarning, "bridge")
          << b->options_.name << ": key info: " << info.status().ToString();
      return;
    }
    std::string gateway_key, device;
    {
      std::lock_guard<std::mutex> lock(b->mu_);
      b->node_public_key_.assign(
          reinterpret_cast<const char*>(info->node_public_key),
          TN_LINK_PUBLIC_KEY_SIZE);
      gateway_key = b->gateway_key_;
      device = b->device_id_;
    }
    if (gateway_key.empty() || device.empty()) return;
    Sha256Digest id = Sha256(gateway_key);
    bool current = info->key_state == TN_LINK_KEY_STATE_SEALING &&
                   std::memcmp(info->gateway_key_id, id.data(),
                               TN_LINK_KEY_ID_SIZE) == 0 &&
                   device == info->device_id;
    if (current) return;
    b->link_->SetGatewayKey(gateway_key, device, [weak](const Status& s) {
      auto bb = weak.lock();
      if (!bb) return;
      if (!s.ok()) {
        TF_LOG(kWarning, "bridge")
            << bb->options_.name
            << ": node refused the gateway key: " << s.ToString();
        return;
      }
      std::lock_guard<std::mutex> lock(bb->mu_);
      ++bb->key_provisioned_;
    });
  });
}

void Bridge::ConnectNode() {
  if (stopping_) return;
  std::weak_ptr<Bridge> weak = shared_from_this();
  link_->Connect([weak](Result<v1::NodeInfo> info) {
    auto b = weak.lock();
    if (!b || b->stopping_) return;
    if (!info.ok()) {
      if (b->state() != BridgeState::kOnline) {
        b->SetState(BridgeState::kNodeUnavailable, info.status().ToString());
      }
      TF_LOG(kDebug, "bridge")
          << b->options_.name << ": " << info.status().ToString();
      b->retry_timer_.expires_after(b->options_.node_retry);
      b->retry_timer_.async_wait([weak](boost::system::error_code ec) {
        if (auto bb = weak.lock(); bb && !ec) bb->ConnectNode();
      });
      return;
    }
    b->OnNodeInfo(std::move(info).value());
  });
}

void Bridge::OnNodeInfo(v1::NodeInfo info) {
  // Training resources: what the transport knows about its node, else the
  // agent's configuration.
  NodeResources r = transport_ ? transport_->resources() : NodeResources{};
  info.set_train_samples(r.train_samples != 0
                             ? r.train_samples
                             : options_.resources.train_samples);
  info.set_train_energy_budget_mj(
      r.train_energy_budget_mj > 0 ? r.train_energy_budget_mj
                                   : options_.resources.train_energy_budget_mj);
  bool have_session;
  {
    std::lock_guard<std::mutex> lock(mu_);
    node_info_ = std::move(info);
    have_session = session_ != nullptr;
  }
  bool telemetry = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    telemetry = node_info_.capabilities() & TN_LINK_CAP_TELEMETRY;
  }
  if (have_session) {
    // The session reports the new info on reconnect; a reset node may need
    // its key again.
    if (telemetry) ProvisionNodeKey();
    return;
  }
  auto creds = LoadCredentials(options_.credentials_dir);
  if (!creds.ok() && creds.status().code() == StatusCode::kNotFound &&
      telemetry) {
    // Enrollment carries the node's public key: read it first.
    std::weak_ptr<Bridge> weak = shared_from_this();
    link_->KeyInfo([weak](Result<tn_link_key_info_reply> key_info) {
      auto b = weak.lock();
      if (!b || b->stopping_) return;
      if (!key_info.ok()) {
        TF_LOG(kWarning, "bridge")
            << b->options_.name
            << ": node key info: " << key_info.status().ToString()
            << "; enrolling without telemetry";
      } else {
        std::lock_guard<std::mutex> lock(b->mu_);
        b->node_public_key_.assign(
            reinterpret_cast<const char*>(key_info->node_public_key),
            TN_LINK_PUBLIC_KEY_SIZE);
      }
      b->EnrollThenStart();
    });
    return;
  }
  if (creds.ok()) {
    StartSession(std::move(creds).value());
    return;
  }
  if (creds.status().code() != StatusCode::kNotFound) {
    SetState(BridgeState::kEnrollmentRefused, creds.status().ToString());
    TF_LOG(kError, "bridge")
        << options_.name << ": " << creds.status().ToString();
    return;
  }
  EnrollThenStart();
}

void Bridge::EnrollThenStart() {
  if (options_.bootstrap_token.empty()) {
    SetState(BridgeState::kEnrollmentRefused,
             "not enrolled and no bootstrap token given");
    TF_LOG(kError, "bridge")
        << options_.name << ": not enrolled and no bootstrap token given";
    return;
  }
  SetState(BridgeState::kEnrolling);
  v1::NodeInfo node;
  std::string node_key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    node = node_info_;
    node_key = node_public_key_;
  }
  asio::post(*blocking_, [self = shared_from_this(), node, node_key] {
    auto creds =
        Enroll(self->options_.endpoint, self->options_.bootstrap_token, node,
               AgentVersion(), std::chrono::seconds(30), node_key);
    Status saved = Status::Ok();
    if (creds.ok())
      saved = SaveCredentials(self->options_.credentials_dir, *creds);
    asio::post(
        self->strand_, [self, creds = std::move(creds), saved]() mutable {
          if (self->stopping_) return;
          if (creds.ok() && saved.ok()) {
            TF_LOG(kInfo, "bridge")
                << self->options_.name << ": enrolled as " << creds->device_id;
            self->StartSession(std::move(creds).value());
            return;
          }
          Status err = creds.ok() ? saved : creds.status();
          if (err.code() == StatusCode::kUnauthenticated ||
              err.code() == StatusCode::kInvalidArgument) {
            self->SetState(BridgeState::kEnrollmentRefused, err.ToString());
            TF_LOG(kError, "bridge")
                << self->options_.name << ": " << err.ToString();
            return;
          }
          // Gateway unreachable or busy: try again later.
          self->SetState(BridgeState::kEnrolling, err.ToString());
          int64_t ms =
              std::min<int64_t>(self->options_.max_backoff.count(),
                                self->options_.initial_backoff.count()
                                    << std::min(self->enroll_attempt_++, 10));
          self->retry_timer_.expires_after(std::chrono::milliseconds(ms));
          self->retry_timer_.async_wait([self](boost::system::error_code ec) {
            if (!ec) self->EnrollThenStart();
          });
        });
  });
}

void Bridge::StartSession(Credentials creds) {
  SessionOptions so;
  so.endpoint = options_.endpoint;
  so.initial_backoff = options_.initial_backoff;
  so.max_backoff = options_.max_backoff;
  so.credentials = std::move(creds);
  so.outbox = options_.outbox;
  std::weak_ptr<Bridge> weak = shared_from_this();
  auto session = GatewaySession::Create(io_, so, [weak] {
    auto b = weak.lock();
    if (!b) return v1::NodeInfo();
    std::lock_guard<std::mutex> lock(b->mu_);
    return b->node_info_;
  });
  session->OnStateChange([weak](SessionState s, const Status& err) {
    auto b = weak.lock();
    if (!b || b->stopping_) return;
    if (s == SessionState::kOnline) {
      b->SetState(BridgeState::kOnline);
    } else if (s == SessionState::kBackoff || s == SessionState::kConnecting) {
      b->SetState(BridgeState::kConnecting, err.ok() ? "" : err.ToString());
    }
  });
  session->OnWelcome([weak](const v1::Welcome& w) {
    auto b = weak.lock();
    if (!b ||
        w.gateway_telemetry_public_key().size() != TN_LINK_PUBLIC_KEY_SIZE)
      return;
    bool changed;
    {
      std::lock_guard<std::mutex> lock(b->mu_);
      changed = b->gateway_key_ != w.gateway_telemetry_public_key();
      b->gateway_key_ = w.gateway_telemetry_public_key();
    }
    if (!changed) return;
    // A new gateway key (first welcome after an upgrade, or a rotation):
    // keep it with the credentials and give it to the node.
    auto stored = LoadCredentials(b->options_.credentials_dir);
    if (stored.ok()) {
      stored->gateway_telemetry_public_key = w.gateway_telemetry_public_key();
      (void)SaveCredentials(b->options_.credentials_dir, *stored);
    }
    asio::post(b->strand_, [b] {
      if (!b->stopping_ &&
          (b->node_info_capabilities() & TN_LINK_CAP_TELEMETRY)) {
        b->ProvisionNodeKey();
      }
    });
  });
  UpdaterOptions uo;
  uo.endpoint = options_.endpoint;
  if (!uo.endpoint.insecure && !so.credentials.ca_pem.empty()) {
    uo.endpoint.ca_pem = so.credentials.ca_pem;
  }
  uo.credentials = so.credentials;
  uo.cache_dir = options_.credentials_dir.parent_path() / "artifacts";
  std::weak_ptr<GatewaySession> weak_session = session;
  auto updater = Updater::Create(uo, link_, blocking_,
                                 [weak_session](const v1::UpdateProgress& p) {
                                   if (auto s = weak_session.lock())
                                     s->SendProgress(p);
                                 });
  // The slot table after an install or rollback: kept for the next hello
  // and reported to the gateway now, so the registry shows what runs.
  std::weak_ptr<Bridge> weak_self = weak_from_this();
  updater->OnSlots([weak_self, weak_session](std::vector<v1::ModelSlot> slots) {
    if (auto self = weak_self.lock()) {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->node_info_.clear_slots();
      for (const auto& s : slots) *self->node_info_.add_slots() = s;
    }
    if (auto s = weak_session.lock()) s->ReportSlots(std::move(slots));
  });
  session->OnOrder([updater](const v1::UpdateOrder& o) { updater->Handle(o); });
  // Training orders: tails and collected updates next to the artifacts.
  TrainerOptions to;
  to.endpoint = uo.endpoint;
  to.credentials = so.credentials;
  to.state_dir = options_.credentials_dir.parent_path() / "rounds";
  auto trainer = Trainer::Create(to, link_, io_, blocking_,
                                 [weak_session](const v1::TrainProgress& p) {
                                   if (auto s = weak_session.lock())
                                     s->SendTrainProgress(p);
                                 });
  session->OnTrainOrder(
      [trainer](const v1::TrainOrder& o) { trainer->Handle(o); });
  session->OnTrainCancel(
      [trainer](const v1::TrainCancel& c) { trainer->Cancel(c); });
  if (node_info_capabilities() & TN_LINK_CAP_MODEL_UPDATE) {
    asio::post(*blocking_, [updater] {
      Status s = updater->ProvisionModelKey();
      if (!s.ok()) TF_LOG(kWarning, "bridge") << "model key: " << s.ToString();
    });
  }
  bool telemetry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    device_id_ = so.credentials.device_id;
    updater_ = updater;
    trainer_ = trainer;
    gateway_key_ = so.credentials.gateway_telemetry_public_key;
    session_ = session;
    telemetry = node_info_.capabilities() & TN_LINK_CAP_TELEMETRY;
  }
  SetState(BridgeState::kConnecting);
  session->Start();
  if (telemetry) ProvisionNodeKey();
}

void Bridge::Stop(std::function<void()> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
    self->stopping_ = true;
    self->retry_timer_.cancel();
    if (self->link_) self->link_->Close();
    auto session = self->session();
    auto finish = [self, done] {
      self->SetState(BridgeState::kStopped);
      if (done) done();
    };
    if (session) {
      session->Stop([self, finish] { asio::post(self->strand_, finish); });
    } else {
      finish();
    }
  });
}

}  // namespace tinyfleet::agent
