// Float reference execution of the intermediate representation (private to
// server/models): the compiler's calibration pass and the "float model" of
// evaluations.
//
// It runs on the firmware training room's FP32 operators wherever one
// computes the op exactly (tn_conv2d_forward_f32, tn_dwconv2d_forward_f32,
// tn_pointwise_forward_f32, tn_fc_forward_f32, tn_avgpool_forward_f32,
// tn_global_avgpool_forward_f32, tn_relu_forward_f32 and the softmax of
// tn_softmax_xent_f32), so gateway and node share one FP32 path. Ops the
// training room has no operator for are computed here with the same
// summation orders: dilated convolutions, max pooling, average pooling
// with padding (padding not counted), residual add, clamps, per-channel
// affine (unfolded batch norm / constant add) and reshape. Tensors whose
// quantization the model fixes (QDQ and QLinear models) are rounded to
// their int8 grid after being computed (round half to even, saturating),
// which is what the ONNX semantics of those models prescribe.
//
// Thread-safety: an executor holds per-run buffers; use one per thread.
// The Graph must outlive it.
#ifndef TINYFLEET_SERVER_MODELS_FLOAT_EXECUTOR_H_
#define TINYFLEET_SERVER_MODELS_FLOAT_EXECUTOR_H_

#include <functional>
#include <span>
#include <vector>

#include "common/status.h"
#include "server/models/graph.h"

namespace tinyfleet::models {

class FloatExecutor {
 public:
  // Called with each tensor id and its values (HWC) as soon as they are
  // final: the input first, then every op output.
  using Observer = std::function<void(int32_t, std::span<const float>)>;

  explicit FloatExecutor(const Graph& graph);

  // Runs one sample given in ONNX order (CHW of the input's physical
  // shape). INVALID_ARGUMENT when its size is wrong; INTERNAL when an
  // operator rejects a shape (a broken invariant of the IR).
  Status Run(std::span<const float> input_onnx,
             const Observer& observer = nullptr);

  // A tensor's values from the last run (HWC).
  std::span<const float> tensor(int32_t id) const {
    return values_[static_cast<size_t>(id)];
  }
  // The output of the last run in ONNX order.
  std::vector<float> OutputOnnx() const;

 private:
  Status RunOp(const Op& op);

  const Graph& graph_;
  std::vector<std::vector<float>> values_;
};

// Rounds `v` to the grid of `q` (int8, half to even, saturating) and back.
float FakeQuant(float v, const QuantParams& q);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_FLOAT_EXECUTOR_H_
