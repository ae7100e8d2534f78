// ONNX ModelProto -> intermediate representation. See onnx_importer.h for
// the contract and docs/models.md for the supported subset.
//
// The importer walks the nodes in file order (ONNX requires a topological
// order; a node reading a value no earlier node defines is an error). Each
// ONNX value maps either to a constant (initializers, Constant nodes and
// what folds from them) or to an activation: an IR tensor plus the ONNX
// shape the value has. Flatten, Reshape, Identity, Dropout, QuantizeLinear
// and DequantizeLinear usually create no op: their output is the same
// tensor seen with another shape or encoding.
#include "server/models/onnx_importer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>

#include "onnx/onnx_pb.h"
#include "server/models/optimize.h"

namespace tinyfleet::models {
namespace {

constexpr int64_t kMaxModelBytes = int64_t{256} << 20;
constexpr int kMaxNodes = 4096;
constexpr int64_t kMaxConstantElements = int64_t{1} << 26;
constexpr int64_t kMaxTensorElements = int64_t{1} << 24;  // runtime limit
constexpr int64_t kMaxDim = 32767;
constexpr int32_t kMaxWindow = 64;  // kernel, stride, dilation, pad
constexpr int64_t kMaxReduction = 16384;
constexpr int64_t kMaxPoolArea = 65536;
constexpr int64_t kMaxSoftmaxRow = 4095;

using onnx::AttributeProto;
using onnx::NodeProto;
using onnx::TensorProto;

// Integer weights and their scales, attached to a constant that
// DequantizeLinear produced from an integer initializer.
struct QuantizedConstant {
  std::vector<int64_t> q;     // integer values, same order as the constant
  std::vector<float> scale;   // 1 (per tensor) or dims[axis] entries
  std::vector<int64_t> zero;  // same count as scale
  int64_t axis = 0;
};

struct Constant {
  int32_t type = TensorProto::FLOAT;
  std::vector<int64_t> dims;
  std::vector<double> values;  // every numeric type, widened
  std::shared_ptr<QuantizedConstant> quant;
  int64_t count() const { return static_cast<int64_t>(values.size()); }
};

struct Value {
  enum class Kind { kActivation, kConstant, kUnavailable } kind;
  std::shared_ptr<const Constant> constant;
  int32_t tensor = -1;
  std::vector<int64_t> dims;
  ValueType type = ValueType::kFloat;
  std::string why;  // kUnavailable: why the value cannot be used
};

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

const char* TypeName(int32_t t) {
  switch (t) {
    case TensorProto::FLOAT:
      return "float";
    case TensorProto::UINT8:
      return "uint8";
    case TensorProto::INT8:
      return "int8";
    case TensorProto::UINT16:
      return "uint16";
    case TensorProto::INT16:
      return "int16";
    case TensorProto::INT32:
      return "int32";
    case TensorProto::INT64:
      return "int64";
    case TensorProto::BOOL:
      return "bool";
    case TensorProto::FLOAT16:
      return "float16";
    case TensorProto::DOUBLE:
      return "double";
    default:
      return "unsupported type";
  }
}

// Integer value of an element of an integer-typed constant; false when it
// is not integral or beyond +-2^53 (where doubles stop being exact).
bool AsInt(double v, int64_t* out) {
  if (!(std::fabs(v) <= 9007199254740992.0) || v != std::floor(v)) {
    return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

bool IsInt8Type(int32_t t) {
  return t == TensorProto::UINT8 || t == TensorProto::INT8;
}

bool IsIntegerType(int32_t t) {
  return t == TensorProto::UINT8 || t == TensorProto::INT8 ||
         t == TensorProto::UINT16 || t == TensorProto::INT16 ||
         t == TensorProto::INT32 || t == TensorProto::INT64 ||
         t == TensorProto::BOOL;
}

// Little-endian loads from raw_data (no alignment assumed).
uint64_t LoadLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}

double DecodeRaw(const char* p, int32_t type) {
  switch (type) {
    case TensorProto::FLOAT: {
      uint32_t bits = static_cast<uint32_t>(LoadLe(p, 4));
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case TensorProto::DOUBLE: {
      uint64_t bits = LoadLe(p, 8);
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      return static_cast<uint8_t>(p[0]);
    case TensorProto::INT8:
      return static_cast<int8_t>(p[0]);
    case TensorProto::UINT16:
      return static_cast<uint16_t>(LoadLe(p, 2));
    case TensorProto::INT16:
      return static_cast<int16_t>(LoadLe(p, 2));
    case TensorProto::INT32:
      return static_cast<int32_t>(LoadLe(p, 4));
    case TensorProto::INT64:
      return static_cast<double>(static_cast<int64_t>(LoadLe(p, 8)));
  }
  return 0;
}

int ElementSize(int32_t type) {
  switch (type) {
    case TensorProto::FLOAT:
    case TensorProto::INT32:
      return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
      return 8;
    case TensorProto::UINT16:
    case TensorProto::INT16:
      return 2;
    case TensorProto::UINT8:
    case TensorProto::INT8:
    case TensorProto::BOOL:
      return 1;
  }
  return 0;
}

// Decodes an initializer or Constant tensor. `what` names it in errors.
Result<std::shared_ptr<Constant>> ReadTensor(const TensorProto& t,
                                             const std::string& what) {
  auto c = std::make_shared<Constant>();
  c->type = t.data_type();
  if (ElementSize(c->type) == 0) {
    return FailedPreconditionError(
        what + " has element type " + TypeName(c->type) + " (" +
        std::to_string(c->type) + "), which is not supported");
  }
  if (t.data_location() == TensorProto::EXTERNAL || t.external_data_size()) {
    return FailedPreconditionError(
        what +
        " keeps its data in an external file; embed the weights in "
        "the model (onnx.save with save_as_external_data=False)");
  }
  if (t.has_segment()) {
    return FailedPreconditionError(what + " is segmented; not supported");
  }
  int64_t count = 1;
  for (int i = 0; i < t.dims_size(); ++i) {
    int64_t d = t.dims(i);
    if (d < 0 || d > kMaxConstantElements) {
      return InvalidArgumentError(what + " has an invalid dimension " +
                                  std::to_string(d));
    }
    c->dims.push_back(d);
    count *= d;
    if (count > kMaxConstantElements) {
      return FailedPreconditionError(what + " has more than 2^26 elements");
    }
  }
  const int32_t type = c->type;
  const std::string& raw = t.raw_data();
  int64_t typed = 0;
  switch (type) {
    case TensorProto::FLOAT:
      typed = t.float_data_size();
      break;
    case TensorProto::DOUBLE:
      typed = t.double_data_size();
      break;
    case TensorProto::INT64:
      typed = t.int64_data_size();
      break;
    default:
      typed = t.int32_data_size();
      break;
  }
  if (!raw.empty() && typed != 0) {
    return InvalidArgumentError(what + " has both raw and typed data");
  }
  c->values.resize(static_cast<size_t>(count));
  if (!raw.empty() || (count > 0 && typed == 0)) {
    const int64_t size = ElementSize(type);
    if (static_cast<int64_t>(raw.size()) != count * size) {
      return InvalidArgumentError(
          what + " holds " + std::to_string(raw.size()) +
          " bytes of data; its " + DimsString(c->dims) + " " + TypeName(type) +
          " shape needs " + std::to_string(count * size));
    }
    for (int64_t i = 0; i < count; ++i) {
      c->values[static_cast<size_t>(i)] =
          DecodeRaw(raw.data() + i * size, type);
    }
  } else {
    if (typed != count) {
      return InvalidArgumentError(what + " holds " + std::to_string(typed) +
                                  " values; its shape " + DimsString(c->dims) +
                                  " needs " + std::to_string(count));
    }
    for (int64_t i = 0; i < count; ++i) {
      const int k = static_cast<int>(i);
      double v = 0;
      switch (type) {
        case TensorProto::FLOAT:
          v = t.float_data(k);
          break;
        case TensorProto::DOUBLE:
          v = t.double_data(k);
          break;
        case TensorProto::INT64:
          v = static_cast<double>(t.int64_data(k));
          break;
        case TensorProto::UINT8:
          v = static_cast<uint8_t>(t.int32_data(k));
          break;
        case TensorProto::INT8:
          v = static_cast<int8_t>(t.int32_data(k));
          break;
        case TensorProto::UINT16:
          v = static_cast<uint16_t>(t.int32_data(k));
          break;
        case TensorProto::INT16:
          v = static_cast<int16_t>(t.int32_data(k));
          break;
        default:
          v = t.int32_data(k);
          break;
      }
      c->values[static_cast<size_t>(i)] = v;
    }
  }
  if (type == TensorProto::FLOAT || type == TensorProto::DOUBLE) {
    for (double v : c->values) {
      if (!std::isfinite(v)) {
        return InvalidArgumentError(what + " contains a non-finite value");
      }
    }
  }
  return c;
}

// Output geometry of a window op along one axis.
struct Axis {
  int64_t in = 1, k = 1, s = 1, d = 1, pad0 = 0, pad1 = 0, out = 1;
};

class Importer {
 public:
  Result<ImportResult> Run(const onnx::ModelProto& model);

 private:
  struct Node {
    const NodeProto* proto;
    std::string name;  // node name, or "<OpType>#<index>" when unnamed
    std::string op;
    int index;
  };

  Status Error(const Node& n, StatusCode code, const std::string& msg) const {
    return Status(code, "node '" + n.name + "' (" + n.op + "): " + msg);
  }
  Status Invalid(const Node& n, const std::string& msg) const {
    return Error(n, StatusCode::kInvalidArgument, msg);
  }
  Status Unsupported(const Node& n, const std::string& msg) const {
    return Error(n, StatusCode::kFailedPrecondition, msg);
  }

  Status ImportNode(const Node& n);
  Status CheckAttributes(const Node& n, std::initializer_list<const char*> ok);

  // Attribute accessors (type-checked).
  Result<int64_t> AttrInt(const Node& n, const char* name, int64_t def);
  Result<float> AttrFloat(const Node& n, const char* name, float def);
  Result<std::string> AttrString(const Node& n, const char* name,
                                 const std::string& def);
  Result<std::vector<int64_t>> AttrInts(const Node& n, const char* name);
  const AttributeProto* FindAttr(const Node& n, const char* name) const;

  bool HasInput(const Node& n, int i) const {
    return i < n.proto->input_size() && !n.proto->input(i).empty();
  }
  Result<const Value*> Input(const Node& n, int i);
  Result<Value> Activation(const Node& n, int i, bool float_only = true);
  Result<std::shared_ptr<const Constant>> ConstantInput(const Node& n, int i);
  Result<double> ScalarInput(const Node& n, int i, double def);
  Status Define(const Node& n, int i, Value v);
  Status CheckOutputs(const Node& n, int max_used);

  Result<int32_t> NewTensor(const Node& n, const std::string& name,
                            const std::vector<int64_t>& dims);
  Result<int32_t> AddOp(Op op) {
    graph_.ops.push_back(std::move(op));
    return static_cast<int32_t>(graph_.ops.size() - 1);
  }
  Status RequireNatural(const Node& n, const Value& v, const char* role);
  Status FixQuant(const Node& n, int32_t tensor, QuantParams q);
  Result<QuantParams> QuantOf(const Node& n, int scale_input, int zp_input,
                              int32_t* zp_type);
  Status Window(const Node& n, const Value& x, bool pool,
                const std::vector<int64_t>& kernel, Op* op,
                std::vector<int64_t>* out_dims);
  Status IntWeights(const Node& n, const std::vector<int64_t>& values,
                    const std::vector<float>& scales, int64_t per_channel,
                    Op* op);

  Status Conv(const Node& n, bool qlinear);
  Status Dense(const Node& n, bool gemm, bool qlinear);
  Status Pool(const Node& n, bool max);
  Status GlobalAvgPool(const Node& n);
  Status Clamp(const Node& n, float lo, float hi);
  Status Clip(const Node& n);
  Status BatchNorm(const Node& n);
  Status Add(const Node& n);
  Status Flatten(const Node& n);
  Status Reshape(const Node& n);
  Status Softmax(const Node& n);
  Status QuantizeLinear(const Node& n);
  Status DequantizeLinear(const Node& n);
  Status ConstantNode(const Node& n);
  Status Alias(const Node& n);

  Graph graph_;
  std::vector<std::string> warnings_;
  std::unordered_map<std::string, Value> values_;
  int64_t opset_ = 0;
};

const AttributeProto* Importer::FindAttr(const Node& n,
                                         const char* name) const {
  for (const auto& a : n.proto->attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

Status Importer::CheckAttributes(const Node& n,
                                 std::initializer_list<const char*> ok) {
  std::set<std::string> seen;
  for (const auto& a : n.proto->attribute()) {
    if (!seen.insert(a.name()).second) {
      return Invalid(n, "attribute '" + a.name() + "' appears twice");
    }
    if (!a.ref_attr_name().empty()) {
      return Unsupported(n,
                         "attribute references (ref_attr_name) are only "
                         "meaningful inside functions");
    }
    bool known = false;
    for (const char* k : ok) known = known || a.name() == k;
    if (!known) {
      return Unsupported(n, "attribute '" + a.name() + "' is not supported");
    }
  }
  return Status::Ok();
}

Result<int64_t> Importer::AttrInt(const Node& n, const char* name,
                                  int64_t def) {
  const AttributeProto* a = FindAttr(n, name);
  if (a == nullptr) return def;
  if (a->type() != AttributeProto::INT &&
      !(a->type() == AttributeProto::UNDEFINED && a->has_i())) {
    return Invalid(n, std::string("attribute '") + name + "' must be an int");
  }
  return a->i();
}

Result<float> Importer::AttrFloat(const Node& n, const char* name, float def) {
  const AttributeProto* a = FindAttr(n, name);
  if (a == nullptr) return def;
  if (a->type() != AttributeProto::FLOAT &&
      !(a->type() == AttributeProto::UNDEFINED && a->has_f())) {
    return Invalid(n, std::string("attribute '") + name + "' must be a float");
  }
  if (!std::isfinite(a->f())) {
    return Invalid(n, std::string("attribute '") + name + "' is not finite");
  }
  return a->f();
}

Result<std::string> Importer::AttrString(const Node& n, const char* name,
                                         const std::string& def) {
  const AttributeProto* a = FindAttr(n, name);
  if (a == nullptr) return def;
  if (a->type() != AttributeProto::STRING &&
      !(a->type() == AttributeProto::UNDEFINED && a->has_s())) {
    return Invalid(n, std::string("attribute '") + name + "' must be a string");
  }
  return a->s();
}

Result<std::vector<int64_t>> Importer::AttrInts(const Node& n,
                                                const char* name) {
  const AttributeProto* a = FindAttr(n, name);
  std::vector<int64_t> out;
  if (a == nullptr) return out;
  if (a->type() != AttributeProto::INTS &&
      a->type() != AttributeProto::UNDEFINED) {
    return Invalid(
        n, std::string("attribute '") + name + "' must be a list of ints");
  }
  if (a->ints_size() > 16) {
    return Invalid(n, std::string("attribute '") + name + "' is too long");
  }
  out.assign(a->ints().begin(), a->ints().end());
  return out;
}

Result<const Value*> Importer::Input(const Node& n, int i) {
  if (!HasInput(n, i)) {
    return Invalid(n, "input " + std::to_string(i) + " is missing");
  }
  const std::string& name = n.proto->input(i);
  auto it = values_.find(name);
  if (it == values_.end()) {
    return Invalid(n, "input '" + name +
                          "' is neither an initializer, the graph input nor "
                          "the output of an earlier node (missing "
                          "initializer or nodes out of order)");
  }
  if (it->second.kind == Value::Kind::kUnavailable) {
    return Unsupported(n, "input '" + name + "' " + it->second.why);
  }
  return &it->second;
}

Result<Value> Importer::Activation(const Node& n, int i, bool float_only) {
  TF_ASSIGN_OR_RETURN(const Value* v, Input(n, i));
  if (v->kind != Value::Kind::kActivation) {
    return Unsupported(n, "input '" + n.proto->input(i) +
                              "' is a constant; this op needs it to be "
                              "computed from the graph input");
  }
  if (float_only && v->type != ValueType::kFloat) {
    return Unsupported(n, "input '" + n.proto->input(i) +
                              "' holds quantized integer codes; dequantize "
                              "it (DequantizeLinear) before this op");
  }
  return *v;
}

Result<std::shared_ptr<const Constant>> Importer::ConstantInput(const Node& n,
                                                                int i) {
  TF_ASSIGN_OR_RETURN(const Value* v, Input(n, i));
  if (v->kind != Value::Kind::kConstant) {
    return Unsupported(n, "input '" + n.proto->input(i) +
                              "' must be a constant (an initializer); "
                              "computed weights and parameters are not "
                              "supported");
  }
  return v->constant;
}

Result<double> Importer::ScalarInput(const Node& n, int i, double def) {
  if (!HasInput(n, i)) return def;
  TF_ASSIGN_OR_RETURN(auto c, ConstantInput(n, i));
  if (c->count() != 1) {
    return Invalid(n, "input '" + n.proto->input(i) + "' must be a scalar");
  }
  return c->values[0];
}

Status Importer::Define(const Node& n, int i, Value v) {
  if (i >= n.proto->output_size() || n.proto->output(i).empty()) {
    return Invalid(n, "output " + std::to_string(i) + " is missing");
  }
  const std::string& name = n.proto->output(i);
  if (values_.count(name)) {
    return Invalid(n, "value '" + name + "' is defined twice");
  }
  if (v.kind == Value::Kind::kActivation) {
    graph_.tensors[static_cast<size_t>(v.tensor)].name = name;
  }
  values_.emplace(name, std::move(v));
  return Status::Ok();
}

// Outputs beyond `max_used` must be absent or empty: extra outputs (batch
// statistics, max-pool indices, dropout masks) are not computed.
Status Importer::CheckOutputs(const Node& n, int max_used) {
  if (n.proto->output_size() < 1 || n.proto->output(0).empty()) {
    return Invalid(n, "has no output");
  }
  for (int i = max_used; i < n.proto->output_size(); ++i) {
    const std::string& name = n.proto->output(i);
    if (name.empty()) continue;
    if (n.op == "Dropout") {
      Value v;
      v.kind = Value::Kind::kUnavailable;
      v.why = "is a Dropout mask, which inference does not compute";
      values_.emplace(name, std::move(v));
      continue;
    }
    return Unsupported(n, "output " + std::to_string(i) + " ('" + name +
                              "') is not supported (only the first output "
                              "is computed)");
  }
  return Status::Ok();
}

Result<int32_t> Importer::NewTensor(const Node& n, const std::string& name,
                                    const std::vector<int64_t>& dims) {
  Tensor t;
  t.name = name;
  if (!NaturalShape(dims, &t.h, &t.w, &t.c)) {
    return Unsupported(n, "output shape " + DimsString(dims) +
                              " is outside the node runtime's layouts "
                              "(batch 1, at most 4 dimensions, each in 1.." +
                              std::to_string(kMaxDim) + ")");
  }
  if (t.elements() > kMaxTensorElements) {
    return Unsupported(
        n, "output " + DimsString(dims) + " has more than 2^24 elements");
  }
  graph_.tensors.push_back(std::move(t));
  return static_cast<int32_t>(graph_.tensors.size() - 1);
}

Status Importer::RequireNatural(const Node& n, const Value& v,
                                const char* role) {
  const Tensor& t = graph_.tensors[static_cast<size_t>(v.tensor)];
  int32_t h, w, c;
  if (v.dims.size() < 3 || v.dims.size() > 4) {
    return Unsupported(n, std::string(role) +
                              " must have shape [1,C,H,W] or "
                              "[1,C,L], not " +
                              DimsString(v.dims));
  }
  if (!NaturalShape(v.dims, &h, &w, &c)) {
    return Unsupported(n, std::string(role) + " " + DimsString(v.dims) +
                              " has a batch other than 1");
  }
  if (t.h != h || t.w != w || t.c != c) {
    return Unsupported(
        n, std::string(role) + " " + DimsString(v.dims) +
               " was reshaped from a layout whose channels differ; the HWC "
               "runtime would need a transpose");
  }
  return Status::Ok();
}

Status Importer::FixQuant(const Node& n, int32_t tensor, QuantParams q) {
  if (!(q.scale > 0) || !std::isfinite(q.scale) || !std::isnormal(q.scale)) {
    return Invalid(n,
                   "quantization scale must be positive, finite and "
                   "normal");
  }
  if (q.zero_point < -128 || q.zero_point > 127) {
    return Invalid(n, "zero point out of the 8-bit range");
  }
  Tensor& t = graph_.tensors[static_cast<size_t>(tensor)];
  if (t.fixed && !(*t.fixed == q)) {
    return Unsupported(n, "value '" + t.name +
                              "' is given two different quantizations "
                              "(requantization is not supported)");
  }
  t.fixed = q;
  return Status::Ok();
}

// Scale and zero point from inputs `scale_input` / `zp_input` (per tensor).
// zp_type receives the zero point's element type (uint8 by default).
Result<QuantParams> Importer::QuantOf(const Node& n, int scale_input,
                                      int zp_input, int32_t* zp_type) {
  TF_ASSIGN_OR_RETURN(auto s, ConstantInput(n, scale_input));
  if (s->count() != 1) {
    return Unsupported(n, "per-axis quantization of an activation ('" +
                              n.proto->input(scale_input) + "' has " +
                              std::to_string(s->count()) +
                              " scales); the runtime quantizes activations "
                              "per tensor");
  }
  QuantParams q;
  q.scale = static_cast<float>(s->values[0]);
  *zp_type = TensorProto::UINT8;
  int64_t zp = 0;
  if (HasInput(n, zp_input)) {
    TF_ASSIGN_OR_RETURN(auto z, ConstantInput(n, zp_input));
    if (z->count() != 1) {
      return Unsupported(n,
                         "per-axis zero points on an activation are not "
                         "supported");
    }
    *zp_type = z->type;
    if (!IsInt8Type(z->type)) {
      return Unsupported(n, std::string("zero point type ") +
                                TypeName(z->type) +
                                " is not supported (uint8 or int8)");
    }
    zp = static_cast<int64_t>(z->values[0]);  // 8-bit: exact
  }
  if (*zp_type == TensorProto::UINT8) {
    zp -= 128;
  } else if (*zp_type != TensorProto::INT8) {
    return Unsupported(n, std::string("zero point type ") + TypeName(*zp_type) +
                              " is not supported (uint8 or int8)");
  }
  q.zero_point = static_cast<int32_t>(zp);
  return q;
}

// Geometry of a convolution or pooling window on `x` ([1,C,H,W] or
// [1,C,L]). Fills the op's window fields and the output's spatial dims.
Status Importer::Window(const Node& n, const Value& x, bool pool,
                        const std::vector<int64_t>& kernel, Op* op,
                        std::vector<int64_t>* out_dims) {
  const size_t r = x.dims.size() - 2;  // 1 or 2 spatial axes
  if (kernel.size() != r) {
    return Invalid(n, "kernel has " + std::to_string(kernel.size()) +
                          " dimensions for a " + std::to_string(r) +
                          "-d input");
  }
  TF_ASSIGN_OR_RETURN(auto strides, AttrInts(n, "strides"));
  TF_ASSIGN_OR_RETURN(auto dilations, AttrInts(n, "dilations"));
  TF_ASSIGN_OR_RETURN(auto pads, AttrInts(n, "pads"));
  TF_ASSIGN_OR_RETURN(std::string auto_pad,
                      AttrString(n, "auto_pad", "NOTSET"));
  int64_t ceil_mode = 0;
  if (pool) {
    TF_ASSIGN_OR_RETURN(ceil_mode, AttrInt(n, "ceil_mode", 0));
  }
  if ((!strides.empty() && strides.size() != r) ||
      (!dilations.empty() && dilations.size() != r) ||
      (!pads.empty() && pads.size() != 2 * r)) {
    return Invalid(n,
                   "strides, dilations or pads do not match the input's "
                   "rank");
  }
  Axis ax[2];
  for (size_t i = 0; i < r; ++i) {
    Axis& a = ax[2 - r + i];
    a.in = x.dims[2 + i];
    a.k = kernel[i];
    a.s = strides.empty() ? 1 : strides[i];
    a.d = dilations.empty() ? 1 : dilations[i];
    if (a.k < 1 || a.s < 1 || a.d < 1) {
      return Invalid(n, "kernel, strides and dilations must be >= 1");
    }
    if (a.k > kMaxWindow || a.s > kMaxWindow || a.d > kMaxWindow) {
      return Unsupported(n, "kernel " + std::to_string(a.k) + ", stride " +
                                std::to_string(a.s) + " or dilation " +
                                std::to_string(a.d) +
                                " exceeds the runtime's limit of 64");
    }
    const int64_t eff = (a.k - 1) * a.d + 1;
    if (auto_pad == "NOTSET") {
      a.pad0 = pads.empty() ? 0 : pads[i];
      a.pad1 = pads.empty() ? 0 : pads[i + r];
      if (a.pad0 < 0 || a.pad1 < 0) return Invalid(n, "negative padding");
      if (a.pad0 > kMaxWindow || a.pad1 > kMaxWindow) {
        return Unsupported(n, "padding above the runtime's limit of 64");
      }
      const int64_t span = a.in + a.pad0 + a.pad1 - eff;
      if (span < 0) {
        return Invalid(n, "the window does not fit the padded input");
      }
      a.out = ceil_mode ? (span + a.s - 1) / a.s + 1 : span / a.s + 1;
      if (ceil_mode && (a.out - 1) * a.s >= a.in + a.pad0) --a.out;
    } else if (auto_pad == "VALID") {
      if (a.in < eff) {
        return Invalid(n, "the window does not fit the input");
      }
      a.out = (a.in - eff) / a.s + 1;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      a.out = (a.in + a.s - 1) / a.s;
      const int64_t total =
          std::max<int64_t>(0, (a.out - 1) * a.s + eff - a.in);
      a.pad0 = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      a.pad1 = total - a.pad0;
    } else {
      return Invalid(n, "unknown auto_pad '" + auto_pad + "'");
    }
    // Ceil mode (and SAME padding) may need windows that run past the
    // end; the runtime expresses them as extra end padding, which pools
    // do not count.
    const int64_t need = (a.out - 1) * a.s + eff;
    if (need > a.in + a.pad0 + a.pad1) a.pad1 = need - a.in - a.pad0;
    if (a.pad0 >= eff || a.pad1 >= eff) {
      return Unsupported(
          n, "padding " + std::to_string(std::max(a.pad0, a.pad1)) +
                 " is not smaller than the window (" + std::to_string(eff) +
                 "); the runtime needs every window to "
                 "overlap the input");
    }
    if (a.pad0 > kMaxWindow || a.pad1 > kMaxWindow) {
      return Unsupported(n, "padding above the runtime's limit of 64");
    }
    if (a.out < 1) return Invalid(n, "empty output");
  }
  op->kh = static_cast<int32_t>(ax[0].k);
  op->kw = static_cast<int32_t>(ax[1].k);
  op->sh = static_cast<int32_t>(ax[0].s);
  op->sw = static_cast<int32_t>(ax[1].s);
  op->dh = static_cast<int32_t>(ax[0].d);
  op->dw = static_cast<int32_t>(ax[1].d);
  op->pad_top = static_cast<int32_t>(ax[0].pad0);
  op->pad_bottom = static_cast<int32_t>(ax[0].pad1);
  op->pad_left = static_cast<int32_t>(ax[1].pad0);
  op->pad_right = static_cast<int32_t>(ax[1].pad1);
  out_dims->clear();
  for (size_t i = 0; i < r; ++i) out_dims->push_back(ax[2 - r + i].out);
  return Status::Ok();
}

// Integer weights (already zero-point corrected, runtime layout) with one
// scale per output channel: kept exactly when they fit int8, else each
// channel is re-quantized symmetrically to [-127, 127].
Status Importer::IntWeights(const Node& n, const std::vector<int64_t>& values,
                            const std::vector<float>& scales,
                            int64_t per_channel, Op* op) {
  const size_t channels = scales.size();
  op->qweights.resize(values.size());
  op->qweight_scales = scales;
  op->weights.resize(values.size());
  bool requantized = false;
  // Channel of element i: conv/fc rows are contiguous (per_channel > 0);
  // depthwise interleaves channels (per_channel < 0: channel = i % C).
  auto channel_of = [&](size_t i) -> size_t {
    return per_channel > 0 ? i / static_cast<size_t>(per_channel)
                           : i % channels;
  };
  std::vector<int64_t> max_abs(channels, 0);
  std::vector<bool> fits(channels, true);
  for (size_t i = 0; i < values.size(); ++i) {
    int64_t a = values[i] < 0 ? -values[i] : values[i];
    max_abs[channel_of(i)] = std::max(max_abs[channel_of(i)], a);
    if (values[i] < -128 || values[i] > 127) fits[channel_of(i)] = false;
  }
  std::vector<double> factor(channels, 1.0);
  for (size_t c = 0; c < channels; ++c) {
    if (!fits[c]) {
      factor[c] = 127.0 / static_cast<double>(max_abs[c]);
      op->qweight_scales[c] = static_cast<float>(scales[c] / factor[c]);
      requantized = true;
    }
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t c = channel_of(i);
    int64_t q = values[i];
    if (factor[c] != 1.0) {
      q = static_cast<int64_t>(std::lround(static_cast<double>(q) * factor[c]));
    }
    op->qweights[i] = static_cast<int8_t>(q);
    op->weights[i] =
        static_cast<float>(values[i] * static_cast<double>(scales[c]));
  }
  if (requantized) {
    warnings_.push_back("node '" + n.name +
                        "': integer weights minus their zero point exceed "
                        "int8; re-quantized symmetrically per channel "
                        "(not bit-exact with the model)");
  }
  return Status::Ok();
}

Status Importer::Conv(const Node& n, bool qlinear) {
  if (qlinear) {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {"auto_pad", "dilations", "group",
                                           "kernel_shape", "pads", "strides"}));
  } else {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {"auto_pad", "dilations", "group",
                                           "kernel_shape", "pads", "strides"}));
  }
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  const int w_in = qlinear ? 3 : 1;
  const int b_in = qlinear ? 8 : 2;
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0, /*float_only=*/!qlinear));
  if (qlinear && x.type == ValueType::kFloat) {
    return Unsupported(n, "input 'x' must hold quantized codes (uint8/int8)");
  }
  TF_RETURN_IF_ERROR(RequireNatural(n, x, "input"));
  TF_ASSIGN_OR_RETURN(auto w, ConstantInput(n, w_in));
  const size_t rank = x.dims.size();
  if (w->dims.size() != rank) {
    return Invalid(
        n, "weights " + DimsString(w->dims) + " do not match the input rank");
  }
  TF_ASSIGN_OR_RETURN(int64_t group, AttrInt(n, "group", 1));
  const int64_t cin = x.dims[1];
  const int64_t cout = w->dims[0];
  if (group < 1 || cin % group != 0 || w->dims[1] != cin / group ||
      cout % group != 0 || cout < 1) {
    return Invalid(
        n, "weights " + DimsString(w->dims) + " do not match input channels " +
               std::to_string(cin) + " with group " + std::to_string(group));
  }
  Op op;
  op.name = n.name;
  op.onnx_op = n.op;
  if (group == 1) {
    op.kind = OpKind::kConv;
  } else if (group == cin && cout == cin) {
    op.kind = OpKind::kDepthwise;
  } else {
    return Unsupported(
        n, "grouped convolution (group " + std::to_string(group) + ", " +
               std::to_string(cin) + " -> " + std::to_string(cout) +
               " channels) is not supported; only group 1 and "
               "depthwise (group = channels, multiplier 1)");
  }
  std::vector<int64_t> kernel(w->dims.begin() + 2, w->dims.end());
  TF_ASSIGN_OR_RETURN(auto kshape, AttrInts(n, "kernel_shape"));
  if (!kshape.empty() && kshape != kernel) {
    return Invalid(n, "kernel_shape " + DimsString(kshape) +
                          " disagrees with the weights " + DimsString(w->dims));
  }
  std::vector<int64_t> spatial;
  TF_RETURN_IF_ERROR(Window(n, x, /*pool=*/false, kernel, &op, &spatial));
  const int64_t kh = op.kh, kw = op.kw;
  const int64_t red = op.kind == OpKind::kConv ? kh * kw * cin : kh * kw;
  if (red > kMaxReduction) {
    return Unsupported(n, "reduction length " + std::to_string(red) +
                              " exceeds the kernels' limit of 16384");
  }
  // ONNX weights [M][C/g][kh][kw] (kh = 1 for 1-d) -> runtime layout.
  const size_t count = static_cast<size_t>(cout * red);
  std::vector<size_t> src_of(count);
  for (int64_t m = 0; m < cout; ++m) {
    for (int64_t y = 0; y < kh; ++y) {
      for (int64_t xx = 0; xx < kw; ++xx) {
        if (op.kind == OpKind::kConv) {
          for (int64_t c = 0; c < cin; ++c) {
            src_of[static_cast<size_t>(((m * kh + y) * kw + xx) * cin + c)] =
                static_cast<size_t>(((m * cin + c) * kh + y) * kw + xx);
          }
        } else {
          src_of[static_cast<size_t>((y * kw + xx) * cout + m)] =
              static_cast<size_t>((m * kh + y) * kw + xx);
        }
      }
    }
  }
  const int64_t per_channel = op.kind == OpKind::kConv ? red : -1;
  std::vector<float> w_real(count);
  if (qlinear) {
    int32_t xzp_type, yzp_type;
    TF_ASSIGN_OR_RETURN(QuantParams xq, QuantOf(n, 1, 2, &xzp_type));
    TF_RETURN_IF_ERROR(FixQuant(n, x.tensor, xq));
    TF_ASSIGN_OR_RETURN(auto ws, ConstantInput(n, 4));
    std::shared_ptr<const Constant> wz;
    if (HasInput(n, 5)) {
      TF_ASSIGN_OR_RETURN(wz, ConstantInput(n, 5));
    }
    if ((ws->count() != 1 && ws->count() != cout) ||
        (wz && wz->count() != ws->count() && wz->count() != 1) ||
        (wz && !IsInt8Type(wz->type))) {
      return Invalid(n, "weight scale / zero point must have 1 or " +
                            std::to_string(cout) + " entries");
    }
    if (w->type != TensorProto::UINT8 && w->type != TensorProto::INT8) {
      return Invalid(n, "QLinearConv weights must be uint8 or int8");
    }
    std::vector<float> scales(static_cast<size_t>(cout));
    std::vector<int64_t> zeros(static_cast<size_t>(cout), 0);
    for (int64_t m = 0; m < cout; ++m) {
      scales[static_cast<size_t>(m)] = static_cast<float>(
          ws->values[ws->count() == 1 ? 0 : static_cast<size_t>(m)]);
      if (!(scales[static_cast<size_t>(m)] > 0) ||
          !std::isfinite(scales[static_cast<size_t>(m)])) {
        return Invalid(n, "weight scales must be positive and finite");
      }
      if (wz) {
        zeros[static_cast<size_t>(m)] = static_cast<int64_t>(
            wz->values[wz->count() == 1 ? 0 : static_cast<size_t>(m)]);
      }
    }
    std::vector<int64_t> ints(count);
    for (size_t i = 0; i < count; ++i) {
      const size_t m = op.kind == OpKind::kConv ? i / static_cast<size_t>(red)
                                                : i % static_cast<size_t>(cout);
      ints[i] = static_cast<int64_t>(w->values[src_of[i]]) - zeros[m];
    }
    TF_RETURN_IF_ERROR(IntWeights(n, ints, scales, per_channel, &op));
    op.bias.assign(static_cast<size_t>(cout), 0.0f);
    if (HasInput(n, b_in)) {
      TF_ASSIGN_OR_RETURN(auto b, ConstantInput(n, b_in));
      if (b->count() != cout || b->type != TensorProto::INT32) {
        return Invalid(
            n, "bias must be int32 with " + std::to_string(cout) + " values");
      }
      op.qbias.resize(static_cast<size_t>(cout));
      for (int64_t m = 0; m < cout; ++m) {
        op.qbias[static_cast<size_t>(m)] =
            static_cast<int32_t>(b->values[static_cast<size_t>(m)]);
        op.bias[static_cast<size_t>(m)] = static_cast<float>(
            b->values[static_cast<size_t>(m)] * static_cast<double>(xq.scale) *
            scales[static_cast<size_t>(m)]);
      }
    }
    TF_ASSIGN_OR_RETURN(QuantParams yq, QuantOf(n, 6, 7, &yzp_type));
    std::vector<int64_t> dims = {1, cout};
    dims.insert(dims.end(), spatial.begin(), spatial.end());
    TF_ASSIGN_OR_RETURN(int32_t out, NewTensor(n, n.proto->output(0), dims));
    TF_RETURN_IF_ERROR(FixQuant(n, out, yq));
    op.inputs = {x.tensor};
    op.output = out;
    TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
    Value v{
        Value::Kind::kActivation,
        nullptr,
        out,
        dims,
        yzp_type == TensorProto::UINT8 ? ValueType::kUint8 : ValueType::kInt8,
        ""};
    return Define(n, 0, std::move(v));
  }
  if (w->type != TensorProto::FLOAT && w->type != TensorProto::DOUBLE) {
    return Unsupported(n, "weights of type " + std::string(TypeName(w->type)) +
                              "; float weights (or DequantizeLinear of "
                              "integer ones) are needed");
  }
  op.weights.resize(count);
  for (size_t i = 0; i < count; ++i) {
    op.weights[i] = static_cast<float>(w->values[src_of[i]]);
  }
  if (w->quant && w->quant->q.size() == w->values.size()) {
    // DequantizeLinear of integer weights: keep the integers when their
    // scales are per output channel (axis 0) or per tensor.
    const auto& q = *w->quant;
    if (q.scale.size() == 1 ||
        (q.axis == 0 && q.scale.size() == static_cast<size_t>(cout))) {
      std::vector<float> scales(static_cast<size_t>(cout));
      std::vector<int64_t> ints(count);
      for (size_t i = 0; i < count; ++i) {
        const size_t m = op.kind == OpKind::kConv
                             ? i / static_cast<size_t>(red)
                             : i % static_cast<size_t>(cout);
        const size_t k = q.scale.size() == 1 ? 0 : m;
        scales[m] = q.scale[k];
        ints[i] = q.q[src_of[i]] - q.zero[k];
      }
      std::vector<float> keep = op.weights;
      TF_RETURN_IF_ERROR(IntWeights(n, ints, scales, per_channel, &op));
      op.weights = std::move(keep);
    }
  }
  op.bias.assign(static_cast<size_t>(cout), 0.0f);
  if (HasInput(n, 2)) {
    TF_ASSIGN_OR_RETURN(auto b, ConstantInput(n, 2));
    if (b->count() != cout) {
      return Invalid(n, "bias has " + std::to_string(b->count()) +
                            " values for " + std::to_string(cout) +
                            " output channels");
    }
    for (int64_t m = 0; m < cout; ++m) {
      op.bias[static_cast<size_t>(m)] =
          static_cast<float>(b->values[static_cast<size_t>(m)]);
    }
  }
  std::vector<int64_t> dims = {1, cout};
  dims.insert(dims.end(), spatial.begin(), spatial.end());
  TF_ASSIGN_OR_RETURN(int32_t out, NewTensor(n, n.proto->output(0), dims));
  op.inputs = {x.tensor};
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  return Define(n, 0,
                Value{Value::Kind::kActivation, nullptr, out, dims,
                      ValueType::kFloat, ""});
}

// Gemm, MatMul and QLinearMatMul: a dense layer over a [1, K] activation.
Status Importer::Dense(const Node& n, bool gemm, bool qlinear) {
  if (gemm) {
    TF_RETURN_IF_ERROR(
        CheckAttributes(n, {"alpha", "beta", "transA", "transB", "broadcast"}));
  } else {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {}));
  }
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(Value a, Activation(n, 0, /*float_only=*/!qlinear));
  if (qlinear && a.type == ValueType::kFloat) {
    return Unsupported(n, "input 'a' must hold quantized codes (uint8/int8)");
  }
  float alpha = 1.0f, beta = 1.0f;
  int64_t trans_a = 0, trans_b = 0;
  if (gemm) {
    TF_ASSIGN_OR_RETURN(alpha, AttrFloat(n, "alpha", 1.0f));
    TF_ASSIGN_OR_RETURN(beta, AttrFloat(n, "beta", 1.0f));
    TF_ASSIGN_OR_RETURN(trans_a, AttrInt(n, "transA", 0));
    TF_ASSIGN_OR_RETURN(trans_b, AttrInt(n, "transB", 0));
  }
  const bool rank1 = !gemm && a.dims.size() == 1;
  if (!rank1 && (a.dims.size() != 2 || a.dims[0] != 1)) {
    return Unsupported(n, "input " + DimsString(a.dims) +
                              " must be [1, K] (batch 1, flattened)");
  }
  if (trans_a != 0) {
    return Unsupported(n,
                       "transA = 1 is not supported (the activation's "
                       "batch would be its second axis)");
  }
  const Tensor& at = graph_.tensors[static_cast<size_t>(a.tensor)];
  const int64_t k = rank1 ? a.dims[0] : a.dims[1];
  const int b_in = qlinear ? 3 : 1;
  TF_ASSIGN_OR_RETURN(auto b, ConstantInput(n, b_in));
  if (b->dims.size() != 2) {
    return Unsupported(n, "weights " + DimsString(b->dims) +
                              " must be a matrix (batched MatMul is not "
                              "supported)");
  }
  const int64_t bk = trans_b ? b->dims[1] : b->dims[0];
  const int64_t nout = trans_b ? b->dims[0] : b->dims[1];
  if (bk != k || nout < 1) {
    return Invalid(n, "weights " + DimsString(b->dims) +
                          " do not match the input " + DimsString(a.dims));
  }
  if (k > kMaxReduction) {
    return Unsupported(n, "input length " + std::to_string(k) +
                              " exceeds the kernels' limit of 16384");
  }
  // Row n of the runtime weights reads the input in HWC order; ONNX
  // numbers it in CHW order of the physical shape.
  const int64_t hw = int64_t{at.h} * at.w;
  std::vector<size_t> src_of(static_cast<size_t>(nout * k));
  for (int64_t o = 0; o < nout; ++o) {
    for (int64_t p = 0; p < hw; ++p) {
      for (int64_t c = 0; c < at.c; ++c) {
        const int64_t onnx_k = c * hw + p;
        const int64_t phys_k = p * at.c + c;
        src_of[static_cast<size_t>(o * k + phys_k)] =
            static_cast<size_t>(trans_b ? o * k + onnx_k : onnx_k * nout + o);
      }
    }
  }
  Op op;
  op.kind = OpKind::kFullyConnected;
  op.name = n.name;
  op.onnx_op = n.op;
  op.inputs = {a.tensor};
  const size_t count = src_of.size();
  op.bias.assign(static_cast<size_t>(nout), 0.0f);
  std::vector<int64_t> dims =
      rank1 ? std::vector<int64_t>{nout} : std::vector<int64_t>{1, nout};
  if (qlinear) {
    int32_t azp_type, yzp_type;
    TF_ASSIGN_OR_RETURN(QuantParams aq, QuantOf(n, 1, 2, &azp_type));
    TF_RETURN_IF_ERROR(FixQuant(n, a.tensor, aq));
    TF_ASSIGN_OR_RETURN(auto bs, ConstantInput(n, 4));
    std::shared_ptr<const Constant> bz;
    if (HasInput(n, 5)) {
      TF_ASSIGN_OR_RETURN(bz, ConstantInput(n, 5));
    }
    if ((bs->count() != 1 && bs->count() != nout) ||
        (bz && bz->count() != bs->count()) || (bz && !IsInt8Type(bz->type))) {
      return Unsupported(n,
                         "weight scales must be per tensor or per output "
                         "column");
    }
    if (b->type != TensorProto::UINT8 && b->type != TensorProto::INT8) {
      return Invalid(n, "QLinearMatMul weights must be uint8 or int8");
    }
    std::vector<float> scales(static_cast<size_t>(nout));
    std::vector<int64_t> ints(count);
    for (int64_t o = 0; o < nout; ++o) {
      const size_t s = bs->count() == 1 ? 0 : static_cast<size_t>(o);
      scales[static_cast<size_t>(o)] = static_cast<float>(bs->values[s]);
      if (!(scales[static_cast<size_t>(o)] > 0) ||
          !std::isfinite(scales[static_cast<size_t>(o)])) {
        return Invalid(n, "weight scales must be positive and finite");
      }
      const int64_t zero = bz ? static_cast<int64_t>(bz->values[s]) : 0;
      for (int64_t i = 0; i < k; ++i) {
        const size_t d = static_cast<size_t>(o * k + i);
        ints[d] = static_cast<int64_t>(b->values[src_of[d]]) - zero;
      }
    }
    TF_RETURN_IF_ERROR(IntWeights(n, ints, scales, k, &op));
    TF_ASSIGN_OR_RETURN(QuantParams yq, QuantOf(n, 6, 7, &yzp_type));
    TF_ASSIGN_OR_RETURN(int32_t out, NewTensor(n, n.proto->output(0), dims));
    TF_RETURN_IF_ERROR(FixQuant(n, out, yq));
    op.output = out;
    TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
    return Define(n, 0,
                  Value{Value::Kind::kActivation, nullptr, out, dims,
                        yzp_type == TensorProto::UINT8 ? ValueType::kUint8
                                                       : ValueType::kInt8,
                        ""});
  }
  if (b->type != TensorProto::FLOAT && b->type != TensorProto::DOUBLE) {
    return Unsupported(n, "weights of type " + std::string(TypeName(b->type)) +
                              "; float weights (or DequantizeLinear of "
                              "integer ones) are needed");
  }
  op.weights.resize(count);
  for (size_t i = 0; i < count; ++i) {
    op.weights[i] = alpha * static_cast<float>(b->values[src_of[i]]);
  }
  if (b->quant && b->quant->q.size() == b->values.size()) {
    const auto& q = *b->quant;
    const int64_t col_axis = trans_b ? 0 : 1;
    if (q.scale.size() == 1 ||
        (q.axis == col_axis && q.scale.size() == static_cast<size_t>(nout))) {
      std::vector<float> scales(static_cast<size_t>(nout));
      std::vector<int64_t> ints(count);
      for (size_t i = 0; i < count; ++i) {
        const size_t o = i / static_cast<size_t>(k);
        const size_t s = q.scale.size() == 1 ? 0 : o;
        scales[o] = alpha * q.scale[s];
        ints[i] = q.q[src_of[i]] - q.zero[s];
      }
      std::vector<float> keep = op.weights;
      TF_RETURN_IF_ERROR(IntWeights(n, ints, scales, k, &op));
      op.weights = std::move(keep);
    }
  }
  if (gemm && HasInput(n, 2)) {
    TF_ASSIGN_OR_RETURN(auto c, ConstantInput(n, 2));
    bool ok = c->count() == 1 || c->count() == nout;
    if (c->dims.size() == 2 && c->dims[0] != 1) ok = false;
    if (c->dims.size() > 2) ok = false;
    if (!ok) {
      return Unsupported(n, "bias C " + DimsString(c->dims) +
                                " must be a scalar or one value per output");
    }
    for (int64_t o = 0; o < nout; ++o) {
      op.bias[static_cast<size_t>(o)] = static_cast<float>(
          beta * c->values[c->count() == 1 ? 0 : static_cast<size_t>(o)]);
    }
  }
  TF_ASSIGN_OR_RETURN(int32_t out, NewTensor(n, n.proto->output(0), dims));
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  return Define(n, 0,
                Value{Value::Kind::kActivation, nullptr, out, dims,
                      ValueType::kFloat, ""});
}

