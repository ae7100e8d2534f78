#include "agent/session/gateway_session.h"

#include <boost/asio/post.hpp>
#include <deque>
#include <mutex>

#include "common/log.h"

namespace tinyfleet::agent {

const char* SessionStateName(SessionState s) {
  switch (s) {
    case SessionState::kStopped:
      return "stopped";
    case SessionState::kConnecting:
      return "connecting";
    case SessionState::kOnline:
      return "online";
    case SessionState::kBackoff:
      return "backoff";
  }
  return "unknown";
}

// The bidirectional stream of one connection attempt. Owned by itself from
// StartCall() until OnDone (self_ keeps it alive); the session holds a
// shared_ptr to write to it.
struct GatewaySession::Stream
    : public grpc::ClientBidiReactor<v1::AgentMessage, v1::GatewayMessage>,
      public std::enable_shared_from_this<GatewaySession::Stream> {
  explicit Stream(std::weak_ptr<GatewaySession> s) : session(std::move(s)) {}

  void Begin(v1::AgentService::Stub* stub, v1::AgentMessage hello) {
    self = shared_from_this();
    stub->async()->Session(&context, this);
    Write(std::move(hello));
    StartRead(&in);
    StartCall();
  }

  // Thread-safe.
  void Write(v1::AgentMessage msg) {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    out.push_back(std::move(msg));
    if (!writing) {
      writing = true;
      current = std::move(out.front());
      out.pop_front();
      StartWrite(&current);
    }
  }

  void Cancel() { context.TryCancel(); }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!ok) {
      closed = true;
      out.clear();
      writing = false;
      return;
    }
    if (out.empty()) {
      writing = false;
      return;
    }
    current = std::move(out.front());
    out.pop_front();
    StartWrite(&current);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    if (auto s = session.lock()) {
      auto msg = in;
      boost::asio::post(s->strand_,
                        [s, me = shared_from_this(), msg]() mutable {
                          s->StreamEvent(me, std::move(msg));
                        });
    }
    StartRead(&in);
  }

  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      closed = true;
    }
    if (auto s = session.lock()) {
      boost::asio::post(s->strand_, [s, me = shared_from_this(), status] {
        s->StreamDone(me, status);
      });
    }
    self.reset();  // may delete this
  }

  std::weak_ptr<GatewaySession> session;
  std::shared_ptr<Stream> self;
  grpc::ClientContext context;
  v1::GatewayMessage in;
  std::mutex mu;
  std::deque<v1::AgentMessage> out;  // guarded by mu
  v1::AgentMessage current;
  bool writing = false;   // guarded by mu
  bool closed = false;    // guarded by mu
  bool welcomed = false;  // strand only
};

std::shared_ptr<GatewaySession> GatewaySession::Create(
    boost::asio::io_context& io, SessionOptions options, NodeInfoFn node_info) {
  return std::shared_ptr<GatewaySession>(
      new GatewaySession(io, std::move(options), std::move(node_info)));
}

GatewaySession::GatewaySession(boost::asio::io_context& io,
                               SessionOptions options, NodeInfoFn node_info)
    : strand_(boost::asio::make_strand(io)),
      options_(std::move(options)),
      node_info_(std::move(node_info)),
      retry_timer_(strand_),
      heartbeat_timer_(strand_),
      telemetry_timer_(strand_),
      jitter_(options_.jitter_seed ? options_.jitter_seed
                                   : std::random_device{}()),
      heartbeat_interval_(options_.default_heartbeat) {}

void GatewaySession::OnStateChange(StateFn fn) { on_state_ = std::move(fn); }

void GatewaySession::OnWelcome(WelcomeFn fn) { on_welcome_ = std::move(fn); }

void GatewaySession::OnOrder(OrderFn fn) { on_order_ = std::move(fn); }

void GatewaySession::OnTrainOrder(TrainOrderFn fn) {
  on_train_order_ = std::move(fn);
}

void GatewaySession::OnTrainCancel(TrainCancelFn fn) {
  on_train_cancel_ = std::move(fn);
}

