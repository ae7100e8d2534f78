#include "server/api/agent_service.h"

#include <google/protobuf/util/time_util.h>

#include <boost/asio/post.hpp>
#include <deque>
#include <mutex>
#include <optional>

#include "common/encoding.h"
#include "common/log.h"
#include "server/adapt/adapt.h"
#include "server/api/status_map.h"
#include "server/ota/artifact_store.h"
#include "server/ota/rollout_engine.h"
#include "server/telemetry/ingest.h"

namespace tinyfleet::api {
namespace {

using google::protobuf::util::TimeUtil;

std::string FirstProperty(const grpc::AuthContext& auth, const char* name) {
  auto values = auth.FindPropertyValues(name);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

// Decodes the base64 body of a PEM certificate and hashes the DER bytes.
std::string PemCertificateSha256(const std::string& pem) {
  static const std::string kBegin = "-----BEGIN CERTIFICATE-----";
  static const std::string kEnd = "-----END CERTIFICATE-----";
  size_t b = pem.find(kBegin);
  size_t e = pem.find(kEnd);
  if (b == std::string::npos || e == std::string::npos || e < b) return "";
  std::string body;
  for (size_t i = b + kBegin.size(); i < e; ++i) {
    char c = pem[i];
    if (c != '\n' && c != '\r' && c != ' ') body.push_back(c);
  }
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string der;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : body) {
    if (c == '=') break;
    int v = val(c);
    if (v < 0) return "";
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      der.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return Sha256Hex(der);
}

}  // namespace

Result<PeerIdentity> IdentifyPeer(const grpc::CallbackServerContext& ctx,
                                  bool insecure_identity) {
  PeerIdentity id;
  auto auth = ctx.auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    id.device_id = FirstProperty(*auth, "x509_common_name");
    std::string pem = FirstProperty(*auth, "x509_pem_cert");
    id.cert_sha256 = PemCertificateSha256(pem);
    if (id.device_id.empty() || id.cert_sha256.empty()) {
      return UnauthenticatedError("client certificate carries no device id");
    }
    return id;
  }
  if (insecure_identity) {
    const auto& md = ctx.client_metadata();
    auto it = md.find("x-tinyfleet-device-id");
    if (it != md.end() && !it->second.empty() && it->second.size() <= 64) {
      id.device_id.assign(it->second.data(), it->second.size());
      return id;
    }
  }
  return UnauthenticatedError(
      "a session needs the client certificate issued at enrollment");
}

AgentService::AgentService(fleet::Registry* registry,
                           boost::asio::thread_pool* pool,
                           AgentServiceOptions options)
    : registry_(registry), pool_(pool), options_(options) {}

grpc::ServerUnaryReactor* AgentService::Enroll(grpc::CallbackServerContext* ctx,
                                               const v1::EnrollRequest* request,
                                               v1::EnrollResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  boost::asio::post(*pool_, [this, reactor, request, response] {
    auto enrolled = registry_->Enroll(
        request->bootstrap_token(), request->csr_pem(), request->node(),
        request->agent_version(), request->node_public_key());
    if (!enrolled.ok()) {
      reactor->Finish(ToGrpc(enrolled.status()));
      return;
    }
    response->set_device_id(enrolled->device.device_id);
    response->set_certificate_pem(enrolled->certificate_pem);
    response->set_ca_certificate_pem(enrolled->ca_certificate_pem);
    *response->mutable_not_after() =
        TimeUtil::SecondsToTimestamp(enrolled->not_after_unix);
    response->set_gateway_telemetry_public_key(
        options_.gateway_telemetry_public_key);
    response->set_model_signing_public_key(options_.model_signing_public_key);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

namespace {

class SessionReactor;

// Lets the registry close a session safely from any thread, even while the
// reactor is being torn down.
struct SessionControl {
  std::recursive_mutex mu;
  SessionReactor* reactor = nullptr;  // guarded by mu; null after OnDone
};

class SessionReactor final
    : public grpc::ServerBidiReactor<v1::AgentMessage, v1::GatewayMessage> {
 public:
  SessionReactor(AgentService* service, grpc::CallbackServerContext* ctx)
      : service_(service), control_(std::make_shared<SessionControl>()) {
    control_->reactor = this;
    auto identity = IdentifyPeer(*ctx, service->options().insecure_identity);
    if (!identity.ok()) {
      FinishOnce(ToGrpc(identity.status()));
      return;
    }
    identity_ = std::move(identity).value();
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    // A plain heartbeat only touches the registry's in-memory presence:
    // answer it here instead of paying for a hop to the worker pool.
    if (session_id_ != 0 && in_.has_heartbeat() &&
        in_.heartbeat().slots().empty()) {
      Status s = service_->registry()->Heartbeat(identity_.device_id,
                                                 session_id_, nullptr);
      if (!s.ok()) {
        FinishOnce(ToGrpc(AbortedError("session is no longer current")),
                   "error");
        return;
      }
      v1::GatewayMessage ack;
      ack.mutable_heartbeat_ack()->set_sequence(in_.heartbeat().sequence());
      Send(std::move(ack));
      StartRead(&in_);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_running_ = true;
    }
    boost::asio::post(*service_->pool(), [this] { HandleMessage(); });
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) {
        out_.clear();
      } else if (!out_.empty() && !pending_finish_) {
        StartNextWriteLocked();
        return;
      }
      if (pending_finish_ && !task_running_) {
        finish = std::move(pending_finish_);
        pending_finish_.reset();
      }
    }
    if (finish) Finish(*finish);
  }

  void OnCancel() override {}

  void OnDone() override {
    {
      std::lock_guard<std::recursive_mutex> lock(control_->mu);
      control_->reactor = nullptr;
    }
    if (session_id_ != 0) {
      service_->registry()->CloseSession(identity_.device_id, session_id_,
                                         close_reason_);
    }
    delete this;
  }

  // Ends the stream with `status` as soon as no write or task is in flight.
  // Thread-safe; only the first call counts.
  void FinishOnce(const grpc::Status& status, const char* reason = "closed") {
    bool now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finishing_) return;
      finishing_ = true;
      close_reason_ = reason;
      if (writing_ || task_running_) {
        pending_finish_ = status;
      } else {
        now = true;
      }
    }
    if (now) Finish(status);
  }

 private:
  // Queues `msg`; false when the stream is finishing.
  bool Send(v1::GatewayMessage msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finishing_) return false;
    out_.push_back(std::move(msg));
    if (!writing_) StartNextWriteLocked();
    return true;
  }