Status Importer::Pool(const Node& n, bool max) {
  if (max) {
    TF_RETURN_IF_ERROR(CheckAttributes(
        n, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
            "storage_order", "strides"}));
  } else {
    TF_RETURN_IF_ERROR(
        CheckAttributes(n, {"auto_pad", "ceil_mode", "count_include_pad",
                            "dilations", "kernel_shape", "pads", "strides"}));
  }
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0));
  TF_RETURN_IF_ERROR(RequireNatural(n, x, "input"));
  TF_ASSIGN_OR_RETURN(auto kernel, AttrInts(n, "kernel_shape"));
  if (kernel.empty()) return Invalid(n, "kernel_shape is required");
  Op op;
  op.kind = max ? OpKind::kMaxPool : OpKind::kAvgPool;
  op.name = n.name;
  op.onnx_op = n.op;
  std::vector<int64_t> spatial;
  TF_RETURN_IF_ERROR(Window(n, x, /*pool=*/true, kernel, &op, &spatial));
  if (op.dh != 1 || op.dw != 1) {
    return Unsupported(n, "dilated pooling is not supported by the runtime");
  }
  if (!max) {
    TF_ASSIGN_OR_RETURN(int64_t include, AttrInt(n, "count_include_pad", 0));
    if (include != 0 &&
        (op.pad_top | op.pad_bottom | op.pad_left | op.pad_right) != 0) {
      return Unsupported(n,
                         "count_include_pad = 1 with padding: the "
                         "runtime averages only the input positions");
    }
  }
  const Tensor& in = graph_.tensors[static_cast<size_t>(x.tensor)];
  std::vector<int64_t> dims = {1, in.c};
  dims.insert(dims.end(), spatial.begin(), spatial.end());
  TF_ASSIGN_OR_RETURN(int32_t out, NewTensor(n, n.proto->output(0), dims));
  op.inputs = {x.tensor};
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  return Define(n, 0,
                Value{Value::Kind::kActivation, nullptr, out, dims,
                      ValueType::kFloat, ""});
}

