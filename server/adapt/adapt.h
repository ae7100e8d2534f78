// Adaptation rounds on the gateway: aggregation strategies over tail deltas,
// the tail (TNTL) and update (TNUP) files, blob surgery for evaluation and
// promotion, and the RoundEngine, a persisted state machine that selects
// nodes, sends them training orders, receives their updates, aggregates,
// evaluates the candidate model with the node kernels and, by policy,
// publishes it as a new model version. docs/adaptation.md describes the
// design; docs/formats/update.md (and device/adapt) the bytes.
//
// Every round state change and every received update byte is committed to
// the store before it takes effect, and aggregation is a pure function of
// what is committed (updates in device-id order, deterministic arithmetic),
// so a gateway killed at any point resumes and produces the same tail.
#ifndef TINYFLEET_SERVER_ADAPT_ADAPT_H_
#define TINYFLEET_SERVER_ADAPT_ADAPT_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "server/catalog/model_catalog.h"
#include "server/events/event_bus.h"
#include "server/ota/artifact_store.h"
#include "server/store/store.h"
#include "tinyfleet/v1/agent.pb.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::fleet {
class Registry;
}
namespace tinyfleet::ota {
class RolloutEngine;
}

namespace tinyfleet::adapt {

// ---- Aggregation
// -------------------------------------------------------------

// One client's contribution: the dequantized delta of its tail (trained
// minus start), and the number of samples it trained on.
struct ClientDelta {
  std::string client_id;  // orders the clients; results never depend on the
                          // order in which deltas are given
  uint64_t samples = 0;
  std::vector<float> delta;
};

// FedAdam's server optimizer state (first and second moments), carried from
// round to round of a model lineage.
struct AdamState {
  uint64_t step = 0;
  std::vector<float> m;
  std::vector<float> v;
  // Byte form for the store: "TNAS" u32 version u64 step u32 n, then m and
  // v as f32 little-endian. Decode: INVALID_ARGUMENT when malformed.
  std::string Encode() const;
  static Result<AdamState> Decode(std::string_view bytes);
};

struct AggregationOptions {
  // FEDAVG and FEDPROX (same server rule: the sample-weighted mean of the
  // deltas; FedProx's proximal term acts on the node), FEDADAM, MEDIAN,
  // TRIMMED_MEAN. Default FEDAVG.
  v1::AggregationStrategy strategy = v1::AGGREGATION_STRATEGY_FEDAVG;
  // Each delta is scaled down to this L2 norm when longer; 0 (default): no
  // clipping.
  double clip_norm = 0;
  // TRIMMED_MEAN: share of clients dropped at each end of every coordinate,
  // in [0, 0.5); at least one client must remain. Default 0.1.
  double trim_ratio = 0.1;
  // FEDADAM (Reddi et al., "Adaptive Federated Optimization", without bias
  // correction): m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2;
  // x = x + lr m / (sqrt(v) + eps), d the weighted mean delta. Defaults
  // lr 0.01, b1 0.9, b2 0.99, eps 1e-3.
  double server_learning_rate = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double epsilon = 1e-3;
};

struct AggregationResult {
  std::vector<float> tail;   // the new global tail
  std::vector<float> delta;  // what was added to the start tail
  AdamState adam;            // FEDADAM: the state after this step
  uint32_t clipped = 0;      // deltas shortened by clip_norm
};

// Aggregates `clients` (at least one; every delta as long as `start`, all
// values finite) into a new tail. `adam` is the previous FedAdam state
// (null or empty: zeros). Deterministic: clients are ordered by client_id
// and sums are taken in double precision in that order.
Result<AggregationResult> Aggregate(std::span<const float> start,
                                    std::vector<ClientDelta> clients,
                                    const AggregationOptions& options,
                                    const AdamState* adam = nullptr);

// Scales `v` to L2 norm `max_norm` when it is longer; returns whether it
// did. max_norm <= 0 leaves `v` alone.
bool ClipL2(std::span<float> v, double max_norm);

// ---- Tail and update files (docs/formats/update.md)
// ---------------------------

using Digest = std::array<uint8_t, 32>;

// TNTL: a global tail bound to the frozen part of its model.
struct TailFile {
  Digest frozen_sha256{};
  std::vector<float> params;
};
std::string EncodeTail(const TailFile& tail);
// INVALID_ARGUMENT (naming the field) for anything but a valid TNTL.
Result<TailFile> DecodeTail(std::string_view bytes);

// A decoded TNUP with its delta dequantized.
struct UpdateFile {
  Digest round_binding{};
  Digest frozen_sha256{};
  Digest start_sha256{};
  uint32_t samples = 0;
  uint32_t attempt = 0;
  float loss_before = 0, loss_after = 0;
  float accuracy_before = 0, accuracy_after = 0;
  // Element count of each tensor, in tail order.
  std::vector<uint32_t> tensor_sizes;
  std::vector<float> delta;
};
// Checks structure and checksum only (INVALID_ARGUMENT naming the fault);
// the binding to a round is checked by the caller.
Result<UpdateFile> DecodeUpdate(std::string_view bytes);
// Quantizes `delta` per tensor (sizes in `update.tensor_sizes`), symmetric
// int8, dense, and writes a TNUP; used by tests and benchmarks to play
// nodes. REQUIRES: tensor sizes sum to delta.size().
std::string EncodeUpdate(const UpdateFile& update);

// SHA-256 of a round id, the binding an update carries.
Digest RoundBinding(std::string_view round_id);

// ---- Model blobs
// ---------------------------------------------------------------

// What a round needs from a base model blob with an FP32 tail.
struct BlobTail {
  Digest frozen_sha256{};
  std::vector<float> params;           // the TAIL section's parameters
  std::vector<uint32_t> tensor_sizes;  // W then b of each trainable layer
};
// FAILED_PRECONDITION for a blob without a trainable tail.
Result<BlobTail> ReadBlobTail(std::string_view blob);

// The base blob with its tail parameters replaced by `params` (same
// count), the canary's expected output recomputed with the node kernels,
// `model_version` written to the header when non-zero, and the digest
// recomputed. The signature section, if any, is left for the caller to
// sign again.
Result<std::string> ReplaceBlobTail(std::string_view blob,
                                    std::span<const float> params,
                                    uint32_t model_version = 0);

// ---- Delivery of orders
// ----------------------------------------------------------

// How the engine reaches devices. Thread-safe; must not block.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual std::vector<std::string> OnlineDevices() = 0;
  // UNAVAILABLE when the device has no session.
  virtual Status Send(const std::string& device_id,
                      const v1::GatewayMessage& message) = 0;
};
// A dispatcher over the registry's sessions (`registry` outlives it).
std::unique_ptr<Dispatcher> RegistryDispatcher(fleet::Registry* registry);

