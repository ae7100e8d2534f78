// Evaluate (a blob on the node kernels over a dataset) and FloatReference
// (the float model on the project's FP32 path).
#include <algorithm>

#include "server/models/float_executor.h"
#include "server/models/models.h"
#include "server/models/onnx_importer.h"
#include "server/models/runner.h"

namespace tinyfleet::models {

struct FloatReference::Impl {
  Graph graph;
};

FloatReference::FloatReference(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
FloatReference::~FloatReference() = default;

Result<std::unique_ptr<FloatReference>> FloatReference::FromOnnx(
    std::string_view onnx) {
  TF_ASSIGN_OR_RETURN(ImportResult r, ImportOnnx(onnx));
  auto impl = std::make_unique<Impl>();
  impl->graph = std::move(r.graph);
  return std::unique_ptr<FloatReference>(new FloatReference(std::move(impl)));
}

Result<std::vector<float>> FloatReference::Run(
    std::span<const float> sample) const {
  FloatExecutor exec(impl_->graph);
  TF_RETURN_IF_ERROR(exec.Run(sample));
  return exec.OutputOnnx();
}

const std::vector<int64_t>& FloatReference::input_shape() const {
  return impl_->graph.input_dims;
}

const std::vector<int64_t>& FloatReference::output_shape() const {
  return impl_->graph.output_dims;
}

Result<Evaluation> Evaluate(std::string_view blob, const Dataset& dataset,
                            const FloatReference* reference,
                            const EvaluateOptions& options) {
  TF_ASSIGN_OR_RETURN(auto runner, BlobRunner::Open(blob, options.tiled));
  const tn_tensor_desc& in = runner->input();
  const size_t in_elements = size_t{in.h} * in.w * in.c;
  if (dataset.sample_size() != in_elements) {
    return InvalidArgumentError(
        "samples have " + std::to_string(dataset.sample_size()) +
        " values; the blob input (" + std::to_string(in.h) + " x " +
        std::to_string(in.w) + " x " + std::to_string(in.c) + ") needs " +
        std::to_string(in_elements));
  }
  if (reference != nullptr) {
    int64_t ref_in = 1;
    for (int64_t d : reference->input_shape()) ref_in *= d;
    if (ref_in != static_cast<int64_t>(in_elements)) {
      return InvalidArgumentError(
          "the float reference's input does not match the blob's");
    }
  }
  size_t n = dataset.size();
  if (options.max_samples != 0) n = std::min<size_t>(n, options.max_samples);
  if (n == 0) return InvalidArgumentError("the dataset is empty");
  Evaluation e;
  e.samples = static_cast<uint32_t>(n);
  e.labelled = dataset.labelled();
  const tn_tensor_desc& out = runner->output();
  e.classes = static_cast<uint32_t>(
      std::max<size_t>(dataset.class_count(), size_t{out.h} * out.w * out.c));
  if (e.labelled) e.confusion.assign(size_t{e.classes} * e.classes, 0);
  size_t good = 0, float_good = 0, agree = 0;
  bool used_codes = false;
  for (size_t i = 0; i < n; ++i) {
    TF_RETURN_IF_ERROR(
        runner->Run(runner->InputCodes(dataset, i, &used_codes)));
    const int32_t pred = ArgMax(runner->OutputOnnx());
    const int32_t label = dataset.label(i);
    if (e.labelled) {
      good += pred == label ? 1 : 0;
      if (label >= 0 && static_cast<uint32_t>(label) < e.classes && pred >= 0) {
        ++e.confusion[static_cast<size_t>(label) * e.classes +
                      static_cast<size_t>(pred)];
      }
    }
    if (reference != nullptr) {
      TF_ASSIGN_OR_RETURN(std::vector<float> f,
                          reference->Run(dataset.sample(i)));
      const int32_t fp = ArgMax(f);
      agree += fp == pred ? 1 : 0;
      float_good += fp == label ? 1 : 0;
    }
  }
  e.used_dataset_codes = used_codes;
  const double dn = static_cast<double>(n);
  if (e.labelled) e.int8_accuracy = static_cast<double>(good) / dn;
  if (reference != nullptr) {
    e.agreement = static_cast<double>(agree) / dn;
    if (e.labelled) e.float_accuracy = static_cast<double>(float_good) / dn;
  }
  Status self = runner->SelfTest();
  e.canary_ok = self.ok() || self.code() == StatusCode::kNotFound;
  return e;
}

}  // namespace tinyfleet::models
