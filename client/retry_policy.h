// RetryPolicy: the one rule by which a client retries a call to the ledger's nodes. A call
// the nodes could not answer (transient) is retried on the next node, and after each pass
// over every node it waits a jittered, doubling backoff, until a budget runs out; an answer
// that will not change (permanent) ends the call at once. Resending a submission is safe:
// the same signed bytes are the same record id, answered as a DUPLICATE with its location
// once one attempt committed (PROTOCOL.md 6.1).
//
// Thread rules: RunWithRetries is reentrant; one Backoff per call.
#ifndef PROVLEDGER_CLIENT_RETRY_POLICY_H_
#define PROVLEDGER_CLIENT_RETRY_POLICY_H_

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"

namespace provledger::client {

// What a call does, for which codes are transient.
enum class CallKind {
  kRead,         // a query: nothing to resend
  kWrite,        // one record (registry tx, firmware manifest): resending is idempotent
  kBatchOfMany,  // a batch of several records: RESOURCE_EXHAUSTED may mean "over the
                 // batch limits", which no retry changes
};

// True for UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, and RESOURCE_EXHAUSTED (a full queue)
// unless `kind` is kBatchOfMany. Every other code is an answer (INVALID_ARGUMENT,
// PERMISSION_DENIED, NOT_FOUND, FAILED_PRECONDITION, UNAUTHENTICATED, ALREADY_EXISTS, ...).
bool IsTransient(StatusCode code, CallKind kind);

struct RetryOptions {
  // How long transient failures are retried, from the call's start; 0: one pass over the
  // nodes, moving on only from a node that is UNAVAILABLE or missed its deadline.
  uint32_t budget_ms = 0;
  uint32_t initial_backoff_ms = 100;
  uint32_t max_backoff_ms = 2000;
  // Told of each transient failure that will be retried, as one line for people.
  std::function<void(const std::string&)> on_retry;
};

// Doubling backoff with "equal jitter": the k-th delay is uniform in [d/2, d], d =
// min(max, initial * 2^k), so clients that failed together do not retry together.
class Backoff {
 public:
  Backoff(uint32_t initial_ms, uint32_t max_ms, uint64_t seed);
  uint32_t NextMs();

 private:
  uint32_t next_ms_;
  uint32_t max_ms_;
  std::mt19937_64 rng_;
};

// The clock a retry loop reads and sleeps on (steady time in ms).
struct RetryClock {
  std::function<uint64_t()> now_ms;
  std::function<void(uint32_t)> sleep_ms;
  static RetryClock Steady();
};

// Calls `attempt(node, timeout_ms)` on nodes[start], nodes[start+1], ... (wrapping) under
// the rule above; `timeout_ms` is min(`call_timeout_ms`, the budget left). Returns the index
// of the node that answered OK; a permanent error as it came; after the budget, the last
// code with every node's last error in the message.
StatusOr<size_t> RunWithRetries(const std::vector<std::string>& nodes, size_t start, CallKind kind,
                                uint32_t call_timeout_ms, const RetryOptions& options,
                                const RetryClock& clock,
                                const std::function<Status(size_t, uint32_t)>& attempt);

}  // namespace provledger::client

#endif  // PROVLEDGER_CLIENT_RETRY_POLICY_H_
