// Folding and fusion passes over the intermediate representation (see
// optimize.h).
#include "server/models/optimize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tinyfleet::models {
namespace {

// Index of the op producing the input of `ops[i]` when that input is read
// by `ops[i]` only and is not the graph output; -1 otherwise.
int32_t SoleProducer(const Graph& g, size_t i) {
  const int32_t t = g.ops[i].inputs[0];
  if (t == g.output || t == g.input) return -1;
  const int32_t p = g.Producer(t);
  if (p < 0) return -1;
  if (g.Consumers(t).size() != 1) return -1;
  return p;
}

// Scales output channel `o` of a weighted op by `s` (weights and bias).
void ScaleChannel(Op* op, const Tensor& out, size_t o, float s) {
  const size_t cout = static_cast<size_t>(out.c);
  if (op->kind == OpKind::kDepthwise) {
    for (size_t i = o; i < op->weights.size(); i += cout) op->weights[i] *= s;
  } else {
    const size_t row = op->weights.size() / cout;
    for (size_t i = 0; i < row; ++i) op->weights[o * row + i] *= s;
  }
  op->bias[o] *= s;
}

void Merge(Graph* g, size_t into, size_t from) {
  Op& p = g->ops[into];
  const Op& q = g->ops[from];
  p.output = q.output;
  p.name += "+" + q.name;
  p.onnx_op += "+" + q.onnx_op;
  g->ops.erase(g->ops.begin() + static_cast<std::ptrdiff_t>(from));
}

bool HasClamp(OpKind k) {
  return IsWeighted(k) || k == OpKind::kMaxPool || k == OpKind::kAvgPool ||
         k == OpKind::kGlobalAvgPool || k == OpKind::kAdd ||
         k == OpKind::kClamp;
}

void RemoveDead(Graph* g) {
  std::vector<bool> live(g->tensors.size(), false);
  live[static_cast<size_t>(g->output)] = true;
  std::vector<bool> keep(g->ops.size(), false);
  for (size_t k = g->ops.size(); k-- > 0;) {
    const Op& op = g->ops[k];
    if (!live[static_cast<size_t>(op.output)]) continue;
    keep[k] = true;
    for (int32_t in : op.inputs) live[static_cast<size_t>(in)] = true;
  }
  std::vector<Op> ops;
  for (size_t k = 0; k < g->ops.size(); ++k) {
    if (keep[k]) ops.push_back(std::move(g->ops[k]));
  }
  g->ops = std::move(ops);
  // Renumber tensors: the input first, then in order of production.
  std::vector<int32_t> id(g->tensors.size(), -1);
  std::vector<Tensor> tensors;
  id[static_cast<size_t>(g->input)] = 0;
  tensors.push_back(g->tensors[static_cast<size_t>(g->input)]);
  for (const Op& op : g->ops) {
    id[static_cast<size_t>(op.output)] = static_cast<int32_t>(tensors.size());
    tensors.push_back(g->tensors[static_cast<size_t>(op.output)]);
  }
  for (Op& op : g->ops) {
    for (int32_t& in : op.inputs) in = id[static_cast<size_t>(in)];
    op.output = id[static_cast<size_t>(op.output)];
  }
  g->input = 0;
  g->output = id[static_cast<size_t>(g->output)];
  g->tensors = std::move(tensors);
}

}  // namespace

Status Optimize(Graph* g) {
  // 1 and 2: fold batch norms and constant adds into weighted producers.
  for (size_t i = 0; i < g->ops.size(); ++i) {
    const OpKind k = g->ops[i].kind;
    if (k != OpKind::kBatchNorm && k != OpKind::kAddConst) continue;
    const int32_t p = SoleProducer(*g, i);
    if (p < 0) continue;
    Op& prod = g->ops[static_cast<size_t>(p)];
    if (!IsWeighted(prod.kind) || prod.has_activation()) continue;
    const Op& fold = g->ops[i];
    const Tensor& out = g->tensors[static_cast<size_t>(prod.output)];
    if (fold.bias.size() != static_cast<size_t>(out.c)) continue;
    for (size_t o = 0; o < fold.bias.size(); ++o) {
      if (k == OpKind::kBatchNorm) ScaleChannel(&prod, out, o, fold.weights[o]);
      prod.bias[o] += fold.bias[o];
    }
    // The model's integer weights no longer describe the layer.
    prod.qweights.clear();
    prod.qweight_scales.clear();
    prod.qbias.clear();
    Merge(g, static_cast<size_t>(p), i);
    --i;
  }
  // 3: what is left of batch norms and constant adds: 1x1 depthwise.
  for (Op& op : g->ops) {
    if (op.kind == OpKind::kBatchNorm) {
      op.kind = OpKind::kDepthwise;
    } else if (op.kind == OpKind::kAddConst) {
      op.kind = OpKind::kDepthwise;
      op.weights.assign(op.bias.size(), 1.0f);
    } else {
      continue;
    }
    op.kh = op.kw = op.sh = op.sw = op.dh = op.dw = 1;
    op.pad_top = op.pad_bottom = op.pad_left = op.pad_right = 0;
  }
  // 4: fuse clamps into producers that have an output clamp.
  for (size_t i = 0; i < g->ops.size(); ++i) {
    if (g->ops[i].kind != OpKind::kClamp) continue;
    const int32_t p = SoleProducer(*g, i);
    if (p < 0) continue;
    Op& prod = g->ops[static_cast<size_t>(p)];
    if (!HasClamp(prod.kind)) continue;
    prod.act_lo = std::max(prod.act_lo, g->ops[i].act_lo);
    prod.act_hi = std::min(prod.act_hi, g->ops[i].act_hi);
    Merge(g, static_cast<size_t>(p), i);
    --i;
  }
  // 5: dead code and renumbering.
  RemoveDead(g);
  // Folding multiplies parameters: they must still be finite floats.
  for (const Op& op : g->ops) {
    for (const auto* v : {&op.weights, &op.bias}) {
      for (float x : *v) {
        if (!std::isfinite(x)) {
          return InvalidArgumentError(
              "layer '" + op.name + "' (" + op.onnx_op +
              "): its parameters overflow float32 (after folding)");
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace tinyfleet::models
