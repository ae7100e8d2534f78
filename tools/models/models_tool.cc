// tinyfleet-models: command-line front-end of the model compiler
// (server/models) and the benchmark behind docs/benchmarks/models.md.
//
//   tinyfleet-models compile --onnx M.onnx --calib C.tnfs --out M.tnmb
//       [--val V.tnfs] [--target gap9] [--flash BYTES] [--ram BYTES]
//       [--tail K] [--calibration minmax|percentile] [--percentile P]
//       [--no-mixed] [--key KEY.pem] [--report R.json]
//   tinyfleet-models inspect M.tnmb
//   tinyfleet-models evaluate --blob M.tnmb --data D.tnfs [--onnx M.onnx]
//   tinyfleet-models sign --blob M.tnmb --key KEY.pem --out S.tnmb
//   tinyfleet-models verify --blob S.tnmb --key PUB.pem
//   tinyfleet-models bench --onnx M.onnx --calib C.tnfs --test T.tnfs
//       [--repeat N]
//
// Sizes accept a kB / MB suffix (1024-based). Reports are JSON on stdout
// (or --report FILE); `bench` prints Markdown tables.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "server/models/models.h"

namespace mdl = tinyfleet::models;
using nlohmann::json;

namespace {

struct Args {
  std::string command;
  std::map<std::string, std::string> opts;
  std::vector<std::string> positional;
  bool Has(const std::string& k) const { return opts.count(k) != 0; }
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() ? def : it->second;
  }
};

const char* kUsage =
    "usage: tinyfleet-models compile|inspect|evaluate|sign|verify|bench "
    "[options]\n"
    "  compile  --onnx M --calib C --out B [--val V] [--target gap9]\n"
    "           [--flash N] [--ram N] [--tail K] [--calibration minmax|"
    "percentile]\n"
    "           [--percentile P] [--no-mixed] [--key KEY.pem] [--report R]\n"
    "  inspect  BLOB\n"
    "  evaluate --blob B --data D [--onnx M] [--tiled]\n"
    "  sign     --blob B --key KEY.pem --out S\n"
    "  verify   --blob B --key PUB.pem\n"
    "  bench    --onnx M --calib C --test T [--repeat N]\n";

int Fail(const std::string& msg) {
  std::cerr << "tinyfleet-models: " << msg << "\n";
  return 1;
}

bool ParseSize(const std::string& s, uint64_t* out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || v < 0) return false;
  std::string suffix(end);
  double mult = 1;
  if (suffix == "kB" || suffix == "KB" || suffix == "KiB" || suffix == "k") {
    mult = 1024;
  } else if (suffix == "MB" || suffix == "MiB" || suffix == "M") {
    mult = 1024 * 1024;
  } else if (!suffix.empty() && suffix != "B") {
    return false;
  }
  *out = static_cast<uint64_t>(v * mult);
  return true;
}

tinyfleet::Result<std::string> Read(const std::string& path) {
  return tinyfleet::ReadFile(path);
}

tinyfleet::Result<mdl::Dataset> ReadDataset(const std::string& path) {
  TF_ASSIGN_OR_RETURN(std::string bytes, Read(path));
  return mdl::Dataset::FromFeatureFile(bytes);
}

