// Small hand-built graphs checked against an independent NCHW reference
// written here from the ONNX operator definitions: the importer's layout
// conversion (flatten into a dense layer, 1-d convolutions), folding and
// fusion (batch norm, relu, constant add), standalone ops, residual adds,
// QDQ models that keep their scales, and QLinearConv against ONNX's own
// rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/tn_runtime.h"
#include "server/models/models.h"
#include "server/models/runner.h"
#include "tests/server/models/onnx_build.h"

namespace tinyfleet::models {
namespace {

using testing::AttrFloat;
using testing::AttrInt;
using testing::AttrInts;
using testing::OnnxBuilder;
using testing::Random;

// ---- NCHW reference (batch 1) ----
struct T {
  int c = 1, h = 1, w = 1;
  std::vector<float> v;
  float& at(int k, int y, int x) { return v[(size_t(k) * h + y) * w + x]; }
  float at(int k, int y, int x) const { return v[(size_t(k) * h + y) * w + x]; }
};

T Conv(const T& x, const std::vector<float>& wt, const std::vector<float>& b,
       int cout, int kh, int kw, int stride, int pad, bool depthwise) {
  T y;
  y.c = cout;
  y.h = (x.h + 2 * pad - kh) / stride + 1;
  y.w = (x.w + 2 * pad - kw) / stride + 1;
  y.v.assign(size_t(y.c) * y.h * y.w, 0);
  const int cin_per = depthwise ? 1 : x.c;
  for (int o = 0; o < cout; ++o)
    for (int oy = 0; oy < y.h; ++oy)
      for (int ox = 0; ox < y.w; ++ox) {
        double acc = b.empty() ? 0 : b[size_t(o)];
        for (int ci = 0; ci < cin_per; ++ci)
          for (int ky = 0; ky < kh; ++ky)
            for (int kx = 0; kx < kw; ++kx) {
              const int iy = oy * stride - pad + ky,
                        ix = ox * stride - pad + kx;
              if (iy < 0 || ix < 0 || iy >= x.h || ix >= x.w) continue;
              const int ic = depthwise ? o : ci;
              acc +=
                  double(wt[((size_t(o) * cin_per + ci) * kh + ky) * kw + kx]) *
                  x.at(ic, iy, ix);
            }
        y.at(o, oy, ox) = static_cast<float>(acc);
      }
  return y;
}

T Map(T x, float (*f)(float)) {
  for (float& v : x.v) v = f(v);
  return x;
}
float Relu(float v) { return std::max(v, 0.0f); }

T Affine(T x, const std::vector<float>& s, const std::vector<float>& b) {
  for (int k = 0; k < x.c; ++k)
    for (int i = 0; i < x.h * x.w; ++i) {
      float& v = x.v[size_t(k) * x.h * x.w + size_t(i)];
      v = v * s[size_t(k)] + b[size_t(k)];
    }
  return x;
}

T MaxPool2(const T& x) {
  T y;
  y.c = x.c;
  y.h = x.h / 2;
  y.w = x.w / 2;
  y.v.resize(size_t(y.c) * y.h * y.w);
  for (int k = 0; k < y.c; ++k)
    for (int oy = 0; oy < y.h; ++oy)
      for (int ox = 0; ox < y.w; ++ox)
        y.at(k, oy, ox) = std::max(
            {x.at(k, 2 * oy, 2 * ox), x.at(k, 2 * oy, 2 * ox + 1),
             x.at(k, 2 * oy + 1, 2 * ox), x.at(k, 2 * oy + 1, 2 * ox + 1)});
  return y;
}

std::vector<float> Gap(const T& x) {
  std::vector<float> y(static_cast<size_t>(x.c), 0.0f);
  for (int k = 0; k < x.c; ++k) {
    double s = 0;
    for (int i = 0; i < x.h * x.w; ++i)
      s += x.v[size_t(k) * x.h * x.w + size_t(i)];
    y[size_t(k)] = static_cast<float>(s / (x.h * x.w));
  }
  return y;
}

// y = W v + b with W [n][k] (transB layout).
std::vector<float> Dense(const std::vector<float>& v,
                         const std::vector<float>& wt,
                         const std::vector<float>& b, int n) {
  std::vector<float> y(static_cast<size_t>(n));
  const size_t k = v.size();
  for (int o = 0; o < n; ++o) {
    double acc = b[size_t(o)];
    for (size_t i = 0; i < k; ++i) acc += double(wt[size_t(o) * k + i]) * v[i];
    y[size_t(o)] = static_cast<float>(acc);
  }
  return y;
}

std::vector<float> Softmax(std::vector<float> v) {
  const float m = *std::max_element(v.begin(), v.end());
  double s = 0;
  for (float& x : v) s += (x = std::exp(x - m));
  for (float& x : v) x = static_cast<float>(x / s);
  return v;
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Runs the compiled blob on each sample; returns outputs (ONNX order).
std::vector<std::vector<float>> RunBlob(const std::string& blob,
                                        const Dataset& d) {
  auto r = BlobRunner::Open(blob);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_TRUE((*r)->Run((*r)->InputCodes(d, i, nullptr)).ok());
    out.push_back((*r)->OutputOnnx());
  }
  return out;
}

std::vector<std::string> RuntimeOps(const CompiledModel& m) {
  std::vector<std::string> ops;
  for (const auto& l : m.report.layers) ops.push_back(l.op);
  return ops;
}

TEST(Graphs, FlattenIntoGemmPermutesTheWeights) {
  // [1,2,3,4] -> Relu -> Flatten -> Gemm(24 -> 5, transB): the dense
  // layer reads the tensor in ONNX (CHW) order; the runtime stores HWC.
  const auto w = Random(5 * 24, 11), b = Random(5, 12);
  OnnxBuilder g;
  g.Input("x", {1, 2, 3, 4}).Output("y", {1, 5});
  g.Init("w", {5, 24}, w).Init("b", {5}, b);
  g.Node("Relu", {"x"}, {"r"}, "relu");
  g.Node("Flatten", {"r"}, {"f"}, "flat");
  AttrInt(g.Node("Gemm", {"f", "w", "b"}, {"y"}, "fc"), "transB", 1);
  std::vector<std::vector<float>> s;
  for (int i = 0; i < 16; ++i) s.push_back(Random(24, 200 + i, -2, 2));
  auto d = Dataset::FromFloat({2, 3, 4}, s);
  ASSERT_TRUE(d.ok());
  auto m = CompileOnnx(g.Bytes(), *d);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // A standalone Relu on the input becomes a 1x1 max pool with a clamp.
  EXPECT_EQ(RuntimeOps(*m), (std::vector<std::string>{"MAXPOOL", "FC"}));
  auto ref = FloatReference::FromOnnx(g.Bytes());
  ASSERT_TRUE(ref.ok());
  auto got = RunBlob(m->blob, *d);
  auto r = BlobRunner::Open(m->blob);
  const float step = (*r)->output().scale;
  for (size_t i = 0; i < s.size(); ++i) {
    T x{2, 3, 4, s[i]};
    const auto want = Dense(Map(x, Relu).v, w, b, 5);
    EXPECT_LT(MaxAbsDiff(*(*ref)->Run(s[i]), want), 1e-5);
    EXPECT_LE(MaxAbsDiff(got[i], want), 2 * step);
  }
}

TEST(Graphs, ResidualBlockWithFoldsFusionsAndStandaloneOps) {
  // conv3x3 + BN (folded) + relu (fused) -> add(input) -> BN (standalone:
  // its input is an Add) + relu -> maxpool 2x2 -> GAP -> flatten -> gemm
  // -> softmax.
  const int c = 4;
  const auto w = Random(c * c * 9, 21, -0.5f, 0.5f), cb = Random(c, 22);
  const auto g1 = Random(c, 23, 0.5f, 1.5f), b1 = Random(c, 24),
             m1 = Random(c, 25), v1 = Random(c, 26, 0.5f, 2.0f);
  const auto g2 = Random(c, 27, 0.5f, 1.5f), b2 = Random(c, 28),
             m2 = Random(c, 29), v2 = Random(c, 30, 0.5f, 2.0f);
  const auto fw = Random(3 * c, 31), fb = Random(3, 32);
  OnnxBuilder g;
  g.Input("x", {1, c, 6, 6}).Output("y", {1, 3});
  g.Init("w", {c, c, 3, 3}, w).Init("cb", {c}, cb);
  g.Init("g1", {c}, g1)
      .Init("b1", {c}, b1)
      .Init("m1", {c}, m1)
      .Init("v1", {c}, v1);
  g.Init("g2", {c}, g2)
      .Init("b2", {c}, b2)
      .Init("m2", {c}, m2)
      .Init("v2", {c}, v2);
  g.Init("fw", {3, c}, fw).Init("fb", {3}, fb);
  AttrInts(g.Node("Conv", {"x", "w", "cb"}, {"c1"}, "conv"), "pads",
           {1, 1, 1, 1});
  g.Node("BatchNormalization", {"c1", "g1", "b1", "m1", "v1"}, {"n1"}, "bn1");
  g.Node("Relu", {"n1"}, {"r1"}, "relu1");
  g.Node("Add", {"r1", "x"}, {"a"}, "residual");
  g.Node("BatchNormalization", {"a", "g2", "b2", "m2", "v2"}, {"n2"}, "bn2");
  g.Node("Relu", {"n2"}, {"r2"}, "relu2");
  auto& mp = g.Node("MaxPool", {"r2"}, {"p"}, "pool");
  AttrInts(mp, "kernel_shape", {2, 2});
  AttrInts(mp, "strides", {2, 2});
  g.Node("GlobalAveragePool", {"p"}, {"gp"}, "gap");
  g.Node("Flatten", {"gp"}, {"f"}, "flat");
  AttrInt(g.Node("Gemm", {"f", "fw", "fb"}, {"l"}, "fc"), "transB", 1);
  g.Node("Softmax", {"l"}, {"y"}, "softmax");
  std::vector<std::vector<float>> s;
  for (int i = 0; i < 32; ++i) s.push_back(Random(c * 36, 300 + i, -1, 1));
  auto d = Dataset::FromFloat({c, 6, 6}, s);
  ASSERT_TRUE(d.ok());
  auto m = CompileOnnx(g.Bytes(), *d);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(RuntimeOps(*m),
            (std::vector<std::string>{"CONV2D", "ADD", "DWCONV2D", "MAXPOOL",
                                      "GLOBAL_AVGPOOL", "FC", "SOFTMAX"}));
  EXPECT_EQ(m->report.layers[0].onnx_op, "Conv+BatchNormalization+Relu");
  EXPECT_EQ(m->report.layers[2].onnx_op, "BatchNormalization+Relu");
  auto ref = FloatReference::FromOnnx(g.Bytes());
  ASSERT_TRUE(ref.ok());
  auto got = RunBlob(m->blob, *d);
  auto bn = [](const std::vector<float>& gg, const std::vector<float>& bb,
               const std::vector<float>& mm, const std::vector<float>& vv,
               std::vector<float>* sc, std::vector<float>* sh) {
    for (size_t k = 0; k < gg.size(); ++k) {
      sc->push_back(gg[k] / std::sqrt(vv[k] + 1e-5f));
      sh->push_back(bb[k] - mm[k] * sc->back());
    }
  };
  std::vector<float> s1, h1, s2, h2;
  bn(g1, b1, m1, v1, &s1, &h1);
  bn(g2, b2, m2, v2, &s2, &h2);
  size_t agree = 0;
  float worst = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    T x{c, 6, 6, s[i]};
    T r1 = Map(Affine(Conv(x, w, cb, c, 3, 3, 1, 1, false), s1, h1), Relu);
    for (size_t k = 0; k < r1.v.size(); ++k) r1.v[k] += x.v[k];
    T r2 = Map(Affine(r1, s2, h2), Relu);
    const auto want = Softmax(Dense(Gap(MaxPool2(r2)), fw, fb, 3));
    EXPECT_LT(MaxAbsDiff(*(*ref)->Run(s[i]), want), 1e-5);
    worst = std::max(worst, MaxAbsDiff(got[i], want));
    agree += ArgMax(got[i]) == ArgMax(want) ? 1 : 0;
  }
  // Seven int8 layers: a few output steps of 1/256 each.
  EXPECT_LT(worst, 0.05f);
  EXPECT_GE(agree, s.size() - 2);
}

TEST(Graphs, ConstantAddFoldsIntoTheBiasAndClipIsRelu6) {
  OnnxBuilder g;
  g.Input("x", {1, 3, 5, 5}).Output("y", {1, 2, 5, 5});
  const auto w = Random(2 * 3, 41), k = Random(2, 42);
  g.Init("w", {2, 3, 1, 1}, w).Init("k", {1, 2, 1, 1}, k);
  g.Init("lo", {}, {0.0f}).Init("hi", {}, {6.0f});
  g.Node("Conv", {"x", "w"}, {"c"}, "pw");
  g.Node("Add", {"c", "k"}, {"a"}, "bias_add");
  g.Node("Clip", {"a", "lo", "hi"}, {"y"}, "relu6");
  std::vector<std::vector<float>> s;
  for (int i = 0; i < 8; ++i) s.push_back(Random(75, 500 + i, -9, 9));
  auto d = Dataset::FromFloat({3, 5, 5}, s);
  auto m = CompileOnnx(g.Bytes(), *d);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(RuntimeOps(*m), std::vector<std::string>{"PWCONV"});
  EXPECT_EQ(m->report.layers[0].onnx_op, "Conv+Add+Clip");
  auto got = RunBlob(m->blob, *d);
  auto r = BlobRunner::Open(m->blob);
  // Error bound: two output steps plus the input's rounding (half an input
  // step) through the largest sum of |weights| of an output channel.
  const float step = (*r)->output().scale;
  const float in_step = (*r)->input().scale;
  const float l1 =
      std::max(std::fabs(w[0]) + std::fabs(w[1]) + std::fabs(w[2]),
               std::fabs(w[3]) + std::fabs(w[4]) + std::fabs(w[5]));
  for (size_t i = 0; i < s.size(); ++i) {
    T y = Conv(T{3, 5, 5, s[i]}, w, k, 2, 1, 1, 1, 0, false);
    for (float& v : y.v) v = std::clamp(v, 0.0f, 6.0f);
    EXPECT_LE(MaxAbsDiff(got[i], y.v), 2 * step + 0.5f * in_step * l1);
  }
  // The clamp reaches 6: the act_max of the op is the code of 6.0.
  tn_blob b;
  ASSERT_EQ(tn_blob_parse(reinterpret_cast<const uint8_t*>(m->blob.data()),
                          m->blob.size(), nullptr, &b),
            TN_OK);
  tn_op_desc op;
  ASSERT_EQ(tn_blob_op(&b, 0, &op), TN_OK);
  const tn_tensor_desc& out = (*r)->output();
  EXPECT_EQ(op.act_min, std::max(-128, out.zero_point));
  EXPECT_EQ(op.act_max,
            std::min(127, out.zero_point + static_cast<int>(std::nearbyint(
                                               6.0f / out.scale))));
}

TEST(Graphs, OneDimensionalConvolutionAndPooling) {
  OnnxBuilder g(11);
  g.Input("x", {1, 2, 16}).Output("y", {1, 3, 7});
  const auto w = Random(3 * 2 * 3, 51);
  g.Init("w", {3, 2, 3}, w);
  auto& conv = g.Node("Conv", {"x", "w"}, {"c"}, "conv1d");
  AttrInts(conv, "pads", {1, 1});
  auto& ap = g.Node("AveragePool", {"c"}, {"y"}, "avg1d");
  AttrInts(ap, "kernel_shape", {3});
  AttrInts(ap, "strides", {2});
  std::vector<std::vector<float>> s;
  for (int i = 0; i < 8; ++i) s.push_back(Random(32, 600 + i));
  auto d = Dataset::FromFloat({2, 16}, s);
  auto m = CompileOnnx(g.Bytes(), *d);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(RuntimeOps(*m), (std::vector<std::string>{"CONV2D", "AVGPOOL"}));
  auto got = RunBlob(m->blob, *d);
  auto r = BlobRunner::Open(m->blob);
  const float step = (*r)->output().scale;
  for (size_t i = 0; i < s.size(); ++i) {
    T c = Conv(T{2, 1, 16, s[i]}, w, {}, 3, 1, 3, 1, 0, false);
    // pads {1,1} apply to the length axis only: redo with explicit pads.
    T x{2, 1, 18, std::vector<float>(36, 0.0f)};
    for (int k = 0; k < 2; ++k)
      for (int t = 0; t < 16; ++t) x.at(k, 0, t + 1) = s[i][size_t(k) * 16 + t];
    c = Conv(x, w, {}, 3, 1, 3, 1, 0, false);
    std::vector<float> want;
    for (int k = 0; k < 3; ++k)
      for (int o = 0; o < 7; ++o)
        want.push_back((c.at(k, 0, 2 * o) + c.at(k, 0, 2 * o + 1) +
                        c.at(k, 0, 2 * o + 2)) /
                       3.0f);
    EXPECT_LE(MaxAbsDiff(got[i], want), 2 * step);
  }
}

TEST(Graphs, QdqModelKeepsItsScalesAndWeights) {
  // x -> Q(0.02, 128) -> DQ -> Conv(DQ(int8 W, per-channel), DQ(int32 b))
  // -> Q(0.05, 128) -> DQ -> y.
  const std::vector<int64_t> wq = {12, -7, 100, -128, 5, 64, -33, 1};
  const std::vector<float> ws = {0.01f, 0.003f};
  const std::vector<int64_t> bq = {500, -1200};
  OnnxBuilder g;
  g.Input("x", {1, 4, 3, 3}).Output("y", {1, 2, 3, 3});
  g.Init("xs", {}, {0.02f}).InitInt("xz", {}, {128}, onnx::TensorProto::UINT8);
  g.Init("ys", {}, {0.05f}).InitInt("yz", {}, {128}, onnx::TensorProto::UINT8);
  g.InitInt("wq", {2, 4, 1, 1}, wq, onnx::TensorProto::INT8);
  g.Init("ws", {2}, ws).InitInt("wz", {2}, {0, 0}, onnx::TensorProto::INT8);
  g.InitInt("bq", {2}, bq, onnx::TensorProto::INT32);
  g.Init("bs", {2}, {0.02f * ws[0], 0.02f * ws[1]});
  g.Node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}, "q_in");
  g.Node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"}, "dq_in");
  AttrInt(g.Node("DequantizeLinear", {"wq", "ws", "wz"}, {"w"}, "dq_w"), "axis",
          0);
  AttrInt(g.Node("DequantizeLinear", {"bq", "bs"}, {"b"}, "dq_b"), "axis", 0);
  g.Node("Conv", {"xd", "w", "b"}, {"c"}, "conv");
  g.Node("QuantizeLinear", {"c", "ys", "yz"}, {"cq"}, "q_out");
  g.Node("DequantizeLinear", {"cq", "ys", "yz"}, {"y"}, "dq_out");
  std::vector<std::vector<float>> s;
  for (int i = 0; i < 8; ++i) s.push_back(Random(36, 700 + i, -2, 2));
  auto d = Dataset::FromFloat({4, 3, 3}, s);
  auto m = CompileOnnx(g.Bytes(), *d);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->report.input_scale, 0.02f);
  EXPECT_EQ(m->report.input_zero_point, 0);
  EXPECT_TRUE(m->report.warnings.empty());
  // The int8 weights are the model's own.
  tn_blob b;
  ASSERT_EQ(tn_blob_parse(reinterpret_cast<const uint8_t*>(m->blob.data()),
                          m->blob.size(), nullptr, &b),
            TN_OK);
  ASSERT_EQ(b.weights_size, 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(static_cast<int8_t>(b.weights[i]), wq[i]) << i;
  }
  EXPECT_EQ(static_cast<int32_t>(b.quant[0] | b.quant[1] << 8 |
                                 b.quant[2] << 16 | b.quant[3] << 24),
            500);  // the model's int32 bias
  tn_tensor_desc out;
  ASSERT_EQ(tn_blob_tensor(&b, b.output_tensor, &out), TN_OK);
  EXPECT_EQ(out.scale, 0.05f);
  EXPECT_EQ(out.zero_point, 0);
  // Against the QDQ semantics (the float reference rounds the fixed
  // tensors to their grid): at most one output step, from the rounding
  // of the requantization.
  auto ref = FloatReference::FromOnnx(g.Bytes());
  ASSERT_TRUE(ref.ok());
  auto got = RunBlob(m->blob, *d);
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_LE(MaxAbsDiff(got[i], *(*ref)->Run(s[i])), 0.05f + 1e-6f);
  }
}

