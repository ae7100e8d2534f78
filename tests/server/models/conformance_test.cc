// ONNX conformance: the single-operator cases of Debian's libonnx-testdata
// (data/node/test_*) for every op the importer supports, run through the
// importer, the quantizer, the blob builder and the node executor.
//
// Each case's model takes its first graph input as the sample; further
// graph inputs (weights, bias, shapes, clip bounds, scales) become
// initializers holding the case's own values. Cases with a batch N > 1 run
// as N batch-1 samples when that keeps their meaning (every output keeps
// the batch axis, no other operand varies over it, no softmax over it);
// otherwise they are skipped with the reason printed. Float ops calibrate
// on the case's own inputs. Pass criteria (docs/models.md):
//   - float outputs: |y - y_ref| <= 2 output quantization steps
//     (2 x output scale) for every element;
//   - QLinearConv / QLinearMatMul: uint8 codes equal, or differ by one
//     step where ONNX's float rescaling with round-half-to-even and the
//     kernels' fixed-point rounding disagree (counted and printed);
//   - QuantizeLinear / DequantizeLinear: bit-exact.
// Cases the runtime cannot express must be rejected by the importer with
// the expected reason (kOutOfScope below); any other outcome fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "server/models/models.h"
#include "server/models/runner.h"
#include "tests/server/models/onnx_build.h"

