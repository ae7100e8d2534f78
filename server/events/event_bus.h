// EventBus: the gateway's stream of fleet events (devices online/offline,
// enrolled, relabelled, decommissioned; later rollouts, rounds, models), as
// served by FleetService.WatchEvents and the dashboard's live updates.
//
// Events get a gateway-wide, strictly increasing sequence number and are kept
// in a bounded ring (the newest `capacity`), so a watcher that reconnects
// with its last sequence misses nothing that is still in the ring; a watcher
// that fell further behind is told so (it should re-list and watch anew).
//
// Thread-safety: thread-safe. Subscriber callbacks run on the publishing
// thread, without the bus's lock held, and must not block.
#ifndef TINYFLEET_SERVER_EVENTS_EVENT_BUS_H_
#define TINYFLEET_SERVER_EVENTS_EVENT_BUS_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "tinyfleet/v1/fleet.pb.h"

namespace tinyfleet::events {

class EventBus {
 public:
  using Callback = std::function<void(const v1::Event&)>;

  // `clock` must outlive the bus.
  EventBus(const Clock* clock, size_t capacity = 10'000);

  // Stamps `event` with the next sequence number and the time, stores it,
  // and delivers it to every subscriber. Returns the sequence number.
  uint64_t Publish(v1::Event event);

  // Subscribes to events after `after_sequence` (0: only new ones). Events
  // still in the ring are delivered first, in order, before Subscribe
  // returns. OUT_OF_RANGE when some events after `after_sequence` have
  // already left the ring. Returns a subscription id for Unsubscribe.
  Result<uint64_t> Subscribe(uint64_t after_sequence, Callback callback);
  void Unsubscribe(uint64_t subscription);

  uint64_t last_sequence() const;

 private:
  const Clock* clock_;
  size_t capacity_;
  // Serializes publication and subscription so that a subscriber sees every
  // event exactly once and in order.
  std::mutex publish_mu_;
  mutable std::mutex mu_;
  std::deque<v1::Event> ring_;                          // guarded by mu_
  uint64_t next_sequence_ = 1;                          // guarded by mu_
  uint64_t next_subscription_ = 1;                      // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Callback>> subs_;  // guarded by mu_
};

}  // namespace tinyfleet::events

#endif  // TINYFLEET_SERVER_EVENTS_EVENT_BUS_H_
