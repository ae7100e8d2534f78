#include "common/clock.h"

namespace tinyfleet {

int64_t SystemClock::NowUnixMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::steady_clock::time_point SystemClock::SteadyNow() const {
  return std::chrono::steady_clock::now();
}

const SystemClock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

FakeClock::FakeClock(int64_t start_unix_millis)
    : unix_millis_(start_unix_millis),
      steady_(std::chrono::steady_clock::time_point{}) {}

int64_t FakeClock::NowUnixMillis() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unix_millis_;
}

std::chrono::steady_clock::time_point FakeClock::SteadyNow() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steady_;
}

void FakeClock::Advance(std::chrono::milliseconds delta) {
  std::lock_guard<std::mutex> lock(mu_);
  unix_millis_ += delta.count();
  steady_ += delta;
}

}  // namespace tinyfleet
