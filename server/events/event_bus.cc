#include "server/events/event_bus.h"

#include <google/protobuf/util/time_util.h>

namespace tinyfleet::events {

EventBus::EventBus(const Clock* clock, size_t capacity)
    : clock_(clock), capacity_(capacity == 0 ? 1 : capacity) {}

uint64_t EventBus::Publish(v1::Event event) {
  std::lock_guard<std::mutex> order(publish_mu_);
  std::vector<std::shared_ptr<Callback>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    event.set_sequence(next_sequence_++);
    *event.mutable_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        clock_->NowUnixMillis());
    ring_.push_back(event);
    if (ring_.size() > capacity_) ring_.pop_front();
    subs.reserve(subs_.size());
    for (const auto& [id, cb] : subs_) subs.push_back(cb);
  }
  for (const auto& cb : subs) (*cb)(event);
  return event.sequence();
}

Result<uint64_t> EventBus::Subscribe(uint64_t after_sequence, Callback callback) {
  std::lock_guard<std::mutex> order(publish_mu_);
  std::vector<v1::Event> backlog;
  uint64_t id;
  auto cb = std::make_shared<Callback>(std::move(callback));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (after_sequence > 0) {
      uint64_t oldest = ring_.empty() ? next_sequence_ : ring_.front().sequence();
      if (after_sequence + 1 < oldest) {
        return OutOfRangeError("events after " + std::to_string(after_sequence) +
                               " are no longer kept; re-list and watch from " +
                               std::to_string(next_sequence_ - 1));
      }
      if (after_sequence >= next_sequence_) {
        return InvalidArgumentError("after_sequence is in the future");
      }
      for (const auto& e : ring_) {
        if (e.sequence() > after_sequence) backlog.push_back(e);
      }
    }
    id = next_subscription_++;
    subs_[id] = cb;
  }
  // Publishers wait on publish_mu_, so nothing can slip between the backlog
  // and live delivery.
  for (const auto& e : backlog) (*cb)(e);
  return id;
}

void EventBus::Unsubscribe(uint64_t subscription) {
  std::lock_guard<std::mutex> lock(mu_);
  subs_.erase(subscription);
}

uint64_t EventBus::last_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_sequence_ - 1;
}

}  // namespace tinyfleet::events
