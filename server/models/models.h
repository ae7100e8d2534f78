// The gateway's model compiler: ONNX import, post-training int8
// quantization with memory-driven mixed precision, an optional FP32
// trainable tail, compilation to the node's model blob
// (docs/formats/model-blob.md), ECDSA P-256 signing, inspection of
// precompiled blobs and bit-exact evaluation with the node's own kernels.
// docs/models.md is the user guide (supported ops, quantization scheme,
// mixed-precision algorithm, tail and cut, signing).
//
// Every function is synchronous and CPU-bound (a DS-CNN compiles in about
// a second; evaluation runs the node kernels once per sample): call it off
// latency-sensitive threads. No exceptions escape; failures are Status
// values whose message is meant for the operator:
//   INVALID_ARGUMENT     malformed or truncated ONNX or blob, missing
//                        initializers, calibration data of the wrong shape;
//   FAILED_PRECONDITION  valid input the node cannot run: unsupported op
//                        (message names op and node), dynamic shapes,
//                        opset, several inputs / outputs, a model that
//                        misses its memory budgets (message gives the
//                        overshoot in bytes), an unsigned blob to verify;
//   UNAUTHENTICATED      a signature that does not verify.
//
// Thread-safety: free functions are thread-safe and share no state.
// FloatReference is immutable after creation; Run is const and may be
// called concurrently.
#ifndef TINYFLEET_SERVER_MODELS_MODELS_H_
#define TINYFLEET_SERVER_MODELS_MODELS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/models/dataset.h"

namespace tinyfleet::models {

// Target profiles of the node runtime (values of tn_target).
enum class Target : uint16_t { kHost = 1, kGap8 = 2, kGap9 = 3 };

// "host", "gap8", "gap9"; and the reverse (INVALID_ARGUMENT otherwise).
std::string_view TargetName(Target target);
Result<Target> ParseTarget(std::string_view name);

enum class Calibration {
  kMinMax,      // range = [min, max] over the calibration set
  kPercentile,  // range = central `percentile` % of the values
};

struct CompileOptions {
  // Target profile (memory limits and the blob's target field). Default
  // GAP9.
  Target target = Target::kGap9;
  // Budgets in bytes; 0 (default) takes the target's: flash = non-volatile
  // memory (GAP9 2 MiB; GAP8 unchecked; host 64 MiB), RAM = L2 (GAP9
  // 1.5 MiB, GAP8 512 KiB, host 64 MiB). Flash counts the whole blob; RAM
  // counts the planner's L2 requirement (activation arena peak +
  // quantization words + tail parameters) plus, with a tail, the training
  // buffers of the tail (gradients, momentum, activations, scratch).
  uint64_t flash_budget_bytes = 0;
  uint64_t ram_budget_bytes = 0;
  // Last k weighted layers kept FP32 and trainable on the node (0, the
  // default: none). The cut (latent-replay layer) is the input of the
  // first of them.
  uint32_t trainable_tail_layers = 0;
  // Activation range calibration. Default min-max.
  Calibration calibration = Calibration::kMinMax;
  // For kPercentile: the share of values inside the range, in (50, 100].
  // Default 99.99.
  double percentile = 99.99;
  // When the 8-bit model misses the flash budget, cut weight bits 8 -> 4
  // -> 2 of the largest layers until it fits (default true). When false,
  // a model over budget fails at once.
  bool mixed_precision = true;
  // At most this many calibration samples are used (0: all). Default 0.
  uint32_t max_calibration_samples = 0;
  // Accuracy is measured on this set (not owned; must outlive the call);
  // nullptr (default): on the calibration set. Unlabelled sets report the
  // agreement with the float model instead.
  const Dataset* validation = nullptr;
  // Blob header fields (opaque to the compiler). Defaults: zero id,
  // version 1, rollback counter 0.
  std::array<uint8_t, 16> model_id{};
  uint32_t model_version = 1;
  uint32_t rollback_counter = 0;
  // Reserve the signature section so SignBlob can sign the blob later
  // (default true). A blob built without it cannot be signed.
  bool reserve_signature = true;
};

// One runtime op of a compiled model.
struct LayerReport {
  std::string name;     // ONNX node name(s), '+'-joined after fusion
  std::string onnx_op;  // ONNX op type(s), e.g. "Conv+Relu"
  std::string op;       // runtime op, e.g. "CONV2D", "FC_F32"
  std::vector<uint32_t> output_shape;  // h, w, c
  uint64_t macs = 0;
  uint32_t weight_bits = 0;   // 8 / 4 / 2 for int8 weighted ops, else 0
  uint64_t weight_bytes = 0;  // in the blob (FP32 tail: parameters)
  uint64_t cycles = 0;        // GAP9 cost model estimate
  double energy_uj = 0;       // GAP9 cost model estimate
  uint32_t tiles = 1;         // L1 tiles of the memory plan
  bool trainable = false;     // part of the FP32 tail with parameters
};

// One step of the mixed-precision search.
struct PrecisionStep {
  std::string layer;  // the layer whose weights were cut
  uint32_t from_bits = 8;
  uint32_t to_bits = 8;
  uint64_t flash_bytes = 0;  // blob size after the step
  double accuracy = 0;       // on the evaluation set after the step
};

struct ModelReport {
  Target target = Target::kGap9;
  // Sizes in bytes.
  uint64_t blob_bytes = 0;
  uint64_t flash_bytes = 0;  // = blob_bytes (the blob is stored whole)
  uint64_t ram_bytes = 0;    // l2_required_bytes + tail_training_bytes
  uint64_t l2_arena_bytes = 0;
  uint64_t l2_required_bytes = 0;  // arena + quantization + tail params
  uint64_t l1_tile_bytes = 0;
  uint64_t weight_bytes = 0;         // WEIGHTS section
  uint64_t tail_param_bytes = 0;     // TAIL parameters
  uint64_t tail_training_bytes = 0;  // gradients, momentum, activations
  uint64_t flash_budget_bytes = 0;   // 0: unchecked (GAP8)
  uint64_t ram_budget_bytes = 0;
  // Cost (GAP9 cost model of the runtime; latency = cycles / 370 MHz).
  uint64_t macs = 0;
  uint64_t cycles = 0;
  double latency_ms = 0;
  double energy_uj = 0;
  uint64_t train_step_cycles = 0;  // one SGD sample of the tail
  std::vector<LayerReport> layers;
  // Accuracy on the evaluation set (empty when not measured, e.g. for
  // InspectBlob): "accuracy" for labelled sets, otherwise top-1 agreement
  // with the float model.
  std::string accuracy_metric;
  uint32_t accuracy_samples = 0;
  std::optional<double> float_accuracy;
  std::optional<double> int8_accuracy;   // every weight at 8 bits
  std::optional<double> final_accuracy;  // the emitted blob (mixed)
  std::vector<PrecisionStep> precision_steps;
  // Hex SHA-256 of the blob digest field (covers everything but the
  // signature) and of the frozen part (docs/models.md: graph, weights,
  // quantization words, memory plan, tail structure — not the tail's
  // parameters), so tail updates can name the front-end they fit.
  std::string blob_digest;
  std::string frozen_sha256;
  // Trainable tail: number of FP32 layers with parameters, and the cut
  // tensor (ONNX value name) whose int8 latent feeds the tail.
  uint32_t tail_layers = 0;
  std::string cut_tensor;
  // Boundary tensors: names, ONNX shapes and the input's quantization.
  std::string input_name, output_name;
  std::vector<int64_t> input_shape, output_shape;
  float input_scale = 0;
  int32_t input_zero_point = 0;
  bool signed_blob = false;
  std::vector<std::string> warnings;
};

struct CompiledModel {
  std::string blob;  // the model blob bytes
  ModelReport report;
};

// Compiles an ONNX model (float, QDQ or QLinear) for `options.target`,
// calibrating activations on `calibration` (samples in the model input's
// ONNX order; its shape must match the input's, batch aside).
Result<CompiledModel> CompileOnnx(std::string_view onnx,
                                  const Dataset& calibration,
                                  const CompileOptions& options = {});

// Validates a precompiled blob (every parser rule, signature not verified)
// and reports its sizes, cost, layers and digests (no accuracy).
Result<CompiledModel> InspectBlob(std::string_view blob);

// Signs a blob built with a reserved signature section: ECDSA P-256 over
// the blob digest, with the EC P-256 private key `key_pem` (PKCS#8 or
// SEC1 PEM). The signature section receives algorithm 1, the key id (first
// 8 bytes of SHA-256 of the uncompressed public point) and r || s as 32
// big-endian bytes each. FAILED_PRECONDITION when the blob has no
// signature section; INVALID_ARGUMENT for a bad blob or key.
Result<std::string> SignBlob(std::string blob, const std::string& key_pem);

// Verifies a signed blob against a public key (PEM: SubjectPublicKeyInfo,
// a certificate, or a private key). OK, or UNAUTHENTICATED when the
// signature or key id does not match; FAILED_PRECONDITION when unsigned.
Status VerifyBlobSignature(std::string_view blob, const std::string& pem);

// The 8-byte key id of a key or certificate (PEM) as SignBlob writes it.
Result<std::array<uint8_t, 8>> BlobKeyId(const std::string& pem);

// The float model, run on the project's FP32 path (see docs/models.md).
class FloatReference {
 public:
  static Result<std::unique_ptr<FloatReference>> FromOnnx(
      std::string_view onnx);
  ~FloatReference();
  FloatReference(const FloatReference&) = delete;
  FloatReference& operator=(const FloatReference&) = delete;

