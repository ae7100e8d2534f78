// Test helper implementation (see onnx_build.h).
#include "tests/server/models/onnx_build.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace tinyfleet::models::testing {
namespace {

void SetShape(onnx::ValueInfoProto* v, const std::vector<int64_t>& dims,
              int32_t type) {
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

}  // namespace

OnnxBuilder::OnnxBuilder(int64_t opset) {
  model_.set_ir_version(8);
  model_.set_producer_name("tinyfleet-test");
  auto* o = model_.add_opset_import();
  o->set_domain("");
  o->set_version(opset);
  model_.mutable_graph()->set_name("test");
}

OnnxBuilder& OnnxBuilder::Input(const std::string& name,
                                std::vector<int64_t> dims, int32_t type) {
  auto* v = model_.mutable_graph()->add_input();
  v->set_name(name);
  SetShape(v, dims, type);
  return *this;
}

OnnxBuilder& OnnxBuilder::Output(const std::string& name,
                                 std::vector<int64_t> dims, int32_t type) {
  auto* v = model_.mutable_graph()->add_output();
  v->set_name(name);
  SetShape(v, dims, type);
  return *this;
}

OnnxBuilder& OnnxBuilder::Init(const std::string& name,
                               std::vector<int64_t> dims,
                               const std::vector<float>& values) {
  auto* t = model_.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float v : values) t->add_float_data(v);
  return *this;
}

OnnxBuilder& OnnxBuilder::InitInt(const std::string& name,
                                  std::vector<int64_t> dims,
                                  const std::vector<int64_t>& values,
                                  int32_t type) {
  auto* t = model_.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t v : values) {
    if (type == onnx::TensorProto::INT64) {
      t->add_int64_data(v);
    } else {
      t->add_int32_data(static_cast<int32_t>(v));
    }
  }
  return *this;
}

onnx::NodeProto& OnnxBuilder::Node(const std::string& op,
                                   std::initializer_list<std::string> inputs,
                                   std::initializer_list<std::string> outputs,
                                   const std::string& name) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return *n;
}

std::string OnnxBuilder::Bytes() const { return model_.SerializeAsString(); }

void AttrInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void AttrInts(onnx::NodeProto& n, const std::string& name,
              std::vector<int64_t> v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void AttrFloat(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

std::vector<float> Random(size_t n, uint32_t seed, float lo, float hi) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 12345u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = lo + (hi - lo) * static_cast<float>(s >> 8) / 16777216.0f;
  }
  return v;
}

bool ReadTensorFile(const std::string& path, onnx::TensorProto* t) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  return t->ParseFromString(ss.str());
}

std::vector<double> TensorValues(const onnx::TensorProto& t) {
  size_t n = 1;
  for (int64_t d : t.dims()) n *= static_cast<size_t>(d);
  std::vector<double> v(n);
  const std::string& raw = t.raw_data();
  for (size_t i = 0; i < n; ++i) {
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT: {
        float f;
        if (!raw.empty()) {
          std::memcpy(&f, raw.data() + 4 * i, 4);
        } else {
          f = t.float_data(static_cast<int>(i));
        }
        v[i] = f;
        break;
      }
      case onnx::TensorProto::UINT8:
        v[i] = raw.empty() ? t.int32_data(static_cast<int>(i))
                           : static_cast<uint8_t>(raw[i]);
        break;
      case onnx::TensorProto::INT8:
        v[i] = raw.empty() ? t.int32_data(static_cast<int>(i))
                           : static_cast<int8_t>(raw[i]);
        break;
      case onnx::TensorProto::INT32: {
        int32_t x;
        if (!raw.empty()) {
          std::memcpy(&x, raw.data() + 4 * i, 4);
        } else {
          x = t.int32_data(static_cast<int>(i));
        }
        v[i] = x;
        break;
      }
      case onnx::TensorProto::INT64: {
        int64_t x;
        if (!raw.empty()) {
          std::memcpy(&x, raw.data() + 8 * i, 8);
        } else {
          x = t.int64_data(static_cast<int>(i));
        }
        v[i] = static_cast<double>(x);
        break;
      }
      default:
        v[i] = 0;
    }
  }
  return v;
}

}  // namespace tinyfleet::models::testing
