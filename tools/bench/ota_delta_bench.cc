// tinyfleet-bench-ota-delta: the size of a delta for a tail-only model update
// against the full blob (docs/benchmarks.md, "OTA deltas").
//
//   tinyfleet-bench-ota-delta --onnx M.onnx --calib C.tnfs [--tail K]
//       [--target gap9] [--steps 0.001,0.01,0.1] [--seed N]
//
// Compiles the ONNX model with a trainable FP32 tail of K layers (default
// 1) and signs it: version 1. Version 2 is what a federated round
// publishes: the same blob with every tail parameter moved by
// step * rms(tail) * z (z standard normal, fixed seed), the canary's
// expected output recomputed by running the model, the model version
// raised, the digest recomputed and the blob signed again. For each step
// the tool builds the delta from version 1 to version 2 with the gateway's
// builder, checks that it rebuilds version 2 byte for byte, and prints a
// Markdown table of the full blob size, the delta size and their ratio.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/pki.h"
#include "runtime/tn_runtime.h"
#include "server/models/dataset.h"
#include "server/models/models.h"
#include "server/ota/delta.h"

namespace mdl = tinyfleet::models;

namespace {

// Writes the blob's digest field for its current bytes.
tn_status Redigest(uint8_t* bytes, size_t size) {
  uint8_t digest[TN_BLOB_DIGEST_SIZE];
  tn_status st = tn_blob_compute_digest(bytes, size, digest);
  if (st == TN_OK) std::memcpy(bytes + TN_BLOB_DIGEST_OFFSET, digest, 32);
  return st;
}

int Fail(const std::string& msg) {
  std::cerr << "tinyfleet-bench-ota-delta: " << msg << "\n";
  return 1;
}

// The blob with its tail moved by `step` (see the file comment), version
// `version`, canary and digest recomputed; its old signature no longer
// matches until SignBlob signs it again.
tinyfleet::Result<std::string> TailUpdate(const std::string& blob, double step,
                                          uint32_t version, uint32_t seed) {
  std::string out = blob;
  auto* bytes = reinterpret_cast<uint8_t*>(out.data());
  tn_blob b;
  tn_status st = tn_blob_parse(bytes, out.size(), nullptr, &b);
  if (st != TN_OK || !b.has_tail || b.canary == nullptr) {
    return tinyfleet::InvalidArgumentError(
        "the model needs a trainable tail and a canary");
  }
  // The tail parameters, in place.
  uint8_t* params = bytes + (b.tail_params - b.data);
  uint32_t count = b.tail_param_bytes / 4;
  double sum = 0;
  for (uint32_t i = 0; i < count; ++i) {
    float v;
    std::memcpy(&v, params + 4 * i, 4);
    sum += static_cast<double>(v) * v;
  }
  double rms = std::sqrt(sum / std::max<uint32_t>(count, 1));
  std::mt19937 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  for (uint32_t i = 0; i < count; ++i) {
    float v;
    std::memcpy(&v, params + 4 * i, 4);
    v = static_cast<float>(v + step * rms * z(rng));
    std::memcpy(params + 4 * i, &v, 4);
  }
  // The canary's expected output: run the model on its input.
  st = Redigest(bytes, out.size());
  if (st == TN_OK) st = tn_blob_parse(bytes, out.size(), nullptr, &b);
  if (st != TN_OK) return tinyfleet::InternalError("re-parse failed");
  uint32_t in_size = tn_load_u32le(b.canary);
  uint32_t out_size = tn_load_u32le(b.canary + 4);
  size_t arena_size = 0;
  st = tn_model_arena_size(&b, nullptr, &arena_size);
  if (st != TN_OK) return tinyfleet::InternalError("arena size");
  std::vector<uint64_t> arena((arena_size + 7) / 8);
  tn_model model;
  st = tn_model_init(&model, &b, arena.data(), arena.size() * 8, nullptr);
  tn_tensor_view in, result;
  if (st == TN_OK) st = tn_model_input(&model, &in);
  if (st == TN_OK && in.bytes != in_size) st = TN_ERR_BLOB_SHAPE;
  if (st == TN_OK) std::memcpy(in.data, b.canary + 16, in_size);
  if (st == TN_OK) st = tn_model_run(&model);
  if (st == TN_OK) st = tn_model_output(&model, &result);
  if (st == TN_OK && result.bytes != out_size) st = TN_ERR_BLOB_SHAPE;
  if (st != TN_OK) {
    return tinyfleet::InternalError(std::string("canary run: ") +
                                    tn_status_str(st));
  }
  uint8_t* expected = bytes + (b.canary - b.data) + 16 + ((in_size + 3u) & ~3u);
  std::memcpy(expected, result.data, out_size);
  // Version and digest.
  tn_store_u32le(bytes + 32, version);
  if (Redigest(bytes, out.size()) != TN_OK) {
    return tinyfleet::InternalError("digest");
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) return Fail("unexpected argument " + k);
    opt[k.substr(2)] = argv[i + 1];
  }
  if (!opt.count("onnx") || !opt.count("calib")) {
    return Fail(
        "usage: tinyfleet-bench-ota-delta --onnx M.onnx --calib C.tnfs "
        "[--tail K] [--target gap9|gap8|host] [--steps a,b,c] [--seed N]");
  }
  auto onnx = tinyfleet::ReadFile(opt["onnx"]);
  auto calib_bytes = tinyfleet::ReadFile(opt["calib"]);
  if (!onnx.ok() || !calib_bytes.ok()) return Fail("cannot read the inputs");
  auto calib = mdl::Dataset::FromFeatureFile(*calib_bytes);
  if (!calib.ok()) return Fail(calib.status().ToString());
  mdl::CompileOptions copt;
  copt.trainable_tail_layers = opt.count("tail") ? std::stoul(opt["tail"]) : 1u;
  std::string target = opt.count("target") ? opt["target"] : "gap9";
  copt.target = target == "host"   ? mdl::Target::kHost
                : target == "gap8" ? mdl::Target::kGap8
                                   : mdl::Target::kGap9;
  std::vector<double> steps = {0.001, 0.01, 0.1};
  if (opt.count("steps")) {
    steps.clear();
    std::stringstream ss(opt["steps"]);
    for (std::string s; std::getline(ss, s, ',');)
      steps.push_back(std::stod(s));
  }
  uint32_t seed = opt.count("seed") ? std::stoul(opt["seed"]) : 1u;

