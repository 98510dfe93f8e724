#include "client/retry_policy.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace provledger::client {

bool IsTransient(StatusCode code, CallKind kind) {
  switch (code) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kAborted:
      return true;
    case StatusCode::kResourceExhausted:
      return kind != CallKind::kBatchOfMany;
    default:
      return false;
  }
}

Backoff::Backoff(uint32_t initial_ms, uint32_t max_ms, uint64_t seed)
    : next_ms_(std::max<uint32_t>(initial_ms, 1)),
      max_ms_(std::max(max_ms, initial_ms)),
      rng_(seed) {}

uint32_t Backoff::NextMs() {
  const uint32_t d = std::min(next_ms_, max_ms_);
  next_ms_ = d >= max_ms_ / 2 ? max_ms_ : d * 2;
  std::uniform_int_distribution<uint32_t> half(d / 2, d);
  return half(rng_);
}

RetryClock RetryClock::Steady() {
  return RetryClock{
      [] {
        return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count());
      },
      [](uint32_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }};
}

namespace {
std::string SecondsLeft(uint64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s left", static_cast<double>(ms) / 1000.0);
  return buf;
}
}  // namespace

StatusOr<size_t> RunWithRetries(const std::vector<std::string>& nodes, size_t start, CallKind kind,
                                uint32_t call_timeout_ms, const RetryOptions& options,
                                const RetryClock& clock,
                                const std::function<Status(size_t, uint32_t)>& attempt) {
  const size_t n = nodes.size();
  if (n == 0) return InvalidArgumentError("no node address given");
  Status last = UnavailableError("no node answered");
  if (options.budget_ms == 0) {
    // One pass: only a node that could not answer is worth skipping; a refusal is the answer.
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (start + k) % n;
      Status s = attempt(i, call_timeout_ms);
      if (s.ok()) return i;
      last = Status(s.code(), nodes[i] + ": " + s.message());
      if (s.code() != StatusCode::kUnavailable && s.code() != StatusCode::kDeadlineExceeded) {
        return last;
      }
    }
    return last;
  }
  const uint64_t deadline = clock.now_ms() + options.budget_ms;
  std::vector<Status> per_node(n, OkStatus());
  Backoff backoff(options.initial_backoff_ms, options.max_backoff_ms,
                  std::random_device{}() ^ deadline);
  uint64_t attempts = 0;
  for (uint64_t now = clock.now_ms(); now < deadline; now = clock.now_ms()) {
    for (size_t k = 0; k < n && now < deadline; ++k, now = clock.now_ms()) {
      const size_t i = (start + k) % n;
      const uint32_t t = static_cast<uint32_t>(std::min<uint64_t>(call_timeout_ms, deadline - now));
      ++attempts;
      Status s = attempt(i, t);
      if (s.ok()) return i;
      last = Status(s.code(), nodes[i] + ": " + s.message());
      if (!IsTransient(s.code(), kind)) return last;
      per_node[i] = s;
      const uint64_t after = clock.now_ms();
      if (options.on_retry && after < deadline) {
        options.on_retry("retrying: " + nodes[i] + ": " + StatusCodeName(s.code()) + " " +
                         s.message() + " (attempt " + std::to_string(attempts) + ", " +
                         SecondsLeft(deadline - after) + ")");
      }
    }
    now = clock.now_ms();
    if (now >= deadline) break;
    clock.sleep_ms(static_cast<uint32_t>(std::min<uint64_t>(backoff.NextMs(), deadline - now)));
  }
  std::string all;
  for (size_t i = 0; i < n; ++i) {
    if (per_node[i].ok()) continue;  // not tried in the budget
    if (!all.empty()) all += "; ";
    all += nodes[i] + ": " + StatusCodeName(per_node[i].code()) + " ";
    all += per_node[i].message();
  }
  return Status(last.code(), "no node answered within " + std::to_string(options.budget_ms) +
                                 " ms (" + std::to_string(attempts) + " attempts): " + all);
}

}  // namespace provledger::client
