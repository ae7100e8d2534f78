// FleetGauges: Prometheus gauges of what the fleet is made of, recomputed
// from the store every so often (not on every scrape, so a scrape never
// waits for a scan of the device table):
//
//   tinyfleet_devices{lifecycle}                 active, decommissioned
//   tinyfleet_devices_by_firmware{firmware}      active devices
//   tinyfleet_devices_by_model{model}            active devices by the model
//                                                they run: "kws:2" when the
//                                                catalog knows it, else
//                                                "<id prefix>:<version>";
//                                                "none" without one
//   tinyfleet_rollouts{state}                    pending, running, paused,
//                                                completed, aborted
//   tinyfleet_rounds{state}                      created, selecting,
//                                                training, aggregating,
//                                                evaluating, completed,
//                                                failed, cancelled
//   tinyfleet_fleet_gauges_refreshed_timestamp_seconds
//   tinyfleet_fleet_gauges_errors_total          failed refreshes
//
// Online devices are tinyfleet_agents_connected (the registry's, live).
// Firmware and model label values come from what nodes report, so each
// family exports at most `max_label_values` values; the rest are summed
// under "other". Values no longer seen are removed.
//
// Thread-safety: thread-safe; refreshes are serialized.
#ifndef TINYFLEET_SERVER_METRICS_FLEET_GAUGES_H_
#define TINYFLEET_SERVER_METRICS_FLEET_GAUGES_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "server/store/store.h"

namespace prometheus {
class Registry;
class Gauge;
class Counter;
template <typename T>
class Family;
}  // namespace prometheus

namespace tinyfleet::metrics {

struct FleetGaugesOptions {
  // Refresh() does nothing when the last refresh is more recent. Default 15 s.
  std::chrono::milliseconds min_interval{15'000};
  // Distinct firmware or model values exported per family. Default 50.
  size_t max_label_values = 50;
  // Devices read per store query. Default 1000.
  uint32_t page_size = 1000;
};

class FleetGauges {
 public:
  // `store`, `metrics` and `clock` must outlive the gauges.
  static Result<std::unique_ptr<FleetGauges>> Create(
      store::Store* store, prometheus::Registry* metrics, const Clock* clock,
      FleetGaugesOptions options = {});

  // Recomputes every gauge when `min_interval` has passed since the last
  // refresh (or always, with `force`). A failed store read keeps the
  // previous values, counts an error and logs a warning (once per run of
  // failures); its status is returned.
  Status Refresh(bool force = false);

 private:
  using GaugeFamily = prometheus::Family<prometheus::Gauge>;
  FleetGauges(store::Store* store, prometheus::Registry* metrics,
              const Clock* clock, FleetGaugesOptions options);
  Status RefreshLocked();  // REQUIRES: mu_ held
  // Sets `family`{label=k} to each count and removes the other values.
  void Publish(GaugeFamily* family, const std::string& label,
               std::map<std::string, uint64_t> counts,
               std::map<std::string, prometheus::Gauge*>* shown);

  store::Store* store_;
  const Clock* clock_;
  FleetGaugesOptions options_;

  std::mutex mu_;
  bool refreshed_ = false;                                    // guarded by mu_
  bool failing_ = false;                                      // guarded by mu_
  std::chrono::steady_clock::time_point last_refresh_{};      // guarded by mu_
  std::map<std::string, prometheus::Gauge*> firmware_shown_;  // guarded by mu_
  std::map<std::string, prometheus::Gauge*> model_shown_;     // guarded by mu_

  prometheus::Gauge* active_ = nullptr;
  prometheus::Gauge* decommissioned_ = nullptr;
  GaugeFamily* by_firmware_ = nullptr;
  GaugeFamily* by_model_ = nullptr;
  std::map<int, prometheus::Gauge*> rollouts_;  // by v1::RolloutState
  std::map<int, prometheus::Gauge*> rounds_;    // by v1::RoundState
  prometheus::Gauge* refreshed_at_ = nullptr;
  prometheus::Counter* errors_ = nullptr;
};

}  // namespace tinyfleet::metrics

#endif  // TINYFLEET_SERVER_METRICS_FLEET_GAUGES_H_
