// Blob description and InspectBlob (see report.h).
#include "server/models/report.h"

#include <cstring>
#include <vector>

#include "common/encoding.h"
#include "server/models/runner.h"

namespace tinyfleet::models {
namespace {

void PutU16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v & 0xFF));
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
}

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutSection(std::string* s, uint32_t type, const uint8_t* p,
                uint32_t size) {
  if (p == nullptr) return;
  PutU16(s, type);
  PutU32(s, size);
  s->append(reinterpret_cast<const char*>(p), size);
}

}  // namespace

const char* RuntimeOpName(uint32_t type) {
  switch (type) {
    case TN_OP_CONV2D:
      return "CONV2D";
    case TN_OP_DWCONV2D:
      return "DWCONV2D";
    case TN_OP_PWCONV:
      return "PWCONV";
    case TN_OP_FC:
      return "FC";
    case TN_OP_MAXPOOL:
      return "MAXPOOL";
    case TN_OP_AVGPOOL:
      return "AVGPOOL";
    case TN_OP_GLOBAL_AVGPOOL:
      return "GLOBAL_AVGPOOL";
    case TN_OP_ADD:
      return "ADD";
    case TN_OP_RESHAPE:
      return "RESHAPE";
    case TN_OP_SOFTMAX:
      return "SOFTMAX";
    case TN_OP_DEQUANTIZE:
      return "DEQUANTIZE";
    case TN_OP_PWCONV_F32:
      return "PWCONV_F32";
    case TN_OP_FC_F32:
      return "FC_F32";
    case TN_OP_RELU_F32:
      return "RELU_F32";
    case TN_OP_AVGPOOL_F32:
      return "AVGPOOL_F32";
  }
  return "?";
}

Result<uint64_t> TailTrainingBytes(const tn_graph_desc& g, uint32_t first_op,
                                   uint32_t cut_tensor) {
  std::vector<tn_tail_layer> layers;
  for (uint32_t i = first_op + 1; i < g.op_count; ++i) {
    const tn_op_desc& op = g.ops[i];
    tn_tail_layer l{};
    switch (op.type) {
      case TN_OP_FC_F32:
        l.op = TN_TAIL_FC;
        l.out_c = static_cast<uint16_t>(g.tensors[op.output].c);
        break;
      case TN_OP_PWCONV_F32:
        l.op = TN_TAIL_POINTWISE;
        l.out_c = static_cast<uint16_t>(g.tensors[op.output].c);
        break;
      case TN_OP_RELU_F32:
        l.op = TN_TAIL_RELU;
        break;
      case TN_OP_AVGPOOL_F32:
        l.op = TN_TAIL_AVGPOOL;
        l.kernel_h = op.kernel_h;
        l.kernel_w = op.kernel_w;
        l.stride_h = op.stride_h;
        l.stride_w = op.stride_w;
        break;
      default:
        return InternalError("unexpected op in the FP32 tail");
    }
    layers.push_back(l);
  }
  if (layers.size() > TN_TAIL_MAX_LAYERS) {
    return FailedPreconditionError("the FP32 tail has " +
                                   std::to_string(layers.size()) +
                                   " layers; on-device training supports 16");
  }
  const tn_tensor_desc& cut = g.tensors[cut_tensor];
  tn_train_shape in{static_cast<uint16_t>(cut.h), static_cast<uint16_t>(cut.w),
                    static_cast<uint16_t>(cut.c)};
  tn_tail tail;
  tn_status st = tn_tail_init(&tail, layers.data(),
                              static_cast<uint32_t>(layers.size()), in);
  if (st != TN_OK) return RuntimeError(st, "trainable tail");
  tn_tail_sizes s;
  st = tn_tail_buffer_sizes(&tail, &s);
  if (st != TN_OK) return RuntimeError(st, "trainable tail sizes");
  return static_cast<uint64_t>(s.grads + s.momentum + s.activations +
                               s.scratch);
}

std::string FrozenSha256(const tn_blob& b) {
  std::string s = "tinyfleet-frozen-v1";
  PutU16(&s, static_cast<uint32_t>(b.target));
  const uint32_t graph_size = 16u + 24u * b.tensor_count + 48u * b.op_count;
  const uint32_t plan_size = 32u + 12u * b.tensor_count + 12u * b.op_count;
  PutSection(&s, TN_SECTION_GRAPH, b.graph, graph_size);
  PutSection(&s, TN_SECTION_WEIGHTS, b.weights, b.weights_size);
  PutSection(&s, TN_SECTION_QUANT, b.quant, b.quant_size);
  PutSection(&s, TN_SECTION_MEMORY_PLAN, b.plan, plan_size);
  if (b.has_tail && b.tail_params != nullptr) {
    PutSection(&s, TN_SECTION_TAIL, b.tail_params - 16, 16);
  }
  return Sha256Hex(s);
}

