// Blob description shared by the compiler and InspectBlob (private to
// server/models): sizes, GAP9 cost per layer, tail training memory and
// digests of a parsed blob.
#ifndef TINYFLEET_SERVER_MODELS_REPORT_H_
#define TINYFLEET_SERVER_MODELS_REPORT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "runtime/tn_runtime.h"
#include "server/models/models.h"

namespace tinyfleet::models {

// Runtime op type name, e.g. "CONV2D", "FC_F32".
const char* RuntimeOpName(uint32_t type);

// Bytes of the training buffers of the FP32 tail of `graph` starting at
// `first_op` (the DEQUANTIZE) on the cut tensor: gradients, momentum,
// saved activations and scratch, as tn_tail_buffer_sizes reports them for
// the tail's layers (parameters are counted by the planner).
Result<uint64_t> TailTrainingBytes(const tn_graph_desc& graph,
                                   uint32_t first_op, uint32_t cut_tensor);

// SHA-256 (hex) of the frozen part of a parsed blob: the target, then the
// GRAPH, WEIGHTS, QUANT and MEMORY_PLAN sections and the 16-byte header of
// the TAIL section, each present one preceded by its type (u16 LE) and
// size (u32 LE). Tail parameters, canary, metadata, header versions and
// the signature are left out.
std::string FrozenSha256(const tn_blob& blob);

// Fills `report` from a blob that parses (no signature check): sizes,
// budgets of its target profile, cost and per-layer estimates with generic
// layer names ("op<i>"), tail, digests. Accuracy fields are left empty.
Status DescribeBlob(std::string_view blob, ModelReport* report);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_REPORT_H_
