// Blob surgery for rounds: the frozen-part hash and trainable tail of a base
// model, and a candidate blob with a new tail (canary recomputed with the
// node kernels, digest recomputed) for evaluation and promotion.
#include <cstring>
#include <vector>

#include "adapt/tn_adapt.h"
#include "runtime/tn_runtime.h"
#include "server/adapt/adapt.h"

namespace tinyfleet::adapt {
namespace {

uint32_t U32(const uint8_t* p) {
  return p[0] | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

Status RuntimeError(tn_status st, const std::string& what) {
  return InvalidArgumentError(what + ": " + tn_status_str(st));
}

// A model bound to a parsed blob, with its arena.
struct LoadedModel {
  tn_blob blob;
  std::vector<uint64_t> arena;
  tn_model model;
};

Status Load(const uint8_t* data, size_t size, LoadedModel* m) {
  tn_status st = tn_blob_parse(data, size, nullptr, &m->blob);
  if (st != TN_OK) return RuntimeError(st, "model blob");
  size_t bytes = 0;
  st = tn_model_arena_size(&m->blob, nullptr, &bytes);
  if (st != TN_OK) return RuntimeError(st, "model arena");
  m->arena.assign((bytes + 7) / 8, 0);
  st = tn_model_init(&m->model, &m->blob, m->arena.data(), bytes, nullptr);
  if (st != TN_OK) return RuntimeError(st, "model init");
  return Status::Ok();
}

Status WriteDigest(std::string* blob) {
  uint8_t d[TN_BLOB_DIGEST_SIZE];
  tn_status st = tn_blob_compute_digest(
      reinterpret_cast<const uint8_t*>(blob->data()), blob->size(), d);
  if (st != TN_OK) return RuntimeError(st, "blob digest");
  std::memcpy(blob->data() + TN_BLOB_DIGEST_OFFSET, d, sizeof d);
  return Status::Ok();
}

}  // namespace

Result<BlobTail> ReadBlobTail(std::string_view bytes) {
  auto m = std::make_unique<LoadedModel>();
  TF_RETURN_IF_ERROR(Load(reinterpret_cast<const uint8_t*>(bytes.data()),
                          bytes.size(), m.get()));
  if (!m->blob.has_tail || m->blob.tail_param_bytes == 0) {
    return FailedPreconditionError(
        "the model has no trainable FP32 tail (compile it with "
        "trainable_tail_layers > 0)");
  }
  BlobTail t;
  tn_status hashed = tn_blob_frozen_sha256(&m->blob, t.frozen_sha256.data());
  if (hashed != TN_OK) return RuntimeError(hashed, "frozen part");
  t.params.resize(m->blob.tail_param_bytes / 4);
  std::memcpy(t.params.data(), m->blob.tail_params, m->blob.tail_param_bytes);
  uint32_t layers = tn_model_tail_layer_count(&m->model);
  uint64_t total = 0;
  for (uint32_t i = 0; i < layers; ++i) {
    tn_tail_view v;
    tn_status st = tn_model_tail_layer(&m->model, i, &v);
    if (st != TN_OK) return RuntimeError(st, "tail layer");
    for (uint32_t n : {v.weight_count, v.bias_count}) {
      if (n == 0) continue;
      t.tensor_sizes.push_back(n);
      total += n;
    }
  }
  if (total != t.params.size()) {
    return InternalError("tail layers hold " + std::to_string(total) +
                         " parameters; the TAIL section " +
                         std::to_string(t.params.size()));
  }
  return t;
}

Result<std::string> ReplaceBlobTail(std::string_view bytes,
                                    std::span<const float> params,
                                    uint32_t model_version) {
  std::string out(bytes);
  tn_blob b;
  tn_status st = tn_blob_parse(reinterpret_cast<const uint8_t*>(out.data()),
                               out.size(), nullptr, &b);
  if (st != TN_OK) return RuntimeError(st, "model blob");
  if (!b.has_tail || b.tail_param_bytes != 4 * params.size()) {
    return InvalidArgumentError(
        "the tail has " + std::to_string(b.tail_param_bytes / 4) +
        " parameters, not " + std::to_string(params.size()));
  }
  out.resize(b.size);  // bytes after total_size are not part of the blob
  size_t tail_at = b.tail_params - b.data;
  size_t canary_at = b.canary ? static_cast<size_t>(b.canary - b.data) : 0;
  std::memcpy(out.data() + tail_at, params.data(), 4 * params.size());
  if (model_version != 0) {
    for (int i = 0; i < 4; ++i)
      out[32 + i] = static_cast<char>(model_version >> (8 * i));
  }
  TF_RETURN_IF_ERROR(WriteDigest(&out));
  if (canary_at) {
    auto m = std::make_unique<LoadedModel>();
    const auto* data = reinterpret_cast<uint8_t*>(out.data());
    TF_RETURN_IF_ERROR(Load(data, out.size(), m.get()));
    uint32_t in_size = U32(data + canary_at);
    uint32_t out_size = U32(data + canary_at + 4);
    tn_tensor_view in, res;
    if (tn_model_input(&m->model, &in) != TN_OK || in.bytes != in_size) {
      return InternalError("canary input does not fit the model");
    }
    std::memcpy(in.data, data + canary_at + 16, in_size);
    st = tn_model_run(&m->model);
    if (st != TN_OK) return RuntimeError(st, "canary run");
    if (tn_model_output(&m->model, &res) != TN_OK || res.bytes != out_size) {
      return InternalError("canary output does not fit the model");
    }
    size_t expected_at = canary_at + 16 + ((in_size + 3) & ~3u);
    std::memcpy(out.data() + expected_at, res.data, out_size);
    TF_RETURN_IF_ERROR(WriteDigest(&out));
  }
  return out;
}

}  // namespace tinyfleet::adapt
