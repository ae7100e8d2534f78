// CompileOnnx: import, calibrate, quantize, choose the tail, fit the memory
// budgets with mixed precision, plan, build and describe the blob.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "server/models/calibrate.h"
#include "server/models/float_executor.h"
#include "server/models/lowering.h"
#include "server/models/models.h"
#include "server/models/onnx_importer.h"
#include "server/models/report.h"
#include "server/models/runner.h"

namespace tinyfleet::models {
namespace {

std::string DimsText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    s += (i ? "," : "") + std::to_string(dims[i]);
  }
  return s + "]";
}

std::vector<int64_t> Squeeze(const std::vector<int64_t>& dims) {
  std::vector<int64_t> out;
  for (int64_t d : dims) {
    if (d != 1) out.push_back(d);
  }
  return out;
}

// The samples of `data` must match the model input (batch aside).
Status CheckSamples(const Graph& g, const Dataset& data, const char* what) {
  int64_t elements = 1;
  for (int64_t d : g.input_dims) elements *= d;
  std::vector<int64_t> sample = g.input_dims;
  if (sample.size() >= 2) sample.erase(sample.begin());
  if (static_cast<int64_t>(data.sample_size()) != elements ||
      Squeeze(data.sample_dims()) != Squeeze(sample)) {
    return InvalidArgumentError(
        std::string(what) + " samples have shape " +
        DimsText(data.sample_dims()) + " (" +
        std::to_string(data.sample_size()) + " values); the model input '" +
        g.input_name + "' is " + DimsText(g.input_dims) + " (" +
        std::to_string(elements) + " values)");
  }
  if (data.empty()) {
    return InvalidArgumentError(std::string(what) + " set is empty");
  }
  return Status::Ok();
}

// Index of the first IR op of a tail with `k` weighted layers; -1 for k 0.
Result<int32_t> ChooseTail(const Graph& g, uint32_t k) {
  if (k == 0) return -1;
  uint32_t seen = 0;
  for (int32_t i = static_cast<int32_t>(g.ops.size()); i-- > 0;) {
    if (IsWeighted(g.ops[static_cast<size_t>(i)].kind) && ++seen == k) {
      return i;
    }
  }
  return FailedPreconditionError(
      "a trainable tail of " + std::to_string(k) +
      " layers was requested; the model has " + std::to_string(seen) +
      " layers with weights");
}

struct Measured {
  std::string blob;  // empty when the plan failed
  uint64_t flash = 0;
  uint64_t ram = 0;  // l2 required + tail training
  bool plan_failed_l1 = false;
  std::string l1_op;
  uint64_t l1_overshoot = 0;
};

class Compiler {
 public:
  Compiler(const Graph& g, const CompileOptions& o, tn_target target,
           const tn_target_profile& profile)
      : g_(g), opt_(o), target_(target), profile_(profile) {}

  // Builds the blob of `L`; with `canary` the self-test pair of that input.
  Result<Measured> Build(Lowered& L, const std::vector<int8_t>* canary);

 private:
  const Graph& g_;
  const CompileOptions& opt_;
  tn_target target_;
  tn_target_profile profile_;
};

