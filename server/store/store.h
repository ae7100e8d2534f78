// The gateway's persistence: one repository interface per aggregate, and the
// Store that owns them. The embedded implementation is SQLite
// (sqlite_store.h); a PostgreSQL implementation can slot in behind the same
// interfaces for multi-gateway deployments.
//
// Every method is atomic: it commits before it returns OK, so a crash loses
// nothing a caller was told is stored. Thread-safety: all implementations
// are safe for concurrent use.
#ifndef TINYFLEET_SERVER_STORE_STORE_H_
#define TINYFLEET_SERVER_STORE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tinyfleet/v1/common.pb.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::store {

using Labels = std::map<std::string, std::string>;

enum class Lifecycle { kActive = 1, kDecommissioned = 2 };

struct DeviceRecord {
  std::string device_id;
  Lifecycle lifecycle = Lifecycle::kActive;
  Labels labels;
  // As last reported by the node (hello or heartbeat).
  v1::NodeInfo node;
  std::string agent_version;
  std::string cert_sha256;
  std::string cert_serial;
  std::string enrollment_token_id;
  int64_t enrolled_at_ms = 0;
  int64_t last_seen_at_ms = 0;
  int64_t decommissioned_at_ms = 0;
  std::string decommission_reason;
  // The node's P-256 telemetry public key (65 bytes), or empty.
  std::string telemetry_public_key;
};

// One requirement of a label selector.
struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists };
  std::string key;
  Op op = Op::kEquals;
  std::string value;
};

struct DeviceQuery {
  std::vector<LabelRequirement> selector;
  Lifecycle lifecycle = Lifecycle::kActive;
  // Restricts to these ids (or, with exclude_ids, to all others). Used for
  // connectivity filters, which the caller evaluates in memory.
  std::optional<std::vector<std::string>> ids;
  bool exclude_ids = false;
  // Keyset paging: devices with id > after_id, ordered by id.
  std::string after_id;
  uint32_t limit = 100;
};

struct DevicePage {
  std::vector<DeviceRecord> devices;
  // Matching devices in all pages.
  uint64_t total = 0;
  // True when more devices follow the last one returned.
  bool more = false;
};

class DeviceRepository {
 public:
  virtual ~DeviceRepository() = default;
  virtual Result<DeviceRecord> Get(const std::string& device_id) = 0;
  virtual Result<DevicePage> List(const DeviceQuery& query) = 0;
  // Applies a label change and returns the new record.
  virtual Result<DeviceRecord> UpdateLabels(
      const std::string& device_id, const Labels& set,
      const std::vector<std::string>& remove, bool replace) = 0;
  virtual Status UpdateNode(const std::string& device_id,
                            const v1::NodeInfo& node,
                            const std::string& agent_version,
                            int64_t seen_at_ms) = 0;
  // Batched: one transaction for all entries (device id → unix ms).
  virtual Status UpdateLastSeen(const std::map<std::string, int64_t>& seen) = 0;
  // Idempotent; returns the record after the change.
  virtual Result<DeviceRecord> Decommission(const std::string& device_id,
                                            const std::string& reason,
                                            int64_t at_ms) = 0;
  virtual Result<uint64_t> Count(Lifecycle lifecycle) = 0;
};

struct EnrollmentTokenRecord {
  std::string token_id;
  // SHA-256 hex of the secret; the secret itself is never stored.
  std::string secret_hash;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;
  int64_t used_at_ms = 0;  // 0: unused
  std::string used_by_device_id;
  bool revoked = false;
  Labels labels;
  std::string description;
  std::string created_by;
};

class EnrollmentTokenRepository {
 public:
  virtual ~EnrollmentTokenRepository() = default;
  // Inserts all tokens in one transaction.
  virtual Status Create(const std::vector<EnrollmentTokenRecord>& tokens) = 0;
  // The token with this secret hash, whatever its state.
  virtual Result<EnrollmentTokenRecord> FindBySecretHash(
      const std::string& secret_hash) = 0;
  virtual Result<std::vector<EnrollmentTokenRecord>> List(
      bool include_inactive, int64_t now_ms, const std::string& after_id,
      uint32_t limit) = 0;
  virtual Result<EnrollmentTokenRecord> Revoke(const std::string& token_id) = 0;

