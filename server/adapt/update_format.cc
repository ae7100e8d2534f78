// The tail (TNTL) and update (TNUP) files of docs/formats/update.md on the
// gateway: thin C++ wrappers over the one implementation in device/adapt
// (tn_adapt.h), which the node and the agent use as well.
#include <algorithm>
#include <cstring>

#include "adapt/tn_adapt.h"
#include "server/adapt/adapt.h"

namespace tinyfleet::adapt {
namespace {

const uint8_t* Bytes(std::string_view s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

Status CodecError(tn_status st, const char* what) {
  return InvalidArgumentError(std::string(what) + ": " + tn_status_str(st));
}

}  // namespace

Digest RoundBinding(std::string_view round_id) {
  Digest out{};
  (void)tn_round_binding(round_id.data(), round_id.size(), out.data());
  return out;
}

std::string EncodeTail(const TailFile& t) {
  std::string out(tn_tntl_size(static_cast<uint32_t>(t.params.size())), '\0');
  size_t written = 0;
  tn_status st = tn_tntl_encode(t.frozen_sha256.data(), t.params.data(),
                                static_cast<uint32_t>(t.params.size()),
                                reinterpret_cast<uint8_t*>(out.data()),
                                out.size(), &written);
  if (st != TN_OK) return "";  // only for empty or non-finite parameters
  out.resize(written);
  return out;
}

Result<TailFile> DecodeTail(std::string_view bytes) {
  tn_tntl view;
  tn_status st = tn_tntl_decode(Bytes(bytes), bytes.size(), &view);
  if (st != TN_OK) return CodecError(st, "tail");
  TailFile t;
  std::memcpy(t.frozen_sha256.data(), view.frozen_sha256, 32);
  t.params.resize(view.param_count);
  st = tn_tntl_read_params(&view, t.params.data(), view.param_count);
  if (st != TN_OK) return CodecError(st, "tail");
  return t;
}

Result<UpdateFile> DecodeUpdate(std::string_view bytes) {
  tn_tnup view;
  tn_status st = tn_tnup_decode(Bytes(bytes), bytes.size(), &view);
  if (st != TN_OK) return CodecError(st, "update");
  UpdateFile u;
  const tn_tnup_meta& m = view.meta;
  std::memcpy(u.round_binding.data(), m.round_binding, 32);
  std::memcpy(u.frozen_sha256.data(), m.frozen_sha256, 32);
  std::memcpy(u.start_sha256.data(), m.start_sha256, 32);
  u.samples = m.samples;
  u.attempt = m.attempt;
  u.loss_before = m.loss_before;
  u.loss_after = m.loss_after;
  u.accuracy_before = m.accuracy_before;
  u.accuracy_after = m.accuracy_after;
  for (uint32_t i = 0; i < view.tensor_count; ++i) {
    tn_tnup_tensor t;
    st = tn_tnup_tensor_at(&view, i, &t);
    if (st != TN_OK) return CodecError(st, "update");
    u.tensor_sizes.push_back(t.element_count);
  }
  u.delta.resize(view.param_count);
  st = tn_tnup_delta(&view, u.delta.data(), view.param_count);
  if (st != TN_OK) return CodecError(st, "update");
  return u;
}

std::string EncodeUpdate(const UpdateFile& u) {
  tn_tnup_meta meta{};
  std::memcpy(meta.round_binding, u.round_binding.data(), 32);
  std::memcpy(meta.frozen_sha256, u.frozen_sha256.data(), 32);
  std::memcpy(meta.start_sha256, u.start_sha256.data(), 32);
  meta.samples = u.samples;
  meta.attempt = u.attempt;
  meta.loss_before = u.loss_before;
  meta.loss_after = u.loss_after;
  meta.accuracy_before = u.accuracy_before;
  meta.accuracy_after = u.accuracy_after;
  uint32_t max_tensor = 0;
  for (uint32_t n : u.tensor_sizes) max_tensor = std::max(max_tensor, n);
  std::vector<uint32_t> scratch(
      (tn_tnup_build_scratch_size(max_tensor) + 3) / 4 + 1);
  std::vector<float> delta = u.delta;  // clipped in place by the builder
  const uint32_t tensors = static_cast<uint32_t>(u.tensor_sizes.size());
  std::string out(tn_tnup_max_size(u.tensor_sizes.data(), tensors, 0), '\0');
  tn_update_compress compress{0.0f, 0.0f};
  size_t written = 0;
  tn_status st = tn_tnup_build(
      &meta, u.tensor_sizes.data(), tensors, delta.data(), nullptr, &compress,
      scratch.data(), scratch.size() * 4,
      reinterpret_cast<uint8_t*>(out.data()), out.size(), &written);
  if (st != TN_OK) return "";
  out.resize(written);
  return out;
}

}  // namespace tinyfleet::adapt