json ReportJson(const mdl::ModelReport& r) {
  json j;
  j["target"] = std::string(mdl::TargetName(r.target));
  j["blob_bytes"] = r.blob_bytes;
  j["flash_bytes"] = r.flash_bytes;
  j["ram_bytes"] = r.ram_bytes;
  j["l2_arena_bytes"] = r.l2_arena_bytes;
  j["l2_required_bytes"] = r.l2_required_bytes;
  j["l1_tile_bytes"] = r.l1_tile_bytes;
  j["weight_bytes"] = r.weight_bytes;
  j["tail_param_bytes"] = r.tail_param_bytes;
  j["tail_training_bytes"] = r.tail_training_bytes;
  j["flash_budget_bytes"] = r.flash_budget_bytes;
  j["ram_budget_bytes"] = r.ram_budget_bytes;
  j["macs"] = r.macs;
  j["cycles"] = r.cycles;
  j["latency_ms"] = r.latency_ms;
  j["energy_uj"] = r.energy_uj;
  j["train_step_cycles"] = r.train_step_cycles;
  j["accuracy_metric"] = r.accuracy_metric;
  j["accuracy_samples"] = r.accuracy_samples;
  if (r.float_accuracy) j["float_accuracy"] = *r.float_accuracy;
  if (r.int8_accuracy) j["int8_accuracy"] = *r.int8_accuracy;
  if (r.final_accuracy) j["final_accuracy"] = *r.final_accuracy;
  j["blob_digest"] = r.blob_digest;
  j["frozen_sha256"] = r.frozen_sha256;
  j["tail_layers"] = r.tail_layers;
  j["cut_tensor"] = r.cut_tensor;
  j["input"] = {{"name", r.input_name},
                {"shape", r.input_shape},
                {"scale", r.input_scale},
                {"zero_point", r.input_zero_point}};
  j["output"] = {{"name", r.output_name}, {"shape", r.output_shape}};
  j["signed"] = r.signed_blob;
  j["warnings"] = r.warnings;
  for (const auto& s : r.precision_steps) {
    j["precision_steps"].push_back({{"layer", s.layer},
                                    {"from_bits", s.from_bits},
                                    {"to_bits", s.to_bits},
                                    {"flash_bytes", s.flash_bytes},
                                    {"accuracy", s.accuracy}});
  }
  for (const auto& l : r.layers) {
    j["layers"].push_back({{"name", l.name},
                           {"onnx_op", l.onnx_op},
                           {"op", l.op},
                           {"output_shape", l.output_shape},
                           {"macs", l.macs},
                           {"weight_bits", l.weight_bits},
                           {"weight_bytes", l.weight_bytes},
                           {"cycles", l.cycles},
                           {"energy_uj", l.energy_uj},
                           {"tiles", l.tiles},
                           {"trainable", l.trainable}});
  }
  return j;
}

tinyfleet::Result<mdl::CompileOptions> CompileOptionsFrom(const Args& a) {
  mdl::CompileOptions o;
  if (a.Has("target")) {
    TF_ASSIGN_OR_RETURN(o.target, mdl::ParseTarget(a.Get("target")));
  }
  if (a.Has("flash") && !ParseSize(a.Get("flash"), &o.flash_budget_bytes)) {
    return tinyfleet::InvalidArgumentError("bad --flash");
  }
  if (a.Has("ram") && !ParseSize(a.Get("ram"), &o.ram_budget_bytes)) {
    return tinyfleet::InvalidArgumentError("bad --ram");
  }
  if (a.Has("tail")) o.trainable_tail_layers = std::stoul(a.Get("tail"));
  if (a.Get("calibration", "minmax") == "percentile") {
    o.calibration = mdl::Calibration::kPercentile;
  } else if (a.Get("calibration", "minmax") != "minmax") {
    return tinyfleet::InvalidArgumentError("bad --calibration");
  }
  if (a.Has("percentile")) o.percentile = std::stod(a.Get("percentile"));
  o.mixed_precision = !a.Has("no-mixed");
  return o;
}

int Compile(const Args& a) {
  if (!a.Has("onnx") || !a.Has("calib") || !a.Has("out")) {
    return Fail("compile needs --onnx, --calib and --out");
  }
  auto onnx = Read(a.Get("onnx"));
  if (!onnx.ok()) return Fail(onnx.status().ToString());
  auto calib = ReadDataset(a.Get("calib"));
  if (!calib.ok()) return Fail(calib.status().ToString());
  auto opts = CompileOptionsFrom(a);
  if (!opts.ok()) return Fail(opts.status().ToString());
  mdl::Dataset val;
  if (a.Has("val")) {
    auto v = ReadDataset(a.Get("val"));
    if (!v.ok()) return Fail(v.status().ToString());
    val = std::move(*v);
    opts->validation = &val;
  }
  auto model = mdl::CompileOnnx(*onnx, *calib, *opts);
  if (!model.ok()) return Fail(model.status().ToString());
  std::string blob = std::move(model->blob);
  if (a.Has("key")) {
    auto key = Read(a.Get("key"));
    if (!key.ok()) return Fail(key.status().ToString());
    auto signed_blob = mdl::SignBlob(std::move(blob), *key);
    if (!signed_blob.ok()) return Fail(signed_blob.status().ToString());
    blob = std::move(*signed_blob);
    model->report.signed_blob = true;
  }
  auto st = tinyfleet::WriteFileAtomic(a.Get("out"), blob);
  if (!st.ok()) return Fail(st.ToString());
  const std::string text = ReportJson(model->report).dump(1);
  if (a.Has("report")) {
    st = tinyfleet::WriteFileAtomic(a.Get("report"), text + "\n");
    if (!st.ok()) return Fail(st.ToString());
  } else {
    std::cout << text << "\n";
  }
  return 0;
}