Status DescribeBlob(std::string_view bytes, ModelReport* r) {
  tn_blob b;
  tn_status st = tn_blob_parse(reinterpret_cast<const uint8_t*>(bytes.data()),
                               bytes.size(), nullptr, &b);
  if (st != TN_OK) return RuntimeError(st, "invalid model blob");
  std::vector<tn_tensor_desc> tensors(b.tensor_count);
  std::vector<tn_op_desc> ops(b.op_count);
  std::vector<tn_tile> tiles(b.op_count);
  tn_graph_desc g;
  st = tn_blob_graph(&b, tensors.data(), b.tensor_count, ops.data(), b.op_count,
                     &g);
  if (st != TN_OK) return RuntimeError(st, "blob graph");
  for (uint32_t i = 0; i < b.op_count; ++i)
    (void)tn_blob_tile(&b, i, &tiles[i]);
  tn_target_profile profile;
  if (tn_target_profile_get(b.target, &profile) != TN_OK) {
    return InvalidArgumentError("blob for an unknown target");
  }
  r->target = static_cast<Target>(b.target);
  r->blob_bytes = b.size;
  r->flash_bytes = b.size;
  r->l2_arena_bytes = b.l2_arena_bytes;
  r->l2_required_bytes =
      uint64_t{b.l2_arena_bytes} + b.quant_size + b.tail_param_bytes;
  r->l1_tile_bytes = b.l1_tile_bytes;
  r->weight_bytes = b.weights_size;
  r->tail_param_bytes = b.tail_param_bytes;
  r->tail_training_bytes = 0;
  if (b.has_tail) {
    TF_ASSIGN_OR_RETURN(r->tail_training_bytes,
                        TailTrainingBytes(g, b.tail_first_op, b.cut_tensor));
  }
  r->ram_bytes = r->l2_required_bytes + r->tail_training_bytes;
  r->flash_budget_bytes = profile.nvm_bytes;
  r->ram_budget_bytes = profile.l2_bytes;

  const tn_cost_profile* gap9 = tn_cost_profile_gap9();
  tn_model_cost mc;
  st = tn_cost_model(&g, tiles.data(), b.tail_first_op, gap9, &mc);
  if (st != TN_OK) return RuntimeError(st, "cost model");
  r->macs = mc.macs;
  r->cycles = mc.cycles;
  r->latency_ms = static_cast<double>(mc.cycles) / (gap9->freq_mhz * 1000.0);
  r->energy_uj = static_cast<double>(mc.energy_pj) / 1e6;
  r->train_step_cycles = mc.train_step_cycles;
  r->layers.clear();
  for (uint32_t i = 0; i < b.op_count; ++i) {
    const tn_op_desc& op = ops[i];
    const tn_tensor_desc& out = tensors[op.output];
    tn_layer_cost lc;
    st = tn_cost_layer(&g, i, &tiles[i], gap9, &lc);
    if (st != TN_OK) return RuntimeError(st, "layer cost");
    LayerReport l;
    l.name = "op" + std::to_string(i);
    l.op = RuntimeOpName(op.type);
    l.output_shape = {out.h, out.w, out.c};
    l.macs = lc.macs;
    l.weight_bits = op.weight_bits;
    l.weight_bytes = op.weights_size;
    l.cycles = lc.cycles;
    l.energy_uj = static_cast<double>(lc.energy_pj) / 1e6;
    l.tiles = lc.tiles;
    l.trainable = op.type == TN_OP_PWCONV_F32 || op.type == TN_OP_FC_F32;
    r->layers.push_back(std::move(l));
  }
  r->tail_layers = b.has_tail ? b.trainable_layers : 0;
  r->cut_tensor = b.has_tail ? "t" + std::to_string(b.cut_tensor) : "";
  r->blob_digest = HexEncode(std::span<const uint8_t>(b.digest, 32));
  r->frozen_sha256 = FrozenSha256(b);
  const tn_tensor_desc& in = tensors[b.input_tensor];
  const tn_tensor_desc& out = tensors[b.output_tensor];
  r->input_shape = {1, in.c, in.h, in.w};
  r->output_shape = {1, out.c, out.h, out.w};
  r->input_scale = in.scale;
  r->input_zero_point = in.zero_point;
  r->signed_blob = (b.flags & TN_BLOB_FLAG_SIGNED) != 0;
  return Status::Ok();
}

Result<CompiledModel> InspectBlob(std::string_view blob) {
  CompiledModel m;
  TF_RETURN_IF_ERROR(DescribeBlob(blob, &m.report));
  m.blob.assign(blob.data(), blob.size());
  return m;
}

}  // namespace tinyfleet::models
