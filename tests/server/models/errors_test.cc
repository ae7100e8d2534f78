// Bad input to the model compiler: malformed and truncated ONNX,
// unsupported ops, dynamic shapes, missing initializers, opsets, several
// inputs or outputs, layouts the HWC runtime cannot express. Each must be
// a clear error naming what is wrong, never a crash.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "server/models/models.h"
#include "tests/server/models/onnx_build.h"

namespace tinyfleet::models {
namespace {

using testing::AttrInt;
using testing::AttrInts;
using testing::OnnxBuilder;
using testing::Random;

Dataset Samples(std::vector<int64_t> dims, size_t n = 4) {
  size_t size = 1;
  for (int64_t d : dims) size *= static_cast<size_t>(d);
  std::vector<std::vector<float>> s;
  for (size_t i = 0; i < n; ++i) s.push_back(Random(size, 100 + i));
  return std::move(Dataset::FromFloat(dims, s)).value();
}

// A small valid model: conv 3x3 (1 -> 4) + relu, input [1,1,6,6].
OnnxBuilder SmallConv(int64_t opset = 13) {
  OnnxBuilder b(opset);
  b.Input("x", {1, 1, 6, 6}).Output("y", {1, 4, 6, 6});
  b.Init("w", {4, 1, 3, 3}, Random(36, 1));
  b.Init("bias", {4}, Random(4, 2));
  auto& conv = b.Node("Conv", {"x", "w", "bias"}, {"c"}, "conv1");
  AttrInts(conv, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c"}, {"y"}, "relu1");
  return b;
}

Status Compile(const std::string& onnx, std::vector<int64_t> dims = {1, 6, 6}) {
  return CompileOnnx(onnx, Samples(dims)).status();
}

void ExpectError(const Status& st, StatusCode code,
                 std::initializer_list<const char*> words) {
  EXPECT_EQ(st.code(), code) << st.ToString();
  for (const char* w : words) {
    EXPECT_NE(st.message().find(w), std::string::npos)
        << "'" << w << "' missing from: " << st.message();
  }
}

TEST(ModelErrors, ValidSmallModelCompiles) {
  EXPECT_TRUE(Compile(SmallConv().Bytes()).ok());
}

TEST(ModelErrors, MalformedBytes) {
  ExpectError(Compile(""), StatusCode::kInvalidArgument, {"empty"});
  ExpectError(Compile("this is not a protobuf at all"),
              StatusCode::kInvalidArgument, {});
  std::string garbage(512, '\xff');
  ExpectError(Compile(garbage), StatusCode::kInvalidArgument, {});
  // A valid protobuf that is not a model.
  onnx::TensorProto t;
  t.set_name("lonely");
  ExpectError(Compile(t.SerializeAsString()), StatusCode::kInvalidArgument, {});
}

TEST(ModelErrors, EveryTruncationIsAnError) {
  const std::string full = SmallConv().Bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    Status st = Compile(full.substr(0, n));
    EXPECT_FALSE(st.ok()) << "prefix of " << n << " bytes compiled";
    EXPECT_TRUE(st.code() == StatusCode::kInvalidArgument ||
                st.code() == StatusCode::kFailedPrecondition)
        << st.ToString();
  }
}

TEST(ModelErrors, TruncatedDsCnnIsAnError) {
  std::ifstream f(
      std::string(TF_SOURCE_DIR) + "/tests/fixtures/kws/ds_cnn_s.onnx",
      std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string full = ss.str();
  ASSERT_GT(full.size(), 1000u);
  Dataset d = Samples({1, 49, 10}, 2);
  for (size_t n = 1; n < full.size(); n += full.size() / 97 + 1) {
    EXPECT_FALSE(CompileOnnx(full.substr(0, n), d).ok()) << n;
  }
  EXPECT_FALSE(CompileOnnx(full.substr(0, full.size() - 1), d).ok());
}

TEST(ModelErrors, UnsupportedOpNamesOpAndNode) {
  OnnxBuilder b;
  b.Input("x", {1, 8}).Output("y", {1, 8});
  b.Node("Sigmoid", {"x"}, {"y"}, "gate7");
  ExpectError(Compile(b.Bytes(), {8}), StatusCode::kFailedPrecondition,
              {"'Sigmoid'", "gate7", "not supported"});
  // Ops of other domains as well.
  OnnxBuilder c;
  c.Input("x", {1, 8}).Output("y", {1, 8});
  c.Node("Relu", {"x"}, {"y"}, "msrelu").set_domain("com.microsoft");
  ExpectError(Compile(c.Bytes(), {8}), StatusCode::kFailedPrecondition,
              {"com.microsoft", "msrelu"});
}

TEST(ModelErrors, DynamicShapes) {
  OnnxBuilder b;
  b.Input("x", {-1, 8}).Output("y", {-1, 8});
  b.Node("Relu", {"x"}, {"y"}, "r");
  ExpectError(Compile(b.Bytes(), {8}), StatusCode::kFailedPrecondition,
              {"dynamic", "'N'", "static"});
  OnnxBuilder c;  // no shape at all
  c.model().mutable_graph()->add_input()->set_name("x");
  c.Output("y", {1, 8});
  c.Node("Relu", {"x"}, {"y"}, "r");
  ExpectError(Compile(c.Bytes(), {8}), StatusCode::kFailedPrecondition,
              {"no tensor shape"});
}

TEST(ModelErrors, MissingInitializerNamesNodeAndValue) {
  OnnxBuilder b;
  b.Input("x", {1, 1, 6, 6}).Output("y", {1, 4, 6, 6});
  auto& conv = b.Node("Conv", {"x", "weights_missing"}, {"y"}, "conv9");
  AttrInts(conv, "pads", {1, 1, 1, 1});
  ExpectError(Compile(b.Bytes()), StatusCode::kInvalidArgument,
              {"conv9", "weights_missing", "initializer"});
}

TEST(ModelErrors, InitializerWithWrongDataSize) {
  OnnxBuilder b = SmallConv();
  b.model()
      .mutable_graph()
      ->mutable_initializer(0)
      ->mutable_float_data()
      ->RemoveLast();
  ExpectError(Compile(b.Bytes()), StatusCode::kInvalidArgument,
              {"initializer 'w'", "35 values"});
}

TEST(ModelErrors, OpsetOutsideTheSupportedRange) {
  ExpectError(Compile(SmallConv(22).Bytes()), StatusCode::kFailedPrecondition,
              {"opset 22", "1..21"});
  OnnxBuilder b = SmallConv();
  b.model().clear_opset_import();
  ExpectError(Compile(b.Bytes()), StatusCode::kInvalidArgument, {"opset"});
}

TEST(ModelErrors, SeveralInputsOrOutputs) {
  OnnxBuilder b;
  b.Input("a", {1, 8}).Input("b", {1, 8}).Output("y", {1, 8});
  b.Node("Add", {"a", "b"}, {"y"}, "sum");
  ExpectError(Compile(b.Bytes(), {8}), StatusCode::kFailedPrecondition,
              {"2 inputs", "a, b"});
  OnnxBuilder c;
  c.Input("x", {1, 8}).Output("y", {1, 8}).Output("z", {1, 8});
  c.Node("Relu", {"x"}, {"y"}, "r1");
  c.Node("Relu", {"x"}, {"z"}, "r2");
  ExpectError(Compile(c.Bytes(), {8}), StatusCode::kFailedPrecondition,
              {"2 outputs"});
}

TEST(ModelErrors, BatchOtherThanOne) {
  OnnxBuilder b;
  b.Input("x", {4, 8}).Output("y", {4, 8});
  b.Node("Relu", {"x"}, {"y"}, "r");
  ExpectError(Compile(b.Bytes(), {8}), StatusCode::kFailedPrecondition,
              {"[4,8]", "batch 1"});
}

TEST(ModelErrors, GroupedConvolution) {
  OnnxBuilder b;
  b.Input("x", {1, 4, 6, 6}).Output("y", {1, 4, 6, 6});
  b.Init("w", {4, 2, 1, 1}, Random(8, 3));
  auto& conv = b.Node("Conv", {"x", "w"}, {"y"}, "grouped");
  AttrInt(conv, "group", 2);
  ExpectError(Compile(b.Bytes(), {4, 6, 6}), StatusCode::kFailedPrecondition,
              {"grouped", "group 2"});
}

TEST(ModelErrors, UnknownAttribute) {
  OnnxBuilder b = SmallConv();
  AttrInt(*b.model().mutable_graph()->mutable_node(0), "frobnicate", 1);
  ExpectError(Compile(b.Bytes()), StatusCode::kFailedPrecondition,
              {"conv1", "'frobnicate'"});
}

TEST(ModelErrors, ReshapeThatNeedsATranspose) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 3, 4}).Output("y", {1, 3, 2, 4});
  b.InitInt("shape", {4}, {1, 3, 2, 4}, onnx::TensorProto::INT64);
  b.Node("Reshape", {"x", "shape"}, {"y"}, "regroup");
  ExpectError(Compile(b.Bytes(), {2, 3, 4}), StatusCode::kFailedPrecondition,
              {"regroup", "transpose"});
}

