// NodeLink: the agent's end of the node link protocol
// (docs/formats/link-protocol.md) over a ByteTransport, using the firmware's
// own C codec. Requests are stop-and-wait: one outstanding at a time, the
// rest queued; each is retried with the identical frame bytes after a
// timeout, so the node answers a retry from its response cache instead of
// executing it twice. Requests from the node (heartbeats) are answered here.
//
// Threading: bound to a strand; every callback runs on it; public methods
// may be called from any thread.
#ifndef TINYFLEET_AGENT_LINK_NODE_LINK_H_
#define TINYFLEET_AGENT_LINK_NODE_LINK_H_

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/link/transport.h"
#include "common/status.h"
#include "link/tn_link.h"
#include "tinyfleet/v1/common.pb.h"

namespace tinyfleet::agent {

// Maps a node's HELLO reply onto the API's NodeInfo.
v1::NodeInfo ToNodeInfo(const tn_link_hello_reply& reply,
                        const char* transport);
// The node's tn_status name ("TN_ERR_SELFTEST") in an error of a request
// the node refused (NACK), or "" for other errors.
std::string NodeRefusalCode(const Status& s);

// Maps slot `index` (0 = "A") of a HELLO reply.
v1::ModelSlot ToModelSlot(uint32_t index, const tn_link_slot& status);

struct NodeLinkOptions {
  // Time to wait for each response before re-sending. Default 500 ms.
  std::chrono::milliseconds response_timeout{500};
  // Re-sends before a request fails with DEADLINE_EXCEEDED. Default 3.
  int retries = 3;
  // CallAndWait gives up after the larger of this and 8 times one
  // request's budget (response_timeout x (retries + 1)). Default 30 s.
  std::chrono::milliseconds call_wait_bound{30000};
};

struct NodeLinkStats {
  uint64_t requests = 0;
  uint64_t retransmissions = 0;
  uint64_t frames_rejected = 0;  // corrupt, oversize or truncated frames
  uint64_t heartbeats = 0;
  uint64_t telemetry_records = 0;
};

class NodeLink : public std::enable_shared_from_this<NodeLink> {
 public:
  static std::shared_ptr<NodeLink> Create(
      Strand strand, std::unique_ptr<ByteTransport> transport,
      NodeLinkOptions options = {});
  ~NodeLink();

  // Opens the transport and exchanges HELLO; `done` gets the node's report.
  void Connect(std::function<void(Result<v1::NodeInfo>)> done);
  // A PING round trip.
  void Ping(std::function<void(const Status&)> done);
  // Reads the node's telemetry key and key state (link KEY_INFO).
  void KeyInfo(std::function<void(Result<tn_link_key_info_reply>)> done);
  // Gives the node the gateway's telemetry key and its device id (link
  // SET_GATEWAY_KEY); the node derives its sealing key from them.
  void SetGatewayKey(const std::string& gateway_public_key,
                     const std::string& device_id,
                     std::function<void(const Status&)> done);

  // A sealed telemetry record from the node. The handler must call `ack`
  // exactly once: with OK once the record is durable (the node then drops
  // it), or with an error (the node keeps it and sends it again later).
  using TelemetryHandler =
      std::function<void(uint64_t counter, std::string sealed,
                         std::function<void(const Status&)> ack)>;
  void OnTelemetry(TelemetryHandler handler);
  // Called when the transport drops after a successful Connect.
  void OnDisconnected(std::function<void(const Status&)> fn);
  void Close();

  // A request of any type with an encoded payload; `done` gets the
  // response payload (typed replies) or an empty one (ACK). A NACK becomes
  // FAILED_PRECONDITION whose message ends with the node's tn_status name.
  // After Close() it fails at once with UNAVAILABLE, on the caller's thread.
  void Call(uint8_t type, std::vector<uint8_t> payload,
            std::function<void(Result<std::vector<uint8_t>>)> done);
  // Call, waiting for the answer. For threads that are not the link's
  // strand (there it would deadlock). Returns within a bound even when the
  // strand no longer runs (its io_context was stopped at shutdown): after
  // CallWaitBound() the result is DEADLINE_EXCEEDED and a late answer is
  // dropped.
  Result<std::vector<uint8_t>> CallAndWait(uint8_t type,
                                           std::vector<uint8_t> payload);
  // The longest CallAndWait waits (NodeLinkOptions::call_wait_bound); a
  // generous multiple of one request's budget, since a call may queue
  // behind others.
  std::chrono::milliseconds CallWaitBound() const;
  // Largest payload the node accepts (from its HELLO reply).
  uint16_t peer_max_payload() const { return peer_max_payload_.load(); }

  NodeLinkStats stats() const { return stats_; }

 private:
  struct Pending {
    uint8_t type;
    uint8_t flags;
    std::vector<uint8_t> payload;
    std::function<void(Result<std::vector<uint8_t>>)> done;
  };

  NodeLink(Strand strand, std::unique_ptr<ByteTransport> transport,
           NodeLinkOptions options);
  // Requests without a typed reply are sent with ACK_REQUESTED.
  void Submit(uint8_t type, std::vector<uint8_t> payload,
              std::function<void(Result<std::vector<uint8_t>>)> done);
  void Answer(const tn_link_frame& request, tn_status result);
  void SendNext();
  void ArmTimer();
  void OnBytes(const uint8_t* data, size_t size);
  void OnFrame(const tn_link_frame& frame);
  void HandleNodeRequest(const tn_link_frame& frame);
  void FailAll(const Status& why);
  void Complete(Result<std::vector<uint8_t>> result);

  Strand strand_;
  std::unique_ptr<ByteTransport> transport_;
  NodeLinkOptions options_;
  boost::asio::steady_timer timer_;
  tn_link_decoder decoder_{};
  tn_link_requester requester_{};
  tn_link_responder responder_{};
  std::deque<Pending> queue_;
  bool in_flight_ = false;
  std::vector<uint8_t> wire_;  // bytes of the outstanding request
  int attempts_ = 0;
  bool open_ = false;
  std::atomic<bool> closed_{false};  // set by Close(), from any thread
  std::atomic<uint16_t> peer_max_payload_{TN_LINK_MIN_PAYLOAD};
  std::function<void(const Status&)> on_disconnected_;
  TelemetryHandler on_telemetry_;
  uint64_t connection_ = 0;  // incremented per Connect; stale acks are dropped
  NodeLinkStats stats_;
};

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_LINK_NODE_LINK_H_
