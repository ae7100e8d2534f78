// GatewaySession: one device's live session with the gateway — hello,
// welcome, heartbeats at the interval the gateway asks for — kept up for as
// long as the agent runs: when the stream ends it reconnects after an
// exponential backoff with full jitter (delay uniform in [0, min(max,
// initial * 2^attempt)]), reset once a session has been welcomed.
//
// Threading: all state lives on `strand`; gRPC reactor callbacks hop onto it.
// Public methods may be called from any thread. Many sessions may share one
// io_context (the fleet simulator runs thousands).
#ifndef TINYFLEET_AGENT_SESSION_GATEWAY_SESSION_H_
#define TINYFLEET_AGENT_SESSION_GATEWAY_SESSION_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <random>

#include "agent/outbox/outbox.h"
#include "agent/session/credentials.h"
#include "agent/session/gateway_client.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::agent {

struct SessionOptions {
  GatewayEndpoint endpoint;
  Credentials credentials;
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  // Used until the gateway's welcome names an interval.
  std::chrono::milliseconds default_heartbeat{5000};
  // Seed of the jitter generator (tests make it deterministic).
  uint64_t jitter_seed = 0;
  // Sealed telemetry of this device waiting for the gateway; null: none.
  // Must outlive the session.
  Outbox* outbox = nullptr;
  // Records per TelemetryBatch, and how long to wait for its
  // acknowledgement before sending it again.
  size_t telemetry_batch = 64;
  std::chrono::milliseconds telemetry_retry{10'000};
};

enum class SessionState { kStopped, kConnecting, kOnline, kBackoff };
const char* SessionStateName(SessionState s);

class GatewaySession : public std::enable_shared_from_this<GatewaySession> {
 public:
  // `node_info` is called on the strand before each hello to report the
  // node's current state.
  using NodeInfoFn = std::function<v1::NodeInfo()>;
  using StateFn = std::function<void(SessionState, const Status& last_error)>;
  using WelcomeFn = std::function<void(const v1::Welcome&)>;
  using OrderFn = std::function<void(const v1::UpdateOrder&)>;
  using TrainOrderFn = std::function<void(const v1::TrainOrder&)>;
  using TrainCancelFn = std::function<void(const v1::TrainCancel&)>;

  static std::shared_ptr<GatewaySession> Create(boost::asio::io_context& io,
                                                SessionOptions options,
                                                NodeInfoFn node_info);

  // Observes state changes (called on the strand). Set before Start().
  void OnStateChange(StateFn fn);
  // Observes each welcome (called on the strand). Set before Start().
  void OnWelcome(WelcomeFn fn);
  // Receives update orders (called on the strand). Set before Start().
  void OnOrder(OrderFn fn);
  // Receives training orders and their cancellations (called on the
  // strand). Set before Start().
  void OnTrainOrder(TrainOrderFn fn);
  void OnTrainCancel(TrainCancelFn fn);
  // Reports progress of a training order; dropped when not connected (the
  // gateway repeats the order and the agent reports again).
  void SendTrainProgress(const v1::TrainProgress& progress);
  // Reports progress of an order; dropped when not connected (the gateway
  // sends the order again and the agent reports again).
  void SendProgress(const v1::UpdateProgress& progress);
  // The node's slot table changed (an install or a rollback): sent at once
  // in a heartbeat, or in the first heartbeat of the next stream.
  void ReportSlots(std::vector<v1::ModelSlot> slots);
  // New records are in the outbox: send them when online.
  void NotifyTelemetry();
  uint64_t telemetry_batches_acked() const { return batches_acked_.load(); }
  void Start();
  // Ends the stream and stops reconnecting; `done` runs on the strand once
  // the stream is fully closed.
  void Stop(std::function<void()> done = nullptr);

  SessionState state() const { return state_.load(); }
  uint64_t sessions_opened() const { return opened_.load(); }
  uint64_t heartbeats_acked() const { return acked_.load(); }
  const std::string& device_id() const {
    return options_.credentials.device_id;
  }

  // Used by the stream reactor (private protocol between the two classes).
  struct Stream;
  void StreamEvent(std::shared_ptr<Stream> stream, v1::GatewayMessage msg);
  void StreamDone(std::shared_ptr<Stream> stream, grpc::Status status);

 private:
  GatewaySession(boost::asio::io_context& io, SessionOptions options,
                 NodeInfoFn node_info);
  void Connect();
  void ScheduleReconnect(const Status& why);
  void ScheduleHeartbeat();
  void SetState(SessionState s, const Status& err = Status::Ok());
  void PumpTelemetry();

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  SessionOptions options_;
  NodeInfoFn node_info_;
  StateFn on_state_;
  WelcomeFn on_welcome_;
  OrderFn on_order_;
  TrainOrderFn on_train_order_;
  TrainCancelFn on_train_cancel_;
  bool telemetry_in_flight_ = false;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
  std::shared_ptr<Stream> stream_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer telemetry_timer_;
  std::mt19937_64 jitter_;
  int attempt_ = 0;
  bool stopping_ = false;
  std::function<void()> stop_done_;
  std::chrono::milliseconds heartbeat_interval_;
  uint64_t heartbeat_seq_ = 0;
  // Slot table not yet written to a stream (strand only).
  std::vector<v1::ModelSlot> pending_slots_;
  void SendHeartbeat();  // strand only
  std::atomic<SessionState> state_{SessionState::kStopped};
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> acked_{0};
  std::atomic<uint64_t> batches_acked_{0};
};

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_SESSION_GATEWAY_SESSION_H_