TEST(Graphs, QLinearConvMatchesOnnxRoundingExceptNearTies) {
  // int8 weights that fit: the kernels compute the same accumulator; ONNX
  // rescales it in float32 and rounds half to even, the kernels use a Q31
  // multiplier with TFLite's rounding. Results may differ by one step only
  // where the scaled accumulator is within a hair of .5.
  const int cin = 8, cout = 6, hw = 7;
  OnnxBuilder g(10);
  g.Input("x", {1, cin, hw, hw}, onnx::TensorProto::UINT8)
      .Output("y", {1, cout, hw, hw}, onnx::TensorProto::UINT8);
  std::vector<int64_t> w;
  for (float f : Random(size_t(cout) * cin * 9, 81, -127, 127)) {
    w.push_back(static_cast<int64_t>(f));
  }
  const auto wsc = Random(cout, 82, 0.002f, 0.01f);
  const float xs = 0.0123f, ys = 0.071f;
  g.Init("xs", {}, {xs}).InitInt("xz", {}, {131}, onnx::TensorProto::UINT8);
  g.InitInt("w", {cout, cin, 3, 3}, w, onnx::TensorProto::INT8);
  g.Init("ws", {cout}, wsc);
  g.InitInt("wz", {cout}, std::vector<int64_t>(cout, 0),
            onnx::TensorProto::INT8);
  g.Init("ys", {}, {ys}).InitInt("yz", {}, {120}, onnx::TensorProto::UINT8);
  std::vector<int64_t> bias;
  for (float f : Random(cout, 83, -3000, 3000)) bias.push_back(int64_t(f));
  g.InitInt("b", {cout}, bias, onnx::TensorProto::INT32);
  AttrInts(
      g.Node("QLinearConv", {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"},
             {"y"}, "qconv"),
      "pads", {1, 1, 1, 1});
  std::vector<std::vector<int8_t>> codes;
  for (int i = 0; i < 20; ++i) {
    std::vector<int8_t> c;
    for (float f : Random(size_t(cin) * hw * hw, 900 + i, 0, 256)) {
      c.push_back(static_cast<int8_t>(static_cast<int>(f) - 128));
    }
    codes.push_back(c);
  }
  auto d = Dataset::FromInt8({cin, hw, hw}, codes, Int8Encoding{xs, 131 - 128});
  ASSERT_TRUE(d.ok());
  auto m = CompileOnnx(g.Bytes(), *d);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->report.warnings.empty());  // weights kept exactly
  auto r = BlobRunner::Open(m->blob);
  ASSERT_TRUE(r.ok());
  size_t total = 0, equal = 0, ties = 0;
  for (size_t i = 0; i < codes.size(); ++i) {
    ASSERT_TRUE((*r)->Run((*r)->InputCodes(*d, i, nullptr)).ok());
    const auto out = (*r)->OutputBytes();  // HWC int8
    for (int o = 0; o < cout; ++o) {
      const float scale = xs * wsc[size_t(o)] / ys;  // float32, as ONNX
      for (int oy = 0; oy < hw; ++oy)
        for (int ox = 0; ox < hw; ++ox) {
          int64_t acc = bias[size_t(o)];
          for (int ci = 0; ci < cin; ++ci)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int iy = oy - 1 + ky, ix = ox - 1 + kx;
                if (iy < 0 || ix < 0 || iy >= hw || ix >= hw) continue;
                const int xq = codes[i][(size_t(ci) * hw + iy) * hw + ix] + 128;
                acc += int64_t(xq - 131) *
                       w[((size_t(o) * cin + ci) * 3 + ky) * 3 + kx];
              }
          const float scaled = static_cast<float>(acc) * scale;
          const float want =
              std::clamp(std::nearbyint(scaled) + 120.0f, 0.0f, 255.0f);
          const int got = static_cast<int8_t>(
                              out[(size_t(oy) * hw + ox) * cout + size_t(o)]) +
                          128;
          ++total;
          if (got == static_cast<int>(want)) {
            ++equal;
            continue;
          }
          EXPECT_EQ(std::abs(got - static_cast<int>(want)), 1);
          const float frac = std::fabs(scaled - std::floor(scaled) - 0.5f);
          EXPECT_LT(frac, 1e-3f) << "not a near-tie: " << scaled;
          ++ties;
        }
    }
  }
  std::printf(
      "[qlinearconv] %zu outputs: %zu equal, %zu one step off at "
      "near-ties\n",
      total, equal, ties);
  EXPECT_EQ(equal + ties, total);
}

TEST(Graphs, FuzzSeedsCompileAndRun) {
  // The importer fuzzer's seed models (tests/fuzz/corpus/onnx_importer)
  // cover every supported op; each compiles and runs.
  const std::string dir =
      std::string(TF_SOURCE_DIR) + "/tests/fuzz/corpus/onnx_importer";
  size_t seen = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(e.path().filename().string());
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    auto ref = FloatReference::FromOnnx(ss.str());
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    std::vector<int64_t> dims = (*ref)->input_shape();
    if (dims.size() >= 2) dims.erase(dims.begin());
    size_t n = 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d);
    std::vector<std::vector<float>> s;
    for (int i = 0; i < 4; ++i) s.push_back(Random(n, 40 + i, -1, 1));
    auto d = Dataset::FromFloat(dims, s);
    ASSERT_TRUE(d.ok());
    auto m = CompileOnnx(ss.str(), *d);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto e2 = Evaluate(m->blob, *d, ref->get());
    ASSERT_TRUE(e2.ok()) << e2.status().ToString();
    EXPECT_TRUE(e2->canary_ok);
    ++seen;
  }
  EXPECT_GE(seen, 6u);
}

}  // namespace
}  // namespace tinyfleet::models