Status Importer::GlobalAvgPool(const Node& n) {
  TF_RETURN_IF_ERROR(CheckAttributes(n, {}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0));
  TF_RETURN_IF_ERROR(RequireNatural(n, x, "input"));
  const Tensor& in = graph_.tensors[static_cast<size_t>(x.tensor)];
  if (int64_t{in.h} * in.w > kMaxPoolArea) {
    return Unsupported(n, "pooling area above the runtime's 65536");
  }
  std::vector<int64_t> dims(x.dims.size(), 1);
  dims[1] = in.c;
  Op op;
  op.kind = OpKind::kGlobalAvgPool;
  op.name = n.name;
  op.onnx_op = n.op;
  TF_ASSIGN_OR_RETURN(int32_t out, NewTensor(n, n.proto->output(0), dims));
  op.inputs = {x.tensor};
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  return Define(n, 0,
                Value{Value::Kind::kActivation, nullptr, out, dims,
                      ValueType::kFloat, ""});
}

Status Importer::Clamp(const Node& n, float lo, float hi) {
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0));
  if (lo > hi) return Invalid(n, "min is above max");
  const Tensor& in = graph_.tensors[static_cast<size_t>(x.tensor)];
  Op op;
  op.kind = OpKind::kClamp;
  op.name = n.name;
  op.onnx_op = n.op;
  op.act_lo = lo;
  op.act_hi = hi;
  Tensor t = in;
  t.fixed.reset();
  t.name = n.proto->output(0);
  graph_.tensors.push_back(std::move(t));
  const int32_t out = static_cast<int32_t>(graph_.tensors.size() - 1);
  op.inputs = {x.tensor};
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  x.tensor = out;
  return Define(n, 0, std::move(x));
}

