// Quantization and lowering to the runtime graph (see lowering.h).
#include "server/models/lowering.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/tn_kernels.h"

namespace tinyfleet::models {
namespace {

constexpr float kSoftmaxScale = 1.0f / 256.0f;  // bits 0x3B800000
constexpr int32_t kSoftmaxZeroPoint = -128;
constexpr int64_t kMaxBias = int64_t{1} << 30;

bool IsPassThrough(OpKind k) {
  return k == OpKind::kMaxPool || k == OpKind::kAvgPool ||
         k == OpKind::kGlobalAvgPool || k == OpKind::kReshape ||
         k == OpKind::kClamp;
}

// Channel of weight element i of a weighted op with `cout` channels.
size_t ChannelOf(const Op& op, size_t i, size_t cout) {
  if (op.kind == OpKind::kDepthwise) return i % cout;
  return i / (op.weights.size() / cout);
}

struct QWeights {
  std::vector<int8_t> q;
  std::vector<float> scale;  // per output channel
  bool exact_model_weights = false;
};

// Per-channel symmetric quantization at `bits` (see lowering.h).
QWeights QuantizeWeights(const Op& op, size_t cout, int32_t bits) {
  QWeights r;
  const size_t n = op.weights.size();
  if (bits == 8 && op.qweights.size() == n &&
      op.qweight_scales.size() == cout) {
    r.q = op.qweights;
    r.scale = op.qweight_scales;
    r.exact_model_weights = true;
    return r;
  }
  r.q.assign(n, 0);
  r.scale.assign(cout, 1.0f);
  const int32_t qmax = (1 << (bits - 1)) - 1;  // 127, 7, 1
  // Sub-byte weights use the whole two's-complement range (-8..7, -2..1):
  // the extra negative level lowers the error of the clipped search.
  const int32_t qmin = bits == 8 ? -qmax : -qmax - 1;
  std::vector<std::vector<size_t>> members(cout);
  for (size_t i = 0; i < n; ++i) members[ChannelOf(op, i, cout)].push_back(i);
  for (size_t c = 0; c < cout; ++c) {
    float m = 0.0f;
    for (size_t i : members[c]) m = std::max(m, std::fabs(op.weights[i]));
    // All zero, or so small that a scale would underflow (e.g. a folded
    // batch norm with a vanishing scale): q = 0 with a unit scale.
    if (!(m > 1e-30f)) continue;
    float best_scale = m / static_cast<float>(qmax);
    if (bits < 8) {
      double best_err = INFINITY;
      for (int step = 0; step <= 40; ++step) {
        const float alpha = 1.0f - 0.02f * static_cast<float>(step);
        const float s = alpha * m / static_cast<float>(qmax);
        double err = 0;
        for (size_t i : members[c]) {
          const float q =
              std::clamp(std::nearbyint(op.weights[i] / s),
                         static_cast<float>(qmin), static_cast<float>(qmax));
          const double d = static_cast<double>(op.weights[i]) - double{s} * q;
          err += d * d;
        }
        if (err < best_err) {
          best_err = err;
          best_scale = s;
        }
      }
    }
    r.scale[c] = best_scale;
    for (size_t i : members[c]) {
      r.q[i] = static_cast<int8_t>(
          std::clamp(std::nearbyint(op.weights[i] / best_scale),
                     static_cast<float>(qmin), static_cast<float>(qmax)));
    }
  }
  return r;
}

int8_t ClampCode(double v) {
  return static_cast<int8_t>(std::clamp(v, -128.0, 127.0));
}

void SetActivation(const Op& op, const QuantParams& q, tn_op_desc* d) {
  double lo = -128, hi = 127;
  if (op.act_lo != kNoLower) {
    lo = q.zero_point + std::nearbyint(op.act_lo / double{q.scale});
  }
  if (op.act_hi != kNoUpper) {
    hi = q.zero_point + std::nearbyint(op.act_hi / double{q.scale});
  }
  d->act_min = ClampCode(lo);
  d->act_max = ClampCode(std::max(hi, lo));
}

}  // namespace

QuantParams QuantFromRange(TensorRange r) {
  const double lo = std::min<double>(r.lo, 0.0);
  const double hi = std::max<double>(r.hi, 0.0);
  const double span = std::max(hi - lo, 1e-6);
  const double scale = span / 255.0;
  const double zp =
      std::clamp(std::nearbyint(-128.0 - lo / scale), -128.0, 127.0);
  return QuantParams{static_cast<float>(scale), static_cast<int32_t>(zp)};
}

Result<std::vector<QuantParams>> AssignQuantization(
    const Graph& graph, const std::vector<TensorRange>& ranges,
    const std::optional<QuantParams>& input) {
  if (ranges.size() != graph.tensors.size()) {
    return InternalError("one range per tensor expected");
  }
  std::vector<QuantParams> q(graph.tensors.size());
  const Tensor& in = graph.tensors[static_cast<size_t>(graph.input)];
  q[static_cast<size_t>(graph.input)] =
      in.fixed ? *in.fixed
      : input  ? *input
               : QuantFromRange(ranges[static_cast<size_t>(graph.input)]);
  for (const Op& op : graph.ops) {
    const size_t o = static_cast<size_t>(op.output);
    const Tensor& t = graph.tensors[o];
    QuantParams want;
    bool forced = true;
    if (IsPassThrough(op.kind)) {
      want = q[static_cast<size_t>(op.inputs[0])];
    } else if (op.kind == OpKind::kSoftmax) {
      want = QuantParams{kSoftmaxScale, kSoftmaxZeroPoint};
    } else {
      forced = false;
      want = t.fixed ? *t.fixed : QuantFromRange(ranges[o]);
    }
    if (forced && t.fixed && !(*t.fixed == want)) {
      return FailedPreconditionError(
          "layer '" + op.name + "' (" + op.onnx_op +
          "): the model quantizes its output with scale " +
          std::to_string(t.fixed->scale) + ", zero point " +
          std::to_string(t.fixed->zero_point) +
          ", but the int8 kernels require scale " + std::to_string(want.scale) +
          ", zero point " + std::to_string(want.zero_point));
    }
    q[o] = want;
  }
  return q;
}

int64_t WeightBytes(const Graph& graph, int32_t i, int32_t bits) {
  const Op& op = graph.ops[static_cast<size_t>(i)];
  if (!IsWeighted(op.kind)) return 0;
  return (static_cast<int64_t>(op.weights.size()) * bits + 7) / 8;
}

tn_graph_desc Lowered::GraphDesc() const {
  tn_graph_desc g;
  g.tensors = tensors.data();
  g.tensor_count = static_cast<uint32_t>(tensors.size());
  g.ops = ops.data();
  g.op_count = static_cast<uint32_t>(ops.size());
  g.input_tensor = input;
  g.output_tensor = output;
  return g;
}

const tn_tail_desc* Lowered::TailDesc() {
  if (!has_tail) return nullptr;
  tail.params = tail_params.data();
  tail.param_count = static_cast<uint32_t>(tail_params.size());
  return &tail;
}

Result<Lowered> Lower(const Graph& g, const std::vector<QuantParams>& quant,
                      const LowerOptions& options) {
  Lowered L;
  const int32_t n_ops = static_cast<int32_t>(g.ops.size());
  const int32_t tail_first =
      options.tail_first_op < 0 ? n_ops : options.tail_first_op;
  if (tail_first < 1 || tail_first > n_ops) {
    return FailedPreconditionError(
        "the trainable tail would contain every layer; the int8 front-end "
        "needs at least one");
  }
  std::vector<int32_t> rt(g.tensors.size(), -1);   // int8 runtime tensor
  std::vector<int32_t> rtf(g.tensors.size(), -1);  // FP32 runtime tensor
  auto add_tensor = [&](uint8_t dtype, const Tensor& t,
                        const QuantParams* q) -> Result<int32_t> {
    if (L.tensors.size() >= TN_BLOB_MAX_TENSORS) {
      return FailedPreconditionError(
          "the model needs more than 256 tensors, the runtime's limit");
    }
    tn_tensor_desc d{};
    d.dtype = dtype;
    d.h = static_cast<uint32_t>(t.h);
    d.w = static_cast<uint32_t>(t.w);
    d.c = static_cast<uint32_t>(t.c);
    if (q != nullptr) {
      d.scale = q->scale;
      d.zero_point = q->zero_point;
    }
    L.tensors.push_back(d);
    L.tensor_names.push_back(t.name);
    return static_cast<int32_t>(L.tensors.size() - 1);
  };
  auto add_op = [&](const tn_op_desc& d, int32_t ir, const std::string& name,
                    const std::string& onnx) -> Status {
    if (L.ops.size() >= TN_BLOB_MAX_OPS) {
      return FailedPreconditionError(
          "the model needs more than 256 ops, the runtime's limit");
    }
    L.ops.push_back(d);
    L.op_ir.push_back(ir);
    L.op_names.push_back(name);
    L.op_onnx.push_back(onnx);
    return Status::Ok();
  };
  auto bits_of = [&](int32_t i) {
    return options.weight_bits.empty()
               ? 8
               : options.weight_bits[static_cast<size_t>(i)];
  };

  const size_t in_id = static_cast<size_t>(g.input);
  TF_ASSIGN_OR_RETURN(
      rt[in_id], add_tensor(TN_DTYPE_INT8, g.tensors[in_id], &quant[in_id]));

  // ---- int8 front-end ----
  for (int32_t i = 0; i < tail_first; ++i) {
    const Op& op = g.ops[static_cast<size_t>(i)];
    const size_t in0 = static_cast<size_t>(op.inputs[0]);
    const size_t out = static_cast<size_t>(op.output);
    const QuantParams& qi = quant[in0];
    const QuantParams& qo = quant[out];
    const Tensor& to = g.tensors[out];
    tn_op_desc d{};
    d.input0 = static_cast<uint16_t>(rt[in0]);
    d.input1 = TN_NO_TENSOR;
    auto window = [&](bool dilation) {
      d.kernel_h = static_cast<uint8_t>(op.kh);
      d.kernel_w = static_cast<uint8_t>(op.kw);
      d.stride_h = static_cast<uint8_t>(op.sh);
      d.stride_w = static_cast<uint8_t>(op.sw);
      d.dilation_h = static_cast<uint8_t>(dilation ? op.dh : 1);
      d.dilation_w = static_cast<uint8_t>(dilation ? op.dw : 1);
      d.pad_top = static_cast<uint8_t>(op.pad_top);
      d.pad_bottom = static_cast<uint8_t>(op.pad_bottom);
      d.pad_left = static_cast<uint8_t>(op.pad_left);
      d.pad_right = static_cast<uint8_t>(op.pad_right);
    };
    switch (op.kind) {
      case OpKind::kConv:
      case OpKind::kDepthwise:
      case OpKind::kFullyConnected: {
        const bool pw =
            op.kind == OpKind::kConv && op.kh == 1 && op.kw == 1 &&
            op.sh == 1 && op.sw == 1 &&
            (op.pad_top | op.pad_bottom | op.pad_left | op.pad_right) == 0;
        if (op.kind == OpKind::kFullyConnected) {
          d.type = TN_OP_FC;
        } else if (op.kind == OpKind::kDepthwise) {
          d.type = TN_OP_DWCONV2D;
          window(true);
        } else if (pw) {
          d.type = TN_OP_PWCONV;
          d.kernel_h = d.kernel_w = d.stride_h = d.stride_w = 1;
          d.dilation_h = d.dilation_w = 1;
        } else {
          d.type = TN_OP_CONV2D;
          window(true);
        }
        const int32_t bits = bits_of(i);
        if (bits != 8 && bits != 4 && bits != 2) {
          return InternalError("weight bits must be 8, 4 or 2");
        }
        d.weight_bits = static_cast<uint8_t>(bits);
        const size_t cout = static_cast<size_t>(to.c);
        QWeights w = QuantizeWeights(op, cout, bits);
        const size_t packed = tn_weights_packed_size(w.q.size(), bits);
        d.weights_offset = static_cast<uint32_t>(L.weights.size());
        d.weights_size = static_cast<uint32_t>(packed);
        L.weights.resize(L.weights.size() + packed);
        uint8_t* dst = L.weights.data() + d.weights_offset;
        if (bits == 8) {
          std::memcpy(dst, w.q.data(), w.q.size());
        } else if (tn_weights_pack(w.q.data(), w.q.size(), bits, dst, packed) !=
                   TN_OK) {
          return InternalError("weight packing failed");
        }
        // bias, multiplier, shift words.
        d.quant_offset = static_cast<uint32_t>(4 * L.quant.size());
        d.quant_size = static_cast<uint32_t>(12 * cout);
        const size_t base = L.quant.size();
        L.quant.resize(base + 3 * cout);
        const bool model_bias =
            w.exact_model_weights && op.qbias.size() == cout &&
            g.tensors[in0].fixed && *g.tensors[in0].fixed == qi;
        bool saturated = false;
        for (size_t c = 0; c < cout; ++c) {
          const double s_w = w.scale[c];
          int64_t b;
          if (model_bias) {
            b = op.qbias[c];
          } else {
            b = static_cast<int64_t>(
                std::llround(op.bias[c] / (double{qi.scale} * s_w)));
          }
          if (b > kMaxBias || b < -kMaxBias) {
            b = std::clamp(b, -kMaxBias, kMaxBias);
            saturated = true;
          }
          int32_t mult = 0, shift = 0;
          const double real = double{qi.scale} * s_w / double{qo.scale};
          if (tn_quantize_multiplier(real, &mult, &shift) != TN_OK) {
            return InternalError("requantization multiplier of '" + op.name +
                                 "'");
          }
          L.quant[base + c] = static_cast<int32_t>(b);
          L.quant[base + cout + c] = mult;
          L.quant[base + 2 * cout + c] = shift;
        }
        if (saturated) {
          L.warnings.push_back("layer '" + op.name +
                               "': a bias exceeds the kernels' range "
                               "+-2^30 and was saturated");
        }
        SetActivation(op, qo, &d);
        break;
      }
      case OpKind::kMaxPool:
      case OpKind::kAvgPool:
        d.type = op.kind == OpKind::kMaxPool ? TN_OP_MAXPOOL : TN_OP_AVGPOOL;
        window(false);
        SetActivation(op, qo, &d);
        break;
      case OpKind::kClamp:
        d.type = TN_OP_MAXPOOL;  // 1x1 window: a pure clamp
        d.kernel_h = d.kernel_w = d.stride_h = d.stride_w = 1;
        d.dilation_h = d.dilation_w = 1;
        SetActivation(op, qo, &d);
        break;
      case OpKind::kGlobalAvgPool:
        d.type = TN_OP_GLOBAL_AVGPOOL;
        SetActivation(op, qo, &d);
        break;
      case OpKind::kAdd: {
        d.type = TN_OP_ADD;
        const size_t in1 = static_cast<size_t>(op.inputs[1]);
        d.input1 = static_cast<uint16_t>(rt[in1]);
        SetActivation(op, qo, &d);
        tn_add_params p;
        tn_activation act{d.act_min, d.act_max};
        if (tn_add_s8_prepare(qi.scale, qi.zero_point, quant[in1].scale,
                              quant[in1].zero_point, qo.scale, qo.zero_point,
                              act, &p) != TN_OK) {
          return FailedPreconditionError(
              "layer '" + op.name +
              "': the scales of the Add's operands and output cannot be "
              "expressed by the int8 ADD kernel");
        }
        d.quant_offset = static_cast<uint32_t>(4 * L.quant.size());
        d.quant_size = 4 * 7;
        L.quant.insert(L.quant.end(),
                       {p.left_shift, p.input1_multiplier, p.input1_shift,
                        p.input2_multiplier, p.input2_shift,
                        p.output_multiplier, p.output_shift});
        break;
      }
      case OpKind::kReshape:
        d.type = TN_OP_RESHAPE;
        break;
      case OpKind::kSoftmax: {
        d.type = TN_OP_SOFTMAX;
        tn_softmax_params p;
        if (tn_softmax_s8_prepare(1.0, qi.scale, &p) != TN_OK) {
          return FailedPreconditionError("layer '" + op.name +
                                         "': softmax input scale out of range");
        }
        d.quant_offset = static_cast<uint32_t>(4 * L.quant.size());
        d.quant_size = 4 * 3;
        L.quant.insert(L.quant.end(),
                       {p.input_multiplier, p.input_left_shift, p.diff_min});
        break;
      }
      case OpKind::kBatchNorm:
      case OpKind::kAddConst:
        return InternalError("unfolded op after optimization");
    }
    TF_ASSIGN_OR_RETURN(rt[out], add_tensor(TN_DTYPE_INT8, to, &qo));
    d.output = static_cast<uint16_t>(rt[out]);
    TF_RETURN_IF_ERROR(add_op(d, i, op.name, op.onnx_op));
  }

  // ---- FP32 tail ----
  if (tail_first < n_ops) {
    const Op& first = g.ops[static_cast<size_t>(tail_first)];
    const size_t cut = static_cast<size_t>(first.inputs[0]);
    if (rt[cut] < 0) return InternalError("cut tensor not in the front-end");
    L.has_tail = true;
    L.tail.cut_tensor = static_cast<uint16_t>(rt[cut]);
    L.tail.first_op = static_cast<uint16_t>(L.ops.size());
    tn_op_desc deq{};
    deq.type = TN_OP_DEQUANTIZE;
    deq.input0 = static_cast<uint16_t>(rt[cut]);
    deq.input1 = TN_NO_TENSOR;
    TF_ASSIGN_OR_RETURN(rtf[cut],
                        add_tensor(TN_DTYPE_FLOAT32, g.tensors[cut], nullptr));
    L.tensor_names.back() += "/f32";
    deq.output = static_cast<uint16_t>(rtf[cut]);
    TF_RETURN_IF_ERROR(add_op(deq, -1, "dequantize", "(cut)"));
    uint16_t trainable = 0;
    for (int32_t i = tail_first; i < n_ops; ++i) {
      const Op& op = g.ops[static_cast<size_t>(i)];
      const size_t in0 = static_cast<size_t>(op.inputs[0]);
      const size_t out = static_cast<size_t>(op.output);
      const Tensor& ti = g.tensors[in0];
      const Tensor& to = g.tensors[out];
      auto reject = [&](const std::string& why) {
        return FailedPreconditionError(
            "layer '" + op.name + "' (" + op.onnx_op +
            ") cannot be part of the FP32 trainable tail: " + why +
            "; choose fewer trainable layers");
      };
      for (int32_t t : op.inputs) {
        if (rtf[static_cast<size_t>(t)] < 0) {
          return reject("it reads '" + g.tensors[static_cast<size_t>(t)].name +
                        "' from before the cut (a connection crosses the "
                        "cut)");
        }
      }
      const int32_t fin = rtf[in0];
      const tn_tensor_desc& fin_desc = L.tensors[static_cast<size_t>(fin)];
      const bool reluish = op.act_lo == 0.0f && op.act_hi == kNoUpper;
      tn_op_desc d{};
      d.input0 = static_cast<uint16_t>(fin);
      d.input1 = TN_NO_TENSOR;
      bool relu_after = false;
      switch (op.kind) {
        case OpKind::kConv:
        case OpKind::kFullyConnected: {
          if (op.kind == OpKind::kConv) {
            if (op.kh != 1 || op.kw != 1 || op.sh != 1 || op.sw != 1 ||
                (op.pad_top | op.pad_bottom | op.pad_left | op.pad_right)) {
              return reject("only 1x1 convolutions with stride 1 run in FP32");
            }
            if (fin_desc.h != static_cast<uint32_t>(ti.h) ||
                fin_desc.w != static_cast<uint32_t>(ti.w)) {
              return reject("its input was reshaped");
            }
            d.type = TN_OP_PWCONV_F32;
            d.kernel_h = d.kernel_w = d.stride_h = d.stride_w = 1;
            d.dilation_h = d.dilation_w = 1;
          } else {
            d.type = TN_OP_FC_F32;
          }
          if (op.has_activation() && !reluish) {
            return reject("its output clamp is not a ReLU");
          }
          relu_after = op.has_activation();
          d.weights_offset = static_cast<uint32_t>(4 * L.tail_params.size());
          L.tail_params.insert(L.tail_params.end(), op.weights.begin(),
                               op.weights.end());
          L.tail_params.insert(L.tail_params.end(), op.bias.begin(),
                               op.bias.end());
          d.weights_size =
              static_cast<uint32_t>(4 * (op.weights.size() + op.bias.size()));
          ++trainable;
          break;
        }
        case OpKind::kClamp:
          if (!reluish) return reject("only ReLU clamps run in FP32");
          d.type = TN_OP_RELU_F32;
          break;
        case OpKind::kGlobalAvgPool:
        case OpKind::kAvgPool: {
          if (op.has_activation() && !reluish) {
            return reject("its output clamp is not a ReLU");
          }
          relu_after = op.has_activation();
          d.type = TN_OP_AVGPOOL_F32;
          if (op.kind == OpKind::kGlobalAvgPool) {
            if (ti.h > 64 || ti.w > 64) {
              return reject("a global pooling window above 64 x 64");
            }
            d.kernel_h = static_cast<uint8_t>(ti.h);
            d.kernel_w = static_cast<uint8_t>(ti.w);
            d.stride_h = d.stride_w = 1;
          } else {
            if (op.pad_top | op.pad_bottom | op.pad_left | op.pad_right) {
              return reject("FP32 average pooling has no padding");
            }
            d.kernel_h = static_cast<uint8_t>(op.kh);
            d.kernel_w = static_cast<uint8_t>(op.kw);
            d.stride_h = static_cast<uint8_t>(op.sh);
            d.stride_w = static_cast<uint8_t>(op.sw);
          }
          d.dilation_h = d.dilation_w = 1;
          break;
        }
        case OpKind::kReshape:
          // Same bytes: the FP32 dense layer flattens its input anyway.
          for (int32_t c : g.Consumers(op.output)) {
            if (g.ops[static_cast<size_t>(c)].kind != OpKind::kFullyConnected) {
              return reject("a reshape in the tail must feed a dense layer");
            }
          }
          rtf[out] = fin;
          continue;
        case OpKind::kSoftmax:
          if (i != n_ops - 1) return reject("softmax inside the tail");
          rtf[out] = fin;
          L.warnings.push_back(
              "the trailing Softmax '" + op.name +
              "' is not part of the FP32 tail: the blob outputs logits (the "
              "arg-max is the same; on-device training applies softmax "
              "cross-entropy itself)");
          continue;
        default:
          return reject(std::string("op kind '") + OpKindName(op.kind) +
                        "' has no FP32 version on the node");
      }
      TF_ASSIGN_OR_RETURN(int32_t fo,
                          add_tensor(TN_DTYPE_FLOAT32, to, nullptr));
      d.output = static_cast<uint16_t>(fo);
      TF_RETURN_IF_ERROR(add_op(d, i, op.name, op.onnx_op));
      rtf[out] = fo;
      if (relu_after) {
        tn_op_desc r{};
        r.type = TN_OP_RELU_F32;
        r.input0 = static_cast<uint16_t>(fo);
        r.input1 = TN_NO_TENSOR;
        TF_ASSIGN_OR_RETURN(int32_t ro,
                            add_tensor(TN_DTYPE_FLOAT32, to, nullptr));
        L.tensor_names.back() += "/relu";
        r.output = static_cast<uint16_t>(ro);
        TF_RETURN_IF_ERROR(add_op(r, i, op.name + "/relu", "Relu"));
        rtf[out] = ro;
      }
    }
    L.tail.trainable_layers = trainable;
    const int32_t o = rtf[static_cast<size_t>(g.output)];
    if (o < 0) return InternalError("graph output outside the tail");
    L.output = static_cast<uint16_t>(o);
  } else {
    L.output = static_cast<uint16_t>(rt[static_cast<size_t>(g.output)]);
  }
  L.input = static_cast<uint16_t>(rt[in_id]);
  return L;
}

}  // namespace tinyfleet::models
