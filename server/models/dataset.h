// Labelled samples for calibration and evaluation of models.
//
// A Dataset holds samples of one model input, each as real values in the
// ONNX row-major order of that input without its batch dimension (for the
// keyword-spotting DS-CNN, [1, 49, 10]: frame-major MFCCs). Samples read
// from a feature data set file (docs/formats/dataset.md) also keep their
// int8 codes with the file's scale and zero point, so a model whose input
// uses the same quantization runs on exactly the bytes a node's front-end
// produces. The file reader is the firmware's own (tn_fset_open in
// device/dsp), so gateway and node agree on every byte.
//
// Thread-safety: immutable after construction; a const Dataset may be
// shared between threads.
#ifndef TINYFLEET_SERVER_MODELS_DATASET_H_
#define TINYFLEET_SERVER_MODELS_DATASET_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tinyfleet::models {

// The int8 encoding of a dataset's samples: real = scale * (q - zero_point).
struct Int8Encoding {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

class Dataset {
 public:
  // Splits of feature data set records (docs/formats/dataset.md § 4).
  enum Split : int32_t { kTrain = 0, kVal = 1, kTest = 2, kUsers = 3 };

  Dataset() = default;

  // Validates a feature data set file with the firmware reader and copies
  // its records. INVALID_ARGUMENT (with the reader's status) when the bytes
  // are not a valid file. Sample dims are {1, frames, coeffs}: one input
  // channel of frames x coefficients.
  static Result<Dataset> FromFeatureFile(std::string_view bytes);

  // Samples given as real values. `sample_dims` is the shape of one sample
  // (the model input's shape without its batch, e.g. {1, 49, 10}); every
  // sample must have their product of values. `labels` is empty (unlabelled
  // data) or one class index >= 0 per sample; `class_names` may be empty.
  static Result<Dataset> FromFloat(std::vector<int64_t> sample_dims,
                                   std::vector<std::vector<float>> samples,
                                   std::vector<int32_t> labels = {},
                                   std::vector<std::string> class_names = {});

  // Samples given as int8 codes with their encoding (values are derived as
  // scale * (q - zero_point)); same rules as FromFloat. INVALID_ARGUMENT
  // for a scale that is not positive, finite and normal, or a zero point
  // outside [-128, 127].
  static Result<Dataset> FromInt8(std::vector<int64_t> sample_dims,
                                  std::vector<std::vector<int8_t>> samples,
                                  Int8Encoding encoding,
                                  std::vector<int32_t> labels = {},
                                  std::vector<std::string> class_names = {});

  // The records of one split (feature files only; others are kept whole
  // when every record has split 0).
  Dataset Filter(Split split) const;
  // The first `n` samples (all when n >= size()).
  Dataset Head(size_t n) const;

  size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  const std::vector<int64_t>& sample_dims() const { return sample_dims_; }
  size_t sample_size() const { return sample_size_; }
  bool labelled() const { return labelled_; }
  // Number of classes: class names, else 1 + the largest label (0 when
  // unlabelled).
  size_t class_count() const;
  const std::vector<std::string>& class_names() const { return class_names_; }

  // Sample i as real values (ONNX order). REQUIRES: i < size().
  std::span<const float> sample(size_t i) const {
    return {values_.data() + i * sample_size_, sample_size_};
  }
  // Label of sample i, or -1 when unlabelled.
  int32_t label(size_t i) const { return labels_[i]; }
  // Split of sample i (kTrain for data that has none).
  int32_t split(size_t i) const { return splits_[i]; }

  // The int8 encoding when the samples came as int8 codes.
  const std::optional<Int8Encoding>& encoding() const { return encoding_; }
  // Codes of sample i. REQUIRES: encoding() and i < size().
  std::span<const int8_t> codes(size_t i) const {
    return {codes_.data() + i * sample_size_, sample_size_};
  }

 private:
  std::vector<int64_t> sample_dims_;
  size_t sample_size_ = 0;
  std::vector<float> values_;
  std::vector<int8_t> codes_;
  std::vector<int32_t> labels_;
  std::vector<int32_t> splits_;
  std::vector<std::string> class_names_;
  std::optional<Int8Encoding> encoding_;
  bool labelled_ = false;
};

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_DATASET_H_