Status Importer::Clip(const Node& n) {
  float lo = kNoLower, hi = kNoUpper;
  if (opset_ < 11) {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {"min", "max", "consumed_inputs"}));
    TF_ASSIGN_OR_RETURN(lo, AttrFloat(n, "min", kNoLower));
    TF_ASSIGN_OR_RETURN(hi, AttrFloat(n, "max", kNoUpper));
    if (lo <= -std::numeric_limits<float>::max()) lo = kNoLower;
    if (hi >= std::numeric_limits<float>::max()) hi = kNoUpper;
  } else {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {}));
    TF_ASSIGN_OR_RETURN(double l, ScalarInput(n, 1, kNoLower));
    TF_ASSIGN_OR_RETURN(double h, ScalarInput(n, 2, kNoUpper));
    lo = static_cast<float>(l);
    hi = static_cast<float>(h);
  }
  return Clamp(n, lo, hi);
}

Status Importer::BatchNorm(const Node& n) {
  TF_RETURN_IF_ERROR(
      CheckAttributes(n, {"epsilon", "momentum", "spatial", "is_test",
                          "training_mode", "consumed_inputs"}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(int64_t training, AttrInt(n, "training_mode", 0));
  if (training != 0) {
    return Unsupported(n,
                       "training_mode = 1 (batch statistics) is not "
                       "supported; export the model in eval mode");
  }
  TF_ASSIGN_OR_RETURN(int64_t spatial, AttrInt(n, "spatial", 1));
  if (spatial != 1) return Unsupported(n, "spatial = 0 is not supported");
  TF_ASSIGN_OR_RETURN(float eps, AttrFloat(n, "epsilon", 1e-5f));
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0));
  if (x.dims.size() < 2) return Unsupported(n, "input needs a channel axis");
  const Tensor& in = graph_.tensors[static_cast<size_t>(x.tensor)];
  const int64_t c = x.dims[1];
  if (x.dims[0] != 1 || c != in.c) {
    return Unsupported(n, "input " + DimsString(x.dims) +
                              " is not channel-major with batch 1");
  }
  std::shared_ptr<const Constant> p[4];
  for (int i = 0; i < 4; ++i) {
    TF_ASSIGN_OR_RETURN(p[i], ConstantInput(n, i + 1));
    if (p[i]->count() != c) {
      return Invalid(n, "parameter '" + n.proto->input(i + 1) + "' has " +
                            std::to_string(p[i]->count()) + " values for " +
                            std::to_string(c) + " channels");
    }
  }
  Op op;
  op.kind = OpKind::kBatchNorm;
  op.name = n.name;
  op.onnx_op = n.op;
  op.weights.resize(static_cast<size_t>(c));
  op.bias.resize(static_cast<size_t>(c));
  for (size_t i = 0; i < static_cast<size_t>(c); ++i) {
    const double var = p[3]->values[i];
    if (var + eps <= 0) return Invalid(n, "variance + epsilon is not positive");
    const double s = p[0]->values[i] / std::sqrt(var + eps);
    op.weights[i] = static_cast<float>(s);
    op.bias[i] = static_cast<float>(p[1]->values[i] - p[2]->values[i] * s);
  }
  Tensor t = in;
  t.fixed.reset();
  graph_.tensors.push_back(std::move(t));
  const int32_t out = static_cast<int32_t>(graph_.tensors.size() - 1);
  op.inputs = {x.tensor};
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  x.tensor = out;
  return Define(n, 0, std::move(x));
}

