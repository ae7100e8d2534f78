// ModelCatalog: the gateway's model versions. An upload is either an ONNX
// model with a calibration set (compiled by server/models for the requested
// target and budgets) or a precompiled blob (validated); either way the
// gateway signs the blob with its model-signing key, stores it as an
// artifact, and records a new version of the model name with the compiler's
// report (sizes, MACs, estimated GAP9 latency and energy, accuracy, frozen
// digest). Versions of one name count up from 1; the blob's own version
// equals the catalog version for compiled models, and its anti-rollback
// counter is what the upload asks for (0 by default: rollbacks stay possible).
//
// Thread-safety: thread-safe (uploads of one name are serialized by the
// store's version assignment).
#ifndef TINYFLEET_SERVER_CATALOG_MODEL_CATALOG_H_
#define TINYFLEET_SERVER_CATALOG_MODEL_CATALOG_H_

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "server/events/event_bus.h"
#include "server/ota/artifact_store.h"
#include "server/store/store.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::catalog {

struct SigningKey {
  std::string private_pem;
  std::string public_point;  // 65 bytes, uncompressed
  // Loads <dir>/model-signing.key or creates it (EC P-256, mode 0600).
  static Result<SigningKey> LoadOrCreate(const std::filesystem::path& dir);
};

class ModelCatalog {
 public:
  // Pointers outlive the catalog; `events` may be null.
  static Result<std::unique_ptr<ModelCatalog>> Create(
      store::Store* store, ota::ArtifactStore* artifacts, const SigningKey* key,
      events::EventBus* events, const Clock* clock);

  // Model names: 1..64 characters of [a-z0-9_-].
  Result<v1::Model> AddBlob(const v1::UploadModelHeader& header,
                            std::string blob);
  Result<v1::Model> AddOnnx(const v1::UploadModelHeader& header,
                            std::string onnx, std::string calibration);
  // "name:version" or "name" (latest).
  Result<store::ModelRecord> Get(const std::string& ref);
  Result<std::vector<v1::Model>> List(const std::string& name,
                                      const std::string& page_token,
                                      uint32_t page_size,
                                      std::string* next_page_token);
  // Runs a stored model on a feature data set file on the node kernels.
  Result<v1::Evaluation> Evaluate(const std::string& ref,
                                  const std::string& dataset_bytes);
  // The same for a blob that is not (yet) in the catalog; at most
  // `max_samples` samples (0: all). The result's ref is empty.
  Result<v1::Evaluation> EvaluateBlob(std::string_view blob,
                                      const std::string& dataset_bytes,
                                      uint32_t max_samples = 0);
  // Stores a new version of `parent_ref`'s model name derived from it (an
  // adaptation round's result): `build` receives the version number the
  // blob will have and returns the blob (with a reserved signature
  // section), which the catalog validates, signs and stores with
  // parent_ref set. Version assignment is serialized with uploads.
  Result<v1::Model> AddDerived(
      const std::string& parent_ref, const std::string& description,
      const std::function<Result<std::string>(uint32_t version)>& build);

 private:
  ModelCatalog(store::Store* store, ota::ArtifactStore* artifacts,
               const SigningKey* key, events::EventBus* events,
               const Clock* clock)
      : store_(store),
        artifacts_(artifacts),
        key_(key),
        events_(events),
        clock_(clock) {}
  Result<v1::Model> Store(const v1::UploadModelHeader& header,
                          std::string signed_blob, v1::Model model);

  store::Store* store_;
  ota::ArtifactStore* artifacts_;
  const SigningKey* key_;
  events::EventBus* events_;
  const Clock* clock_;
};

Status ValidateModelName(std::string_view name);

}  // namespace tinyfleet::catalog

#endif  // TINYFLEET_SERVER_CATALOG_MODEL_CATALOG_H_