void GatewaySession::SendTrainProgress(const v1::TrainProgress& progress) {
  boost::asio::post(strand_, [self = shared_from_this(), progress] {
    if (!self->stream_ || !self->stream_->welcomed) return;
    v1::AgentMessage m;
    *m.mutable_train_progress() = progress;
    self->stream_->Write(std::move(m));
  });
}

void GatewaySession::SendProgress(const v1::UpdateProgress& progress) {
  boost::asio::post(strand_, [self = shared_from_this(), progress] {
    if (!self->stream_ || !self->stream_->welcomed) return;
    v1::AgentMessage m;
    *m.mutable_update_progress() = progress;
    self->stream_->Write(std::move(m));
  });
}

void GatewaySession::NotifyTelemetry() {
  boost::asio::post(strand_,
                    [self = shared_from_this()] { self->PumpTelemetry(); });
}

void GatewaySession::PumpTelemetry() {
  if (!options_.outbox || telemetry_in_flight_ || !stream_ ||
      !stream_->welcomed || stopping_) {
    return;
  }
  auto pending = options_.outbox->Pending(options_.credentials.device_id,
                                          options_.telemetry_batch);
  if (!pending.ok()) {
    TF_LOG(kWarning, "session") << "outbox: " << pending.status().ToString();
    return;
  }
  if (pending->empty()) return;
  v1::AgentMessage msg;
  auto* batch = msg.mutable_telemetry();
  for (auto& r : *pending) {
    auto* rec = batch->add_records();
    rec->set_counter(r.counter);
    rec->set_ciphertext(std::move(r.sealed));
  }
  telemetry_in_flight_ = true;
  stream_->Write(std::move(msg));
  telemetry_timer_.expires_after(options_.telemetry_retry);
  telemetry_timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return;
        self->telemetry_in_flight_ = false;  // no acknowledgement: send again
        self->PumpTelemetry();
      });
}

void GatewaySession::SetState(SessionState s, const Status& err) {
  state_.store(s);
  if (on_state_) on_state_(s, err);
}

void GatewaySession::Start() {
  boost::asio::post(strand_, [self = shared_from_this()] {
    if (self->stopping_ || self->stream_) return;
    GatewayEndpoint ep = self->options_.endpoint;
    if (!ep.insecure && !self->options_.credentials.ca_pem.empty()) {
      ep.ca_pem = self->options_.credentials.ca_pem;
    }
    self->channel_ = MakeChannel(ep, &self->options_.credentials);
    self->stub_ = v1::AgentService::NewStub(self->channel_);
    self->Connect();
  });
}

void GatewaySession::Connect() {
  if (stopping_) return;
  SetState(SessionState::kConnecting);
  auto stream = std::make_shared<Stream>(weak_from_this());
  if (options_.endpoint.insecure) {
    stream->context.AddMetadata("x-tinyfleet-device-id",
                                options_.credentials.device_id);
  }
  stream_ = stream;
  v1::AgentMessage hello;
  *hello.mutable_hello()->mutable_node() =
      node_info_ ? node_info_() : v1::NodeInfo();
  hello.mutable_hello()->set_agent_version(AgentVersion());
  stream->Begin(stub_.get(), std::move(hello));
}