namespace tinyfleet::models {
namespace {

namespace fs = std::filesystem;
using testing::ReadTensorFile;
using testing::TensorValues;

constexpr double kFloatToleranceSteps = 2.0;

const char* const kPrefixes[] = {"test_conv",
                                 "test_basic_conv",
                                 "test_gemm_",
                                 "test_matmul",
                                 "test_relu",
                                 "test_clip",
                                 "test_batchnorm_",
                                 "test_add",
                                 "test_averagepool_",
                                 "test_maxpool_",
                                 "test_globalaveragepool",
                                 "test_flatten_",
                                 "test_reshape_",
                                 "test_softmax_",
                                 "test_qlinearconv",
                                 "test_qlinearmatmul",
                                 "test_quantizelinear",
                                 "test_dequantizelinear"};

// Cases outside the node runtime's scope, with the text the importer's
// error must contain.
const std::map<std::string, std::string> kOutOfScope = {
    {"test_add_bcast", "adds a constant"},
    {"test_averagepool_2d_pads_count_include_pad", "count_include_pad"},
    {"test_averagepool_2d_precomputed_pads_count_include_pad",
     "count_include_pad"},
    {"test_averagepool_3d_default", "at most 4 dimensions"},
    {"test_maxpool_3d_default", "at most 4 dimensions"},
    {"test_maxpool_2d_dilations", "dilated pooling"},
    {"test_maxpool_2d_uint8", "integer codes"},
    {"test_maxpool_with_argmax_2d_precomputed_pads", "2 outputs"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "2 outputs"},
    {"test_batchnorm_epsilon_training_mode", "3 outputs"},
    {"test_batchnorm_example_training_mode", "3 outputs"},
    {"test_clip_default_int8_inbounds", "integer codes"},
    {"test_clip_default_int8_max", "integer codes"},
    {"test_clip_default_int8_min", "integer codes"},
    {"test_dequantizelinear_axis", "per-axis"},
    {"test_quantizelinear_axis", "per-axis"},
    {"test_matmul_4d", "[1, K]"},
    {"test_matmulinteger", "'MatMulInteger' is not supported"},
    {"test_basic_convinteger", "'ConvInteger' is not supported"},
    {"test_convinteger_with_padding", "'ConvInteger' is not supported"},
    {"test_convinteger_without_padding", "'ConvInteger' is not supported"},
    {"test_convtranspose", "'ConvTranspose' is not supported"},
    {"test_convtranspose_1d", "'ConvTranspose' is not supported"},
    {"test_convtranspose_3d", "at most 4 dimensions"},
    {"test_convtranspose_autopad_same", "'ConvTranspose' is not supported"},
    {"test_convtranspose_dilations", "'ConvTranspose' is not supported"},
    {"test_convtranspose_kernel_shape", "'ConvTranspose' is not supported"},
    {"test_convtranspose_output_shape", "'ConvTranspose' is not supported"},
    {"test_convtranspose_pad", "'ConvTranspose' is not supported"},
    {"test_convtranspose_pads", "'ConvTranspose' is not supported"},
    {"test_convtranspose_with_kernel", "'ConvTranspose' is not supported"},
    {"test_reshape_allowzero_reordered", "empty dimension"},
    {"test_reshape_negative_dim", "regroups channels"},
    {"test_reshape_reordered_last_dims", "regroups channels"},
    {"test_softmax_axis_2", "runs over channels"},
    {"test_softmax_default_axis", "runs over channels"},
    {"test_softmax_negative_axis", "runs over channels"},
    {"test_softmax_axis_0_expanded", "'ReduceMax' is not supported"},
    {"test_softmax_axis_1_expanded", "'ReduceMax' is not supported"},
    {"test_softmax_axis_2_expanded", "'ReduceMax' is not supported"},
    {"test_softmax_default_axis_expanded", "'ReduceMax' is not supported"},
    {"test_softmax_example_expanded", "'ReduceMax' is not supported"},
    {"test_softmax_large_number_expanded", "'ReduceMax' is not supported"},
    {"test_softmax_negative_axis_expanded", "'ReduceMax' is not supported"},
};

// Cases that run but whose data lies outside what per-tensor int8
// activations can resolve; they are run and reported, not judged.
const std::map<std::string, std::string> kInt8Limited = {
    {"test_softmax_large_number",
     "inputs 10000..10003 differ by less than one int8 step of a range that "
     "must contain 0"},
};

std::vector<std::string> Cases() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(TF_ONNX_TESTDATA_DIR, ec)) {
    const std::string name = e.path().filename().string();
    for (const char* p : kPrefixes) {
      if (name.rfind(p, 0) == 0) {
        out.push_back(name);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

enum class Outcome { kPass, kFail, kRejected, kSkipped };

struct CaseResult {
  Outcome outcome = Outcome::kFail;
  std::string detail;
  std::string kind;      // "float", "qlinear", "exact"
  double max_steps = 0;  // float: largest error in output steps
  size_t elements = 0;
  size_t off_by_one = 0;  // qlinear: codes one step away
  size_t samples = 0;
  bool requantized = false;  // integer weights did not fit int8
};

bool ReadModel(const fs::path& p, onnx::ModelProto* m) {
  std::ifstream f(p, std::ios::binary);
  return f && m->ParseFromIstream(&f);
}

int64_t NormalizeAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

CaseResult RunCase(const std::string& name) {
  CaseResult r;
  const fs::path dir = fs::path(TF_ONNX_TESTDATA_DIR) / name;
  onnx::ModelProto model;
  if (!ReadModel(dir / "model.onnx", &model)) {
    r.detail = "cannot read model.onnx";
    return r;
  }
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_directory() &&
        e.path().filename().string().rfind("test_data_set_", 0) == 0) {
      sets.push_back(e.path());
    }
  }
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) {
    r.detail = "no test data set";
    return r;
  }
  bool qlinear = false, qdq_only = true;
  int64_t softmax_axis = 1;
  bool has_softmax = false;
  int64_t opset = 0;
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty()) opset = o.version();
  }
  for (const auto& n : model.graph().node()) {
    if (n.op_type() == "QLinearConv" || n.op_type() == "QLinearMatMul") {
      qlinear = true;
    }
    if (n.op_type() != "QuantizeLinear" && n.op_type() != "DequantizeLinear") {
      qdq_only = false;
    }
    if (n.op_type() == "Softmax") {
      has_softmax = true;
      softmax_axis = opset < 13 ? 1 : -1;
      for (const auto& a : n.attribute()) {
        if (a.name() == "axis") softmax_axis = a.i();
      }
    }
  }
  r.kind = qlinear ? "qlinear" : qdq_only ? "exact" : "float";

  for (const fs::path& set : sets) {
    // Inputs of the data set, by graph input position.
    onnx::ModelProto m = model;
    onnx::GraphProto* g = m.mutable_graph();
    std::vector<onnx::TensorProto> inputs;
    for (int i = 0; i < g->input_size(); ++i) {
      onnx::TensorProto t;
      if (!ReadTensorFile(
              (set / ("input_" + std::to_string(i) + ".pb")).string(), &t)) {
        break;
      }
      inputs.push_back(t);
    }
    onnx::TensorProto expected;
    if (inputs.empty() ||
        !ReadTensorFile((set / "output_0.pb").string(), &expected)) {
      r.detail = "cannot read the data set";
      return r;
    }
    std::map<std::string, std::vector<double>> constants;
    const onnx::TensorProto x = inputs[0];
    const std::string x_name = g->input(0).name();
    // Every further graph input becomes an initializer with its values.
    for (size_t i = 1; i < inputs.size(); ++i) {
      onnx::TensorProto t = inputs[i];
      t.set_name(g->input(static_cast<int>(i)).name());
      constants[t.name()] = TensorValues(t);
      *g->add_initializer() = t;
    }
    while (g->input_size() > 1) g->mutable_input()->RemoveLast();

    // Batch handling.
    const int64_t rank = x.dims_size();
    const int64_t batch = rank >= 2 ? x.dims(0) : 1;
    int64_t n_samples = 1;
    if (batch > 1) {
      std::string why;
      if (expected.dims_size() == 0 || expected.dims(0) != batch) {
        why = "the output does not keep the batch axis";
      }
      for (size_t i = 1; i < inputs.size() && why.empty(); ++i) {
        if (inputs[i].dims_size() == rank && inputs[i].dims(0) == batch) {
          why = "a second operand varies over the batch";
        }
      }
      if (has_softmax && NormalizeAxis(softmax_axis, rank) == 0) {
        why = "the softmax runs over the batch axis";
      }
      if (!why.empty()) {
        r.outcome = Outcome::kSkipped;
        r.detail = "batch " + std::to_string(batch) +
                   " cannot run as batch-1 samples: " + why;
        return r;
      }
      n_samples = batch;
      g->mutable_input(0)
          ->mutable_type()
          ->mutable_tensor_type()
          ->mutable_shape()
          ->mutable_dim(0)
          ->set_dim_value(1);
      for (auto& o : *g->mutable_output()) {
        auto* shape = o.mutable_type()->mutable_tensor_type()->mutable_shape();
        if (shape->dim_size() > 0) shape->mutable_dim(0)->set_dim_value(1);
      }
      for (const auto& n : g->node()) {
        if (n.op_type() != "Reshape" || n.input_size() < 2) continue;
        for (auto& init : *g->mutable_initializer()) {
          if (init.name() != n.input(1)) continue;
          std::vector<double> v = TensorValues(init);
          if (!v.empty() && v[0] == static_cast<double>(batch)) {
            init.clear_raw_data();
            init.clear_int64_data();
            for (size_t k = 0; k < v.size(); ++k) {
              init.add_int64_data(k == 0 ? 1 : static_cast<int64_t>(v[k]));
            }
          }
        }
      }
    }
    const std::vector<double> xv = TensorValues(x);
    const std::vector<double> yv = TensorValues(expected);
    const size_t in_per = xv.size() / static_cast<size_t>(n_samples);
    const size_t out_per = yv.size() / static_cast<size_t>(n_samples);
    std::vector<int64_t> sample_dims;
    for (int i = rank >= 2 ? 1 : 0; i < rank; ++i)
      sample_dims.push_back(x.dims(i));

    // The calibration / evaluation samples.
    Result<Dataset> data = InternalError("unset");
    const bool int_input = x.data_type() == onnx::TensorProto::UINT8 ||
                           x.data_type() == onnx::TensorProto::INT8;
    Int8Encoding enc;
    bool have_enc = false;
    if (int_input) {
      for (const auto& n : g->node()) {
        if (n.input_size() >= 3 && n.input(0) == x_name &&
            constants.count(n.input(1)) && constants.count(n.input(2))) {
          enc.scale = static_cast<float>(constants[n.input(1)][0]);
          enc.zero_point =
              static_cast<int32_t>(constants[n.input(2)][0]) -
              (x.data_type() == onnx::TensorProto::UINT8 ? 128 : 0);
          have_enc = true;
        }
      }
    }
    if (xv.empty()) {
      // An empty input: the importer must refuse the model first.
      data = Dataset::FromFloat({1}, {{0.0f}});
    } else if (have_enc) {
      std::vector<std::vector<int8_t>> codes(static_cast<size_t>(n_samples));
      const int shift = x.data_type() == onnx::TensorProto::UINT8 ? 128 : 0;
      for (size_t s = 0; s < codes.size(); ++s) {
        for (size_t k = 0; k < in_per; ++k) {
          codes[s].push_back(static_cast<int8_t>(
              static_cast<int>(xv[s * in_per + k]) - shift));
        }
      }
      data = Dataset::FromInt8(sample_dims, codes, enc);
    } else {
      std::vector<std::vector<float>> samples(static_cast<size_t>(n_samples));
      for (size_t s = 0; s < samples.size(); ++s) {
        for (size_t k = 0; k < in_per; ++k) {
          samples[s].push_back(static_cast<float>(xv[s * in_per + k]));
        }
      }
      data = Dataset::FromFloat(sample_dims, samples);
    }
    if (!data.ok()) {
      r.detail = "dataset: " + data.status().ToString();
      return r;
    }
    CompileOptions opt;
    opt.target = Target::kHost;
    opt.reserve_signature = false;
    Result<CompiledModel> cm = CompileOnnx(m.SerializeAsString(), *data, opt);
    if (cm.ok()) r.requantized = !cm->report.warnings.empty();
    auto rejected = kOutOfScope.find(name);
    if (!cm.ok()) {
      const std::string msg = cm.status().ToString();
      if (rejected != kOutOfScope.end() &&
          msg.find(rejected->second) != std::string::npos) {
        r.outcome = Outcome::kRejected;
        r.detail = msg;
      } else {
        r.detail = "unexpected error: " + msg;
      }
      return r;
    }
    if (rejected != kOutOfScope.end()) {
      r.detail = "compiled, but the case was expected to be rejected (" +
                 rejected->second + ")";
      return r;
    }
    auto runner = BlobRunner::Open(cm->blob);
    if (!runner.ok()) {
      r.detail = runner.status().ToString();
      return r;
    }
    const tn_tensor_desc& out = (*runner)->output();
    const bool int_output = expected.data_type() == onnx::TensorProto::UINT8 ||
                            expected.data_type() == onnx::TensorProto::INT8;
    const int out_shift =
        expected.data_type() == onnx::TensorProto::UINT8 ? 128 : 0;
    for (size_t s = 0; s < static_cast<size_t>(n_samples); ++s) {
      Status st = (*runner)->Run((*runner)->InputCodes(*data, s, nullptr));
      if (!st.ok()) {
        r.detail = st.ToString();
        return r;
      }
      std::vector<float> got = (*runner)->OutputOnnx();
      if (got.size() != out_per) {
        r.detail = "output has " + std::to_string(got.size()) +
                   " values, expected " + std::to_string(out_per);
        return r;
      }
      for (size_t k = 0; k < out_per; ++k) {
        const double want = yv[s * out_per + k];
        if (int_output) {
          const double code =
              std::nearbyint(got[k] / out.scale) + out.zero_point + out_shift;
          const double d = std::fabs(code - want);
          if (d > 0) {
            if (d > 1 || r.kind != "qlinear") {
              r.detail = "code " + std::to_string(code) +
                         " != " + std::to_string(want) + " at element " +
                         std::to_string(k);
              return r;
            }
            ++r.off_by_one;
          }
        } else {
          const double err = std::fabs(got[k] - want);
          if (r.kind == "exact") {
            if (err != 0) {
              r.detail = "value " + std::to_string(got[k]) +
                         " != " + std::to_string(want);
              return r;
            }
          } else {
            const double step = out.dtype == TN_DTYPE_INT8 ? out.scale : 1e-6;
            r.max_steps = std::max(r.max_steps, err / step);
          }
        }
        ++r.elements;
      }
    }
    r.samples += static_cast<size_t>(n_samples);
  }
  auto limited = kInt8Limited.find(name);
  if (limited != kInt8Limited.end()) {
    r.outcome = Outcome::kSkipped;
    r.detail = "ran (max error " + std::to_string(r.max_steps) +
               " output steps), not judged: " + limited->second;
    return r;
  }
  if (r.kind == "float" && r.max_steps > kFloatToleranceSteps) {
    r.detail = "max error " + std::to_string(r.max_steps) + " output steps > " +
               std::to_string(kFloatToleranceSteps);
    return r;
  }
  r.outcome = Outcome::kPass;
  char buf[160];
  if (r.kind == "float") {
    std::snprintf(buf, sizeof(buf),
                  "%zu elements in %zu samples, max error %.3f output steps",
                  r.elements, r.samples, r.max_steps);
  } else if (r.kind == "qlinear") {
    std::snprintf(buf, sizeof(buf),
                  "%zu codes in %zu samples, %zu one step off%s", r.elements,
                  r.samples, r.off_by_one,
                  r.requantized ? " (uint8 weights re-quantized to int8)" : "");
  } else {
    std::snprintf(buf, sizeof(buf), "%zu values in %zu samples, bit-exact",
                  r.elements, r.samples);
  }
  r.detail = buf;
  return r;
}

class OnnxConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxConformance, Case) {
  const CaseResult r = RunCase(GetParam());
  switch (r.outcome) {
    case Outcome::kPass:
      std::printf("[conformance] %-55s PASS  %s\n", GetParam().c_str(),
                  r.detail.c_str());
      break;
    case Outcome::kRejected:
      std::printf("[conformance] %-55s REJECTED as expected: %s\n",
                  GetParam().c_str(), r.detail.c_str());
      break;
    case Outcome::kSkipped:
      GTEST_SKIP() << GetParam() << ": " << r.detail;
    case Outcome::kFail:
      FAIL() << GetParam() << ": " << r.detail;
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxConformance, ::testing::ValuesIn(Cases()),
                         CaseName);

// Every case in one table (for docs/models.md); fails listing the cases
// that did not pass. Also guards against an empty or missing data set.
TEST(OnnxConformanceSummary, AllCases) {
  const std::vector<std::string> cases = Cases();
  ASSERT_GE(cases.size(), 80u)
      << "libonnx-testdata not found at " << TF_ONNX_TESTDATA_DIR;
  std::vector<std::string> failed;
  size_t pass = 0, rejected = 0, skipped = 0;
  std::printf("| Case | Result | Detail |\n|---|---|---|\n");
  for (const std::string& c : cases) {
    const CaseResult r = RunCase(c);
    const char* what = "FAIL";
    switch (r.outcome) {
      case Outcome::kPass:
        what = "pass";
        ++pass;
        break;
      case Outcome::kRejected:
        what = "rejected (out of scope)";
        ++rejected;
        break;
      case Outcome::kSkipped:
        what = "skipped";
        ++skipped;
        break;
      case Outcome::kFail:
        failed.push_back(c + ": " + r.detail);
        break;
    }
    std::string detail = r.detail;
    for (char& ch : detail) {
      if (ch == '|' || ch == '\n') ch = ' ';
    }
    std::printf("| %s | %s | %s |\n", c.c_str(), what, detail.c_str());
  }
  std::printf(
      "\n%zu cases: %zu pass, %zu rejected as out of scope, %zu "
      "skipped, %zu failed\n",
      cases.size(), pass, rejected, skipped, failed.size());
  std::string all;
  for (const auto& f : failed) all += "\n  " + f;
  EXPECT_TRUE(failed.empty()) << "failing cases:" << all;
}

}  // namespace
}  // namespace tinyfleet::models
