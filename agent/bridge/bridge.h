// Bridge: what an agent does for one node — connect to the node over its
// transport and read its HELLO report; enroll it with a bootstrap token the
// first time (the key and certificate are then kept on disk); keep its
// gateway session up; reconnect the node link when it drops.
//
// Threading: state on a strand of the shared io_context; enrollment (key
// generation, a blocking RPC) runs on the `blocking` pool. Public methods may
// be called from any thread.
#ifndef TINYFLEET_AGENT_BRIDGE_BRIDGE_H_
#define TINYFLEET_AGENT_BRIDGE_BRIDGE_H_

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "agent/adapt/trainer.h"
#include "agent/link/node_link.h"
#include "agent/session/gateway_session.h"
#include "agent/update/updater.h"

namespace tinyfleet::agent {

struct BridgeOptions {
  // Name used in logs, e.g. the node's transport address.
  std::string name;
  // Where the device's credentials live (see credentials.h).
  std::filesystem::path credentials_dir;
  GatewayEndpoint endpoint;
  // One-time token for the first enrollment; ignored once enrolled.
  std::string bootstrap_token;
  // Delay before reconnecting a node link that failed.
  std::chrono::milliseconds node_retry{1000};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  NodeLinkOptions link;
  // Where the node's sealed telemetry waits for the gateway; null: the node's
  // records are refused (it keeps them). Must outlive the bridge.
  Outbox* outbox = nullptr;
  // The node's local training resources as configured for this agent,
  // reported in NodeInfo where the transport reports none (a transport's
  // own non-zero figures win). 0: not reported.
  NodeResources resources;
};

enum class BridgeState {
  kStarting,
  kNodeUnavailable,  // node link down; retrying
  kEnrolling,
  kEnrollmentRefused,  // token refused: needs an operator
  kConnecting,         // session connecting or backing off
  kOnline,
  kStopped,
};
const char* BridgeStateName(BridgeState s);

class Bridge : public std::enable_shared_from_this<Bridge> {
 public:
  using TransportFactory =
      std::function<std::unique_ptr<ByteTransport>(Strand)>;

  // `blocking` must outlive the bridge.
  static std::shared_ptr<Bridge> Create(boost::asio::io_context& io,
                                        BridgeOptions options,
                                        TransportFactory transport,
                                        boost::asio::thread_pool* blocking);

  void Start();
  // Stops the session and the node link; `done` runs once both are closed.
  void Stop(std::function<void()> done = nullptr);

  BridgeState state() const { return state_.load(); }
  std::string device_id() const;
  std::string last_error() const;
  std::shared_ptr<GatewaySession> session() const;
  // How often the node was given the gateway's telemetry key.
  uint64_t keys_provisioned() const;
  // The node's updater (null before the session starts).
  std::shared_ptr<Updater> updater() const;
  // The node's trainer for adaptation rounds (null before the session
  // starts).
  std::shared_ptr<Trainer> trainer() const;

 private:
  Bridge(boost::asio::io_context& io, BridgeOptions options,
         TransportFactory transport, boost::asio::thread_pool* blocking);
  void ConnectNode();
  void OnNodeInfo(v1::NodeInfo info);
  void EnrollThenStart();
  void StartSession(Credentials creds);
  // Reads the node's key state and gives it the gateway key when it lacks
  // it (or holds another gateway's or device's).
  void ProvisionNodeKey();
  void OnNodeTelemetry(uint64_t counter, std::string sealed,
                       std::function<void(const Status&)> ack);
  void SetState(BridgeState s, const std::string& error = "");
  uint32_t node_info_capabilities() const;

  boost::asio::io_context& io_;
  Strand strand_;
  BridgeOptions options_;
  TransportFactory transport_factory_;
  boost::asio::thread_pool* blocking_;
  std::shared_ptr<NodeLink> link_;
  // The node's transport, owned by link_; used on the strand only.
  ByteTransport* transport_ = nullptr;
  boost::asio::steady_timer retry_timer_;
  int enroll_attempt_ = 0;
  bool stopping_ = false;

  mutable std::mutex mu_;
  v1::NodeInfo node_info_;                   // guarded by mu_
  std::string device_id_;                    // guarded by mu_
  std::string last_error_;                   // guarded by mu_
  std::shared_ptr<GatewaySession> session_;  // guarded by mu_
  std::shared_ptr<Updater> updater_;         // guarded by mu_
  std::shared_ptr<Trainer> trainer_;         // guarded by mu_
  std::string node_public_key_;              // guarded by mu_
  std::string gateway_key_;                  // guarded by mu_
  uint64_t key_provisioned_ = 0;             // node keys set (tests)
  std::atomic<BridgeState> state_{BridgeState::kStarting};
};

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_BRIDGE_BRIDGE_H_
