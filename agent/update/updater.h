// Updater: carries out the gateway's update orders for one node.
//
//   install   fetch the artifact from the gateway by offset into a cache
//             file (resuming after a disconnect: bytes on disk are never
//             fetched again; every chunk and the whole are checked against
//             their SHA-256), then relay it to the node in link frames
//             (MODEL_BEGIN, or MODEL_BEGIN_DELTA when the order is a delta,
//             / MODEL_CHUNK / MODEL_COMMIT, resuming at the
//             node's committed offset, which MODEL_STATUS reports after a
//             reset), ACTIVATE (the node runs its self-test and reverts by
//             itself on failure) and CONFIRM;
//   rollback  ROLLBACK to the node's previous slot.
// Progress goes back to the gateway as UpdateProgress: downloading,
// transferring, verifying, activated, confirmed, failed (with the node's
// tn_status name), rolled_back, or interrupted: the job stopped on a
// transient error (gateway unreachable, node link down or reset) and a
// repeated order resumes it where it stopped; "failed" is final (the node
// refused the artifact, or it does not match its digest).
//
// Threading: one job at a time runs on the blocking pool (it waits on the
// network and the node); Handle() may be called from any thread. A repeated
// order for the job in progress is ignored; a repeated order for a finished
// job gets its final report again.
#ifndef TINYFLEET_AGENT_UPDATE_UPDATER_H_
#define TINYFLEET_AGENT_UPDATE_UPDATER_H_

#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/link/node_link.h"
#include "agent/session/gateway_client.h"
#include "tinyfleet/v1/agent.pb.h"

namespace tinyfleet::agent {

struct UpdaterOptions {
  GatewayEndpoint endpoint;
  Credentials credentials;
  // Partial and complete artifacts are kept here.
  std::filesystem::path cache_dir;
  // Chunk size requested from the gateway. Default 64 KiB.
  uint32_t fetch_chunk = 64 * 1024;
  std::chrono::seconds fetch_timeout{120};
  // A download cut by a network error is resumed this many times, after
  // 100 ms, 200 ms, ... (at most 2 s) before the job reports "interrupted".
  int fetch_attempts = 6;
};

// Where and how FetchArtifactToCache downloads.
struct ArtifactFetchOptions {
  GatewayEndpoint endpoint;
  Credentials credentials;
  // Partial (<id>.part) and complete (<id>.bin) artifacts are kept here.
  std::filesystem::path cache_dir;
  uint32_t chunk_bytes = 64 * 1024;
  std::chrono::seconds timeout{120};
};

// Downloads artifact `id` -- the lowercase hex SHA-256 of its `bytes` bytes
// -- with AgentService.FetchArtifact into options.cache_dir, resuming after
// the bytes of an earlier partial download: bytes on disk are never fetched
// again, every chunk is checked against its SHA-256 and the whole against
// `id`. A complete copy on disk is returned without a fetch. `on_chunk`
// (may be empty) is called with each chunk's size and the bytes on disk
// after it was written. Blocking; errors are the transport's (UNAVAILABLE,
// DEADLINE_EXCEEDED, ...: a later call resumes) or DATA_LOSS /
// INVALID_ARGUMENT (bad bytes or id).
Result<std::string> FetchArtifactToCache(
    const ArtifactFetchOptions& options, const std::string& id, uint64_t bytes,
    const std::function<void(uint64_t chunk, uint64_t have)>& on_chunk);

struct UpdaterStats {
  uint64_t fetched_bytes = 0;  // from the gateway
  uint64_t relayed_bytes = 0;  // to the node
  uint64_t installs = 0;
  uint64_t failures = 0;
};

class Updater : public std::enable_shared_from_this<Updater> {
 public:
  using ProgressFn = std::function<void(const v1::UpdateProgress&)>;
  // `pool` outlives the updater.
  static std::shared_ptr<Updater> Create(UpdaterOptions options,
                                         std::shared_ptr<NodeLink> link,
                                         boost::asio::thread_pool* pool,
                                         ProgressFn progress);

  using SlotsFn = std::function<void(std::vector<v1::ModelSlot>)>;
  // Observes the node's slot table after each finished job (installed,
  // failed or rolled back). Set before the first Handle().
  void OnSlots(SlotsFn fn) { slots_ = std::move(fn); }

  void Handle(const v1::UpdateOrder& order);
  UpdaterStats stats() const;

  // Gives the node the gateway's model-signing key when it holds another
  // or none (MODEL_STATUS, then SET_MODEL_KEY). Blocking; call on a pool
  // thread.
  Status ProvisionModelKey();

 private:
  Updater(UpdaterOptions options, std::shared_ptr<NodeLink> link,
          boost::asio::thread_pool* pool, ProgressFn progress)
      : options_(std::move(options)),
        link_(std::move(link)),
        pool_(pool),
        progress_(std::move(progress)) {}
  void Run(v1::UpdateOrder order);
  Status Install(const v1::UpdateOrder& order);
  Status Rollback(const v1::UpdateOrder& order);
  Result<std::string> Fetch(const v1::UpdateOrder& order);
  Status Relay(const v1::UpdateOrder& order, const std::string& artifact);
  Result<std::vector<uint8_t>> CallNode(uint8_t type,
                                        std::vector<uint8_t> payload);
  void Report(const v1::UpdateOrder& order, const std::string& stage,
              uint64_t offset, uint64_t total,
              const Status& error = Status::Ok());

  UpdaterOptions options_;
  std::shared_ptr<NodeLink> link_;
  boost::asio::thread_pool* pool_;
  ProgressFn progress_;
  SlotsFn slots_;

  mutable std::mutex mu_;
  std::string running_;                                 // guarded by mu_
  std::map<std::string, v1::UpdateProgress> finished_;  // guarded by mu_
  UpdaterStats stats_;                                  // guarded by mu_
};

}  // namespace tinyfleet::agent

#endif  // TINYFLEET_AGENT_UPDATE_UPDATER_H_
