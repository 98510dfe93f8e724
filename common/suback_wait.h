// SubackWait: how long a SUBSCRIBE waits for its SUBACK, for both MQTT clients
// (MqttClient, MqttConsumer). A resumed session's backlog arrives before the SUBACK, so
// while messages are still being delivered the broker is answering, however long the
// caller takes over them: the wait ends `idle` after the later of its start and the last
// delivery it saw, and never later than 10 x `idle` after its start.
//
// Thread rules: not thread-safe; one per waiting Subscribe call. Time is passed in, so the
// rule is testable without a clock.
#ifndef PROVLEDGER_COMMON_SUBACK_WAIT_H_
#define PROVLEDGER_COMMON_SUBACK_WAIT_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace provledger {

class SubackWait {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts the wait at `start`; `delivered` is the client's count of messages delivered so
  // far (any monotonic counter that moves on each delivery).
  SubackWait(std::chrono::milliseconds idle, uint64_t delivered, Clock::time_point start);

  // OK while the wait goes on; a change of `delivered` since the last call restarts the idle
  // deadline from `now`. kUnavailable once it is over: "<what>: no SUBACK and no message
  // for <idle> ms" or "<what>: no SUBACK after <10 x idle> ms".
  Status Check(const std::string& what, uint64_t delivered, Clock::time_point now);

 private:
  std::chrono::milliseconds idle_;
  Clock::time_point cap_;
  Clock::time_point deadline_;
  uint64_t seen_;
};

// "subscribe 3 filters (a/#, ...)": how both clients name a SUBSCRIBE in their errors.
// `filters` must not be empty.
std::string DescribeSubscribe(const std::vector<std::string>& filters);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_SUBACK_WAIT_H_
