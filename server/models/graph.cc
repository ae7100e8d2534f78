// Helpers of the intermediate representation and its graph-level
// optimizations (see optimize.h).
#include "server/models/graph.h"

#include <algorithm>
#include <cstring>

namespace tinyfleet::models {

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kConv:
      return "conv";
    case OpKind::kDepthwise:
      return "depthwise";
    case OpKind::kFullyConnected:
      return "fc";
    case OpKind::kMaxPool:
      return "maxpool";
    case OpKind::kAvgPool:
      return "avgpool";
    case OpKind::kGlobalAvgPool:
      return "global_avgpool";
    case OpKind::kAdd:
      return "add";
    case OpKind::kReshape:
      return "reshape";
    case OpKind::kSoftmax:
      return "softmax";
    case OpKind::kClamp:
      return "clamp";
    case OpKind::kBatchNorm:
      return "batchnorm";
    case OpKind::kAddConst:
      return "add_const";
  }
  return "?";
}

bool IsWeighted(OpKind kind) {
  return kind == OpKind::kConv || kind == OpKind::kDepthwise ||
         kind == OpKind::kFullyConnected;
}

std::vector<int32_t> Graph::Consumers(int32_t t) const {
  std::vector<int32_t> out;
  for (size_t i = 0; i < ops.size(); ++i) {
    for (int32_t in : ops[i].inputs) {
      if (in == t) {
        out.push_back(static_cast<int32_t>(i));
        break;
      }
    }
  }
  return out;
}

int32_t Graph::Producer(int32_t t) const {
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].output == t) return static_cast<int32_t>(i);
  }
  return -1;
}

int64_t Graph::Macs(int32_t i) const {
  const Op& op = ops[static_cast<size_t>(i)];
  const Tensor& in = tensors[static_cast<size_t>(op.inputs[0])];
  const Tensor& out = tensors[static_cast<size_t>(op.output)];
  switch (op.kind) {
    case OpKind::kConv:
      return out.elements() * op.kh * op.kw * in.c;
    case OpKind::kDepthwise:
      return out.elements() * op.kh * op.kw;
    case OpKind::kFullyConnected:
      return out.elements() * in.elements();
    case OpKind::kMaxPool:
    case OpKind::kAvgPool:
      return out.elements() * op.kh * op.kw;
    case OpKind::kClamp:
    case OpKind::kBatchNorm:
    case OpKind::kAddConst:
      return out.elements();
    case OpKind::kGlobalAvgPool:
    case OpKind::kAdd:
    case OpKind::kSoftmax:
      return in.elements();
    case OpKind::kReshape:
      return 0;
  }
  return 0;
}

bool NaturalShape(const std::vector<int64_t>& dims, int32_t* h, int32_t* w,
                  int32_t* c) {
  for (int64_t d : dims) {
    if (d < 1 || d > 32767) return false;
  }
  *h = *w = *c = 1;
  switch (dims.size()) {
    case 0:
      return true;
    case 1:
      *c = static_cast<int32_t>(dims[0]);
      return true;
    case 2:
      if (dims[0] != 1) return false;
      *c = static_cast<int32_t>(dims[1]);
      return true;
    case 3:
      if (dims[0] != 1) return false;
      *c = static_cast<int32_t>(dims[1]);
      *w = static_cast<int32_t>(dims[2]);
      return true;
    case 4:
      if (dims[0] != 1) return false;
      *c = static_cast<int32_t>(dims[1]);
      *h = static_cast<int32_t>(dims[2]);
      *w = static_cast<int32_t>(dims[3]);
      return true;
    default:
      return false;
  }
}

void ChwToHwc(const float* chw, int32_t h, int32_t w, int32_t c, float* hwc) {
  const int64_t hw = int64_t{h} * w;
  for (int64_t p = 0; p < hw; ++p) {
    for (int32_t k = 0; k < c; ++k) hwc[p * c + k] = chw[k * hw + p];
  }
}

void HwcToChw(const float* hwc, int32_t h, int32_t w, int32_t c, float* chw) {
  const int64_t hw = int64_t{h} * w;
  for (int64_t p = 0; p < hw; ++p) {
    for (int32_t k = 0; k < c; ++k) chw[k * hw + p] = hwc[p * c + k];
  }
}

}  // namespace tinyfleet::models