Status Importer::Add(const Node& n) {
  TF_RETURN_IF_ERROR(
      CheckAttributes(n, {"broadcast", "axis", "consumed_inputs"}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(const Value* a, Input(n, 0));
  TF_ASSIGN_OR_RETURN(const Value* b, Input(n, 1));
  if (a->kind == Value::Kind::kConstant && b->kind == Value::Kind::kConstant) {
    return Unsupported(n,
                       "adds two constants (constant folding of Add is "
                       "not supported)");
  }
  const int ai = a->kind == Value::Kind::kConstant ? 1 : 0;
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, ai));
  if (ai == 1) b = a;
  const Tensor& in = graph_.tensors[static_cast<size_t>(x.tensor)];
  if (b->kind == Value::Kind::kActivation) {
    TF_ASSIGN_OR_RETURN(Value y, Activation(n, 1 - ai));
    const Tensor& t2 = graph_.tensors[static_cast<size_t>(y.tensor)];
    if (x.dims != y.dims || in.h != t2.h || in.w != t2.w || in.c != t2.c) {
      return Unsupported(n, "operands " + DimsString(x.dims) + " and " +
                                DimsString(y.dims) +
                                " differ; broadcasting between activations "
                                "is not supported");
    }
    Op op;
    op.kind = OpKind::kAdd;
    op.name = n.name;
    op.onnx_op = n.op;
    Tensor t = in;
    t.fixed.reset();
    graph_.tensors.push_back(std::move(t));
    const int32_t out = static_cast<int32_t>(graph_.tensors.size() - 1);
    op.inputs = {x.tensor, y.tensor};
    op.output = out;
    TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
    x.tensor = out;
    return Define(n, 0, std::move(x));
  }
  // Activation + constant: a per-channel (or scalar) bias.
  const Constant& k = *b->constant;
  bool per_channel = false;
  if (k.count() == 1) {
    per_channel = true;
  } else if (k.count() == in.c) {
    // [C], [1,C] against [1,C] (hw == 1); [C,1,1], [1,C,1,1] against
    // [1,C,H,W]; [C,1], [1,C,1] against [1,C,L].
    const size_t r = x.dims.size();
    std::vector<int64_t> full(r, 1);
    if (r >= 2) full[1] = in.c;
    std::vector<int64_t> kfull(r, 1);
    if (k.dims.size() <= r) {
      std::copy(k.dims.begin(), k.dims.end(),
                kfull.begin() + static_cast<std::ptrdiff_t>(r - k.dims.size()));
      per_channel = kfull == full && (r != 2 || int64_t{in.h} * in.w == 1);
    }
  }
  if (!per_channel) {
    return Unsupported(n, "adds a constant " + DimsString(k.dims) + " to " +
                              DimsString(x.dims) +
                              "; only a scalar or one value per channel is "
                              "supported");
  }
  Op op;
  op.kind = OpKind::kAddConst;
  op.name = n.name;
  op.onnx_op = n.op;
  op.bias.resize(static_cast<size_t>(in.c));
  for (size_t i = 0; i < op.bias.size(); ++i) {
    op.bias[i] = static_cast<float>(k.values[k.count() == 1 ? 0 : i]);
  }
  Tensor t = in;
  t.fixed.reset();
  graph_.tensors.push_back(std::move(t));
  const int32_t out = static_cast<int32_t>(graph_.tensors.size() - 1);
  op.inputs = {x.tensor};
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  x.tensor = out;
  return Define(n, 0, std::move(x));
}

