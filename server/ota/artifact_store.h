// ArtifactStore: content-addressed files for model blobs and deltas under
// <data-dir>/artifacts/<sha256>, with their records in the store. Agents
// fetch them by offset in chunks (AgentService.FetchArtifact); a committed
// artifact never changes, so a resumed download never needs bytes again.
//
// Thread-safety: thread-safe.
#ifndef TINYFLEET_SERVER_OTA_ARTIFACT_STORE_H_
#define TINYFLEET_SERVER_OTA_ARTIFACT_STORE_H_

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "server/store/store.h"

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace tinyfleet::ota {

class ArtifactStore {
 public:
  // `repo` and `clock` outlive the store; `dir` is created when missing.
  // With `metrics`, bytes handed out by Read() are counted in
  // tinyfleet_artifact_bytes_served_total.
  static Result<std::unique_ptr<ArtifactStore>> Open(
      const std::filesystem::path& dir, store::ArtifactRepository* repo,
      const Clock* clock, prometheus::Registry* metrics = nullptr);

  // Stores bytes (durably: file fsynced and renamed before the record is
  // written). Idempotent for identical bytes.
  Result<store::ArtifactRecord> Put(std::string_view bytes,
                                    const std::string& kind);
  Result<store::ArtifactRecord> Get(const std::string& artifact_id);
  // Up to `max_bytes` from `offset`. OUT_OF_RANGE past the end. This is
  // what agents' downloads are served from.
  Result<std::string> Read(const std::string& artifact_id, uint64_t offset,
                           uint32_t max_bytes);
  // Total bytes returned by Read() since Open().
  uint64_t bytes_served() const { return bytes_served_.load(); }
  // The whole artifact.
  Result<std::string> ReadAll(const std::string& artifact_id);

 private:
  ArtifactStore(std::filesystem::path dir, store::ArtifactRepository* repo,
                const Clock* clock)
      : dir_(std::move(dir)), repo_(repo), clock_(clock) {}
  std::filesystem::path PathOf(const std::string& id) const;

  std::filesystem::path dir_;
  store::ArtifactRepository* repo_;
  const Clock* clock_;
  prometheus::Counter* served_counter_ = nullptr;
  std::atomic<uint64_t> bytes_served_{0};
};

// Artifact ids are lowercase hex SHA-256 (64 characters).
bool IsArtifactId(std::string_view id);

}  // namespace tinyfleet::ota

#endif  // TINYFLEET_SERVER_OTA_ARTIFACT_STORE_H_