TEST(ModelErrors, ValuesDefinedTwiceOrOutOfOrder) {
  OnnxBuilder b;
  b.Input("x", {1, 8}).Output("y", {1, 8});
  b.Node("Relu", {"t"}, {"y"}, "late");  // reads t before it exists
  b.Node("Relu", {"x"}, {"t"}, "early");
  ExpectError(Compile(b.Bytes(), {8}), StatusCode::kInvalidArgument,
              {"late", "'t'"});
  OnnxBuilder c;
  c.Input("x", {1, 8}).Output("y", {1, 8});
  c.Node("Relu", {"x"}, {"y"}, "one");
  c.Node("Relu", {"x"}, {"y"}, "two");
  ExpectError(Compile(c.Bytes(), {8}), StatusCode::kInvalidArgument,
              {"two", "defined twice"});
}

TEST(ModelErrors, ExternalWeights) {
  OnnxBuilder b = SmallConv();
  auto* w = b.model().mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = w->add_external_data();
  e->set_key("location");
  e->set_value("weights.bin");
  ExpectError(Compile(b.Bytes()), StatusCode::kFailedPrecondition,
              {"external"});
}

TEST(ModelErrors, NonFiniteWeights) {
  OnnxBuilder b = SmallConv();
  b.model().mutable_graph()->mutable_initializer(0)->set_float_data(
      3, std::numeric_limits<float>::quiet_NaN());
  ExpectError(Compile(b.Bytes()), StatusCode::kInvalidArgument, {"non-finite"});
}

}  // namespace
}  // namespace tinyfleet::models