Status Importer::Flatten(const Node& n) {
  TF_RETURN_IF_ERROR(CheckAttributes(n, {"axis"}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0, /*float_only=*/false));
  TF_ASSIGN_OR_RETURN(int64_t axis, AttrInt(n, "axis", 1));
  const int64_t r = static_cast<int64_t>(x.dims.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) return Invalid(n, "axis out of range");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i)
    (i < axis ? outer : inner) *= x.dims[static_cast<size_t>(i)];
  if (outer != 1) {
    return Unsupported(
        n, "flattening " + DimsString(x.dims) + " at axis " +
               std::to_string(axis) + " gives [" + std::to_string(outer) + "," +
               std::to_string(inner) + "], which is not one batch-1 sample");
  }
  x.dims = {1, inner};
  return Define(n, 0, std::move(x));
}

Status Importer::Reshape(const Node& n) {
  TF_RETURN_IF_ERROR(
      CheckAttributes(n, {"allowzero", "shape", "consumed_inputs"}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0, /*float_only=*/false));
  std::vector<int64_t> shape;
  if (opset_ < 5) {
    TF_ASSIGN_OR_RETURN(shape, AttrInts(n, "shape"));
  } else {
    TF_ASSIGN_OR_RETURN(auto s, ConstantInput(n, 1));
    if (s->dims.size() != 1 || s->count() > 8 ||
        s->type != TensorProto::INT64) {
      return Invalid(n, "shape must be a short 1-d int64 tensor");
    }
    for (double v : s->values) {
      int64_t d;
      if (!AsInt(v, &d)) return Invalid(n, "shape value out of range");
      shape.push_back(d);
    }
  }
  TF_ASSIGN_OR_RETURN(int64_t allowzero, AttrInt(n, "allowzero", 0));
  int64_t total = 1;
  for (int64_t d : x.dims) total *= d;
  int64_t known = 1, infer = -1;
  std::vector<int64_t> dims = shape;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0 && !allowzero) {
      if (i >= x.dims.size()) return Invalid(n, "0 copies a missing axis");
      dims[i] = x.dims[i];
    }
    if (dims[i] == -1) {
      if (infer >= 0) return Invalid(n, "more than one -1 in the shape");
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (dims[i] < 1) {
      return Unsupported(n, "shape " + DimsString(shape) +
                                " has empty or negative dimensions");
    }
    if (dims[i] > kMaxConstantElements) return Invalid(n, "shape too large");
    known *= dims[i];
    if (known > kMaxConstantElements) return Invalid(n, "shape too large");
  }
  if (infer >= 0) {
    if (total % known != 0) return Invalid(n, "shape does not divide");
    dims[static_cast<size_t>(infer)] = total / known;
  } else if (known != total) {
    return Invalid(n, "shape " + DimsString(shape) + " does not hold the " +
                          std::to_string(total) + " elements of " +
                          DimsString(x.dims));
  }
  const Tensor& in = graph_.tensors[static_cast<size_t>(x.tensor)];
  int32_t h, w, c;
  if (!NaturalShape(dims, &h, &w, &c)) {
    return Unsupported(n, "target shape " + DimsString(dims) +
                              " is outside the runtime's batch-1 layouts");
  }
  x.dims = dims;
  if (dims.size() <= 2 || (h == in.h && w == in.w && c == in.c)) {
    return Define(n, 0, std::move(x));  // same bytes, same physical shape
  }
  const bool same_channels =
      c == in.c && int64_t{h} * w == int64_t{in.h} * in.w;
  const bool both_flat = (int64_t{in.h} * in.w == 1 || in.c == 1) &&
                         (int64_t{h} * w == 1 || c == 1);
  if (!same_channels && !both_flat) {
    return Unsupported(n, "reshaping to " + DimsString(dims) +
                              " regroups channels; the HWC runtime would "
                              "need a transpose");
  }
  Op op;
  op.kind = OpKind::kReshape;
  op.name = n.name;
  op.onnx_op = n.op;
  Tensor t;
  t.h = h;
  t.w = w;
  t.c = c;
  t.fixed = in.fixed;
  graph_.tensors.push_back(std::move(t));
  const int32_t out = static_cast<int32_t>(graph_.tensors.size() - 1);
  op.inputs = {x.tensor};
  op.output = out;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  x.tensor = out;
  return Define(n, 0, std::move(x));
}

