// Clock: the one source of time for host code, injected so tests can use
// FakeClock. Wall time is for records and certificates; steady time is for
// timeouts and durations.
#ifndef TINYFLEET_COMMON_CLOCK_H_
#define TINYFLEET_COMMON_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <mutex>

namespace tinyfleet {

// Thread-safe in every implementation.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (UTC).
  virtual int64_t NowUnixMillis() const = 0;
  // A monotonic time point; only differences are meaningful.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

// The process clock. Stateless.
class SystemClock final : public Clock {
 public:
  int64_t NowUnixMillis() const override;
  std::chrono::steady_clock::time_point SteadyNow() const override;
  // A shared instance for main() to inject.
  static const SystemClock& Instance();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_millis = 1'700'000'000'000);
  int64_t NowUnixMillis() const override;
  std::chrono::steady_clock::time_point SteadyNow() const override;
  void Advance(std::chrono::milliseconds delta);

 private:
  mutable std::mutex mu_;
  int64_t unix_millis_;
  std::chrono::steady_clock::time_point steady_;
};

}  // namespace tinyfleet

#endif  // TINYFLEET_COMMON_CLOCK_H_
