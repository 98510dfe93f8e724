// One event per line, key=value, fixed keys first (STYLE.md section 5):
//   ts=2026-11-25T13:00:00.123Z lvl=info comp=node node=v0 ev=block_committed height=3
// Never pass a key, secret or payload. Thread rules: Log() is thread-safe (one write(2)).
#ifndef PROVLEDGER_COMMON_LOG_H_
#define PROVLEDGER_COMMON_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace provledger {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Sets the minimum level printed (default info) and the process-wide fixed keys.
void SetLogLevel(LogLevel level);
void SetLogContext(std::string comp, std::string node);

// Builds one log line; emitted on destruction.
class LogLine {
 public:
  LogLine(LogLevel level, std::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  // Adds key=value; values with spaces, quotes or '=' are quoted.
  LogLine& Kv(std::string_view key, std::string_view value);
  LogLine& Kv(std::string_view key, const char* value) { return Kv(key, std::string_view(value)); }
  LogLine& Kv(std::string_view key, const std::string& value) {
    return Kv(key, std::string_view(value));
  }
  LogLine& Kv(std::string_view key, uint64_t value);
  LogLine& Kv(std::string_view key, int64_t value);
  LogLine& Kv(std::string_view key, int value) { return Kv(key, static_cast<int64_t>(value)); }
  LogLine& Kv(std::string_view key, unsigned value) {
    return Kv(key, static_cast<uint64_t>(value));
  }
  LogLine& Kv(std::string_view key, double value);

 private:
  bool enabled_;
  std::string line_;
};

inline LogLine LogInfo(std::string_view ev) { return LogLine(LogLevel::kInfo, ev); }
inline LogLine LogWarn(std::string_view ev) { return LogLine(LogLevel::kWarn, ev); }
inline LogLine LogError(std::string_view ev) { return LogLine(LogLevel::kError, ev); }
inline LogLine LogDebug(std::string_view ev) { return LogLine(LogLevel::kDebug, ev); }

// Milliseconds since the Unix epoch, from the system clock.
uint64_t NowMs();

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_LOG_H_