int Inspect(const Args& a) {
  if (a.positional.empty()) return Fail("inspect needs a blob file");
  auto blob = Read(a.positional[0]);
  if (!blob.ok()) return Fail(blob.status().ToString());
  auto m = mdl::InspectBlob(*blob);
  if (!m.ok()) return Fail(m.status().ToString());
  std::cout << ReportJson(m->report).dump(1) << "\n";
  return 0;
}

int EvaluateCmd(const Args& a) {
  if (!a.Has("blob") || !a.Has("data")) {
    return Fail("evaluate needs --blob and --data");
  }
  auto blob = Read(a.Get("blob"));
  if (!blob.ok()) return Fail(blob.status().ToString());
  auto data = ReadDataset(a.Get("data"));
  if (!data.ok()) return Fail(data.status().ToString());
  std::unique_ptr<mdl::FloatReference> ref;
  if (a.Has("onnx")) {
    auto onnx = Read(a.Get("onnx"));
    if (!onnx.ok()) return Fail(onnx.status().ToString());
    auto r = mdl::FloatReference::FromOnnx(*onnx);
    if (!r.ok()) return Fail(r.status().ToString());
    ref = std::move(*r);
  }
  mdl::EvaluateOptions eo;
  eo.tiled = a.Has("tiled");
  auto e = mdl::Evaluate(*blob, *data, ref.get(), eo);
  if (!e.ok()) return Fail(e.status().ToString());
  json j;
  j["samples"] = e->samples;
  j["classes"] = e->classes;
  j["int8_accuracy"] = e->int8_accuracy;
  if (e->float_accuracy) j["float_accuracy"] = *e->float_accuracy;
  if (e->agreement) j["agreement"] = *e->agreement;
  j["confusion"] = e->confusion;
  j["used_dataset_codes"] = e->used_dataset_codes;
  j["canary_ok"] = e->canary_ok;
  std::cout << j.dump(1) << "\n";
  return 0;
}

int Sign(const Args& a) {
  if (!a.Has("blob") || !a.Has("key") || !a.Has("out")) {
    return Fail("sign needs --blob, --key and --out");
  }
  auto blob = Read(a.Get("blob"));
  auto key = Read(a.Get("key"));
  if (!blob.ok()) return Fail(blob.status().ToString());
  if (!key.ok()) return Fail(key.status().ToString());
  auto s = mdl::SignBlob(std::move(*blob), *key);
  if (!s.ok()) return Fail(s.status().ToString());
  auto st = tinyfleet::WriteFileAtomic(a.Get("out"), *s);
  return st.ok() ? 0 : Fail(st.ToString());
}

int Verify(const Args& a) {
  if (!a.Has("blob") || !a.Has("key"))
    return Fail("verify needs --blob, --key");
  auto blob = Read(a.Get("blob"));
  auto key = Read(a.Get("key"));
  if (!blob.ok()) return Fail(blob.status().ToString());
  if (!key.ok()) return Fail(key.status().ToString());
  auto st = mdl::VerifyBlobSignature(*blob, *key);
  if (!st.ok()) return Fail(st.ToString());
  std::cout << "signature OK\n";
  return 0;
}

