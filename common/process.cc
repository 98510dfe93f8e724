#include "common/process.h"

#include <signal.h>
#if defined(__GLIBC__)
#endif

#include <atomic>
#include <chrono>
#include <thread>

#include "common/log.h"

namespace provledger {

namespace {
std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }
}  // namespace

Status SetLogLevelByName(const std::string& name) {
  if (name == "debug") {
    SetLogLevel(LogLevel::kDebug);
  } else if (name == "info") {
    SetLogLevel(LogLevel::kInfo);
  } else if (name == "warn") {
    SetLogLevel(LogLevel::kWarn);
  } else if (name == "error") {
    SetLogLevel(LogLevel::kError);
  } else {
    return InvalidArgumentError("--log_level must be debug, info, warn or error, not '" + name +
                                "'");
  }
  return OkStatus();
}

void RequestStop() { g_stop.store(true); }

void RunUntilStopSignal(const std::function<void()>& every_100ms) {
  signal(SIGINT, OnStopSignal);
  signal(SIGTERM, OnStopSignal);
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (every_100ms) every_100ms();
  }
}

}  // namespace provledger