Status Importer::Softmax(const Node& n) {
  TF_RETURN_IF_ERROR(CheckAttributes(n, {"axis"}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0));
  const int64_t r = static_cast<int64_t>(x.dims.size());
  TF_ASSIGN_OR_RETURN(int64_t axis, AttrInt(n, "axis", opset_ < 13 ? 1 : -1));
  if (axis < 0) axis += r;
  if (r == 0 || axis < 0 || axis >= r) return Invalid(n, "axis out of range");
  // Axes the softmax runs over; the others must be the channel axis
  // pattern or all 1 (apart from the batch).
  std::vector<bool> in_set(static_cast<size_t>(r), false);
  for (int64_t i = 0; i < r; ++i) {
    in_set[static_cast<size_t>(i)] = opset_ < 13 ? i >= axis : i == axis;
  }
  int64_t outside = 1, row = 1;
  for (int64_t i = 0; i < r; ++i) {
    (in_set[static_cast<size_t>(i)] ? row : outside) *=
        x.dims[static_cast<size_t>(i)];
  }
  if (row > kMaxSoftmaxRow) {
    return Unsupported(n, "softmax over " + std::to_string(row) +
                              " values exceeds the kernel's 4095");
  }
  const Tensor& in = graph_.tensors[static_cast<size_t>(x.tensor)];
  const bool whole = outside == 1;
  const bool per_pixel = r >= 2 && axis == 1 && (opset_ >= 13 || r == 2) &&
                         x.dims[0] == 1 && row == in.c;
  if (!whole && !per_pixel) {
    return Unsupported(n, "softmax over axis " + std::to_string(axis) + " of " +
                              DimsString(x.dims) +
                              "; the runtime's softmax runs over channels");
  }
  Op op;
  op.kind = OpKind::kSoftmax;
  op.name = n.name;
  op.onnx_op = n.op;
  int32_t src = x.tensor;
  const bool wrap = whole && int64_t{in.h} * in.w != 1 && in.c != row;
  if (wrap) {
    // Softmax over every element: view the tensor as (1, 1, F), then
    // restore the physical shape (the order of elements is kept).
    Tensor flat;
    flat.h = flat.w = 1;
    flat.c = static_cast<int32_t>(in.elements());
    flat.name = n.proto->output(0) + "/flat_in";
    graph_.tensors.push_back(flat);
    Op r1;
    r1.kind = OpKind::kReshape;
    r1.name = n.name + "/flatten";
    r1.onnx_op = n.op;
    r1.inputs = {src};
    r1.output = static_cast<int32_t>(graph_.tensors.size() - 1);
    src = r1.output;
    TF_RETURN_IF_ERROR(AddOp(std::move(r1)).status());
  }
  Tensor t = graph_.tensors[static_cast<size_t>(src)];
  t.fixed.reset();
  t.name = n.proto->output(0) + (wrap ? "/flat_out" : "");
  graph_.tensors.push_back(t);
  op.inputs = {src};
  op.output = static_cast<int32_t>(graph_.tensors.size() - 1);
  int32_t out = op.output;
  TF_RETURN_IF_ERROR(AddOp(std::move(op)).status());
  if (wrap) {
    Tensor back = graph_.tensors[static_cast<size_t>(x.tensor)];
    back.fixed.reset();
    graph_.tensors.push_back(back);
    Op r2;
    r2.kind = OpKind::kReshape;
    r2.name = n.name + "/restore";
    r2.onnx_op = n.op;
    r2.inputs = {out};
    r2.output = static_cast<int32_t>(graph_.tensors.size() - 1);
    out = r2.output;
    TF_RETURN_IF_ERROR(AddOp(std::move(r2)).status());
  }
  x.tensor = out;
  return Define(n, 0, std::move(x));
}

Status Importer::QuantizeLinear(const Node& n) {
  TF_RETURN_IF_ERROR(
      CheckAttributes(n, {"axis", "saturate", "block_size", "output_dtype"}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(int64_t block, AttrInt(n, "block_size", 0));
  if (block != 0) return Unsupported(n, "blocked quantization");
  TF_ASSIGN_OR_RETURN(int64_t out_type, AttrInt(n, "output_dtype", 0));
  TF_ASSIGN_OR_RETURN(const Value* in, Input(n, 0));
  if (in->kind == Value::Kind::kConstant) {
    // Constant folding (weights quantized in the graph).
    TF_ASSIGN_OR_RETURN(auto s, ConstantInput(n, 1));
    if (s->count() != 1) {
      return Unsupported(n, "per-axis QuantizeLinear of a constant");
    }
    if (!(s->values[0] > 0) || !std::isfinite(s->values[0])) {
      return Invalid(n, "scale must be positive and finite");
    }
    auto c = std::make_shared<Constant>(*in->constant);
    int32_t zt = TensorProto::UINT8;
    double zp = 0;
    if (HasInput(n, 2)) {
      TF_ASSIGN_OR_RETURN(auto z, ConstantInput(n, 2));
      if (z->count() != 1) return Unsupported(n, "per-axis zero point");
      if (!IsInt8Type(z->type)) return Unsupported(n, "zero point type");
      zt = z->type;
      zp = z->values[0];
    }
    const double lo = zt == TensorProto::INT8 ? -128 : 0;
    const double hi = zt == TensorProto::INT8 ? 127 : 255;
    for (double& v : c->values) {
      v = std::clamp(std::nearbyint(v / s->values[0]) + zp, lo, hi);
    }
    c->type = zt;
    c->quant.reset();
    Value v;
    v.kind = Value::Kind::kConstant;
    v.constant = c;
    return Define(n, 0, std::move(v));
  }
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0));
  int32_t zp_type;
  TF_ASSIGN_OR_RETURN(QuantParams q, QuantOf(n, 1, 2, &zp_type));
  if (out_type != 0 && out_type != zp_type && HasInput(n, 2)) {
    return Invalid(n, "output_dtype disagrees with the zero point type");
  }
  if (out_type == TensorProto::INT8 && !HasInput(n, 2)) {
    zp_type = TensorProto::INT8;
    q.zero_point = 0;
  }
  if (out_type != 0 && out_type != TensorProto::INT8 &&
      out_type != TensorProto::UINT8) {
    return Unsupported(n, "output type other than uint8 / int8");
  }
  TF_RETURN_IF_ERROR(FixQuant(n, x.tensor, q));
  x.type = zp_type == TensorProto::UINT8 ? ValueType::kUint8 : ValueType::kInt8;
  return Define(n, 0, std::move(x));
}

Status Importer::DequantizeLinear(const Node& n) {
  TF_RETURN_IF_ERROR(CheckAttributes(n, {"axis", "block_size"}));
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  TF_ASSIGN_OR_RETURN(int64_t block, AttrInt(n, "block_size", 0));
  if (block != 0) return Unsupported(n, "blocked quantization");
  TF_ASSIGN_OR_RETURN(const Value* in, Input(n, 0));
  if (in->kind == Value::Kind::kConstant) {
    const Constant& k = *in->constant;
    if (!IsIntegerType(k.type)) {
      return Invalid(n, "dequantizes a non-integer constant");
    }
    TF_ASSIGN_OR_RETURN(auto s, ConstantInput(n, 1));
    std::shared_ptr<const Constant> z;
    if (HasInput(n, 2)) {
      TF_ASSIGN_OR_RETURN(z, ConstantInput(n, 2));
    }
    TF_ASSIGN_OR_RETURN(int64_t axis, AttrInt(n, "axis", 1));
    const int64_t r = static_cast<int64_t>(k.dims.size());
    if (axis < 0) axis += r;
    auto q = std::make_shared<QuantizedConstant>();
    size_t stride = 1, extent = 1;
    if (s->count() != 1) {
      if (axis < 0 || axis >= r ||
          s->count() != k.dims[static_cast<size_t>(axis)]) {
        return Invalid(n, "scale count does not match the axis");
      }
      extent = static_cast<size_t>(k.dims[static_cast<size_t>(axis)]);
      for (int64_t i = axis + 1; i < r; ++i)
        stride *= static_cast<size_t>(k.dims[static_cast<size_t>(i)]);
    }
    if (z && (z->count() != s->count() || !IsIntegerType(z->type))) {
      return Invalid(n, "zero points must be integers, one per scale");
    }
    q->axis = axis;
    for (int64_t i = 0; i < s->count(); ++i) {
      const double sv = s->values[static_cast<size_t>(i)];
      if (!(sv > 0) || !std::isfinite(sv)) {
        return Invalid(n, "scales must be positive and finite");
      }
      q->scale.push_back(static_cast<float>(sv));
      int64_t zero = 0;
      if (z && !AsInt(z->values[static_cast<size_t>(i)], &zero)) {
        return Invalid(n, "zero point out of range");
      }
      q->zero.push_back(zero);
    }
    auto c = std::make_shared<Constant>();
    c->type = TensorProto::FLOAT;
    c->dims = k.dims;
    c->values.resize(k.values.size());
    q->q.resize(k.values.size());
    for (size_t i = 0; i < k.values.size(); ++i) {
      const size_t a = extent == 1 ? 0 : (i / stride) % extent;
      if (!AsInt(k.values[i], &q->q[i])) {
        return Invalid(n, "integer constant out of range");
      }
      c->values[i] = static_cast<double>(q->scale[a]) *
                     static_cast<double>(q->q[i] - q->zero[a]);
    }
    c->quant = q;
    Value v;
    v.kind = Value::Kind::kConstant;
    v.constant = c;
    return Define(n, 0, std::move(v));
  }
  TF_ASSIGN_OR_RETURN(Value x, Activation(n, 0, /*float_only=*/false));
  if (x.type == ValueType::kFloat) {
    return Invalid(n, "dequantizes a float value");
  }
  int32_t zp_type;
  TF_ASSIGN_OR_RETURN(QuantParams q, QuantOf(n, 1, 2, &zp_type));
  if ((zp_type == TensorProto::UINT8) != (x.type == ValueType::kUint8) &&
      HasInput(n, 2)) {
    return Invalid(n, "zero point type differs from the input's");
  }
  TF_RETURN_IF_ERROR(FixQuant(n, x.tensor, q));
  x.type = ValueType::kFloat;
  return Define(n, 0, std::move(x));
}

Status Importer::ConstantNode(const Node& n) {
  TF_RETURN_IF_ERROR(CheckAttributes(
      n, {"value", "value_float", "value_floats", "value_int", "value_ints"}));
  if (n.proto->attribute_size() != 1) {
    return Invalid(n, "needs exactly one value attribute");
  }
  const AttributeProto& a = n.proto->attribute(0);
  std::shared_ptr<Constant> c;
  if (a.name() == "value") {
    TF_ASSIGN_OR_RETURN(c, ReadTensor(a.t(), "node '" + n.name + "' value"));
  } else {
    c = std::make_shared<Constant>();
    if (a.name() == "value_float") {
      c->values = {a.f()};
    } else if (a.name() == "value_int") {
      c->type = TensorProto::INT64;
      c->values = {static_cast<double>(a.i())};
    } else if (a.name() == "value_floats") {
      c->dims = {a.floats_size()};
      c->values.assign(a.floats().begin(), a.floats().end());
    } else {
      c->type = TensorProto::INT64;
      c->dims = {a.ints_size()};
      for (int64_t v : a.ints()) c->values.push_back(static_cast<double>(v));
    }
  }
  TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  Value v;
  v.kind = Value::Kind::kConstant;
  v.constant = c;
  return Define(n, 0, std::move(v));
}