  void StartNextWriteLocked() {
    current_ = std::move(out_.front());
    out_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  // Runs on the worker pool; the reactor stays alive because Finish is
  // deferred while task_running_ is set.
  void HandleMessage() {
    Status status = Process();
    std::optional<grpc::Status> finish;
    bool read_next = false;
    if (!status.ok()) FinishOnce(ToGrpc(status), "error");
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_running_ = false;
      if (finishing_) {
        if (pending_finish_ && !writing_) {
          finish = std::move(pending_finish_);
          pending_finish_.reset();
        }
      } else {
        read_next = true;
      }
    }
    if (finish) {
      Finish(*finish);
    } else if (read_next) {
      StartRead(&in_);
    }
  }

  Status Process() {
    fleet::Registry* registry = service_->registry();
    if (session_id_ == 0) {
      if (!in_.has_hello()) {
        return FailedPreconditionError(
            "the first session message must be hello");
      }
      std::weak_ptr<SessionControl> weak = control_;
      auto ticket = registry->OpenSession(
          identity_.device_id, identity_.cert_sha256, in_.hello().node(),
          in_.hello().agent_version(),
          [weak](const Status& reason) {
            auto control = weak.lock();
            if (!control) return;
            std::lock_guard<std::recursive_mutex> lock(control->mu);
            if (control->reactor) {
              control->reactor->FinishOnce(ToGrpc(reason), "kicked");
            }
          },
          [weak](const v1::GatewayMessage& message) {
            auto control = weak.lock();
            if (!control) return false;
            std::lock_guard<std::recursive_mutex> lock(control->mu);
            if (!control->reactor) return false;
            return control->reactor->SendFromOutside(message);
          });
      if (!ticket.ok()) return ticket.status();
      session_id_ = ticket->session_id;
      v1::GatewayMessage welcome;
      welcome.mutable_welcome()->set_device_id(identity_.device_id);
      welcome.mutable_welcome()->set_heartbeat_interval_ms(
          static_cast<uint32_t>(ticket->heartbeat_interval.count()));
      *welcome.mutable_welcome()->mutable_server_time() =
          TimeUtil::GetCurrentTime();
      welcome.mutable_welcome()->set_gateway_telemetry_public_key(
          service_->options().gateway_telemetry_public_key);
      welcome.mutable_welcome()->set_model_signing_public_key(
          service_->options().model_signing_public_key);
      if (service_->options().ingest) {
        auto acked =
            service_->options().ingest->HighestCounter(identity_.device_id);
        if (acked.ok())
          welcome.mutable_welcome()->set_telemetry_acked_counter(*acked);
      }
      Send(std::move(welcome));
      return Status::Ok();
    }
    switch (in_.payload_case()) {
      case v1::AgentMessage::kHeartbeat: {
        std::vector<v1::ModelSlot> slots(in_.heartbeat().slots().begin(),
                                         in_.heartbeat().slots().end());
        Status s =
            registry->Heartbeat(identity_.device_id, session_id_, &slots);
        if (!s.ok()) {
          if (s.code() == StatusCode::kNotFound) {
            return AbortedError("session is no longer current");
          }
          return s;
        }
        v1::GatewayMessage ack;
        ack.mutable_heartbeat_ack()->set_sequence(in_.heartbeat().sequence());
        Send(std::move(ack));
        return Status::Ok();
      }
      case v1::AgentMessage::kTelemetry:
        return HandleTelemetry();
      case v1::AgentMessage::kUpdateProgress:
        if (auto* rollouts = service_->options().rollouts) {
          // Store writes: on the worker pool, never in the reactor.
          boost::asio::post(
              *service_->pool(),
              [rollouts, id = identity_.device_id, p = in_.update_progress()] {
                rollouts->OnProgress(id, p);
              });
        }
        return Status::Ok();
      case v1::AgentMessage::kTrainProgress:
        if (service_->options().rounds) {
          service_->options().rounds->OnTrainProgress(identity_.device_id,
                                                      in_.train_progress());
        }
        return Status::Ok();
      case v1::AgentMessage::kHello:
        return FailedPreconditionError("hello sent twice");
      case v1::AgentMessage::PAYLOAD_NOT_SET:
        return InvalidArgumentError("empty session message");
      default:
        // A payload added by a newer agent version: ignored, so that newer
        // agents keep working with this gateway.
        return Status::Ok();
    }
  }

