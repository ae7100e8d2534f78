// Test helper: builds small ONNX models with the protobuf schema, and
// reads the TensorProto files of the ONNX conformance data.
#ifndef TINYFLEET_TESTS_SERVER_MODELS_ONNX_BUILD_H_
#define TINYFLEET_TESTS_SERVER_MODELS_ONNX_BUILD_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"

namespace tinyfleet::models::testing {

class OnnxBuilder {
 public:
  explicit OnnxBuilder(int64_t opset = 13);

  // Graph input / output with static dims (a negative dim becomes a
  // symbolic "N").
  OnnxBuilder& Input(const std::string& name, std::vector<int64_t> dims,
                     int32_t type = onnx::TensorProto::FLOAT);
  OnnxBuilder& Output(const std::string& name, std::vector<int64_t> dims,
                      int32_t type = onnx::TensorProto::FLOAT);
  OnnxBuilder& Init(const std::string& name, std::vector<int64_t> dims,
                    const std::vector<float>& values);
  OnnxBuilder& InitInt(const std::string& name, std::vector<int64_t> dims,
                       const std::vector<int64_t>& values, int32_t type);
  onnx::NodeProto& Node(const std::string& op,
                        std::initializer_list<std::string> inputs,
                        std::initializer_list<std::string> outputs,
                        const std::string& name = "");

  onnx::ModelProto& model() { return model_; }
  std::string Bytes() const;

 private:
  onnx::ModelProto model_;
};

void AttrInt(onnx::NodeProto& n, const std::string& name, int64_t v);
void AttrInts(onnx::NodeProto& n, const std::string& name,
              std::vector<int64_t> v);
void AttrFloat(onnx::NodeProto& n, const std::string& name, float v);

// Deterministic pseudo-random values in [lo, hi).
std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.0f,
                          float hi = 1.0f);

// Reads a serialized TensorProto file; false when it cannot be read.
bool ReadTensorFile(const std::string& path, onnx::TensorProto* t);
// Its values widened to double (float, uint8, int8, int32, int64).
std::vector<double> TensorValues(const onnx::TensorProto& t);

}  // namespace tinyfleet::models::testing

#endif  // TINYFLEET_TESTS_SERVER_MODELS_ONNX_BUILD_H_
