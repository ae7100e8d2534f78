// Runs a model blob on the node runtime's executor (private to
// server/models): parse, bind an arena, feed samples, read outputs. Used by
// the compiler (canary, accuracy during the mixed-precision search) and by
// Evaluate.
//
// Thread-safety: one runner per thread. The blob bytes must outlive it.
#ifndef TINYFLEET_SERVER_MODELS_RUNNER_H_
#define TINYFLEET_SERVER_MODELS_RUNNER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runtime/tn_runtime.h"
#include "server/models/dataset.h"

namespace tinyfleet::models {

// Maps a runtime status to a Status with `what` as context.
Status RuntimeError(tn_status st, const std::string& what);

class BlobRunner {
 public:
  // Parses `blob` with every rule of the format (any target, signature not
  // verified) and binds a model. INVALID_ARGUMENT for blobs the parser
  // rejects (the message carries its status).
  static Result<std::unique_ptr<BlobRunner>> Open(std::string_view blob,
                                                  bool tiled = false);

  const tn_blob& blob() const { return blob_; }
  const tn_tensor_desc& input() const { return input_; }
  const tn_tensor_desc& output() const { return output_; }

  // Input codes for sample i of `data`: its own int8 codes when its
  // encoding equals the blob input's quantization, else its real values
  // quantized (half to even, saturating); permuted CHW -> HWC.
  std::vector<int8_t> InputCodes(const Dataset& data, size_t i,
                                 bool* used_codes) const;
  // Quantizes real values in ONNX order to HWC input codes.
  std::vector<int8_t> QuantizeInput(std::span<const float> onnx) const;

  // Runs one inference on HWC input codes.
  Status Run(std::span<const int8_t> codes);
  // The output of the last run as real values in ONNX order (CHW of the
  // output's physical shape): dequantized int8, or the FP32 logits.
  std::vector<float> OutputOnnx() const;
  // Raw output bytes of the last run (int8 codes or host-order floats).
  std::span<const uint8_t> OutputBytes() const;
  // Canary check of the blob: OK, or DATA_LOSS on mismatch; NOT_FOUND
  // without a canary.
  Status SelfTest();

 private:
  BlobRunner() = default;
  tn_blob blob_{};
  tn_model model_{};
  tn_tensor_desc input_{}, output_{};
  std::vector<uint64_t> arena_;
};

// Input codes (HWC) for sample i of `data` and a model input `input`: the
// sample's own int8 codes when its encoding equals the input's quantization,
// else its real values quantized (half to even, saturating); permuted from
// ONNX (CHW) order. *used_codes (may be null) tells which.
std::vector<int8_t> SampleCodes(const Dataset& data, size_t i,
                                const tn_tensor_desc& input, bool* used_codes);
// Real values in ONNX order quantized to HWC codes of `input`.
std::vector<int8_t> QuantizeSample(std::span<const float> onnx,
                                   const tn_tensor_desc& input);

// Index of the largest value (lowest index on ties); -1 when empty.
int32_t ArgMax(std::span<const float> v);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_RUNNER_H_