  Status HandleTelemetry() {
    auto* ingest = service_->options().ingest;
    if (!ingest)
      return FailedPreconditionError("this gateway takes no telemetry");
    const auto& batch = in_.telemetry().records();
    if (static_cast<size_t>(batch.size()) >
        service_->options().max_records_per_batch) {
      return InvalidArgumentError(
          "at most " +
          std::to_string(service_->options().max_records_per_batch) +
          " records per telemetry message");
    }
    std::vector<telemetry::SealedInput> records;
    records.reserve(batch.size());
    for (const auto& r : batch)
      records.push_back({r.counter(), r.ciphertext()});
    std::weak_ptr<SessionControl> weak = control_;
    ingest->Submit(
        identity_.device_id, std::move(records),
        [weak](Result<telemetry::IngestOutcome> outcome) {
          // Without an acknowledgement the agent keeps the
          // records and sends them again.
          if (!outcome.ok() || outcome->ack_up_to == 0) return;
          auto control = weak.lock();
          if (!control) return;
          std::lock_guard<std::recursive_mutex> lock(control->mu);
          if (!control->reactor) return;
          v1::GatewayMessage ack;
          ack.mutable_telemetry_ack()->set_up_to_counter(outcome->ack_up_to);
          control->reactor->SendFromOutside(std::move(ack));
        });
    return Status::Ok();
  }

 public:
  // Thread-safe Send for callbacks that hold the SessionControl lock.
  bool SendFromOutside(v1::GatewayMessage msg) { return Send(std::move(msg)); }

 private:
  AgentService* service_;
  std::shared_ptr<SessionControl> control_;
  PeerIdentity identity_;
  v1::AgentMessage in_;
  uint64_t session_id_ = 0;  // touched only by the one task in flight

  std::mutex mu_;
  const char* close_reason_ = "closed";  // guarded by mu_; read in OnDone
  std::deque<v1::GatewayMessage> out_;   // guarded by mu_
  v1::GatewayMessage current_;           // being written
  bool writing_ = false;                 // guarded by mu_
  bool task_running_ = false;            // guarded by mu_
  bool finishing_ = false;               // guarded by mu_
  std::optional<grpc::Status> pending_finish_;  // guarded by mu_
};

}  // namespace

grpc::ServerBidiReactor<v1::AgentMessage, v1::GatewayMessage>*
AgentService::Session(grpc::CallbackServerContext* ctx) {
  return new SessionReactor(this, ctx);
}