  // In one transaction: checks that the token is unused, unrevoked and
  // unexpired at `now_ms`, marks it used by `device.device_id`, and inserts
  // the device (with the token's labels merged under the device's).
  // UNAUTHENTICATED when the token is not usable (then nothing changes).
  virtual Result<DeviceRecord> ConsumeAndEnroll(const std::string& secret_hash,
                                                int64_t now_ms,
                                                DeviceRecord device) = 0;
};

enum class Role { kViewer = 1, kOperator = 2, kAdmin = 3 };

struct OperatorTokenRecord {
  std::string token_id;
  std::string name;
  Role role = Role::kViewer;
  std::string secret_hash;
  int64_t created_at_ms = 0;
  bool revoked = false;
  int64_t last_used_at_ms = 0;
};

class OperatorTokenRepository {
 public:
  virtual ~OperatorTokenRepository() = default;
  virtual Status Create(const OperatorTokenRecord& token) = 0;
  virtual Result<OperatorTokenRecord> FindBySecretHash(
      const std::string& secret_hash) = 0;
  virtual Result<std::vector<OperatorTokenRecord>> List() = 0;
  virtual Result<OperatorTokenRecord> Revoke(const std::string& token_id) = 0;
  virtual Status Touch(const std::string& token_id, int64_t at_ms) = 0;
  // Number of unrevoked tokens with this role.
  virtual Result<uint64_t> CountActive(Role role) = 0;
};

// One opened telemetry record, ready to store.
struct TelemetryRow {
  std::string device_id;
  uint64_t counter = 0;
  int64_t time_ms = 0;  // node time when it had one, else receive time
  uint64_t inferences = 0;
  double confidence_mean = 0;  // 0..1
  uint64_t feedback_correct = 0;
  uint64_t feedback_total = 0;
  uint64_t energy_uj = 0;
  uint64_t cycles = 0;
  uint64_t errors = 0;
  uint32_t model_version = 0;
  std::string record;  // the decoded record's canonical bytes
};

// Replay window state of one device (see tn_seal_window).
struct TelemetryWindow {
  uint64_t highest = 0;
  uint64_t seen = 0;
};

enum class TelemetryMetric {
  kInferences,
  kConfidence,
  kAccuracy,
  kEnergy,
  kCycles,
  kErrors,
  kRecords,
};

enum class TelemetryAggregation { kRaw, kMean, kMin, kMax, kSum, kCount };

struct TelemetryQuery {
  std::string device_id;  // empty: all devices
  TelemetryMetric metric = TelemetryMetric::kInferences;
  TelemetryAggregation aggregation = TelemetryAggregation::kRaw;
  int64_t start_ms = 0;
  int64_t end_ms = 0;   // exclusive
  int64_t step_ms = 0;  // bucket width; 0: one bucket
  uint32_t limit = 1000;
};

struct TelemetryPoint {
  int64_t time_ms = 0;
  double value = 0;
  std::string device_id;  // raw points only
};

class TelemetryRepository {
 public:
  virtual ~TelemetryRepository() = default;
  // Stores rows and window updates in one transaction. Rows whose (device,
  // counter) is already stored are skipped; returns how many were new.
  virtual Result<uint64_t> Append(
      const std::vector<TelemetryRow>& rows,
      const std::map<std::string, TelemetryWindow>& windows) = 0;
  virtual Result<TelemetryWindow> Window(const std::string& device_id) = 0;
  // Raw points, or aggregates over buckets of step_ms, from raw rows and
  // (for time older than the raw retention) 1-minute rollups.
  virtual Result<std::vector<TelemetryPoint>> Query(
      const TelemetryQuery& q) = 0;
  // Folds raw rows older than `before_ms` into 1-minute rollups and deletes
  // them. Returns the number of raw rows folded.
  virtual Result<uint64_t> Downsample(int64_t before_ms) = 0;
  virtual Result<uint64_t> CountRaw() = 0;
  // Labelled-feedback totals (correct, total) reported by `device_ids` while
  // running model version `model_version`, from raw rows since `since_ms`.
  virtual Result<std::pair<uint64_t, uint64_t>> FeedbackByModel(
      const std::vector<std::string>& device_ids, uint32_t model_version,
      int64_t since_ms) = 0;
};

