// The model compiler's intermediate representation (private to
// server/models): a single-input, single-output graph of float operators
// in the node runtime's layout, as the ONNX importer produces it and as the
// float reference executor, the calibrator and the lowering to the blob
// consume it.
//
// Layout contract. Every tensor has a physical shape (h, w, c) and is
// stored HWC (channels last), batch 1, as on the node. The ONNX value it
// stands for may have another shape (a Flatten or Reshape changes the ONNX
// shape without moving bytes); in every case the ONNX row-major order of
// the value equals the CHW order of the physical shape, i.e. ONNX element
// c * (h * w) + y * w + x lives at physical index (y * w + x) * c_count + c.
// For [1, C, H, W] values the physical shape is (H, W, C); for [1, F] values
// produced by a dense layer it is (1, 1, F).
//
// Weights are stored in the runtime's layouts ([out][kh][kw][in] for
// convolutions, [kh][kw][c] for depthwise, [out][in] for dense layers with
// the input index in physical HWC order), so the lowering copies them as
// they are.
//
// Thread-safety: plain values; a const Graph may be shared.
#ifndef TINYFLEET_SERVER_MODELS_GRAPH_H_
#define TINYFLEET_SERVER_MODELS_GRAPH_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace tinyfleet::models {

// Quantization of an int8 tensor: real = scale * (q - zero_point), with
// zero_point in [-128, 127] (uint8 ONNX zero points are shifted by -128).
struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  friend bool operator==(const QuantParams&, const QuantParams&) = default;
};

// How a graph boundary value is encoded in ONNX.
enum class ValueType : uint8_t {
  kFloat = 0,  // float32
  kUint8 = 1,  // uint8 codes (int8 code + 128)
  kInt8 = 2,   // int8 codes
};

struct Tensor {
  std::string name;  // the ONNX value name (the last one, after fusions)
  int32_t h = 1, w = 1, c = 1;
  // Quantization given by the model (QuantizeLinear / DequantizeLinear /
  // QLinear* operands) rather than by calibration.
  std::optional<QuantParams> fixed;

  int64_t elements() const { return int64_t{h} * w * c; }
};

enum class OpKind : uint8_t {
  kConv,            // convolution; 1x1 / stride 1 / no padding is pointwise
  kDepthwise,       // depthwise convolution, channel multiplier 1
  kFullyConnected,  // dense layer over the whole input
  kMaxPool,
  kAvgPool,  // padding not counted
  kGlobalAvgPool,
  kAdd,        // elementwise sum of two tensors of one shape
  kReshape,    // new physical shape, same bytes
  kSoftmax,    // over c
  kClamp,      // standalone Relu / Clip
  kBatchNorm,  // per-channel affine (folded or made depthwise by Optimize)
  kAddConst,   // per-channel constant add (folded or made depthwise)
};

const char* OpKindName(OpKind kind);

// True for ops with weights and bias (kConv, kDepthwise, kFullyConnected).
bool IsWeighted(OpKind kind);

inline constexpr float kNoLower = -std::numeric_limits<float>::infinity();
inline constexpr float kNoUpper = std::numeric_limits<float>::infinity();

struct Op {
  OpKind kind = OpKind::kConv;
  std::string name;     // ONNX node name(s), joined with '+' after fusion
  std::string onnx_op;  // ONNX op type(s), e.g. "Conv+BatchNormalization"
  std::vector<int32_t> inputs;  // tensor ids (two for kAdd)
  int32_t output = -1;

  // Window geometry (convolutions and pools).
  int32_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int32_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;

  // Float weights in runtime layout and one bias per output channel
  // (kBatchNorm: weights = per-channel scale, bias = shift; kAddConst:
  // bias only).
  std::vector<float> weights;
  std::vector<float> bias;

  // Weights given as integers by the model (QLinearConv / QLinearMatMul /
  // DequantizeLinear of an int8 initializer): values in runtime layout and
  // one scale per output channel; `weights` holds their real values.
  std::vector<int8_t> qweights;
  std::vector<float> qweight_scales;
  // An int32 bias given by the model in units of input scale x weight
  // scale (QLinearConv), used as is when the input and weight scales are
  // the model's own.
  std::vector<int32_t> qbias;

  // Fused output clamp in real values (Relu: [0, +inf), Relu6: [0, 6]).
  float act_lo = kNoLower;
  float act_hi = kNoUpper;

  bool has_activation() const {
    return act_lo != kNoLower || act_hi != kNoUpper;
  }
};

struct Graph {
  std::vector<Tensor> tensors;
  std::vector<Op> ops;  // topological (execution) order
  int32_t input = -1;
  int32_t output = -1;
  std::string input_name, output_name;
  std::vector<int64_t> input_dims, output_dims;  // ONNX shapes
  ValueType input_type = ValueType::kFloat;
  ValueType output_type = ValueType::kFloat;
  int64_t opset = 0;
  std::string producer;

  // Ids of the ops reading tensor `t`, in order.
  std::vector<int32_t> Consumers(int32_t t) const;
  // The op producing tensor `t`, or -1 for the graph input.
  int32_t Producer(int32_t t) const;
  // Multiply-accumulates of op `i` (the runtime's counting rule).
  int64_t Macs(int32_t i) const;
};

// Physical (h, w, c) of an ONNX shape with batch 1: [1, C, H, W] -> (H, W,
// C), [1, C, L] -> (1, L, C), [1, F] and [F] -> (1, 1, F), [] -> (1, 1, 1).
// False when the shape has another rank or a batch other than 1.
bool NaturalShape(const std::vector<int64_t>& dims, int32_t* h, int32_t* w,
                  int32_t* c);

// Converts between ONNX order (CHW of the physical shape) and HWC.
void ChwToHwc(const float* chw, int32_t h, int32_t w, int32_t c, float* hwc);
void HwcToChw(const float* hwc, int32_t h, int32_t w, int32_t c, float* chw);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_GRAPH_H_