void GatewaySession::StreamEvent(std::shared_ptr<Stream> stream,
                                 v1::GatewayMessage msg) {
  if (stream != stream_) return;
  switch (msg.payload_case()) {
    case v1::GatewayMessage::kWelcome: {
      stream->welcomed = true;
      attempt_ = 0;
      opened_.fetch_add(1);
      auto ms = msg.welcome().heartbeat_interval_ms();
      if (ms >= 10) heartbeat_interval_ = std::chrono::milliseconds(ms);
      SetState(SessionState::kOnline);
      ScheduleHeartbeat();
      if (on_welcome_) on_welcome_(msg.welcome());
      if (options_.outbox && msg.welcome().telemetry_acked_counter() > 0) {
        (void)options_.outbox->Acknowledge(
            options_.credentials.device_id,
            msg.welcome().telemetry_acked_counter());
      }
      telemetry_in_flight_ = false;
      PumpTelemetry();
      break;
    }
    case v1::GatewayMessage::kHeartbeatAck:
      acked_.fetch_add(1);
      break;
    case v1::GatewayMessage::kUpdateOrder:
      if (on_order_) on_order_(msg.update_order());
      break;
    case v1::GatewayMessage::kTrainOrder:
      if (on_train_order_) on_train_order_(msg.train_order());
      break;
    case v1::GatewayMessage::kTrainCancel:
      if (on_train_cancel_) on_train_cancel_(msg.train_cancel());
      break;
    case v1::GatewayMessage::kTelemetryAck:
      if (options_.outbox) {
        Status s =
            options_.outbox->Acknowledge(options_.credentials.device_id,
                                         msg.telemetry_ack().up_to_counter());
        if (!s.ok()) {
          TF_LOG(kWarning, "session") << "outbox: " << s.ToString();
        }
      }
      batches_acked_.fetch_add(1);
      telemetry_in_flight_ = false;
      telemetry_timer_.cancel();
      PumpTelemetry();
      break;
    default:
      // Orders this agent version does not handle yet are ignored.
      break;
  }
}

void GatewaySession::ScheduleHeartbeat() {
  heartbeat_timer_.expires_after(heartbeat_interval_);
  heartbeat_timer_.async_wait([self = shared_from_this(),
                               stream = stream_](boost::system::error_code ec) {
    if (ec || self->stopping_ || stream != self->stream_) return;
    self->SendHeartbeat();
    self->ScheduleHeartbeat();
  });
}

void GatewaySession::SendHeartbeat() {
  if (!stream_ || !stream_->welcomed) return;
  v1::AgentMessage hb;
  hb.mutable_heartbeat()->set_sequence(++heartbeat_seq_);
  for (auto& s : pending_slots_) *hb.mutable_heartbeat()->add_slots() = s;
  pending_slots_.clear();
  stream_->Write(std::move(hb));
}

void GatewaySession::ReportSlots(std::vector<v1::ModelSlot> slots) {
  boost::asio::post(
      strand_, [self = shared_from_this(), slots = std::move(slots)]() mutable {
        self->pending_slots_ = std::move(slots);
        self->SendHeartbeat();
      });
}

void GatewaySession::StreamDone(std::shared_ptr<Stream> stream,
                                grpc::Status status) {
  if (stream != stream_) return;
  stream_.reset();
  heartbeat_timer_.cancel();
  telemetry_timer_.cancel();
  telemetry_in_flight_ = false;
  if (stopping_) {
    SetState(SessionState::kStopped);
    if (stop_done_) {
      auto done = std::move(stop_done_);
      done();
    }
    return;
  }
  Status why = FromGrpc(status);
  if (why.ok()) why = UnavailableError("gateway closed the session");
  ScheduleReconnect(why);
}

void GatewaySession::ScheduleReconnect(const Status& why) {
  int64_t cap = options_.initial_backoff.count() << std::min(attempt_, 16);
  cap = std::min<int64_t>(cap, options_.max_backoff.count());
  std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(cap, 1));
  auto delay = std::chrono::milliseconds(dist(jitter_));
  ++attempt_;
  TF_LOG(kDebug, "session")
      << options_.credentials.device_id << ": " << why.ToString()
      << "; reconnecting in " << delay.count() << " ms";
  SetState(SessionState::kBackoff, why);
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->Connect();
      });
}

void GatewaySession::Stop(std::function<void()> done) {
  boost::asio::post(strand_,
                    [self = shared_from_this(), done = std::move(done)] {
                      self->stopping_ = true;
                      self->retry_timer_.cancel();
                      self->heartbeat_timer_.cancel();
                      self->telemetry_timer_.cancel();
                      if (self->stream_) {
                        self->stop_done_ = done;
                        self->stream_->Cancel();
                      } else {
                        self->SetState(SessionState::kStopped);
                        if (done) done();
                      }
                    });
}

}  // namespace tinyfleet::agent
