// Float reference executor (see float_executor.h).
#include "server/models/float_executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "train/tn_train.h"

namespace tinyfleet::models {
namespace {

tn_train_shape ShapeOf(const Tensor& t) {
  return tn_train_shape{static_cast<uint16_t>(t.h), static_cast<uint16_t>(t.w),
                        static_cast<uint16_t>(t.c)};
}

Status Check(tn_status st, const Op& op) {
  if (st == TN_OK) return Status::Ok();
  return InternalError("float reference of '" + op.name +
                       "': " + tn_status_str(st));
}

// Convolution (depthwise when `depthwise`) with dilation, skipping padded
// positions; each output sums (ky, kx, ci) ascending from +0, then adds the
// bias, like the training room's operators.
void ConvGeneral(const Op& op, const Tensor& in, const Tensor& out,
                 const float* x, float* y, bool depthwise) {
  for (int32_t oy = 0; oy < out.h; ++oy) {
    for (int32_t ox = 0; ox < out.w; ++ox) {
      for (int32_t oc = 0; oc < out.c; ++oc) {
        float acc = 0.0f;
        for (int32_t ky = 0; ky < op.kh; ++ky) {
          const int32_t iy = oy * op.sh - op.pad_top + ky * op.dh;
          if (iy < 0 || iy >= in.h) continue;
          for (int32_t kx = 0; kx < op.kw; ++kx) {
            const int32_t ix = ox * op.sw - op.pad_left + kx * op.dw;
            if (ix < 0 || ix >= in.w) continue;
            const float* px = x + (int64_t{iy} * in.w + ix) * in.c;
            if (depthwise) {
              acc += op.weights[(static_cast<size_t>(ky) * op.kw + kx) * out.c +
                                oc] *
                     px[oc];
            } else {
              const float* w = op.weights.data() +
                               ((int64_t{oc} * op.kh + ky) * op.kw + kx) * in.c;
              for (int32_t ic = 0; ic < in.c; ++ic) acc += w[ic] * px[ic];
            }
          }
        }
        y[(int64_t{oy} * out.w + ox) * out.c + oc] = acc + op.bias[oc];
      }
    }
  }
}

// Max or mean over the valid positions of each window.
void PoolGeneral(const Op& op, const Tensor& in, const Tensor& out,
                 const float* x, float* y, bool max) {
  for (int32_t oy = 0; oy < out.h; ++oy) {
    for (int32_t ox = 0; ox < out.w; ++ox) {
      for (int32_t c = 0; c < out.c; ++c) {
        float acc = max ? -INFINITY : 0.0f;
        int32_t n = 0;
        for (int32_t ky = 0; ky < op.kh; ++ky) {
          const int32_t iy = oy * op.sh - op.pad_top + ky;
          if (iy < 0 || iy >= in.h) continue;
          for (int32_t kx = 0; kx < op.kw; ++kx) {
            const int32_t ix = ox * op.sw - op.pad_left + kx;
            if (ix < 0 || ix >= in.w) continue;
            const float v = x[(int64_t{iy} * in.w + ix) * in.c + c];
            acc = max ? std::max(acc, v) : acc + v;
            ++n;
          }
        }
        y[(int64_t{oy} * out.w + ox) * out.c + c] =
            max ? acc : acc / static_cast<float>(n);
      }
    }
  }
}

}  // namespace

float FakeQuant(float v, const QuantParams& q) {
  const float r =
      std::nearbyint(v / q.scale) + static_cast<float>(q.zero_point);
  const float c = std::clamp(r, -128.0f, 127.0f);
  return q.scale * (c - static_cast<float>(q.zero_point));
}

FloatExecutor::FloatExecutor(const Graph& graph) : graph_(graph) {
  values_.resize(graph.tensors.size());
  for (size_t i = 0; i < graph.tensors.size(); ++i) {
    values_[i].assign(static_cast<size_t>(graph.tensors[i].elements()), 0.0f);
  }
}

Status FloatExecutor::Run(std::span<const float> input_onnx,
                          const Observer& observer) {
  const Tensor& in = graph_.tensors[static_cast<size_t>(graph_.input)];
  if (static_cast<int64_t>(input_onnx.size()) != in.elements()) {
    return InvalidArgumentError(
        "input has " + std::to_string(input_onnx.size()) +
        " values; the model input needs " + std::to_string(in.elements()));
  }
  std::vector<float>& x = values_[static_cast<size_t>(graph_.input)];
  ChwToHwc(input_onnx.data(), in.h, in.w, in.c, x.data());
  if (in.fixed) {
    for (float& v : x) v = FakeQuant(v, *in.fixed);
  }
  if (observer) observer(graph_.input, x);
  for (const Op& op : graph_.ops) {
    TF_RETURN_IF_ERROR(RunOp(op));
    std::vector<float>& y = values_[static_cast<size_t>(op.output)];
    if (op.kind != OpKind::kClamp && op.has_activation()) {
      if (op.act_lo == 0.0f && op.act_hi == kNoUpper) {
        TF_RETURN_IF_ERROR(
            Check(tn_relu_forward_f32(static_cast<uint32_t>(y.size()), y.data(),
                                      y.data()),
                  op));
      } else {
        for (float& v : y) v = std::clamp(v, op.act_lo, op.act_hi);
      }
    }
    const Tensor& t = graph_.tensors[static_cast<size_t>(op.output)];
    if (t.fixed) {
      for (float& v : y) v = FakeQuant(v, *t.fixed);
    }
    if (observer) observer(op.output, y);
  }
  return Status::Ok();
}

Status FloatExecutor::RunOp(const Op& op) {
  const Tensor& in = graph_.tensors[static_cast<size_t>(op.inputs[0])];
  const Tensor& out = graph_.tensors[static_cast<size_t>(op.output)];
  const float* x = values_[static_cast<size_t>(op.inputs[0])].data();
  float* y = values_[static_cast<size_t>(op.output)].data();
  const bool pads =
      (op.pad_top | op.pad_bottom | op.pad_left | op.pad_right) != 0;
  switch (op.kind) {
    case OpKind::kConv:
    case OpKind::kDepthwise: {
      const bool dw = op.kind == OpKind::kDepthwise;
      if (op.dh != 1 || op.dw != 1) {
        ConvGeneral(op, in, out, x, y, dw);
        return Status::Ok();
      }
      if (!dw && op.kh == 1 && op.kw == 1 && op.sh == 1 && op.sw == 1 &&
          !pads) {
        tn_train_pointwise p{ShapeOf(in), static_cast<uint16_t>(out.c)};
        return Check(tn_pointwise_forward_f32(&p, x, op.weights.data(),
                                              op.bias.data(), y),
                     op);
      }
      tn_train_conv p;
      p.in = ShapeOf(in);
      p.out_c = static_cast<uint16_t>(out.c);
      p.kernel_h = static_cast<uint8_t>(op.kh);
      p.kernel_w = static_cast<uint8_t>(op.kw);
      p.stride_h = static_cast<uint8_t>(op.sh);
      p.stride_w = static_cast<uint8_t>(op.sw);
      p.pad_top = static_cast<uint8_t>(op.pad_top);
      p.pad_bottom = static_cast<uint8_t>(op.pad_bottom);
      p.pad_left = static_cast<uint8_t>(op.pad_left);
      p.pad_right = static_cast<uint8_t>(op.pad_right);
      return Check(dw ? tn_dwconv2d_forward_f32(&p, x, op.weights.data(),
                                                op.bias.data(), y)
                      : tn_conv2d_forward_f32(&p, x, op.weights.data(),
                                              op.bias.data(), y),
                   op);
    }
    case OpKind::kFullyConnected: {
      tn_train_fc p{static_cast<uint32_t>(in.elements()),
                    static_cast<uint32_t>(out.c)};
      return Check(
          tn_fc_forward_f32(&p, x, op.weights.data(), op.bias.data(), y), op);
    }
    case OpKind::kAvgPool:
      if (!pads) {
        tn_train_pool p;
        p.in = ShapeOf(in);
        p.kernel_h = static_cast<uint8_t>(op.kh);
        p.kernel_w = static_cast<uint8_t>(op.kw);
        p.stride_h = static_cast<uint8_t>(op.sh);
        p.stride_w = static_cast<uint8_t>(op.sw);
        return Check(tn_avgpool_forward_f32(&p, x, y), op);
      }
      PoolGeneral(op, in, out, x, y, /*max=*/false);
      return Status::Ok();
    case OpKind::kMaxPool:
      PoolGeneral(op, in, out, x, y, /*max=*/true);
      return Status::Ok();
    case OpKind::kGlobalAvgPool:
      return Check(tn_global_avgpool_forward_f32(ShapeOf(in), x, y), op);
    case OpKind::kAdd: {
      const float* x2 = values_[static_cast<size_t>(op.inputs[1])].data();
      for (int64_t i = 0; i < out.elements(); ++i) y[i] = x[i] + x2[i];
      return Status::Ok();
    }
    case OpKind::kReshape:
      std::memcpy(y, x, static_cast<size_t>(out.elements()) * sizeof(float));
      return Status::Ok();
    case OpKind::kSoftmax: {
      const int64_t pixels = int64_t{out.h} * out.w;
      for (int64_t p = 0; p < pixels; ++p) {
        float loss;
        TF_RETURN_IF_ERROR(Check(
            tn_softmax_xent_f32(static_cast<uint32_t>(out.c), x + p * out.c, 0,
                                &loss, nullptr, y + p * out.c),
            op));
      }
      return Status::Ok();
    }
    case OpKind::kClamp:
      for (int64_t i = 0; i < out.elements(); ++i) {
        y[i] = std::clamp(x[i], op.act_lo, op.act_hi);
      }
      return Status::Ok();
    case OpKind::kBatchNorm:
    case OpKind::kAddConst:
      for (int64_t i = 0; i < out.elements(); ++i) {
        const size_t c = static_cast<size_t>(i % out.c);
        const float s = op.kind == OpKind::kBatchNorm ? op.weights[c] : 1.0f;
        y[i] = s * x[i] + op.bias[c];
      }
      return Status::Ok();
  }
  return InternalError("unknown op kind");
}

std::vector<float> FloatExecutor::OutputOnnx() const {
  const Tensor& t = graph_.tensors[static_cast<size_t>(graph_.output)];
  std::vector<float> out(static_cast<size_t>(t.elements()));
  HwcToChw(values_[static_cast<size_t>(graph_.output)].data(), t.h, t.w, t.c,
           out.data());
  return out;
}

}  // namespace tinyfleet::models