Result<Measured> Compiler::Build(Lowered& L,
                                 const std::vector<int8_t>* canary) {
  Measured m;
  tn_graph_desc g = L.GraphDesc();
  const tn_tail_desc* tail = L.TailDesc();
  std::vector<tn_placement> placements(g.tensor_count);
  std::vector<tn_tile> tiles(g.op_count);
  tn_memory_plan plan{};
  tn_plan_report report{};
  const tn_status plan_st =
      tn_plan_memory(&g, tail, target_, nullptr, placements.data(),
                     tiles.data(), &plan, &report);
  tn_status st = plan_st;
  uint64_t training = 0;
  if (L.has_tail) {
    TF_ASSIGN_OR_RETURN(training,
                        TailTrainingBytes(g, L.tail.first_op, L.tail.cut_tensor));
  }
  m.ram = uint64_t{report.l2_required} + training;
  tn_blob_header_desc hdr{};
  hdr.target = target_;
  std::memcpy(hdr.model_id, opt_.model_id.data(), 16);
  hdr.model_version = opt_.model_version;
  hdr.rollback_counter = opt_.rollback_counter;
  tn_blob_builder b;
  (void)tn_blob_builder_init(&b, &hdr);
  if (plan_st == TN_ERR_MEMORY_BUDGET) {
    if (report.failed_level == TN_MEM_L1) {
      m.plan_failed_l1 = true;
      m.l1_overshoot = report.overshoot_bytes;
      m.l1_op = report.failed_op < L.op_names.size()
                    ? L.op_names[report.failed_op]
                    : "?";
    }
    // Size the blob with a placeholder plan so flash can still be told.
    plan.target = target_;
    plan.placements = placements.data();
    plan.tiles = tiles.data();
  } else if (plan_st != TN_OK) {
    return RuntimeError(plan_st, "memory planning");
  }
  const tn_status gs = tn_blob_builder_set_graph(&b, &g);
  if (gs != TN_OK) return RuntimeError(gs, "blob graph");
  (void)tn_blob_builder_set_plan(&b, &plan);
  if (!L.weights.empty()) {
    (void)tn_blob_builder_set_weights(&b, L.weights.data(),
                                      static_cast<uint32_t>(L.weights.size()));
  }
  if (!L.quant.empty()) {
    (void)tn_blob_builder_set_quant(&b, L.quant.data(),
                                    static_cast<uint32_t>(L.quant.size()));
  }
  if (tail) (void)tn_blob_builder_set_tail(&b, tail);
  tn_model_cost cost{};
  std::vector<uint8_t> zeros_in, zeros_out;
  const tn_tensor_desc& in_t = L.tensors[L.input];
  const tn_tensor_desc& out_t = L.tensors[L.output];
  const uint32_t in_bytes = in_t.h * in_t.w * in_t.c;
  const uint32_t out_bytes = out_t.h * out_t.w * out_t.c *
                             (out_t.dtype == TN_DTYPE_FLOAT32 ? 4u : 1u);
  if (plan_st == TN_OK) {
    tn_status cs = tn_cost_model(&g, tiles.data(),
                                 tail ? tail->first_op : g.op_count,
                                 tn_cost_profile_gap9(), &cost);
    if (cs != TN_OK) return RuntimeError(cs, "cost model");
  } else {
    cost.macs = 0;
    for (uint32_t i = 0; i < g.op_count; ++i) cost.macs += tn_op_macs(&g, i);
  }
  tn_blob_metadata meta{cost.macs, cost.cycles, cost.energy_pj};
  (void)tn_blob_builder_set_metadata(&b, &meta);
  if (opt_.reserve_signature) (void)tn_blob_builder_reserve_signature(&b);
  // The canary's size is known before its contents.
  zeros_in.assign(in_bytes, 0);
  zeros_out.assign(out_bytes, 0);
  (void)tn_blob_builder_set_canary(&b, zeros_in.data(), in_bytes,
                                   zeros_out.data(), out_bytes);
  size_t size = 0;
  st = tn_blob_builder_size(&b, &size);
  if (st != TN_OK) return RuntimeError(st, "blob size");
  m.flash = size;
  if (plan_st != TN_OK) return m;  // did not fit: sized, but no blob
  // First build without a canary, run it on the canary input, then build
  // again with the executor's own output as the expected one.
  b.canary_input = nullptr;
  b.canary_input_size = 0;
  b.canary_output = nullptr;
  b.canary_output_size = 0;
  size_t size0 = 0;
  st = tn_blob_builder_size(&b, &size0);
  if (st != TN_OK) return RuntimeError(st, "blob size");
  std::string blob0(size0, '\0');
  size_t written = 0;
  st = tn_blob_builder_finish(&b, reinterpret_cast<uint8_t*>(blob0.data()),
                              blob0.size(), &written);
  if (st != TN_OK) return RuntimeError(st, "blob build");
  if (canary == nullptr) {
    m.blob = std::move(blob0);
    m.flash = m.blob.size();
    return m;
  }
  TF_ASSIGN_OR_RETURN(auto runner, BlobRunner::Open(blob0));
  TF_RETURN_IF_ERROR(runner->Run(*canary));
  auto out = runner->OutputBytes();
  std::vector<uint8_t> expected(out.begin(), out.end());
  (void)tn_blob_builder_set_canary(&b, canary->data(),
                                   static_cast<uint32_t>(canary->size()),
                                   expected.data(),
                                   static_cast<uint32_t>(expected.size()));
  m.blob.assign(size, '\0');
  st = tn_blob_builder_finish(&b, reinterpret_cast<uint8_t*>(m.blob.data()),
                              m.blob.size(), &written);
  if (st != TN_OK) return RuntimeError(st, "blob build");
  return m;
}

