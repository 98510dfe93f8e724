// Linked with the bridge's own main into tests/integration:killing_bridge: a bridge that
// kills itself with SIGKILL in its consumer thread once it has received PL_TEST_KILL_AFTER
// messages (default 300), at the point PL_TEST_KILL_PHASE names: `received` (a batch in hand,
// nothing of it written) or `written` (the batch in the intake, its PUBACKs not sent). It
// logs ev=test_bridge_killing first. Never part of the production bridge
// (mqtt-bridge/test_seams.h).
#include <signal.h>

#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "mqtt-bridge/test_seams.h"
#include "tests/integration/seam_env.h"

namespace provledger::bridge {
namespace {

test_seams::ConsumerPhase KillPhase() {
  const char* v = std::getenv("PL_TEST_KILL_PHASE");
  return v != nullptr && std::strcmp(v, "received") == 0
             ? test_seams::ConsumerPhase::kReceived
             : test_seams::ConsumerPhase::kIntakeWritten;
}

void KillAt(test_seams::ConsumerPhase phase, uint64_t messages) {
  static const uint64_t after = PositiveFromEnv("PL_TEST_KILL_AFTER", 300);
  static const test_seams::ConsumerPhase at = KillPhase();
  if (phase != at || messages < after) return;
  LogWarn("test_bridge_killing")
      .Kv("phase", phase == test_seams::ConsumerPhase::kReceived ? "received" : "written")
      .Kv("messages", messages);
  raise(SIGKILL);
}

const bool installed = [] {
  test_seams::SetConsumerSeam(&KillAt);
  return true;
}();

}  // namespace
}  // namespace provledger::bridge
