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
    return InvalidArgumentError(std::string(what) + " samples have shape " +
                                DimsText(data.sample_dims()) + " (" +
                                std::to_string(data.sample_size()) +
                                " values); the model input '" + g.input_name +
                                "' is " + DimsText(g.input_dims) + " (" +
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
  return FailedPreconditionError("a trainable tail of " + std::to_string(k) +
                                 " layers was requested; the model has " +
                                 std::to_string(seen) + " layers with weights");
}

struct Measured {
  std::string blob;  // empty when the plan failed
  uint64_t flash = 0;
  uint64_t ram = 0;  // l2 required + tail training
  bool plan_failed_l1 = false;
  std::string l1_op;
  uint64_t l1_overshoot = 0;
};

// Plans and builds the blob of `L` for `target`. With `canary` (input codes)
// the blob carries the self-test pair: the input and the executor's own
// output for it. When the plan does not fit, the blob is only sized (flash
// is still known) and `blob` stays empty.
Result<Measured> BuildBlob(Lowered& L, const CompileOptions& opt,
                           tn_target target,
                           const std::vector<int8_t>* canary) {
  Measured m;
  const tn_graph_desc g = L.GraphDesc();
  const tn_tail_desc* tail = L.TailDesc();
  std::vector<tn_placement> placements(g.tensor_count);
  std::vector<tn_tile> tiles(g.op_count);
  tn_memory_plan plan{};
  tn_plan_report report{};
  const tn_status plan_st =
      tn_plan_memory(&g, tail, target, nullptr, placements.data(), tiles.data(),
                     &plan, &report);
  if (plan_st != TN_OK && plan_st != TN_ERR_MEMORY_BUDGET) {
    return RuntimeError(plan_st, "memory planning");
  }
  uint64_t training = 0;
  if (L.has_tail) {
    TF_ASSIGN_OR_RETURN(
        training, TailTrainingBytes(g, L.tail.first_op, L.tail.cut_tensor));
  }
  m.ram = uint64_t{report.l2_required} + training;
  if (plan_st == TN_ERR_MEMORY_BUDGET) {
    if (report.failed_level == TN_MEM_L1) {
      m.plan_failed_l1 = true;
      m.l1_overshoot = report.overshoot_bytes;
      m.l1_op = report.failed_op < L.op_names.size()
                    ? L.op_names[report.failed_op]
                    : "?";
    }
    // A placeholder plan: the builder only needs its counts for sizing.
    plan.target = target;
    plan.placements = placements.data();
    plan.tiles = tiles.data();
  }
  tn_model_cost cost{};
  if (plan_st == TN_OK) {
    const tn_status cs =
        tn_cost_model(&g, tiles.data(), tail ? tail->first_op : g.op_count,
                      tn_cost_profile_gap9(), &cost);
    if (cs != TN_OK) return RuntimeError(cs, "cost model");
  } else {
    for (uint32_t i = 0; i < g.op_count; ++i) cost.macs += tn_op_macs(&g, i);
  }
  tn_blob_header_desc hdr{};
  hdr.target = target;
  std::memcpy(hdr.model_id, opt.model_id.data(), 16);
  hdr.model_version = opt.model_version;
  hdr.rollback_counter = opt.rollback_counter;
  tn_blob_builder b;
  tn_status st = tn_blob_builder_init(&b, &hdr);
  if (st == TN_OK) st = tn_blob_builder_set_graph(&b, &g);
  if (st == TN_OK) st = tn_blob_builder_set_plan(&b, &plan);
  if (st == TN_OK && !L.weights.empty()) {
    st = tn_blob_builder_set_weights(&b, L.weights.data(),
                                     static_cast<uint32_t>(L.weights.size()));
  }
  if (st == TN_OK && !L.quant.empty()) {
    st = tn_blob_builder_set_quant(&b, L.quant.data(),
                                   static_cast<uint32_t>(L.quant.size()));
  }
  if (st == TN_OK && tail != nullptr) st = tn_blob_builder_set_tail(&b, tail);
  const tn_blob_metadata meta{cost.macs, cost.cycles, cost.energy_pj};
  if (st == TN_OK) st = tn_blob_builder_set_metadata(&b, &meta);
  if (st == TN_OK && opt.reserve_signature) {
    st = tn_blob_builder_reserve_signature(&b);
  }
  if (st != TN_OK) return RuntimeError(st, "blob builder");

  size_t size = 0;
  if (plan_st != TN_OK) {
    if (canary != nullptr) {
      // The canary's size is known before its contents.
      const tn_tensor_desc& out = L.tensors[L.output];
      std::vector<uint8_t> zeros_out(out.h * out.w * out.c *
                                     (out.dtype == TN_DTYPE_FLOAT32 ? 4u : 1u));
      st = tn_blob_builder_set_canary(
          &b, canary->data(), static_cast<uint32_t>(canary->size()),
          zeros_out.data(), static_cast<uint32_t>(zeros_out.size()));
      if (st == TN_OK) st = tn_blob_builder_size(&b, &size);
    } else {
      st = tn_blob_builder_size(&b, &size);
    }
    if (st != TN_OK) return RuntimeError(st, "blob size");
    m.flash = size;
    return m;
  }
  auto finish = [&](std::string* out) -> Status {
    size_t need = 0, written = 0;
    tn_status fs = tn_blob_builder_size(&b, &need);
    if (fs == TN_OK) {
      out->assign(need, '\0');
      fs = tn_blob_builder_finish(&b, reinterpret_cast<uint8_t*>(out->data()),
                                  out->size(), &written);
    }
    return fs == TN_OK ? Status::Ok() : RuntimeError(fs, "blob build");
  };
  TF_RETURN_IF_ERROR(finish(&m.blob));
  if (canary != nullptr) {
    // Run the blob on the canary input, then build again with the
    // executor's own output as the expected one.
    TF_ASSIGN_OR_RETURN(auto runner, BlobRunner::Open(m.blob));
    TF_RETURN_IF_ERROR(runner->Run(*canary));
    const auto out = runner->OutputBytes();
    const std::vector<uint8_t> expected(out.begin(), out.end());
    st = tn_blob_builder_set_canary(
        &b, canary->data(), static_cast<uint32_t>(canary->size()),
        expected.data(), static_cast<uint32_t>(expected.size()));
    if (st != TN_OK) return RuntimeError(st, "canary");
    TF_RETURN_IF_ERROR(finish(&m.blob));
  }
  m.flash = m.blob.size();
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
    flash_budget =
        flash_budget == 0
            ? options.flash_budget_bytes
            : std::min<uint64_t>(flash_budget, options.flash_budget_bytes);
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
  TF_ASSIGN_OR_RETURN(Lowered L, Lower(g, quant, lo));
  // Canary input: the first calibration sample, as the node would feed it.
  const std::vector<int8_t> canary =
      SampleCodes(calibration, 0, L.tensors[L.input], nullptr);
  const std::vector<int8_t>* canary_ptr = &canary;

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

  TF_ASSIGN_OR_RETURN(Measured cur, BuildBlob(L, options, target, canary_ptr));
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
    TF_ASSIGN_OR_RETURN(cur, BuildBlob(L, options, target, canary_ptr));
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