// Top-1 predictions of a blob on the first `n` samples.
Result<std::vector<int32_t>> PredictBlob(const std::string& blob,
                                         const Dataset& data, size_t n) {
  TF_ASSIGN_OR_RETURN(auto runner, BlobRunner::Open(blob));
  std::vector<int32_t> preds(n);
  for (size_t i = 0; i < n; ++i) {
    TF_RETURN_IF_ERROR(runner->Run(runner->InputCodes(data, i, nullptr)));
    preds[i] = ArgMax(runner->OutputOnnx());
  }
  return preds;
}

double Score(const std::vector<int32_t>& preds, const Dataset& data,
             const std::vector<int32_t>& float_preds) {
  if (preds.empty()) return 0;
  size_t good = 0;
  for (size_t i = 0; i < preds.size(); ++i) {
    const int32_t want = data.labelled() ? data.label(i) : float_preds[i];
    good += preds[i] == want ? 1 : 0;
  }
  return static_cast<double>(good) / static_cast<double>(preds.size());
}

std::string Bytes(uint64_t v) { return std::to_string(v) + " B"; }

}  // namespace

std::string_view TargetName(Target target) {
  switch (target) {
    case Target::kHost:
      return "host";
    case Target::kGap8:
      return "gap8";
    case Target::kGap9:
      return "gap9";
  }
  return "?";
}

Result<Target> ParseTarget(std::string_view name) {
  if (name == "host") return Target::kHost;
  if (name == "gap8") return Target::kGap8;
  if (name == "gap9") return Target::kGap9;
  return InvalidArgumentError("unknown target '" + std::string(name) +
                              "' (host, gap8 or gap9)");
}

