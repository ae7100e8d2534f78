// Device labels: validation of keys and values, and label selectors
// ("site=lab,ring!=canary,gpu") as used by device listings and rollouts.
#ifndef TINYFLEET_SERVER_FLEET_LABELS_H_
#define TINYFLEET_SERVER_FLEET_LABELS_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "server/store/store.h"

namespace tinyfleet::fleet {

// Keys: 1..63 characters of [a-z0-9._/-], starting with a letter or digit.
// Values: 0..63 characters of [A-Za-z0-9._:-].
Status ValidateLabelKey(std::string_view key);
Status ValidateLabelValue(std::string_view value);
Status ValidateLabels(const store::Labels& labels);

// Parses a comma-separated selector; each term is "key=value", "key!=value"
// or "key". Empty text selects everything. At most 16 terms.
Result<std::vector<store::LabelRequirement>> ParseSelector(
    std::string_view text);

// Whether `labels` satisfy every requirement.
bool Matches(const std::vector<store::LabelRequirement>& selector,
             const store::Labels& labels);

}  // namespace tinyfleet::fleet

#endif  // TINYFLEET_SERVER_FLEET_LABELS_H_