// Figures for docs/benchmarks/models.md.
int Bench(const Args& a) {
  if (!a.Has("onnx") || !a.Has("calib") || !a.Has("test")) {
    return Fail("bench needs --onnx, --calib and --test");
  }
  auto onnx = Read(a.Get("onnx"));
  if (!onnx.ok()) return Fail(onnx.status().ToString());
  auto calib = ReadDataset(a.Get("calib"));
  if (!calib.ok()) return Fail(calib.status().ToString());
  auto test = ReadDataset(a.Get("test"));
  if (!test.ok()) return Fail(test.status().ToString());
  const int repeat = std::max(1, std::atoi(a.Get("repeat", "3").c_str()));
  auto ref = mdl::FloatReference::FromOnnx(*onnx);
  if (!ref.ok()) return Fail(ref.status().ToString());

  struct Row {
    std::string name;
    mdl::CompileOptions opts;
  };
  std::vector<Row> rows;
  {
    Row r{"int8, min-max", {}};
    rows.push_back(r);
    r = Row{"int8, percentile 99.99", {}};
    r.opts.calibration = mdl::Calibration::kPercentile;
    rows.push_back(r);
  }
  // Mixed precision: budgets that force cuts, found from the 8-bit size.
  auto base = mdl::CompileOnnx(*onnx, *calib, {});
  if (!base.ok()) return Fail(base.status().ToString());
  const uint64_t size8 = base->report.flash_bytes;
  const uint64_t weights8 = base->report.weight_bytes;
  for (double share : {0.75, 0.5, 0.35}) {
    Row r{"", {}};
    r.opts.flash_budget_bytes =
        size8 - weights8 + static_cast<uint64_t>(share * weights8);
    r.name = "mixed, flash " + std::to_string(r.opts.flash_budget_bytes) + " B";
    rows.push_back(r);
  }
  for (uint32_t k : {1u, 2u}) {
    Row r{"int8 + FP32 tail of " + std::to_string(k), {}};
    r.opts.trainable_tail_layers = k;
    rows.push_back(r);
  }
  std::printf(
      "| Variant | Blob (B) | Weights (B) | RAM (B) | Bits per layer | "
      "Calib acc. | Test acc. (node kernels) | Float test acc. | Agreement | "
      "Compile (ms, median of %d) |\n",
      repeat);
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  mdl::ModelReport last;
  for (const Row& row : rows) {
    std::vector<double> ms;
    tinyfleet::Result<mdl::CompiledModel> m = tinyfleet::InternalError("unset");
    for (int i = 0; i < repeat; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      m = mdl::CompileOnnx(*onnx, *calib, row.opts);
      const auto t1 = std::chrono::steady_clock::now();
      if (!m.ok()) return Fail(row.name + ": " + m.status().ToString());
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    auto e = mdl::Evaluate(m->blob, *test, ref->get());
    if (!e.ok()) return Fail(e.status().ToString());
    std::string bits;
    for (const auto& l : m->report.layers) {
      if (l.weight_bits) bits += std::to_string(l.weight_bits);
      if (l.trainable) bits += "F";
    }
    std::printf(
        "| %s | %llu | %llu | %llu | %s | %.4f | %.4f | %.4f | %.4f | "
        "%.0f |\n",
        row.name.c_str(), static_cast<unsigned long long>(m->report.blob_bytes),
        static_cast<unsigned long long>(m->report.weight_bytes +
                                        m->report.tail_param_bytes),
        static_cast<unsigned long long>(m->report.ram_bytes), bits.c_str(),
        m->report.final_accuracy.value_or(0), e->int8_accuracy,
        e->float_accuracy.value_or(0), e->agreement.value_or(0),
        ms[ms.size() / 2]);
    if (row.name == "int8, min-max") last = m->report;
  }
  std::printf("\nPer-layer GAP9 estimates (int8, min-max):\n\n");
  std::printf(
      "| Layer | Runtime op | Output (h,w,c) | MACs | Bits | Tiles | "
      "Cycles | Energy (uJ) |\n|---|---|---|---|---|---|---|---|\n");
  for (const auto& l : last.layers) {
    std::printf("| %s | %s | %u,%u,%u | %llu | %u | %u | %llu | %.2f |\n",
                l.name.c_str(), l.op.c_str(), l.output_shape[0],
                l.output_shape[1], l.output_shape[2],
                static_cast<unsigned long long>(l.macs), l.weight_bits, l.tiles,
                static_cast<unsigned long long>(l.cycles), l.energy_uj);
  }
  std::printf(
      "\nTotal: %llu MACs, %llu cycles, %.3f ms at 370 MHz, %.2f uJ; "
      "L2 arena %llu B, largest L1 tile footprint %llu B\n",
      static_cast<unsigned long long>(last.macs),
      static_cast<unsigned long long>(last.cycles), last.latency_ms,
      last.energy_uj, static_cast<unsigned long long>(last.l2_arena_bytes),
      static_cast<unsigned long long>(last.l1_tile_bytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  Args a;
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      const std::string key = s.substr(2);
      const bool flag = key == "no-mixed" || key == "tiled";
      if (!flag && i + 1 < argc) {
        a.opts[key] = argv[++i];
      } else {
        a.opts[key] = "1";
      }
    } else {
      a.positional.push_back(s);
    }
  }
  if (a.command == "compile") return Compile(a);
  if (a.command == "inspect") return Inspect(a);
  if (a.command == "evaluate") return EvaluateCmd(a);
  if (a.command == "sign") return Sign(a);
  if (a.command == "verify") return Verify(a);
  if (a.command == "bench") return Bench(a);
  std::cerr << kUsage;
  return 2;
}
