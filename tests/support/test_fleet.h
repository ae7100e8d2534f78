// A simulated fleet for host tests: agent bridges over in-process virtual
// nodes, enrolled against a TestGateway, with their own io threads and
// blocking pool, plus helpers for the model and rollout calls such tests
// make. Node state (credentials, slots, shards) lives under a directory the
// caller owns.
//
// Thread-safety: methods are called from the test thread.
#ifndef TINYFLEET_TESTS_SUPPORT_TEST_FLEET_H_
#define TINYFLEET_TESTS_SUPPORT_TEST_FLEET_H_

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/bridge/bridge.h"
#include "agent/link/transport.h"
#include "common/status.h"
#include "tests/support/test_env.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::testing {

class TestFleet {
 public:
  // Options of node `index`; state_dir is preset to <dir>/node<index>/node.
  using NodeOptionsFn =
      std::function<void(int index, agent::VirtualNodeOptions*)>;

  explicit TestFleet(std::filesystem::path dir, int io_threads = 2);
  ~TestFleet();  // stops every bridge
  TestFleet(const TestFleet&) = delete;
  TestFleet& operator=(const TestFleet&) = delete;

  // Stands between node `index` and its agent: gets the strand and a
  // factory of the node's transport (each call boots a fresh virtual node
  // over the node's state directory, i.e. a power cycle) and returns the
  // transport the agent uses.
  using NodeFactory = std::function<std::unique_ptr<agent::ByteTransport>()>;
  using TransportWrapFn = std::function<std::unique_ptr<agent::ByteTransport>(
      int index, agent::Strand strand, NodeFactory make_node)>;

  // Enrolls `n` more bridges with fresh tokens of `gw` and waits (60 s) until
  // every bridge is online; false on timeout. `wrap` may be null.
  bool Start(TestGateway& gw, int n, const NodeOptionsFn& node_options,
             const TransportWrapFn& wrap = nullptr);
  // Stops bridge `i` and waits until it has closed; idempotent.
  void Stop(size_t i);
  void StopAll();

  size_t size() const { return bridges_.size(); }
  agent::Bridge& bridge(size_t i) { return *bridges_[i]; }
  std::vector<std::string> DeviceIds() const;
  // Bridge `i`'s directory: credentials/, artifacts/ (the agent's artifact
  // cache), node/ (the virtual node's state).
  std::filesystem::path NodeDir(size_t i) const {
    return dir_ / ("node" + std::to_string(i));
  }
  // Bytes fetched from the gateway / relayed to the nodes by all updaters.
  uint64_t FetchedBytes() const;
  uint64_t RelayedBytes() const;

 private:
  std::filesystem::path dir_;
  boost::asio::io_context io_;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_{boost::asio::make_work_guard(io_)};
  std::vector<std::thread> io_threads_;
  boost::asio::thread_pool blocking_{4};
  std::vector<std::shared_ptr<agent::Bridge>> bridges_;
  std::set<size_t> stopped_;
};

// Streams a model (ONNX with its calibration set, or a blob) to
// FleetService.UploadModel as the admin, with a deadline long enough for a
// compile in an unoptimized build.
Result<v1::Model> UploadModel(TestGateway& gw,
                              const v1::UploadModelHeader& header,
                              const std::string& model,
                              const std::string& calibration);

// The running (ACTIVE) slot of a device as "model_id/version", or "".
std::string RunningModel(const v1::Device& device);
// The same key for a catalog version (what nodes report for it).
std::string RunningModel(const v1::Model& model);

}  // namespace tinyfleet::testing

#endif  // TINYFLEET_TESTS_SUPPORT_TEST_FLEET_H_