  // Output for one sample (both in ONNX order).
  Result<std::vector<float>> Run(std::span<const float> sample) const;
  const std::vector<int64_t>& input_shape() const;
  const std::vector<int64_t>& output_shape() const;

 private:
  struct Impl;
  explicit FloatReference(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct EvaluateOptions {
  // Run tileable layers tile by tile as the memory plan says (bit-exact
  // with untiled runs, slower). Default false.
  bool tiled = false;
  // At most this many samples (0: all).
  uint32_t max_samples = 0;
};

struct Evaluation {
  uint32_t samples = 0;
  uint32_t classes = 0;
  bool labelled = false;
  double int8_accuracy = 0;              // the blob on the node kernels
  std::optional<double> float_accuracy;  // with a FloatReference
  std::optional<double> agreement;       // share of equal top-1 predictions
  // classes x classes counts, row = true label, column = prediction
  // (labelled sets only).
  std::vector<uint32_t> confusion;
  // The input came as the dataset's own int8 codes (true), or was
  // quantized from real values with the blob's input scale (false).
  bool used_dataset_codes = false;
  // Blob self-test (canary) result; true when the blob has no canary.
  bool canary_ok = true;
};

// Runs a blob with the node's kernels on every sample. Samples are in the
// ONNX order of the model input, i.e. CHW of the blob input's (h, w, c).
// The predicted class is the arg-max of the output (lowest index on ties).
Result<Evaluation> Evaluate(std::string_view blob, const Dataset& dataset,
                            const FloatReference* reference = nullptr,
                            const EvaluateOptions& options = {});

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_MODELS_H_
