// Linked with the bridge's own main into tests/integration:dropping_bridge: a gateway that
// silently drops every Nth reading of each device it accepted (N from PL_TEST_DROP_EVERY,
// default 50), as a dishonest or broken gateway would. Each drop is logged
// (ev=test_reading_dropped) so a test can compare what `ledgerctl audit` names with what was
// really dropped. Never part of the production bridge (mqtt-bridge/test_seams.h).
#include <map>
#include <mutex>
#include <string>

#include "common/log.h"
#include "mqtt-bridge/test_seams.h"
#include "tests/integration/seam_env.h"

namespace provledger::bridge {
namespace {

bool DropEveryNth(const std::string& device, const std::string& item, uint64_t seq) {
  static std::mutex mu;
  static std::map<std::string, uint64_t>* seen = new std::map<std::string, uint64_t>();
  static const uint64_t every = PositiveFromEnv("PL_TEST_DROP_EVERY", 50);
  std::lock_guard<std::mutex> lock(mu);
  if (++(*seen)[device] % every != 0) return false;
  LogWarn("test_reading_dropped").Kv("device", device).Kv("item", item).Kv("seq", seq);
  return true;
}

const bool installed = [] {
  test_seams::SetDropReading(&DropEveryNth);
  return true;
}();

}  // namespace
}  // namespace provledger::bridge