  auto compiled = mdl::CompileOnnx(*onnx, *calib, copt);
  if (!compiled.ok()) return Fail(compiled.status().ToString());
  auto key = tinyfleet::pki::GenerateEcPrivateKey();
  if (!key.ok()) return Fail(key.status().ToString());
  auto v1 = mdl::SignBlob(compiled->blob, *key);
  if (!v1.ok()) return Fail(v1.status().ToString());
  auto r1 = mdl::InspectBlob(*v1);
  if (!r1.ok()) return Fail(r1.status().ToString());

  std::printf("Model: %s, %s, %u trainable tail layer(s), tail %llu bytes\n\n",
              opt["onnx"].c_str(), target.c_str(), copt.trainable_tail_layers,
              static_cast<unsigned long long>(r1->report.tail_param_bytes));
  std::printf(
      "| tail step (x rms) | full blob (B) | delta (B) | delta / full |\n");
  std::printf("|---|---|---|---|\n");
  for (double step : steps) {
    auto v2u = TailUpdate(*v1, step, 2, seed);
    if (!v2u.ok()) return Fail(v2u.status().ToString());
    auto v2 = mdl::SignBlob(*v2u, *key);
    if (!v2.ok()) return Fail(v2.status().ToString());
    auto r2 = mdl::InspectBlob(*v2);
    if (!r2.ok()) return Fail(r2.status().ToString());
    if (r2->report.frozen_sha256 != r1->report.frozen_sha256) {
      return Fail("the update changed the frozen part");
    }
    auto delta = tinyfleet::ota::BuildDelta(*v1, *v2);
    if (!delta.ok()) return Fail(delta.status().ToString());
    auto rebuilt = tinyfleet::ota::ApplyDelta(*v1, *delta);
    if (!rebuilt.ok() || *rebuilt != *v2) {
      return Fail("the delta does not rebuild version 2");
    }
    std::printf("| %g | %zu | %zu | %.1f%% |\n", step, v2->size(),
                delta->size(), 100.0 * delta->size() / v2->size());
  }
  return 0;
}
