// Byte transports between an agent and its node: an in-process virtual node,
// TCP, or a serial port. The link protocol (node_link.h) runs on top.
//
// Threading: every transport is bound to a strand; callbacks run on it and
// methods must be called on it.
#ifndef TINYFLEET_AGENT_LINK_TRANSPORT_H_
#define TINYFLEET_AGENT_LINK_TRANSPORT_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/tn_base.h"
#include "common/status.h"

namespace tinyfleet::agent {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

// What a node has for local training, as its agent reports it in NodeInfo
// (train_samples, train_energy_budget_mj); 0 means not reported.
struct NodeResources {
  uint32_t train_samples = 0;
  double train_energy_budget_mj = 0;
};

class ByteTransport {
 public:
  using OnBytes = std::function<void(const uint8_t* data, size_t size)>;
  using OnClosed = std::function<void(const Status& why)>;
  virtual ~ByteTransport() = default;
  // Opens the connection and starts delivering received bytes; `on_open`
  // reports success or failure. After a failure or a close, the transport
  // may be opened again.
  virtual void Open(std::function<void(const Status&)> on_open,
                    OnBytes on_bytes, OnClosed on_closed) = 0;
  // Queues bytes for sending; failures surface through on_closed.
  virtual void Write(std::vector<uint8_t> bytes) = 0;
  virtual void Close() = 0;
  // "virtual", "tcp" or "serial".
  virtual const char* kind() const = 0;
  // The node's training resources as far as the transport knows them,
  // valid once Open has succeeded. Default: nothing reported (the link
  // protocol does not carry them; real nodes' agents report configured
  // values instead).
  virtual NodeResources resources() const { return {}; }
};

struct VirtualNodeOptions {
  // Node state (identity, slots) is kept in this directory; empty keeps it
  // in memory only.
  std::filesystem::path state_dir;
  tn_target target = TN_TARGET_GAP9;
  std::string firmware_version = "tinyfleet-node 0.1.0";
  // Sealed telemetry every this often once the node has its key (0: the
  // node sends none). Default 10 s.
  std::chrono::milliseconds telemetry_interval{10'000};
  // A/B model slots of this size take model updates (0: the node offers
  // none). Default 256 KiB.
  uint32_t slot_size = 256 * 1024;
  // Development only: accept unsigned model blobs.
  bool accept_unsigned_models = false;
  // Local data for training jobs: a feature data set (docs/formats/
  // dataset.md) and the user whose records the node holds (every 4th is
  // held out for evaluation). Empty (default): the node does not train.
  // Training needs model updates (slot_size > 0 and a state_dir).
  std::filesystem::path shard;
  uint32_t user = 0;
  // Local training samples the node reports; 0 (default): the size of the
  // user's train split of `shard` (0 without a shard).
  uint32_t train_samples = 0;
  // Energy the node may spend on one round's local training, mJ; 0
  // (default): not reported (no limit).
  double train_energy_budget_mj = 0;
};
// The firmware's virtual node (device/sim) running in-process.
Result<std::unique_ptr<ByteTransport>> MakeVirtualNodeTransport(
    Strand strand, const VirtualNodeOptions& options);

// A node (or tinyfleet-node --listen) at host:port.
std::unique_ptr<ByteTransport> MakeTcpTransport(Strand strand, std::string host,
                                                uint16_t port);

// A node on a serial port, 8N1 at `baud`.
std::unique_ptr<ByteTransport> MakeSerialTransport(Strand strand,
                                                   std::string device,
                                                   unsigned baud);

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_LINK_TRANSPORT_H_
