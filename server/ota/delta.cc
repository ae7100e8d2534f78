#include "server/ota/delta.h"

#include <array>
#include <vector>

#include "ota/tn_ota.h"

namespace tinyfleet::ota {
namespace {

const uint8_t* Bytes(std::string_view s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

}  // namespace

Result<std::string> BuildDelta(std::string_view base, std::string_view result) {
  // Operations never carry more than the result plus one mask byte per 8
  // bytes and an operation header per region (at most 17 regions, 3 ops
  // each).
  std::string out(TN_OTA_DELTA_HEADER_SIZE + result.size() + result.size() / 8 +
                      64 * TN_OTA_DELTA_OP_SIZE,
                  '\0');
  size_t len = 0;
  tn_status st = tn_ota_delta_build(
      Bytes(base), base.size(), Bytes(result), result.size(),
      reinterpret_cast<uint8_t*>(out.data()), out.size(), &len);
  if (st != TN_OK) {
    return InvalidArgumentError(std::string("cannot build a delta: ") +
                                tn_status_str(st));
  }
  out.resize(len);
  auto rebuilt = ApplyDelta(base, out);
  if (!rebuilt.ok() || *rebuilt != result) {
    return InternalError("the delta does not rebuild its result");
  }
  return out;
}

Result<std::string> ApplyDelta(std::string_view base, std::string_view delta) {
  tn_ota_delta_header h;
  if (tn_ota_delta_header_parse(Bytes(delta), delta.size(), &h) != TN_OK) {
    return InvalidArgumentError("malformed delta header");
  }
  std::string out(h.result_size, '\0');
  size_t len = 0;
  tn_status st = tn_ota_delta_apply(
      Bytes(base), base.size(), Bytes(delta), delta.size(),
      reinterpret_cast<uint8_t*>(out.data()), out.size(), &len);
  if (st == TN_ERR_OTA_BASE) {
    return FailedPreconditionError("the delta is for another base blob");
  }
  if (st != TN_OK) {
    return InvalidArgumentError(std::string("cannot apply the delta: ") +
                                tn_status_str(st));
  }
  out.resize(len);
  return out;
}

ArtifactChoice ChooseArtifact(const v1::Model& model,
                              const std::string& blob_artifact_id,
                              const std::string& running_model_id,
                              uint32_t running_blob_version,
                              bool delta_refused) {
  if (!delta_refused && !running_model_id.empty()) {
    for (const auto& d : model.deltas()) {
      if (d.base_model_id() == running_model_id &&
          d.base_blob_version() == running_blob_version) {
        return {true, d.artifact_id()};
      }
    }
  }
  return {false, blob_artifact_id};
}

bool RetryWithFullBlob(std::string_view error_code) {
  // The model itself is at fault: the full blob would fail the same way.
  static constexpr std::array<std::string_view, 4> kModelFaults = {
      "TN_ERR_SELFTEST", "TN_ERR_ROLLBACK", "TN_ERR_BLOB_TARGET",
      "TN_ERR_MEMORY_BUDGET"};
  for (auto f : kModelFaults) {
    if (error_code == f) return false;
  }
  return true;
}

}  // namespace tinyfleet::ota
