#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace provledger {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_ctx_mu;
std::string g_comp = "-";  // guarded by g_ctx_mu
std::string g_node = "-";  // guarded by g_ctx_mu

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    default:
      return "?";
  }
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  }
  return false;
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

void SetLogContext(std::string comp, std::string node) {
  std::lock_guard<std::mutex> lock(g_ctx_mu);
  g_comp = std::move(comp);
  g_node = std::move(node);
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

LogLine::LogLine(LogLevel level, std::string_view event)
    : enabled_(static_cast<int>(level) >= g_level.load()) {
  if (!enabled_) return;
  const uint64_t ms = NowMs();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(ms % 1000));
  std::lock_guard<std::mutex> lock(g_ctx_mu);
  line_ = std::string("ts=") + ts + " lvl=" + LevelName(level) + " comp=" + g_comp +
          " node=" + g_node + " ev=" + std::string(event);
}

LogLine::~LogLine() {
  if (!enabled_) return;
  line_ += '\n';
  // One write(2) per line keeps lines from different threads whole.
  ssize_t unused = ::write(STDERR_FILENO, line_.data(), line_.size());
  (void)unused;
}

LogLine& LogLine::Kv(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  line_ += ' ';
  line_.append(key.data(), key.size());
  line_ += '=';
  if (NeedsQuotes(value)) {
    line_ += '"';
    for (char c : value) {
      if (c == '"' || c == '\\') line_ += '\\';
      line_ += (c == '\n' ? ' ' : c);
    }
    line_ += '"';
  } else {
    line_.append(value.data(), value.size());
  }
  return *this;
}

LogLine& LogLine::Kv(std::string_view key, uint64_t value) {
  return Kv(key, std::string_view(std::to_string(value)));
}
LogLine& LogLine::Kv(std::string_view key, int64_t value) {
  return Kv(key, std::string_view(std::to_string(value)));
}
LogLine& LogLine::Kv(std::string_view key, double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  return Kv(key, std::string_view(buf));
}

}  // namespace provledger
