// ONNX import (private to server/models): parses a serialized ModelProto
// with Debian's ONNX protobuf schema and converts its graph into the
// compiler's intermediate representation (graph.h), then folds batch
// normalization and constant bias additions into the preceding layers and
// fuses Relu / Clip into their producers.
//
// Supported: ai.onnx opsets 1 to 21; one graph input (float, or uint8 /
// int8 codes of a quantized model) and one output, static shapes with batch
// 1; ops Conv (with group = 1 or depthwise), Gemm, MatMul, Relu, Clip,
// BatchNormalization, Add, AveragePool, MaxPool, GlobalAveragePool,
// Flatten, Reshape, Softmax, QuantizeLinear, DequantizeLinear, QLinearConv,
// QLinearMatMul, plus Constant, Identity and Dropout (inference). The
// complete rules are in docs/models.md.
//
// Errors: INVALID_ARGUMENT for bytes that are not a well-formed model
// (malformed or truncated protobuf, missing initializers, inconsistent
// shapes, undefined values); FAILED_PRECONDITION for well-formed models
// the node runtime cannot run (unsupported op or attribute, opset, dynamic
// shapes, several inputs or outputs, layouts that need a transpose). Every
// message names the node ("node 'conv1' (Conv): ...").
//
// Thread-safety: a pure function; calls may run concurrently.
#ifndef TINYFLEET_SERVER_MODELS_ONNX_IMPORTER_H_
#define TINYFLEET_SERVER_MODELS_ONNX_IMPORTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/models/graph.h"

namespace tinyfleet::models {

inline constexpr int64_t kMinOpset = 1;
inline constexpr int64_t kMaxOpset = 21;

struct ImportResult {
  Graph graph;
  // Notes about approximations made while importing (e.g. integer weights
  // whose zero point made them re-quantized); empty for exact imports.
  std::vector<std::string> warnings;
};

// Parses and converts `onnx` (a serialized ModelProto). Bounded work:
// at most 4096 nodes, 2^26 elements per constant, 256 MiB of input.
Result<ImportResult> ImportOnnx(std::string_view onnx);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_ONNX_IMPORTER_H_