// ---- Artifacts, models and rollouts -----------------------------------------

// A stored byte artifact (model blob or delta), content-addressed: its id is
// the SHA-256 of its bytes, hex. The bytes live in the artifact directory.
struct ArtifactRecord {
  std::string artifact_id;
  uint64_t size = 0;
  // "blob", "delta", "tail" (a round's TNTL) or "onnx" (a version's source)
  std::string kind;
  int64_t created_at_ms = 0;
};

class ArtifactRepository {
 public:
  virtual ~ArtifactRepository() = default;
  // Idempotent: an existing id keeps its first record.
  virtual Status Put(const ArtifactRecord& artifact) = 0;
  virtual Result<ArtifactRecord> Get(const std::string& artifact_id) = 0;
};

// A model version: the API message plus the artifact holding its blob.
struct ModelRecord {
  v1::Model model;
  std::string artifact_id;
};

class ModelRepository {
 public:
  virtual ~ModelRepository() = default;
  // Assigns the next version for model.name() (1, 2, ...) atomically, sets
  // model.version and model.ref, and stores it.
  virtual Result<ModelRecord> Create(ModelRecord record) = 0;
  // version 0: the latest version of `name`.
  virtual Result<ModelRecord> Get(const std::string& name,
                                  uint32_t version) = 0;
  // Ordered by (name, version); name empty: every model.
  virtual Result<std::vector<ModelRecord>> List(const std::string& name,
                                                const std::string& after_ref,
                                                uint32_t limit) = 0;
};

// One device's part in a rollout.
struct RolloutTarget {
  std::string rollout_id;
  std::string device_id;
  uint32_t wave = 0;
  // pending, ordered, downloading, transferring, verifying, activated,
  // confirmed, failed, rollback_ordered, rolled_back
  std::string state = "pending";
  std::string error;
  // What the device ran before (for rollback), "name:version" or "".
  std::string previous_model_ref;
  std::string previous_model_id;
  int64_t updated_at_ms = 0;
  uint64_t bytes_sent = 0;
};

class RolloutRepository {
 public:
  virtual ~RolloutRepository() = default;
  virtual Status Put(const v1::Rollout& rollout) = 0;  // insert or replace
  virtual Result<v1::Rollout> Get(const std::string& rollout_id) = 0;
  virtual Result<std::vector<v1::Rollout>> List(const std::string& after_id,
                                                uint32_t limit) = 0;
  // Rollouts in PENDING, RUNNING or PAUSED.
  virtual Result<std::vector<v1::Rollout>> ListUnfinished() = 0;
  virtual Status PutTarget(const RolloutTarget& target) = 0;
  virtual Result<std::vector<RolloutTarget>> Targets(
      const std::string& rollout_id) = 0;
  // One target; NOT_FOUND when the device is not (yet) part of it.
  virtual Result<RolloutTarget> Target(const std::string& rollout_id,
                                       const std::string& device_id) = 0;
};

// ---- Adaptation rounds ------------------------------------------------------