Result<CompiledModel> CompileOnnx(std::string_view onnx,
                                  const Dataset& calibration,
                                  const CompileOptions& options) {
  const tn_target target = static_cast<tn_target>(options.target);
  tn_target_profile profile;
  if (tn_target_profile_get(target, &profile) != TN_OK) {
    return InvalidArgumentError("unknown target profile");
  }
  if (options.calibration == Calibration::kPercentile &&
      (!(options.percentile > 50.0) || options.percentile > 100.0)) {
    return InvalidArgumentError("percentile must be in (50, 100]");
  }
  TF_ASSIGN_OR_RETURN(ImportResult imported, ImportOnnx(onnx));
  const Graph& g = imported.graph;
  TF_RETURN_IF_ERROR(CheckSamples(g, calibration, "calibration"));
  const Dataset& eval = options.validation ? *options.validation : calibration;
  if (options.validation) {
    TF_RETURN_IF_ERROR(CheckSamples(g, eval, "validation"));
  }
  // Budgets: the user's, capped by the target's memories.
  uint64_t flash_budget = profile.nvm_bytes;
  if (options.flash_budget_bytes != 0) {
    flash_budget = flash_budget == 0
                       ? options.flash_budget_bytes
                       : std::min<uint64_t>(flash_budget,
                                            options.flash_budget_bytes);
  }
  uint64_t ram_budget = profile.l2_bytes;
  if (options.ram_budget_bytes != 0) {
    ram_budget = std::min<uint64_t>(ram_budget, options.ram_budget_bytes);
  }

  // Calibration and quantization parameters.
  TF_ASSIGN_OR_RETURN(
      std::vector<TensorRange> ranges,
      Calibrate(g, calibration, options.calibration, options.percentile,
                options.max_calibration_samples));
  std::optional<QuantParams> input_q;
  if (calibration.encoding()) {
    input_q = QuantParams{calibration.encoding()->scale,
                          calibration.encoding()->zero_point};
  }
  TF_ASSIGN_OR_RETURN(std::vector<QuantParams> quant,
                      AssignQuantization(g, ranges, input_q));
  TF_ASSIGN_OR_RETURN(int32_t tail_first,
                      ChooseTail(g, options.trainable_tail_layers));

  // Float predictions on the evaluation set.
  const size_t n_eval = eval.size();
  std::vector<int32_t> float_preds(n_eval);
  {
    FloatExecutor exec(g);
    for (size_t i = 0; i < n_eval; ++i) {
      TF_RETURN_IF_ERROR(exec.Run(eval.sample(i)));
      float_preds[i] = ArgMax(exec.OutputOnnx());
    }
  }

  LowerOptions lo;
  lo.tail_first_op = tail_first;
  lo.weight_bits.assign(g.ops.size(), 8);
  Compiler compiler(g, options, target, profile);
  TF_ASSIGN_OR_RETURN(Lowered L, Lower(g, quant, lo));
  // Canary input: the first calibration sample.
  std::vector<int8_t> canary;
  {
    TF_ASSIGN_OR_RETURN(Measured probe, compiler.Build(L, nullptr));
    if (!probe.blob.empty()) {
      TF_ASSIGN_OR_RETURN(auto runner, BlobRunner::Open(probe.blob));
      canary = runner->InputCodes(calibration, 0, nullptr);
    }
  }

  ModelReport report;
  const bool labelled = eval.labelled();
  report.accuracy_metric = labelled ? "accuracy" : "agreement";
  report.accuracy_samples = static_cast<uint32_t>(n_eval);
  {
    size_t good = 0;
    for (size_t i = 0; i < n_eval; ++i) {
      good += labelled ? (float_preds[i] == eval.label(i) ? 1 : 0) : 1;
    }
    report.float_accuracy =
        n_eval ? static_cast<double>(good) / static_cast<double>(n_eval) : 0;
  }

  auto fail_budget = [&](const Measured& m, bool at_two_bits) -> Status {
    std::string msg = std::string("the model does not fit the ") +
                      std::string(TargetName(options.target)) + " budgets" +
                      (at_two_bits ? " even with every weight at 2 bits" : "") +
                      ":";
    bool any = false;
    if (flash_budget != 0 && m.flash > flash_budget) {
      msg += " flash " + Bytes(m.flash) + " > budget " + Bytes(flash_budget) +
             " (over by " + Bytes(m.flash - flash_budget) + ")";
      any = true;
    }
    if (m.plan_failed_l1) {
      msg += std::string(any ? ";" : "") + " L1: layer '" + m.l1_op +
             "' needs " + Bytes(m.l1_overshoot) +
             " more than L1 even in 1 x 1 tiles";
      any = true;
    } else if (m.ram > ram_budget) {
      msg += std::string(any ? ";" : "") + " RAM " + Bytes(m.ram) +
             " > budget " + Bytes(ram_budget) + " (over by " +
             Bytes(m.ram - ram_budget) +
             "; weight bits do not change RAM: activations are int8 and "
             "weights stream from flash)";
      any = true;
    }
    if (!any) msg += " (no overshoot found)";
    return FailedPreconditionError(msg);
  };
  auto fits = [&](const Measured& m) {
    return !m.blob.empty() && !m.plan_failed_l1 && m.ram <= ram_budget &&
           (flash_budget == 0 || m.flash <= flash_budget);
  };

  const std::vector<int8_t>* canary_ptr = canary.empty() ? nullptr : &canary;
  TF_ASSIGN_OR_RETURN(Measured cur, compiler.Build(L, canary_ptr));
  auto accuracy_of = [&](const Measured& m) -> Result<double> {
    TF_ASSIGN_OR_RETURN(auto preds, PredictBlob(m.blob, eval, n_eval));
    return Score(preds, eval, float_preds);
  };
  if (!cur.blob.empty()) {
    TF_ASSIGN_OR_RETURN(double acc, accuracy_of(cur));
    report.int8_accuracy = acc;
    report.final_accuracy = acc;
  }
  std::vector<int32_t>& bits = lo.weight_bits;
  while (!fits(cur)) {
    const bool flash_over = flash_budget != 0 && cur.flash > flash_budget;
    const bool ram_over = cur.plan_failed_l1 || cur.ram > ram_budget;
    if (ram_over || !flash_over || !options.mixed_precision) {
      return fail_budget(cur, false);
    }
    // Cut the largest front-end layer that still has bits to lose.
    int32_t best = -1;
    int64_t best_bytes = -1;
    const int32_t front_end =
        tail_first < 0 ? static_cast<int32_t>(g.ops.size()) : tail_first;
    for (int32_t i = 0; i < front_end; ++i) {
      if (!IsWeighted(g.ops[static_cast<size_t>(i)].kind)) continue;
      const int32_t b = bits[static_cast<size_t>(i)];
      if (b <= 2) continue;
      const int64_t bytes = WeightBytes(g, i, b);
      if (bytes > best_bytes) {
        best_bytes = bytes;
        best = i;
      }
    }
    if (best < 0) return fail_budget(cur, true);
    PrecisionStep step;
    step.layer = g.ops[static_cast<size_t>(best)].name;
    step.from_bits = static_cast<uint32_t>(bits[static_cast<size_t>(best)]);
    bits[static_cast<size_t>(best)] = step.from_bits == 8 ? 4 : 2;
    step.to_bits = static_cast<uint32_t>(bits[static_cast<size_t>(best)]);
    TF_ASSIGN_OR_RETURN(L, Lower(g, quant, lo));
    TF_ASSIGN_OR_RETURN(cur, compiler.Build(L, canary_ptr));
    step.flash_bytes = cur.flash;
    if (!cur.blob.empty()) {
      TF_ASSIGN_OR_RETURN(step.accuracy, accuracy_of(cur));
      report.final_accuracy = step.accuracy;
    }
    report.precision_steps.push_back(step);
  }

  CompiledModel out;
  TF_RETURN_IF_ERROR(DescribeBlob(cur.blob, &report));
  report.flash_budget_bytes = flash_budget;
  report.ram_budget_bytes = ram_budget;
  for (size_t i = 0; i < report.layers.size() && i < L.op_names.size(); ++i) {
    report.layers[i].name = L.op_names[i];
    report.layers[i].onnx_op = L.op_onnx[i];
  }
  if (L.has_tail) {
    report.cut_tensor = L.tensor_names[L.tail.cut_tensor];
  }
  report.input_name = g.input_name;
  report.output_name = g.output_name;
  report.input_shape = g.input_dims;
  report.output_shape = g.output_dims;
  report.warnings = imported.warnings;
  report.warnings.insert(report.warnings.end(), L.warnings.begin(),
                         L.warnings.end());
  out.blob = std::move(cur.blob);
  out.report = std::move(report);
  return out;
}

}  // namespace tinyfleet::models