namespace {

// Streams an artifact from an offset, one chunk in flight at a time; chunks
// are read on the worker pool.
class FetchReactor final : public grpc::ServerWriteReactor<v1::ArtifactChunk> {
 public:
  FetchReactor(AgentService* service, grpc::CallbackServerContext* ctx,
               const v1::FetchArtifactRequest* req)
      : service_(service), req_(*req), offset_(req->offset()) {
    auto identity = IdentifyPeer(*ctx, service->options().insecure_identity);
    if (!identity.ok()) {
      Finish(ToGrpc(identity.status()));
      return;
    }
    if (!service->options().artifacts) {
      Finish(ToGrpc(UnavailableError("this gateway serves no artifacts")));
      return;
    }
    chunk_ = req->chunk_bytes() == 0 ? kMaxChunk : req->chunk_bytes();
    if (chunk_ > kMaxChunk) {
      Finish(ToGrpc(InvalidArgumentError("chunk_bytes is at most 65536")));
      return;
    }
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  static constexpr uint32_t kMaxChunk = 64 * 1024;

  void Next() {
    boost::asio::post(*service_->pool(), [this] {
      auto* store = service_->options().artifacts;
      auto rec = store->Get(req_.artifact_id());
      if (!rec.ok()) {
        Finish(ToGrpc(rec.status()));
        return;
      }
      if (offset_ == rec->size && sent_any_) {
        Finish(grpc::Status::OK);
        return;
      }
      auto data = store->Read(req_.artifact_id(), offset_, chunk_);
      if (!data.ok()) {
        Finish(ToGrpc(data.status()));
        return;
      }
      out_.Clear();
      out_.set_offset(offset_);
      out_.set_total_bytes(rec->size);
      Sha256Digest d = Sha256(*data);
      out_.set_sha256(
          std::string(reinterpret_cast<const char*>(d.data()), d.size()));
      offset_ += data->size();
      out_.set_data(std::move(data).value());
      sent_any_ = true;
      if (out_.data().empty()) {
        Finish(grpc::Status::OK);
        return;
      }
      StartWrite(&out_);
    });
  }

  AgentService* service_;
  v1::FetchArtifactRequest req_;
  uint64_t offset_;
  uint32_t chunk_ = kMaxChunk;
  bool sent_any_ = false;
  v1::ArtifactChunk out_;
};

}  // namespace

grpc::ServerWriteReactor<v1::ArtifactChunk>* AgentService::FetchArtifact(
    grpc::CallbackServerContext* ctx, const v1::FetchArtifactRequest* request) {
  return new FetchReactor(this, ctx, request);
}

namespace {

// Receives an update chunk by chunk; each chunk is committed by the round
// engine on the worker pool before the next one is read.
class UploadReactor final : public grpc::ServerReadReactor<v1::UpdateChunk> {
 public:
  UploadReactor(AgentService* service, grpc::CallbackServerContext* ctx,
                v1::UploadUpdateResponse* response)
      : service_(service), response_(response) {
    auto identity = IdentifyPeer(*ctx, service->options().insecure_identity);
    if (!identity.ok()) {
      Finish(ToGrpc(identity.status()));
      return;
    }
    if (!service->options().rounds) {
      Finish(ToGrpc(UnavailableError("this gateway runs no rounds")));
      return;
    }
    device_id_ = identity->device_id;
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side
      Finish(grpc::Status::OK);
      return;
    }
    if (chunk_.data().size() > kMaxChunk) {
      Finish(ToGrpc(InvalidArgumentError("chunks are at most 64 KiB")));
      return;
    }
    boost::asio::post(*service_->pool(), [this] {
      auto st = service_->options().rounds->ReceiveChunk(device_id_, chunk_);
      if (!st.ok()) {
        Finish(ToGrpc(st.status()));
        return;
      }
      response_->set_committed_bytes(st->committed_bytes);
      response_->set_accepted(st->accepted);
      response_->set_reason(st->reason);
      if (st->complete || !st->reason.empty()) {
        Finish(grpc::Status::OK);
        return;
      }
      StartRead(&chunk_);
    });
  }

  void OnDone() override { delete this; }

 private:
  static constexpr size_t kMaxChunk = 64 * 1024;

  AgentService* service_;
  v1::UploadUpdateResponse* response_;
  std::string device_id_;
  v1::UpdateChunk chunk_;
};

}  // namespace

grpc::ServerReadReactor<v1::UpdateChunk>* AgentService::UploadUpdate(
    grpc::CallbackServerContext* ctx, v1::UploadUpdateResponse* response) {
  return new UploadReactor(this, ctx, response);
}

}  // namespace tinyfleet::api
