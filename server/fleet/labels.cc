#include "server/fleet/labels.h"

#include <cctype>

namespace tinyfleet::fleet {
namespace {
std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}
}  // namespace

Status ValidateLabelKey(std::string_view key) {
  if (key.empty() || key.size() > 63) {
    return InvalidArgumentError("label key must be 1..63 characters");
  }
  if (!std::isalnum(static_cast<unsigned char>(key[0])) ||
      std::isupper(static_cast<unsigned char>(key[0]))) {
    return InvalidArgumentError(
        "label key \"" + std::string(key) +
        "\" must start with a lowercase letter or digit");
  }
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '/' || c == '-';
    if (!ok) {
      return InvalidArgumentError("label key \"" + std::string(key) +
                                  "\" may hold only [a-z0-9._/-]");
    }
  }
  return Status::Ok();
}

Status ValidateLabelValue(std::string_view value) {
  if (value.size() > 63) {
    return InvalidArgumentError("label value must be at most 63 characters");
  }
  for (char c : value) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
              c == '_' || c == ':' || c == '-';
    if (!ok) {
      return InvalidArgumentError("label value \"" + std::string(value) +
                                  "\" may hold only [A-Za-z0-9._:-]");
    }
  }
  return Status::Ok();
}

Status ValidateLabels(const store::Labels& labels) {
  if (labels.size() > 64) return InvalidArgumentError("at most 64 labels");
  for (const auto& [k, v] : labels) {
    TF_RETURN_IF_ERROR(ValidateLabelKey(k));
    TF_RETURN_IF_ERROR(ValidateLabelValue(v));
  }
  return Status::Ok();
}

Result<std::vector<store::LabelRequirement>> ParseSelector(
    std::string_view text) {
  std::vector<store::LabelRequirement> out;
  text = Trim(text);
  if (text.empty()) return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view term = Trim(text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos
                                               : comma - start));
    if (term.empty())
      return InvalidArgumentError("empty term in label selector");
    store::LabelRequirement r;
    size_t ne = term.find("!=");
    size_t eq = term.find('=');
    if (ne != std::string_view::npos) {
      r.op = store::LabelRequirement::Op::kNotEquals;
      r.key = std::string(Trim(term.substr(0, ne)));
      r.value = std::string(Trim(term.substr(ne + 2)));
    } else if (eq != std::string_view::npos) {
      r.op = store::LabelRequirement::Op::kEquals;
      r.key = std::string(Trim(term.substr(0, eq)));
      r.value = std::string(Trim(term.substr(eq + 1)));
    } else {
      r.op = store::LabelRequirement::Op::kExists;
      r.key = std::string(term);
    }
    Status s = ValidateLabelKey(r.key);
    if (s.ok()) s = ValidateLabelValue(r.value);
    if (!s.ok()) return s.WithContext("label selector");
    out.push_back(std::move(r));
    if (out.size() > 16)
      return InvalidArgumentError("label selector: at most 16 terms");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool Matches(const std::vector<store::LabelRequirement>& selector,
             const store::Labels& labels) {
  for (const auto& r : selector) {
    auto it = labels.find(r.key);
    switch (r.op) {
      case store::LabelRequirement::Op::kEquals:
        if (it == labels.end() || it->second != r.value) return false;
        break;
      case store::LabelRequirement::Op::kNotEquals:
        if (it != labels.end() && it->second == r.value) return false;
        break;
      case store::LabelRequirement::Op::kExists:
        if (it == labels.end()) return false;
        break;
    }
  }
  return true;
}

}  // namespace tinyfleet::fleet
