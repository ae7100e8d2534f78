// Deltas between model versions (docs/formats/ota.md, section 9): building
// them when a version is stored, and choosing, per device, between a delta
// and the full blob when a rollout orders an install.
//
// A delta names its base blob by digest; a node whose running blob is
// another refuses it (TN_ERR_OTA_BASE) before writing anything, and the
// rollout engine then sends the full blob. Deltas are built with the node
// firmware's own builder and checked, before they are stored, to rebuild
// the result byte for byte with the firmware's decoder.
//
// Thread-safety: free functions without shared state.
#ifndef TINYFLEET_SERVER_OTA_DELTA_H_
#define TINYFLEET_SERVER_OTA_DELTA_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::ota {

// A delta is kept only when it is at most this share of the full blob:
// larger ones save too little to be worth a second artifact.
inline constexpr double kMaxDeltaShare = 0.5;

// The delta turning blob `base` into blob `result` (both valid blobs; the
// result signed). INVALID_ARGUMENT for blobs the parser refuses; INTERNAL
// when the delta does not rebuild the result (a builder defect).
Result<std::string> BuildDelta(std::string_view base, std::string_view result);

// Rebuilds a result from `base` and a delta (what a node does, in memory).
// FAILED_PRECONDITION when the delta's base is another blob;
// INVALID_ARGUMENT for a malformed delta or a result that fails its hash.
Result<std::string> ApplyDelta(std::string_view base, std::string_view delta);

// What to send a device for `model`.
struct ArtifactChoice {
  bool is_delta = false;
  std::string artifact_id;
};

// The delta of `model` whose base is the blob the device runs
// (`running_model_id` hex and `running_blob_version` as its slot reports
// them), or the full blob `blob_artifact_id` when there is none or when the
// device already refused a delta of this rollout (`delta_refused`).
ArtifactChoice ChooseArtifact(const v1::Model& model,
                              const std::string& blob_artifact_id,
                              const std::string& running_model_id,
                              uint32_t running_blob_version,
                              bool delta_refused);

// True when a failed delta order should be retried with the full blob: any
// refusal except the model failing its own self-test (which the full blob
// would fail as well). `error_code` is the node's tn_status name.
bool RetryWithFullBlob(std::string_view error_code);

}  // namespace tinyfleet::ota

#endif  // TINYFLEET_SERVER_OTA_DELTA_H_
