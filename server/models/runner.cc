// Blob runner on the node executor (see runner.h).
#include "server/models/runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "server/models/graph.h"

namespace tinyfleet::models {

Status RuntimeError(tn_status st, const std::string& what) {
  std::string m = what + ": " + tn_status_str(st);
  switch (st) {
    case TN_ERR_BLOB_TRUNCATED:
    case TN_ERR_BLOB_MAGIC:
    case TN_ERR_BLOB_VERSION:
    case TN_ERR_BLOB_BOUNDS:
    case TN_ERR_BLOB_CHECKSUM:
    case TN_ERR_BLOB_GRAPH:
    case TN_ERR_BLOB_SHAPE:
    case TN_ERR_BLOB_QUANT:
    case TN_ERR_BLOB_PLAN:
    case TN_ERR_BLOB_TARGET:
      return InvalidArgumentError(m);
    case TN_ERR_BLOB_SIGNATURE:
      return UnauthenticatedError(m);
    case TN_ERR_MEMORY_BUDGET:
    case TN_ERR_ROLLBACK:
    case TN_ERR_UNSUPPORTED:
      return FailedPreconditionError(m);
    case TN_ERR_SELFTEST:
      return DataLossError(m);
    default:
      return InternalError(m);
  }
}

int32_t ArgMax(std::span<const float> v) {
  if (v.empty()) return -1;
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

Result<std::unique_ptr<BlobRunner>> BlobRunner::Open(std::string_view blob,
                                                     bool tiled) {
  std::unique_ptr<BlobRunner> r(new BlobRunner());
  tn_status st = tn_blob_parse(reinterpret_cast<const uint8_t*>(blob.data()),
                               blob.size(), nullptr, &r->blob_);
  if (st != TN_OK) return RuntimeError(st, "invalid model blob");
  tn_model_options opt{};
  opt.tiled = tiled ? 1 : 0;
  size_t size = 0;
  st = tn_model_arena_size(&r->blob_, &opt, &size);
  if (st != TN_OK) return RuntimeError(st, "model arena size");
  r->arena_.assign((size + 7) / 8, 0);
  st = tn_model_init(&r->model_, &r->blob_, r->arena_.data(),
                     r->arena_.size() * 8, &opt);
  if (st != TN_OK) return RuntimeError(st, "model init");
  tn_tensor_view v;
  (void)tn_model_input(&r->model_, &v);
  r->input_ = v.desc;
  (void)tn_model_output(&r->model_, &v);
  r->output_ = v.desc;
  return r;
}

std::vector<int8_t> QuantizeSample(std::span<const float> onnx,
                                   const tn_tensor_desc& input) {
  const size_t n = size_t{input.h} * input.w * input.c;
  std::vector<float> hwc(n);
  ChwToHwc(onnx.data(), static_cast<int32_t>(input.h),
           static_cast<int32_t>(input.w), static_cast<int32_t>(input.c),
           hwc.data());
  std::vector<int8_t> q(n);
  for (size_t i = 0; i < n; ++i) {
    const float r = std::nearbyint(hwc[i] / input.scale) +
                    static_cast<float>(input.zero_point);
    q[i] = static_cast<int8_t>(std::clamp(r, -128.0f, 127.0f));
  }
  return q;
}

std::vector<int8_t> SampleCodes(const Dataset& data, size_t i,
                                const tn_tensor_desc& input, bool* used_codes) {
  const auto& enc = data.encoding();
  bool same = false;
  if (enc) {
    uint32_t a, b;
    std::memcpy(&a, &enc->scale, 4);
    std::memcpy(&b, &input.scale, 4);
    same = a == b && enc->zero_point == input.zero_point;
  }
  if (used_codes != nullptr) *used_codes = same;
  if (!same) return QuantizeSample(data.sample(i), input);
  const auto codes = data.codes(i);
  const int64_t hw = int64_t{input.h} * input.w;
  const int32_t c = static_cast<int32_t>(input.c);
  std::vector<int8_t> q(codes.size());
  for (int64_t p = 0; p < hw; ++p) {
    for (int32_t k = 0; k < c; ++k) {
      q[static_cast<size_t>(p * c + k)] =
          codes[static_cast<size_t>(k * hw + p)];
    }
  }
  return q;
}

std::vector<int8_t> BlobRunner::QuantizeInput(
    std::span<const float> onnx) const {
  return QuantizeSample(onnx, input_);
}

std::vector<int8_t> BlobRunner::InputCodes(const Dataset& data, size_t i,
                                           bool* used_codes) const {
  return SampleCodes(data, i, input_, used_codes);
}

Status BlobRunner::Run(std::span<const int8_t> codes) {
  tn_tensor_view in;
  (void)tn_model_input(&model_, &in);
  if (codes.size() != in.bytes) {
    return InvalidArgumentError("input has " + std::to_string(codes.size()) +
                                " values; the blob input needs " +
                                std::to_string(in.bytes));
  }
  std::memcpy(in.data, codes.data(), codes.size());
  tn_status st = tn_model_run(&model_);
  if (st != TN_OK) return RuntimeError(st, "model run");
  return Status::Ok();
}

std::span<const uint8_t> BlobRunner::OutputBytes() const {
  tn_tensor_view out;
  (void)tn_model_output(const_cast<tn_model*>(&model_), &out);
  return {static_cast<const uint8_t*>(out.data), out.bytes};
}

std::vector<float> BlobRunner::OutputOnnx() const {
  tn_tensor_view out;
  (void)tn_model_output(const_cast<tn_model*>(&model_), &out);
  const size_t n = size_t{output_.h} * output_.w * output_.c;
  std::vector<float> hwc(n);
  if (output_.dtype == TN_DTYPE_FLOAT32) {
    std::memcpy(hwc.data(), out.data, n * sizeof(float));
  } else {
    const int8_t* q = static_cast<const int8_t*>(out.data);
    for (size_t i = 0; i < n; ++i) {
      hwc[i] = output_.scale * static_cast<float>(q[i] - output_.zero_point);
    }
  }
  std::vector<float> chw(n);
  HwcToChw(hwc.data(), static_cast<int32_t>(output_.h),
           static_cast<int32_t>(output_.w), static_cast<int32_t>(output_.c),
           chw.data());
  return chw;
}

Status BlobRunner::SelfTest() {
  tn_status st = tn_model_self_test(&model_);
  if (st == TN_ERR_NOT_FOUND) return NotFoundError("the blob has no canary");
  if (st != TN_OK) return RuntimeError(st, "canary");
  return Status::Ok();
}

}  // namespace tinyfleet::models
