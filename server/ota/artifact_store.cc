#include "server/ota/artifact_store.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <fstream>

#include "common/encoding.h"

namespace tinyfleet::ota {

bool IsArtifactId(std::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(
    const std::filesystem::path& dir, store::ArtifactRepository* repo,
    const Clock* clock, prometheus::Registry* metrics) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return UnavailableError("cannot create " + dir.string() + ": " +
                            ec.message());
  std::unique_ptr<ArtifactStore> s(new ArtifactStore(dir, repo, clock));
  if (metrics) {
    s->served_counter_ =
        &prometheus::BuildCounter()
             .Name("tinyfleet_artifact_bytes_served_total")
             .Help("Artifact bytes served to agents (FetchArtifact)")
             .Register(*metrics)
             .Add({});
  }
  return s;
}

std::filesystem::path ArtifactStore::PathOf(const std::string& id) const {
  return dir_ / (id + ".bin");
}

Result<store::ArtifactRecord> ArtifactStore::Put(std::string_view bytes,
                                                 const std::string& kind) {
  if (bytes.empty()) return InvalidArgumentError("empty artifact");
  std::string id = Sha256Hex(bytes);
  auto existing = repo_->Get(id);
  if (existing.ok()) return existing;
  TF_RETURN_IF_ERROR(WriteFileAtomic(PathOf(id), bytes, 0644));
  store::ArtifactRecord rec{id, bytes.size(), kind, clock_->NowUnixMillis()};
  TF_RETURN_IF_ERROR(repo_->Put(rec));
  return rec;
}

Result<store::ArtifactRecord> ArtifactStore::Get(
    const std::string& artifact_id) {
  if (!IsArtifactId(artifact_id))
    return InvalidArgumentError("malformed artifact id");
  return repo_->Get(artifact_id);
}

Result<std::string> ArtifactStore::Read(const std::string& artifact_id,
                                        uint64_t offset, uint32_t max_bytes) {
  TF_ASSIGN_OR_RETURN(auto rec, Get(artifact_id));
  if (offset > rec.size) {
    return OutOfRangeError("offset " + std::to_string(offset) +
                           " is past the artifact's " +
                           std::to_string(rec.size) + " bytes");
  }
  std::ifstream in(PathOf(artifact_id), std::ios::binary);
  if (!in) return DataLossError("artifact file " + artifact_id + " is missing");
  uint64_t n = std::min<uint64_t>(max_bytes, rec.size - offset);
  std::string out(n, '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out.data(), static_cast<std::streamsize>(n));
  if (static_cast<uint64_t>(in.gcount()) != n) {
    return DataLossError("artifact file " + artifact_id +
                         " is shorter than recorded");
  }
  bytes_served_ += n;
  if (served_counter_) served_counter_->Increment(static_cast<double>(n));
  return out;
}

Result<std::string> ArtifactStore::ReadAll(const std::string& artifact_id) {
  TF_ASSIGN_OR_RETURN(auto rec, Get(artifact_id));
  TF_ASSIGN_OR_RETURN(std::string bytes, ReadFile(PathOf(artifact_id)));
  if (bytes.size() != rec.size || Sha256Hex(bytes) != artifact_id) {
    return DataLossError("artifact " + artifact_id +
                         " does not match its digest");
  }
  return bytes;
}

}  // namespace tinyfleet::ota
