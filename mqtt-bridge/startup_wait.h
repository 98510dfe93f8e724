// StartupWait: how the bridge waits at start for what it cannot run without (a node that
// answers, its gateway's registration, the device list). A registration commits on a quorum
// first and reaches the other nodes later, so a NOT_FOUND from one node is no final answer
// until the wait runs out; a node that is down or missed its deadline may answer on the next
// try. Any other refusal (PERMISSION_DENIED for the bridge's TLS role, INVALID_ARGUMENT, ...)
// will not change by waiting and ends the wait at once.
//
// Thread rules: one StartupWait per thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_STARTUP_WAIT_H_
#define PROVLEDGER_MQTT_BRIDGE_STARTUP_WAIT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "client/ledger_client.h"
#include "client/retry_policy.h"
#include "common/status.h"

namespace provledger::bridge {

// True for the codes StartupWait waits out: NOT_FOUND, and the transient codes of a read
// (client::IsTransient).
bool IsWorthWaitingFor(StatusCode code);

// "A says NOT_FOUND: gateway 'gw-1' is not registered, B unreachable (UNAVAILABLE: ...)".
std::string DescribeAnswers(const std::vector<client::NodeAnswer>& answers);

class StartupWait {
 public:
  // One try: OK ends the wait. Otherwise its status, and in `answers` what each node asked
  // said (left empty, the status stands for the one answer).
  using Attempt = std::function<Status(std::vector<client::NodeAnswer>* answers)>;

  // The waits share one budget of `timeout_ms` from construction. `progress` is told one
  // line for people before each sleep between tries.
  StartupWait(uint32_t timeout_ms, client::RetryClock clock,
              std::function<void(const std::string&)> progress);

  // Tries `attempt` until it returns OK, sleeping a jittered, doubling backoff (200 ms up to
  // 2 s, client::Backoff) between tries while every answer is worth waiting for. `what`
  // names the wait ("gateway 'gw-1' to be registered"). Returns OK; the first answer not
  // worth waiting for, naming its node; or, once the budget is spent, the last code (NOT_FOUND
  // if any node said so) with every node's last answer in the message.
  Status Until(const std::string& what, const Attempt& attempt);

 private:
  uint32_t timeout_ms_;
  client::RetryClock clock_;
  std::function<void(const std::string&)> progress_;
  uint64_t deadline_ms_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_STARTUP_WAIT_H_
