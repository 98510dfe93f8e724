#include "common/suback_wait.h"

namespace provledger {

SubackWait::SubackWait(std::chrono::milliseconds idle, uint64_t delivered, Clock::time_point start)
    : idle_(idle), cap_(start + 10 * idle), deadline_(start + idle), seen_(delivered) {}

Status SubackWait::Check(const std::string& what, uint64_t delivered, Clock::time_point now) {
  if (delivered != seen_) {
    seen_ = delivered;
    deadline_ = now + idle_;
  }
  if (now >= cap_) {
    return UnavailableError(what + ": no SUBACK after " + std::to_string(10 * idle_.count()) +
                            " ms");
  }
  if (now >= deadline_) {
    return UnavailableError(what + ": no SUBACK and no message for " +
                            std::to_string(idle_.count()) + " ms");
  }
  return OkStatus();
}

std::string DescribeSubscribe(const std::vector<std::string>& filters) {
  return "subscribe " + std::to_string(filters.size()) + " filters (" + filters[0] +
         (filters.size() > 1 ? ", ...)" : ")");
}

}  // namespace provledger