// ---- Round engine
// -------------------------------------------------------------------

struct RoundEngineOptions {
  // Named data sets (<name>.tnfs) for evaluation; the spec's
  // validation_dataset, else "validation". When the default is missing the
  // round completes without evaluation (and without promotion).
  std::filesystem::path datasets_dir;
  // Deadline when the spec gives none. Default 10 minutes.
  std::chrono::seconds default_deadline{600};
  // An order delivered without any progress for this long is sent again
  // with the next attempt number (the node's earlier upload is then stale).
  std::chrono::seconds order_retry{300};
  // Largest round (selected clients). Default 10,000.
  uint32_t max_clients = 10'000;
  // State transitions a round makes in one Tick; 0 (default): as many as
  // it can. Bounds the work of one sweep.
  uint32_t max_transitions_per_tick = 0;
  // Samples evaluated (0, default: all of the data set).
  uint32_t max_eval_samples = 0;
};

// Progress of one upload.
struct UploadStatus {
  uint64_t committed_bytes = 0;
  bool complete = false;  // every byte is in
  bool accepted = false;  // complete and valid
  std::string reason;     // why refused or not taken
};

// Thread-safety: thread-safe; calls are serialized internally. StartRound
// selects and dispatches on the caller's thread; an upload or progress
// report may close TRAINING on the caller's thread; aggregation and
// evaluation (CPU-bound: the node kernels over the data set) run only in
// Tick(), on the gateway's sweep thread.
class RoundEngine {
 public:
  // Pointers outlive the engine; `events` and `rollouts` may be null
  // (rollouts: promotion then publishes a version without a rollout).
  static Result<std::unique_ptr<RoundEngine>> Create(
      store::Store* store, Dispatcher* dispatcher,
      ota::ArtifactStore* artifacts, catalog::ModelCatalog* catalog,
      events::EventBus* events, const Clock* clock,
      RoundEngineOptions options = {}, ota::RolloutEngine* rollouts = nullptr);

  // Validates the spec (INVALID_ARGUMENT naming the field; NOT_FOUND for an
  // unknown model or data set), stores the round and advances it as far as
  // it can (selection and orders).
  Result<v1::Round> StartRound(const v1::StartRoundRequest& spec);
  Result<v1::Round> Get(const std::string& round_id);
  Result<std::vector<v1::Round>> List(const std::string& page_token,
                                      uint32_t page_size,
                                      std::string* next_page_token);
  // FAILED_PRECONDITION when the round has finished.
  Result<v1::Round> Cancel(const std::string& round_id,
                           const std::string& reason);

  // An update chunk from `device_id` (authenticated by the caller).
  // NOT_FOUND (no such round, or the device is not in it),
  // FAILED_PRECONDITION (stale attempt; inconsistent total), INVALID_ARGUMENT
  // (too large, offset past the committed bytes). A chunk that overlaps
  // committed bytes is taken from where they end.
  Result<UploadStatus> ReceiveChunk(const std::string& device_id,
                                    const v1::UpdateChunk& chunk);
  // An agent's report on its training order.
  void OnTrainProgress(const std::string& device_id,
                       const v1::TrainProgress& progress);

  // Advances every unfinished round (orders, deadlines, aggregation,
  // evaluation). Call periodically; also resumes rounds after a restart.
  void Tick();

  // Number of rounds per state (for gauges).
  Result<std::map<v1::RoundState, uint64_t>> CountByState();

  // Stable selection rank of a device for a round (first 8 bytes of
  // SHA-256("<round id>/<device id>"), big-endian). Exposed for tests.
  static uint64_t Rank(const std::string& round_id,
                       const std::string& device_id);

  ~RoundEngine();

 private:
  struct Impl;
  explicit RoundEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyfleet::adapt

#endif  // TINYFLEET_SERVER_ADAPT_ADAPT_H_
