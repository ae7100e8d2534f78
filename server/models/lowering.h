// Post-training quantization and lowering of the intermediate
// representation to the node runtime's graph (private to server/models).
//
// Quantization scheme (docs/models.md, "Quantization"):
//  - activations: int8 per tensor, asymmetric; scale and zero point from a
//    calibrated real range [lo, hi] widened to contain 0 (TFLite's
//    nudging: scale = (hi - lo) / 255, zero point = round(-128 - lo /
//    scale)); ranges the model fixes (QDQ / QLinear) are kept;
//  - pools, reshape and standalone clamps keep their input's quantization
//    and softmax outputs use 1/256 and -128, as the kernels require;
//  - weights: per output channel, symmetric; 8 bits use max|w| / 127;
//    4 and 2 bits pick the clipping ratio that minimizes the squared error
//    of the channel (levels -7..7 and -1..1); integer weights given by the
//    model are used as they are at 8 bits;
//  - bias: int32 in units of input scale x weight scale, saturated to the
//    kernels' +-2^30;
//  - requantization: tn_quantize_multiplier(input scale x weight scale /
//    output scale) per channel; fused ReLU / ReLU6 / Clip become the op's
//    int8 output clamp.
// Ops from `tail_first_op` on are lowered to the runtime's FP32 tail with
// their float weights, after a DEQUANTIZE of the cut tensor.
#ifndef TINYFLEET_SERVER_MODELS_LOWERING_H_
#define TINYFLEET_SERVER_MODELS_LOWERING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/tn_runtime.h"
#include "server/models/graph.h"

namespace tinyfleet::models {

struct TensorRange {
  float lo = 0.0f;
  float hi = 0.0f;
};

// Scale and zero point for a real range (widened to contain 0).
QuantParams QuantFromRange(TensorRange r);

// Quantization of every IR tensor: fixed ones as given, `input` (when set)
// for the graph input, pass-through ops as their input, softmax outputs as
// the kernel's, the rest from `ranges` (one per tensor). FAILED_PRECONDITION
// when the model fixes a pass-through op's output to another quantization
// than its input's.
Result<std::vector<QuantParams>> AssignQuantization(
    const Graph& graph, const std::vector<TensorRange>& ranges,
    const std::optional<QuantParams>& input);

struct LowerOptions {
  // Weight bits (8, 4 or 2) per IR op; ops without weights ignore theirs.
  // Empty: 8 for every op.
  std::vector<int32_t> weight_bits;
  // First IR op of the FP32 tail; -1 (or ops.size()) for none.
  int32_t tail_first_op = -1;
};

// A lowered model: everything tn_blob_builder needs, in owned storage.
struct Lowered {
  std::vector<tn_tensor_desc> tensors;
  std::vector<tn_op_desc> ops;
  std::vector<uint8_t> weights;
  std::vector<int32_t> quant;
  std::vector<float> tail_params;
  bool has_tail = false;
  tn_tail_desc tail{};  // params points into tail_params (see Desc)
  uint16_t input = 0;
  uint16_t output = 0;
  // Per runtime op: the IR op it comes from (-1 for the inserted
  // DEQUANTIZE), its name and ONNX op types.
  std::vector<int32_t> op_ir;
  std::vector<std::string> op_names;
  std::vector<std::string> op_onnx;
  std::vector<std::string> tensor_names;
  // Notes on lossy steps (saturated biases, dropped trailing softmax).
  std::vector<std::string> warnings;

  // Views for the runtime; valid while *this is unchanged.
  tn_graph_desc GraphDesc() const;
  const tn_tail_desc* TailDesc();
};

Result<Lowered> Lower(const Graph& graph, const std::vector<QuantParams>& quant,
                      const LowerOptions& options);

// Weight bytes of IR op `i` at `bits` (packed, as stored in the blob).
int64_t WeightBytes(const Graph& graph, int32_t i, int32_t bits);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_LOWERING_H_
