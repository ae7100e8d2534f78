// Dataset: feature data set files through the firmware reader, and
// in-memory float samples.
#include "server/models/dataset.h"

#include <algorithm>
#include <cmath>

#include "dsp/tn_dsp.h"

namespace tinyfleet::models {

Result<Dataset> Dataset::FromFeatureFile(std::string_view bytes) {
  tn_fset_view view;
  tn_status st = tn_fset_open(reinterpret_cast<const uint8_t*>(bytes.data()),
                              bytes.size(), &view);
  if (st != TN_OK) {
    return InvalidArgumentError(
        std::string("not a valid feature data set file: ") + tn_status_str(st));
  }
  Dataset d;
  const tn_fset_info& info = view.info;
  d.sample_dims_ = {1, info.frames, info.coeffs};
  d.sample_size_ = size_t{info.frames} * info.coeffs;
  d.encoding_ =
      Int8Encoding{info.front_end.s8_scale, info.front_end.s8_zero_point};
  d.labelled_ = true;
  for (uint32_t c = 0; c < info.class_count; ++c) {
    char name[TN_FSET_CLASS_NAME_SIZE + 1];
    if (tn_fset_class_name(&view, c, name) != TN_OK) {
      return InternalError("class name of a validated file");
    }
    d.class_names_.emplace_back(name);
  }
  const size_t n = info.sample_count;
  d.values_.resize(n * d.sample_size_);
  d.codes_.resize(n * d.sample_size_);
  d.labels_.resize(n);
  d.splits_.resize(n);
  const float scale = info.front_end.s8_scale;
  const int32_t zp = info.front_end.s8_zero_point;
  for (size_t i = 0; i < n; ++i) {
    tn_fset_record r;
    if (tn_fset_get(&view, static_cast<uint32_t>(i), &r) != TN_OK) {
      return InternalError("record of a validated file");
    }
    d.labels_[i] = static_cast<int32_t>(r.label);
    d.splits_[i] = static_cast<int32_t>(r.split);
    for (size_t k = 0; k < d.sample_size_; ++k) {
      const int8_t q = r.features[k];
      d.codes_[i * d.sample_size_ + k] = q;
      d.values_[i * d.sample_size_ + k] = scale * static_cast<float>(q - zp);
    }
  }
  return d;
}

Result<Dataset> Dataset::FromFloat(std::vector<int64_t> sample_dims,
                                   std::vector<std::vector<float>> samples,
                                   std::vector<int32_t> labels,
                                   std::vector<std::string> class_names) {
  Dataset d;
  size_t size = 1;
  for (int64_t v : sample_dims) {
    if (v < 1 || v > (int64_t{1} << 24)) {
      return InvalidArgumentError("sample dimensions must be in 1..2^24");
    }
    size *= static_cast<size_t>(v);
    if (size > (size_t{1} << 24)) {
      return InvalidArgumentError("samples larger than 2^24 values");
    }
  }
  if (!labels.empty() && labels.size() != samples.size()) {
    return InvalidArgumentError("labels and samples differ in number");
  }
  for (int32_t l : labels) {
    if (l < 0) return InvalidArgumentError("labels must be >= 0");
    if (!class_names.empty() && static_cast<size_t>(l) >= class_names.size()) {
      return InvalidArgumentError("a label is not among the class names");
    }
  }
  d.sample_dims_ = std::move(sample_dims);
  d.sample_size_ = size;
  d.values_.reserve(samples.size() * size);
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].size() != size) {
      return InvalidArgumentError("sample " + std::to_string(i) + " has " +
                                  std::to_string(samples[i].size()) +
                                  " values; the sample shape needs " +
                                  std::to_string(size));
    }
    d.values_.insert(d.values_.end(), samples[i].begin(), samples[i].end());
  }
  d.labelled_ = !labels.empty();
  d.labels_ = d.labelled_ ? std::move(labels)
                          : std::vector<int32_t>(samples.size(), -1);
  d.splits_.assign(samples.size(), kTrain);
  d.class_names_ = std::move(class_names);
  return d;
}

Result<Dataset> Dataset::FromInt8(std::vector<int64_t> sample_dims,
                                  std::vector<std::vector<int8_t>> samples,
                                  Int8Encoding encoding,
                                  std::vector<int32_t> labels,
                                  std::vector<std::string> class_names) {
  if (!(encoding.scale > 0) || !std::isfinite(encoding.scale) ||
      !std::isnormal(encoding.scale) || encoding.zero_point < -128 ||
      encoding.zero_point > 127) {
    return InvalidArgumentError("invalid int8 encoding");
  }
  std::vector<std::vector<float>> reals(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    reals[i].reserve(samples[i].size());
    for (int8_t q : samples[i]) {
      reals[i].push_back(encoding.scale *
                         static_cast<float>(q - encoding.zero_point));
    }
  }
  TF_ASSIGN_OR_RETURN(Dataset d,
                      FromFloat(std::move(sample_dims), std::move(reals),
                                std::move(labels), std::move(class_names)));
  d.encoding_ = encoding;
  d.codes_.reserve(samples.size() * d.sample_size_);
  for (const auto& s : samples)
    d.codes_.insert(d.codes_.end(), s.begin(), s.end());
  return d;
}

size_t Dataset::class_count() const {
  if (!class_names_.empty()) return class_names_.size();
  int32_t m = -1;
  for (int32_t l : labels_) m = std::max(m, l);
  return static_cast<size_t>(m + 1);
}

Dataset Dataset::Filter(Split split) const {
  Dataset d;
  d.sample_dims_ = sample_dims_;
  d.sample_size_ = sample_size_;
  d.class_names_ = class_names_;
  d.encoding_ = encoding_;
  d.labelled_ = labelled_;
  for (size_t i = 0; i < size(); ++i) {
    if (splits_[i] != split) continue;
    d.labels_.push_back(labels_[i]);
    d.splits_.push_back(splits_[i]);
    auto v = sample(i);
    d.values_.insert(d.values_.end(), v.begin(), v.end());
    if (encoding_) {
      auto c = codes(i);
      d.codes_.insert(d.codes_.end(), c.begin(), c.end());
    }
  }
  return d;
}

Dataset Dataset::Head(size_t n) const {
  Dataset d = *this;
  n = std::min(n, size());
  d.labels_.resize(n);
  d.splits_.resize(n);
  d.values_.resize(n * sample_size_);
  if (encoding_) d.codes_.resize(n * sample_size_);
  return d;
}

}  // namespace tinyfleet::models