Status Importer::Alias(const Node& n) {
  if (n.op == "Dropout") {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {"ratio", "seed", "is_test"}));
    if (HasInput(n, 2)) {
      TF_ASSIGN_OR_RETURN(double training, ScalarInput(n, 2, 0));
      if (training != 0) {
        return Unsupported(n, "training_mode = true is not supported");
      }
    }
    TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  } else {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {}));
    TF_RETURN_IF_ERROR(CheckOutputs(n, 1));
  }
  TF_ASSIGN_OR_RETURN(const Value* in, Input(n, 0));
  Value v = *in;
  return Define(n, 0, std::move(v));
}

Status Importer::ImportNode(const Node& n) {
  const std::string& domain = n.proto->domain();
  if (!domain.empty() && domain != "ai.onnx") {
    return Unsupported(n, "op '" + n.op + "' of domain '" + domain +
                              "' is not supported (only the default ONNX "
                              "domain)");
  }
  const std::string& op = n.op;
  if (op == "Conv") return Conv(n, false);
  if (op == "QLinearConv") return Conv(n, true);
  if (op == "Gemm") return Dense(n, true, false);
  if (op == "MatMul") return Dense(n, false, false);
  if (op == "QLinearMatMul") return Dense(n, false, true);
  if (op == "Relu") {
    TF_RETURN_IF_ERROR(CheckAttributes(n, {"consumed_inputs"}));
    return Clamp(n, 0.0f, kNoUpper);
  }
  if (op == "Clip") return Clip(n);
  if (op == "BatchNormalization") return BatchNorm(n);
  if (op == "Add") return Add(n);
  if (op == "AveragePool") return Pool(n, false);
  if (op == "MaxPool") return Pool(n, true);
  if (op == "GlobalAveragePool") return GlobalAvgPool(n);
  if (op == "Flatten") return Flatten(n);
  if (op == "Reshape") return Reshape(n);
  if (op == "Softmax") return Softmax(n);
  if (op == "QuantizeLinear") return QuantizeLinear(n);
  if (op == "DequantizeLinear") return DequantizeLinear(n);
  if (op == "Constant") return ConstantNode(n);
  if (op == "Identity" || op == "Dropout") return Alias(n);
  return Unsupported(
      n, "op '" + op +
             "' is not supported; supported ops: Conv, Gemm, MatMul, Relu, "
             "Clip, BatchNormalization, Add, AveragePool, MaxPool, "
             "GlobalAveragePool, Flatten, Reshape, Softmax, QuantizeLinear, "
             "DequantizeLinear, QLinearConv, QLinearMatMul, Constant, "
             "Identity, Dropout");
}

Result<ImportResult> Importer::Run(const onnx::ModelProto& model) {
  if (!model.has_graph()) {
    return InvalidArgumentError(
        "the model has no graph (empty, truncated "
        "or not an ONNX model)");
  }
  if (model.ir_version() < 3) {
    return FailedPreconditionError(
        "ONNX IR version " + std::to_string(model.ir_version()) +
        " is not supported (3 or later, i.e. models with opset imports)");
  }
  bool have_default = false;
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      have_default = true;
      opset_ = o.version();
    }
  }
  if (!have_default) {
    return InvalidArgumentError(
        "the model imports no opset of the default ONNX domain (truncated "
        "file?)");
  }
  if (opset_ < kMinOpset || opset_ > kMaxOpset) {
    return FailedPreconditionError(
        "opset " + std::to_string(opset_) + " is outside the supported " +
        std::to_string(kMinOpset) + ".." + std::to_string(kMaxOpset));
  }
  const onnx::GraphProto& g = model.graph();
  graph_.opset = opset_;
  graph_.producer = model.producer_name();
  if (g.node_size() > kMaxNodes) {
    return FailedPreconditionError("the graph has more than 4096 nodes");
  }
  for (const auto& init : g.initializer()) {
    if (init.name().empty()) {
      return InvalidArgumentError("an initializer has no name");
    }
    TF_ASSIGN_OR_RETURN(auto c,
                        ReadTensor(init, "initializer '" + init.name() + "'"));
    Value v;
    v.kind = Value::Kind::kConstant;
    v.constant = c;
    if (!values_.emplace(init.name(), std::move(v)).second) {
      return InvalidArgumentError("initializer '" + init.name() +
                                  "' is defined twice");
    }
  }
  if (g.sparse_initializer_size() != 0) {
    return FailedPreconditionError("sparse initializers are not supported");
  }
  // The graph input: every input that is not an initializer.
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& in : g.input()) {
    if (!values_.count(in.name())) inputs.push_back(&in);
  }
  if (inputs.size() != 1) {
    std::string names;
    for (auto* in : inputs) names += (names.empty() ? "" : ", ") + in->name();
    return FailedPreconditionError(
        "the graph has " + std::to_string(inputs.size()) + " inputs" +
        (names.empty() ? "" : " (" + names + ")") +
        "; the node runtime runs models with exactly one input");
  }
  if (g.output_size() != 1) {
    return FailedPreconditionError(
        "the graph has " + std::to_string(g.output_size()) +
        " outputs; the node runtime runs models with exactly one output");
  }
  const onnx::ValueInfoProto& in = *inputs[0];
  if (in.name().empty()) return InvalidArgumentError("the input has no name");
  if (!in.type().has_tensor_type() || !in.type().tensor_type().has_shape()) {
    return FailedPreconditionError("graph input '" + in.name() +
                                   "' has no tensor shape; static shapes "
                                   "are required");
  }
  const auto& tt = in.type().tensor_type();
  std::vector<int64_t> dims;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value() && d.dim_value() < 1) {
      return FailedPreconditionError("graph input '" + in.name() +
                                     "' has an empty dimension (" +
                                     std::to_string(d.dim_value()) + ")");
    }
    if (!d.has_dim_value()) {
      return FailedPreconditionError(
          "graph input '" + in.name() + "' has a dynamic dimension" +
          (d.has_dim_param() ? " '" + d.dim_param() + "'" : "") +
          "; export the model with static shapes and batch 1");
    }
    dims.push_back(d.dim_value());
  }
  Tensor t;
  t.name = in.name();
  if (!NaturalShape(dims, &t.h, &t.w, &t.c)) {
    return FailedPreconditionError("graph input '" + in.name() +
                                   "' has shape " + DimsString(dims) +
                                   "; the node runtime takes batch 1 with at "
                                   "most 4 dimensions ([1,C,H,W], "
                                   "[1,C,L], [1,F] or [F])");
  }
  if (t.elements() > kMaxTensorElements) {
    return FailedPreconditionError("graph input has more than 2^24 elements");
  }
  Value iv;
  iv.kind = Value::Kind::kActivation;
  iv.dims = dims;
  switch (tt.elem_type()) {
    case TensorProto::FLOAT:
      iv.type = ValueType::kFloat;
      break;
    case TensorProto::UINT8:
      iv.type = ValueType::kUint8;
      break;
    case TensorProto::INT8:
      iv.type = ValueType::kInt8;
      break;
    default:
      return FailedPreconditionError(
          "graph input '" + in.name() + "' has element type " +
          TypeName(tt.elem_type()) + "; float, uint8 or int8 is needed");
  }
  graph_.tensors.push_back(std::move(t));
  iv.tensor = 0;
  graph_.input = 0;
  graph_.input_name = in.name();
  graph_.input_dims = dims;
  graph_.input_type = iv.type;
  values_.emplace(in.name(), iv);

  for (int i = 0; i < g.node_size(); ++i) {
    const NodeProto& np = g.node(i);
    Node n{
        &np,
        np.name().empty() ? np.op_type() + "#" + std::to_string(i) : np.name(),
        np.op_type(), i};
    TF_RETURN_IF_ERROR(ImportNode(n));
  }

  const onnx::ValueInfoProto& out = g.output(0);
  auto it = values_.find(out.name());
  if (it == values_.end()) {
    return InvalidArgumentError("graph output '" + out.name() +
                                "' is not produced by any node");
  }
  if (it->second.kind != Value::Kind::kActivation) {
    return FailedPreconditionError("graph output '" + out.name() +
                                   "' does not depend on the input");
  }
  Value ov = it->second;
  if (out.type().has_tensor_type() && out.type().tensor_type().has_shape()) {
    const auto& shape = out.type().tensor_type().shape();
    bool match = shape.dim_size() == static_cast<int>(ov.dims.size());
    for (int i = 0; match && i < shape.dim_size(); ++i) {
      if (shape.dim(i).has_dim_value() &&
          shape.dim(i).dim_value() != ov.dims[static_cast<size_t>(i)]) {
        match = false;
      }
    }
    if (!match) {
      return InvalidArgumentError("graph output '" + out.name() +
                                  "' is declared with another shape than " +
                                  DimsString(ov.dims) + ", which it has");
    }
  }
  if (ov.tensor == graph_.input) {
    // The runtime needs at least one op and distinct input and output.
    Op op;
    op.kind = OpKind::kReshape;
    op.name = "identity";
    op.onnx_op = "Identity";
    Tensor copy = graph_.tensors[0];
    copy.name = out.name();
    graph_.tensors.push_back(copy);
    op.inputs = {0};
    op.output = static_cast<int32_t>(graph_.tensors.size() - 1);
    ov.tensor = op.output;
    graph_.ops.push_back(std::move(op));
  }
  graph_.output = ov.tensor;
  graph_.output_name = out.name();
  graph_.output_dims = ov.dims;
  graph_.output_type = ov.type;
  // Quantized boundary values need their scale from the model.
  if (graph_.input_type != ValueType::kFloat && !graph_.tensors[0].fixed) {
    return FailedPreconditionError(
        "graph input '" + graph_.input_name +
        "' holds integer codes but no QuantizeLinear, DequantizeLinear or "
        "QLinear op gives its scale");
  }
  TF_RETURN_IF_ERROR(Optimize(&graph_));
  ImportResult r;
  r.graph = std::move(graph_);
  r.warnings = std::move(warnings_);
  return r;
}

}  // namespace

Result<ImportResult> ImportOnnx(std::string_view onnx) {
  if (onnx.empty()) {
    return InvalidArgumentError("the ONNX model is empty");
  }
  if (static_cast<int64_t>(onnx.size()) > kMaxModelBytes) {
    return InvalidArgumentError("the ONNX model is larger than 256 MiB");
  }
  onnx::ModelProto model;
  bool parsed = false;
  try {
    parsed = model.ParseFromArray(onnx.data(), static_cast<int>(onnx.size()));
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("ONNX parse failed: ") + e.what());
  }
  if (!parsed) {
    return InvalidArgumentError(
        "not a valid ONNX model: the protobuf does not parse (malformed or "
        "truncated)");
  }
  Importer importer;
  try {
    return importer.Run(model);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory while importing the model");
  }
}

}  // namespace tinyfleet::models
