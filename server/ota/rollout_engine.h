// RolloutEngine: staged, gated model rollouts with automatic rollback.
//
// A rollout targets a label selector (dynamic: devices enrolled later that
// match join it) or a fixed device list. Every target device belongs to one
// wave, by a stable hash of its id against the cumulative wave percentages
// (so a device joining later lands in the same wave on every gateway and
// after every restart). Devices of the waves up to the current one get an
// UpdateOrder when online; their agents report progress. A wave's gate
// passes when its members have settled (confirmed or failed), the failure
// ratio is at most the gate's maximum, the healthy ratio at least its
// minimum, the soak time has passed, and the on-device accuracy on the new
// version (labelled feedback in telemetry) is not worse than on the
// previous version by more than the allowed drop. A failed gate aborts the
// rollout and orders every updated device back to its previous slot.
//
// An install is sent as a delta (server/ota/delta.h) when the model version
// has one whose base is the blob the device runs, else as the full blob; a
// device that refuses the delta is ordered the full blob at once (its
// target's error says why).
//
// Every state change is written to the store before it takes effect, and
// all progress is kept there, so a gateway restarted at any moment resumes
// where it was (Tick() reloads unfinished rollouts).
//
// Thread-safety: thread-safe; calls are serialized internally.
#ifndef TINYFLEET_SERVER_OTA_ROLLOUT_ENGINE_H_
#define TINYFLEET_SERVER_OTA_ROLLOUT_ENGINE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "server/events/event_bus.h"
#include "server/fleet/registry.h"
#include "server/ota/artifact_store.h"
#include "server/store/store.h"
#include "tinyfleet/v1/agent.pb.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::ota {

struct RolloutEngineOptions {
  // Defaults for gate fields left zero in a request.
  double default_max_failure_ratio = 0.0;
  double default_min_healthy_ratio = 1.0;
  std::chrono::seconds default_wave_timeout{600};
  // An order without progress for this long is sent again.
  std::chrono::seconds order_retry{60};
  // An order the agent reported "interrupted" (transient error) is sent
  // again after this.
  std::chrono::milliseconds interrupted_retry{2000};
  // Runs the re-evaluation a final progress report (confirmed, failed,
  // rolled back) asks for, later and coalesced per rollout: while one is
  // queued, further reports of that rollout queue nothing more (a fan-out
  // to N nodes costs far fewer than N evaluations of N targets). The
  // closure must run on another thread than OnProgress's caller or after
  // it returns. Empty (default): evaluated inline, before OnProgress
  // returns.
  std::function<void(std::function<void()>)> defer;
};

class RolloutEngine {
 public:
  // All pointers outlive the engine; `events` may be null.
  static Result<std::unique_ptr<RolloutEngine>> Create(
      store::Store* store, fleet::Registry* registry, ArtifactStore* artifacts,
      events::EventBus* events, const Clock* clock,
      RolloutEngineOptions options = {});

  Result<v1::Rollout> CreateRollout(const v1::CreateRolloutRequest& request);
  Result<v1::Rollout> Get(const std::string& rollout_id);
  Result<std::vector<v1::Rollout>> List(const std::string& page_token,
                                        uint32_t page_size,
                                        std::string* next_page_token);
  Result<v1::Rollout> Pause(const std::string& rollout_id,
                            const std::string& reason);
  Result<v1::Rollout> Resume(const std::string& rollout_id);
  Result<v1::Rollout> Abort(const std::string& rollout_id,
                            const std::string& reason);

  // An agent's report on an order (from the device's authenticated session).
  void OnProgress(const std::string& device_id,
                  const v1::UpdateProgress& progress);

  // Advances every unfinished rollout: assigns new devices to waves, sends
  // due orders, evaluates gates. Call periodically and after progress.
  void Tick();

  // Order ids are "<rollout id>/<device id>", and "<rollout id>/<device
  // id>/delta" for an install sent as a delta.
  static std::string OrderId(const std::string& rollout_id,
                             const std::string& device_id);
  static std::string DeltaOrderId(const std::string& rollout_id,
                                  const std::string& device_id);

 private:
  RolloutEngine(store::Store* store, fleet::Registry* registry,
                ArtifactStore* artifacts, events::EventBus* events,
                const Clock* clock, RolloutEngineOptions options)
      : store_(store),
        registry_(registry),
        artifacts_(artifacts),
        events_(events),
        clock_(clock),
        options_(options),
        started_at_ms_(clock->NowUnixMillis()) {}

  Status TickOne(v1::Rollout rollout);                // REQUIRES: mu_ held
  Status SaveAndPublish(v1::Rollout* rollout);        // REQUIRES: mu_ held
  Status OrderRollbacks(const v1::Rollout& rollout);  // REQUIRES: mu_ held
  // Re-evaluates `rollout_id` via options_.defer. REQUIRES: mu_ not held.
  void Defer(const std::string& rollout_id);

  store::Store* store_;
  fleet::Registry* registry_;
  ArtifactStore* artifacts_;
  events::EventBus* events_;
  const Clock* clock_;
  RolloutEngineOptions options_;
  const int64_t started_at_ms_;
  std::mutex mu_;
  std::mutex deferred_mu_;
  std::set<std::string> deferred_;  // rollouts with a queued evaluation
};

// Wave of a device for cumulative percentages (e.g. {5, 25, 100}): stable
// hash of the id into [0, 100). Exposed for tests.
uint32_t WaveOf(const std::string& device_id,
                const std::vector<double>& wave_percents);

}  // namespace tinyfleet::ota

#endif  // TINYFLEET_SERVER_OTA_ROLLOUT_ENGINE_H_
