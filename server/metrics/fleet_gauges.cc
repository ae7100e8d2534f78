#include "server/metrics/fleet_gauges.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <vector>

#include "common/log.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::metrics {
namespace {

constexpr char kOther[] = "other";

const v1::ModelSlot* RunningSlot(const v1::NodeInfo& node) {
  const v1::ModelSlot* pending = nullptr;
  for (const auto& s : node.slots()) {
    if (s.state() == v1::SLOT_STATE_ACTIVE) return &s;
    if (s.state() == v1::SLOT_STATE_PENDING_CONFIRM) pending = &s;
  }
  return pending;
}

// A label value from node reports: printable ASCII, at most 64 characters.
std::string LabelValue(const std::string& reported) {
  std::string out;
  for (char c : reported) {
    if (out.size() == 64) break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out.empty() ? "unknown" : out;
}

std::string ModelKey(const std::string& model_id, uint32_t version) {
  return model_id + ":" + std::to_string(version);
}

// Keeps the `max` largest counts and folds the rest into "other".
std::map<std::string, uint64_t> Bounded(std::map<std::string, uint64_t> counts,
                                        size_t max) {
  if (counts.size() <= max) return counts;
  std::vector<std::pair<std::string, uint64_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::map<std::string, uint64_t> out;
  size_t keep = max > 0 ? max - 1 : 0;  // one value is "other"
  for (size_t i = 0; i < v.size(); ++i) {
    if (i < keep && v[i].first != kOther) {
      out[v[i].first] = v[i].second;
    } else {
      out[kOther] += v[i].second;
    }
  }
  return out;
}

}  // namespace

FleetGauges::FleetGauges(store::Store* store, prometheus::Registry* metrics,
                         const Clock* clock, FleetGaugesOptions options)
    : store_(store), clock_(clock), options_(options) {
  auto& devices = prometheus::BuildGauge()
                      .Name("tinyfleet_devices")
                      .Help("Enrolled devices, by lifecycle")
                      .Register(*metrics);
  active_ = &devices.Add({{"lifecycle", "active"}});
  decommissioned_ = &devices.Add({{"lifecycle", "decommissioned"}});
  by_firmware_ = &prometheus::BuildGauge()
                      .Name("tinyfleet_devices_by_firmware")
                      .Help("Active devices, by reported firmware version")
                      .Register(*metrics);
  by_model_ = &prometheus::BuildGauge()
                   .Name("tinyfleet_devices_by_model")
                   .Help("Active devices, by the model version they run")
                   .Register(*metrics);
  auto& rollouts = prometheus::BuildGauge()
                       .Name("tinyfleet_rollouts")
                       .Help("Rollouts, by state")
                       .Register(*metrics);
  static const std::pair<v1::RolloutState, const char*> kStates[] = {
      {v1::ROLLOUT_STATE_PENDING, "pending"},
      {v1::ROLLOUT_STATE_RUNNING, "running"},
      {v1::ROLLOUT_STATE_PAUSED, "paused"},
      {v1::ROLLOUT_STATE_COMPLETED, "completed"},
      {v1::ROLLOUT_STATE_ABORTED, "aborted"},
  };
  for (const auto& [state, name] : kStates) {
    rollouts_[state] = &rollouts.Add({{"state", name}});
  }
  auto& rounds = prometheus::BuildGauge()
                     .Name("tinyfleet_rounds")
                     .Help("Adaptation rounds, by state")
                     .Register(*metrics);
  static const std::pair<v1::RoundState, const char*> kRoundStates[] = {
      {v1::ROUND_STATE_CREATED, "created"},
      {v1::ROUND_STATE_SELECTING, "selecting"},
      {v1::ROUND_STATE_TRAINING, "training"},
      {v1::ROUND_STATE_AGGREGATING, "aggregating"},
      {v1::ROUND_STATE_EVALUATING, "evaluating"},
      {v1::ROUND_STATE_COMPLETED, "completed"},
      {v1::ROUND_STATE_FAILED, "failed"},
      {v1::ROUND_STATE_CANCELLED, "cancelled"},
  };
  for (const auto& [state, name] : kRoundStates) {
    rounds_[state] = &rounds.Add({{"state", name}});
  }
  refreshed_at_ =
      &prometheus::BuildGauge()
           .Name("tinyfleet_fleet_gauges_refreshed_timestamp_seconds")
           .Help("When the fleet gauges were last recomputed (unix seconds)")
           .Register(*metrics)
           .Add({});
  errors_ = &prometheus::BuildCounter()
                 .Name("tinyfleet_fleet_gauges_errors_total")
                 .Help("Fleet gauge refreshes that failed to read the store")
                 .Register(*metrics)
                 .Add({});
}

Result<std::unique_ptr<FleetGauges>> FleetGauges::Create(
    store::Store* store, prometheus::Registry* metrics, const Clock* clock,
    FleetGaugesOptions options) {
  if (!store || !metrics || !clock) {
    return InvalidArgumentError(
        "fleet gauges need a store, metrics and a clock");
  }
  if (options.page_size == 0 || options.max_label_values == 0) {
    return InvalidArgumentError(
        "fleet gauges: page size and label values must be positive");
  }
  return std::unique_ptr<FleetGauges>(
      new FleetGauges(store, metrics, clock, options));
}

Status FleetGauges::Refresh(bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = clock_->SteadyNow();
  if (!force && refreshed_ && now - last_refresh_ < options_.min_interval) {
    return Status::Ok();
  }
  last_refresh_ = now;
  Status s = RefreshLocked();
  if (s.ok()) {
    refreshed_ = true;
    if (failing_) TF_LOG(kInfo, "metrics") << "fleet gauges refresh again";
    failing_ = false;
    refreshed_at_->Set(static_cast<double>(clock_->NowUnixMillis()) / 1000.0);
  } else {
    errors_->Increment();
    if (!failing_) {
      TF_LOG(kWarning, "metrics")
          << "fleet gauges keep their previous values: " << s.ToString();
    }
    failing_ = true;
  }
  return s;
}

Status FleetGauges::RefreshLocked() {
  // Model versions the catalog knows, to name what devices run.
  std::map<std::string, std::string> model_refs;
  std::string after_ref;
  for (;;) {
    TF_ASSIGN_OR_RETURN(
        auto models, store_->models().List("", after_ref, options_.page_size));
    for (const auto& m : models) {
      model_refs[ModelKey(m.model.model_id(), m.model.blob_version())] =
          m.model.ref();
      after_ref = m.model.ref();
    }
    if (models.size() < options_.page_size) break;
  }

  std::map<std::string, uint64_t> firmware, model;
  uint64_t active = 0;
  store::DeviceQuery q;
  q.lifecycle = store::Lifecycle::kActive;
  q.limit = options_.page_size;
  for (;;) {
    TF_ASSIGN_OR_RETURN(auto page, store_->devices().List(q));
    for (const auto& d : page.devices) {
      ++active;
      ++firmware[LabelValue(d.node.firmware_version())];
      const v1::ModelSlot* slot = RunningSlot(d.node);
      if (!slot || slot->model_id().empty()) {
        ++model["none"];
        continue;
      }
      std::string key = ModelKey(slot->model_id(), slot->model_version());
      auto it = model_refs.find(key);
      ++model[it != model_refs.end()
                  ? it->second
                  : ModelKey(LabelValue(slot->model_id().substr(0, 8)),
                             slot->model_version())];
    }
    if (!page.more || page.devices.empty()) break;
    q.after_id = page.devices.back().device_id;
  }
  TF_ASSIGN_OR_RETURN(uint64_t retired, store_->devices().Count(
                                            store::Lifecycle::kDecommissioned));

  std::map<int, uint64_t> rollout_states;
  std::string after_id;
  for (;;) {
    TF_ASSIGN_OR_RETURN(auto page,
                        store_->rollouts().List(after_id, options_.page_size));
    for (const auto& r : page) {
      ++rollout_states[r.state()];
      after_id = r.rollout_id();
    }
    if (page.size() < options_.page_size) break;
  }

  TF_ASSIGN_OR_RETURN(auto round_states, store_->rounds().CountByState());

  // Every read succeeded: publish all at once.
  active_->Set(static_cast<double>(active));
  decommissioned_->Set(static_cast<double>(retired));
  Publish(by_firmware_, "firmware",
          Bounded(firmware, options_.max_label_values), &firmware_shown_);
  Publish(by_model_, "model", Bounded(model, options_.max_label_values),
          &model_shown_);
  for (auto& [state, gauge] : rollouts_) {
    auto it = rollout_states.find(state);
    gauge->Set(it == rollout_states.end() ? 0.0
                                          : static_cast<double>(it->second));
  }
  for (auto& [state, gauge] : rounds_) {
    auto it = round_states.find(state);
    gauge->Set(it == round_states.end() ? 0.0
                                        : static_cast<double>(it->second));
  }
  return Status::Ok();
}

void FleetGauges::Publish(GaugeFamily* family, const std::string& label,
                          std::map<std::string, uint64_t> counts,
                          std::map<std::string, prometheus::Gauge*>* shown) {
  for (auto it = shown->begin(); it != shown->end();) {
    if (!counts.count(it->first)) {
      family->Remove(it->second);
      it = shown->erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [value, n] : counts) {
    auto it = shown->find(value);
    if (it == shown->end()) {
      it = shown->emplace(value, &family->Add({{label, value}})).first;
    }
    it->second->Set(static_cast<double>(n));
  }
}

}  // namespace tinyfleet::metrics
