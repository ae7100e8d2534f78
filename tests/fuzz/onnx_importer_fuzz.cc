// libFuzzer target for the ONNX importer of the model compiler: arbitrary
// bytes as a serialized ModelProto. A model that imports must satisfy the
// intermediate representation's invariants; small ones are then run by the
// float reference, quantized, lowered, planned and built into a blob,
// which the runtime's own parser must accept. Errors must be
// INVALID_ARGUMENT, FAILED_PRECONDITION or RESOURCE_EXHAUSTED.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/tn_runtime.h"
#include "server/models/float_executor.h"
#include "server/models/lowering.h"
#include "server/models/onnx_importer.h"

namespace mdl = tinyfleet::models;

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

// Work bounds for what the fuzzer executes (imports are always checked).
constexpr int64_t kMaxMacs = 1 << 20;

void CheckInvariants(const mdl::Graph& g) {
  REQUIRE(g.input == 0);
  REQUIRE(!g.ops.empty());
  REQUIRE(g.output > 0 && g.output < static_cast<int32_t>(g.tensors.size()));
  std::vector<bool> ready(g.tensors.size(), false);
  ready[0] = true;
  for (const mdl::Op& op : g.ops) {
    REQUIRE(!op.inputs.empty());
    for (int32_t in : op.inputs) {
      REQUIRE(in >= 0 && in < static_cast<int32_t>(g.tensors.size()));
      REQUIRE(ready[static_cast<size_t>(in)]);
    }
    REQUIRE(op.output >= 0 &&
            op.output < static_cast<int32_t>(g.tensors.size()));
    REQUIRE(!ready[static_cast<size_t>(op.output)]);
    ready[static_cast<size_t>(op.output)] = true;
    REQUIRE(op.kind != mdl::OpKind::kBatchNorm &&
            op.kind != mdl::OpKind::kAddConst);
    if (mdl::IsWeighted(op.kind)) {
      const mdl::Tensor& out = g.tensors[static_cast<size_t>(op.output)];
      REQUIRE(op.bias.size() == static_cast<size_t>(out.c));
      REQUIRE(!op.weights.empty() &&
              op.weights.size() % static_cast<size_t>(out.c) == 0);
    }
  }
  for (const mdl::Tensor& t : g.tensors) {
    REQUIRE(t.h >= 1 && t.w >= 1 && t.c >= 1);
    REQUIRE(t.elements() <= (int64_t{1} << 24));
  }
}

void Build(const mdl::Graph& g) {
  int64_t macs = 0;
  for (size_t i = 0; i < g.ops.size(); ++i)
    macs += g.Macs(static_cast<int32_t>(i));
  if (macs > kMaxMacs) return;
  const mdl::Tensor& in = g.tensors[0];
  std::vector<float> x(static_cast<size_t>(in.elements()));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i));
  std::vector<mdl::TensorRange> ranges(g.tensors.size());
  mdl::FloatExecutor exec(g);
  bool finite = true;
  auto observe = [&](int32_t t, std::span<const float> v) {
    for (float f : v) {
      if (!std::isfinite(f)) {
        finite = false;
        continue;
      }
      auto& r = ranges[static_cast<size_t>(t)];
      r.lo = std::min(r.lo, f);
      r.hi = std::max(r.hi, f);
    }
  };
  if (!exec.Run(x, observe).ok() || !finite) return;
  auto quant = mdl::AssignQuantization(g, ranges, std::nullopt);
  if (!quant.ok()) return;
  auto lowered = mdl::Lower(g, *quant, {});
  if (!lowered.ok()) return;
  tn_graph_desc desc = lowered->GraphDesc();
  std::vector<tn_placement> placements(desc.tensor_count);
  std::vector<tn_tile> tiles(desc.op_count);
  tn_memory_plan plan;
  tn_status st =
      tn_plan_memory(&desc, nullptr, TN_TARGET_HOST, nullptr, placements.data(),
                     tiles.data(), &plan, nullptr);
  if (st == TN_ERR_MEMORY_BUDGET) return;
  REQUIRE(st == TN_OK);
  tn_blob_header_desc hdr{};
  hdr.target = TN_TARGET_HOST;
  tn_blob_builder b;
  REQUIRE(tn_blob_builder_init(&b, &hdr) == TN_OK);
  REQUIRE(tn_blob_builder_set_graph(&b, &desc) == TN_OK);
  REQUIRE(tn_blob_builder_set_plan(&b, &plan) == TN_OK);
  if (!lowered->weights.empty()) {
    REQUIRE(tn_blob_builder_set_weights(
                &b, lowered->weights.data(),
                static_cast<uint32_t>(lowered->weights.size())) == TN_OK);
  }
  if (!lowered->quant.empty()) {
    REQUIRE(tn_blob_builder_set_quant(
                &b, lowered->quant.data(),
                static_cast<uint32_t>(lowered->quant.size())) == TN_OK);
  }
  size_t size = 0;
  REQUIRE(tn_blob_builder_size(&b, &size) == TN_OK);
  std::vector<uint8_t> blob(size);
  size_t written = 0;
  // The builder re-parses its output with every rule of the format: a
  // lowering the parser refuses is a compiler bug.
  st = tn_blob_builder_finish(&b, blob.data(), blob.size(), &written);
  REQUIRE(st == TN_OK || st == TN_ERR_MEMORY_BUDGET);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = mdl::ImportOnnx(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r.ok()) {
    const auto code = r.status().code();
    REQUIRE(code == tinyfleet::StatusCode::kInvalidArgument ||
            code == tinyfleet::StatusCode::kFailedPrecondition ||
            code == tinyfleet::StatusCode::kResourceExhausted);
    REQUIRE(!r.status().message().empty());
    return 0;
  }
  CheckInvariants(r->graph);
  Build(r->graph);
  return 0;
}
