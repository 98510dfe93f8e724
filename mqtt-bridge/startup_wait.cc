#include "mqtt-bridge/startup_wait.h"

#include <algorithm>
#include <cstdio>
#include <random>

namespace provledger::bridge {

bool IsWorthWaitingFor(StatusCode code) {
  return code == StatusCode::kNotFound || client::IsTransient(code, client::CallKind::kRead);
}

namespace {

std::string CodeAndMessage(const Status& s) {
  return std::string(StatusCodeName(s.code())) + ": " + s.message();
}

std::string Describe(const client::NodeAnswer& a) {
  const bool unreachable = a.status.code() == StatusCode::kUnavailable ||
                           a.status.code() == StatusCode::kDeadlineExceeded;
  std::string who = a.address.empty() ? std::string("a node") : a.address;
  if (unreachable) return who + " unreachable (" + CodeAndMessage(a.status) + ")";
  return who + " says " + CodeAndMessage(a.status);
}

std::string SecondsLeft(uint64_t ms) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.1f s left", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace

std::string DescribeAnswers(const std::vector<client::NodeAnswer>& answers) {
  std::string out;
  for (const auto& a : answers) {
    if (!out.empty()) out += ", ";
    out += Describe(a);
  }
  return out;
}

StartupWait::StartupWait(uint32_t timeout_ms, client::RetryClock clock,
                         std::function<void(const std::string&)> progress)
    : timeout_ms_(timeout_ms),
      clock_(std::move(clock)),
      progress_(std::move(progress)),
      deadline_ms_(clock_.now_ms() + timeout_ms) {}

Status StartupWait::Until(const std::string& what, const Attempt& attempt) {
  client::Backoff backoff(200, 2000, std::random_device{}() ^ deadline_ms_);
  uint64_t tries = 0;
  for (;;) {
    std::vector<client::NodeAnswer> answers;
    Status s = attempt(&answers);
    ++tries;
    if (s.ok()) return s;
    if (answers.empty()) answers.push_back(client::NodeAnswer{"", s});
    for (const auto& a : answers) {
      if (!a.status.ok() && !IsWorthWaitingFor(a.status.code())) {
        return Status(a.status.code(), (a.address.empty() ? "" : a.address + " refused: ") +
                                           CodeAndMessage(a.status) + " (while waiting for " +
                                           what + "; not retried)");
      }
    }
    const uint64_t now = clock_.now_ms();
    if (now >= deadline_ms_) {
      StatusCode code = s.code();
      for (const auto& a : answers) {
        if (a.status.code() == StatusCode::kNotFound) code = StatusCode::kNotFound;
      }
      return Status(code, "gave up waiting for " + what + " after " + std::to_string(timeout_ms_) +
                              " ms (--startup_timeout_ms, " + std::to_string(tries) +
                              " tries): " + DescribeAnswers(answers));
    }
    const uint32_t sleep_ms =
        static_cast<uint32_t>(std::min<uint64_t>(backoff.NextMs(), deadline_ms_ - now));
    if (progress_) {
      progress_("waiting for " + what + ": " + DescribeAnswers(answers) + "; next try in " +
                std::to_string(sleep_ms) + " ms, " + SecondsLeft(deadline_ms_ - now));
    }
    clock_.sleep_ms(sleep_ms);
  }
}

}  // namespace provledger::bridge
