// Minimal leveled logging to stderr, one line per message with an ISO-8601
// UTC timestamp, the level and the component. Thread-safe: each line is
// written with a single write. The minimum level is process-wide and set
// once by main() (SetMinLogLevel); tests leave the default (kInfo).
#ifndef TINYFLEET_COMMON_LOG_H_
#define TINYFLEET_COMMON_LOG_H_

#include <sstream>
#include <string_view>

namespace tinyfleet {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();
// Parses "debug", "info", "warning", "error"; false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);

namespace internal {
class LogLine {
 public:
  LogLine(LogLevel level, std::string_view component);
  ~LogLine();
  template <typename T>
  LogLine& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};
// Turns the stream expression into void for the conditional in TF_LOG.
struct LogVoidify {
  void operator&(const LogLine&) {}
};
}  // namespace internal

}  // namespace tinyfleet

// TF_LOG(kInfo, "gateway") << "listening on " << addr;
// An expression statement: safe in unbraced if/else.
#define TF_LOG(level, component)                                         \
  !(::tinyfleet::LogLevel::level >= ::tinyfleet::MinLogLevel())          \
      ? (void)0                                                          \
      : ::tinyfleet::internal::LogVoidify() &                            \
            ::tinyfleet::internal::LogLine(::tinyfleet::LogLevel::level, \
                                           component)

#endif  // TINYFLEET_COMMON_LOG_H_