// A round: the API message plus what the round engine keeps to resume it.
struct RoundRecord {
  v1::Round round;
  // Rounds of one lineage continue each other's tail: "<model name>/<hex of
  // the frozen-part SHA-256>".
  std::string lineage;
  std::string frozen_sha256;  // 32 bytes
  // Element count of each tail tensor (W, b per trainable layer).
  std::vector<uint32_t> tensor_sizes;
  std::string start_tail_id;   // TNTL artifact the round starts from
  std::string start_round_id;  // the lineage's previous round, or ""
  std::string result_tail_id;  // TNTL artifact after aggregation, or ""
  // Server optimizer state after this round (FedAdam), opaque bytes.
  std::string optimizer_state;
  uint64_t seed = 0;
  int64_t deadline_ms = 0;
  // Order of completion within the store (1, 2, ...); 0 until COMPLETED
  // with a result tail.
  uint64_t completed_seq = 0;
};

// One selected device of a round.
struct RoundClient {
  std::string round_id;
  std::string device_id;
  uint64_t rank = 0;  // selection order (lower first)
  // selected, ordered, training, reported, refused, declined, failed,
  // dropped, late, cancelled
  std::string state = "selected";
  uint32_t attempt = 1;
  int64_t ordered_at_ms = 0;
  int64_t updated_at_ms = 0;
  uint32_t samples = 0;
  double loss_before = 0, loss_after = 0;
  double accuracy_before = 0, accuracy_after = 0;
  std::string error;
  uint64_t total_bytes = 0;
  uint64_t committed_bytes = 0;
  std::string upload;  // the update's bytes (filled by Client(s) on request)
};

class RoundRepository {
 public:
  virtual ~RoundRepository() = default;
  // Insert or replace the round and, in the same transaction, the given
  // clients (PutClient semantics).
  virtual Status Put(const RoundRecord& round,
                     const std::vector<RoundClient>& clients = {}) = 0;
  virtual Result<RoundRecord> Get(const std::string& round_id) = 0;
  virtual Result<std::vector<v1::Round>> List(const std::string& after_id,
                                              uint32_t limit) = 0;
  // Rounds not COMPLETED, FAILED or CANCELLED.
  virtual Result<std::vector<RoundRecord>> ListUnfinished() = 0;
  // The lineage's round with the highest completed_seq; NOT_FOUND if none.
  virtual Result<RoundRecord> LatestCompleted(const std::string& lineage) = 0;
  virtual Result<uint64_t> MaxCompletedSeq() = 0;
  // Insert or update everything but the upload; a changed attempt clears
  // the upload (bytes and committed_bytes).
  virtual Status PutClient(const RoundClient& client) = 0;
  virtual Result<RoundClient> Client(const std::string& round_id,
                                     const std::string& device_id,
                                     bool with_upload) = 0;
  // Ordered by device id.
  virtual Result<std::vector<RoundClient>> Clients(const std::string& round_id,
                                                   bool with_uploads) = 0;
  // Appends `data` to the upload when `attempt` and `offset ==
  // committed_bytes` match, and sets total_bytes; returns the new committed
  // byte count. FAILED_PRECONDITION when they do not match.
  virtual Result<uint64_t> AppendUpload(const std::string& round_id,
                                        const std::string& device_id,
                                        uint32_t attempt, uint64_t offset,
                                        std::string_view data,
                                        uint64_t total_bytes) = 0;
  // Put(round, {client}) that also stores `client.upload` as the client's
  // whole upload (committed_bytes = its size), in one transaction: an
  // update that arrives in one chunk costs one commit.
  virtual Status PutWithUpload(const RoundRecord& round,
                               const RoundClient& client) = 0;
  // Number of rounds in each state (v1::RoundState values).
  virtual Result<std::map<int, uint64_t>> CountByState() = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual DeviceRepository& devices() = 0;
  virtual EnrollmentTokenRepository& enrollment_tokens() = 0;
  virtual OperatorTokenRepository& operator_tokens() = 0;
  virtual TelemetryRepository& telemetry() = 0;
  virtual ArtifactRepository& artifacts() = 0;
  virtual ModelRepository& models() = 0;
  virtual RolloutRepository& rollouts() = 0;
  virtual RoundRepository& rounds() = 0;
  // Schema version after migrations.
  virtual int schema_version() const = 0;
};

}  // namespace tinyfleet::store

#endif  // TINYFLEET_SERVER_STORE_STORE_H_
