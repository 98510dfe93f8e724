// SubmissionWaiters: the clients waiting on this node for their submissions, and the
// requests it handed to the core and has not yet seen applied. It answers a waiter once
// its records are on the chain (COMMITTED above the block before, DUPLICATE for an earlier
// copy, REFUSED with the reason the block gave, CONFLICT otherwise), with the request's
// rejection when it was ordered as rejected, or with DEADLINE_EXCEEDED once its deadline
// (SteadyMs) passed.
//
// Tracked requests: the record ids of every request handed to the core, until an applied
// block names it. Blocks fetched by state transfer carry no request ids; SettleTracked()
// tells which tracked requests those blocks settled (all their records on the chain), for
// the core to forget and for their waiters to be answered. Bounded to 2^20 records, oldest
// dropped first (a request the core refused is never applied).
//
// Owner: PbftOrderer. Thread rules: pending() and Make() from any thread; everything else
// on the consensus thread only (or once it stopped). The destructor answers every waiter
// left with kUnavailable ("node is shutting down"); AnswerAll gives them another answer.
#ifndef PROVLEDGER_NODE_SUBMISSION_WAITERS_H_
#define PROVLEDGER_NODE_SUBMISSION_WAITERS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "ledger/store/block_store.h"
#include "node/orderer.h"

namespace provledger::node {

// One client's submission, waiting for its answer.
struct Waiter {
  std::vector<Bytes> record_ids;
  SubmitDone done;           // called once, with the answer
  uint64_t deadline_ms = 0;  // SteadyMs()
  Bytes request;             // the serialized ConsensusRequest, relayed again after a view change
};

class SubmissionWaiters {
 public:
  // `store` must outlive this; it is read (FindRecord, Contains) to answer.
  explicit SubmissionWaiters(const ledger::BlockStore* store) : store_(store) {}
  ~SubmissionWaiters();
  SubmissionWaiters(const SubmissionWaiters&) = delete;
  SubmissionWaiters& operator=(const SubmissionWaiters&) = delete;

  // Any thread: a new waiter, counted in pending() until answered or Unmake()'d.
  std::shared_ptr<Waiter> Make(std::vector<Bytes> record_ids, Bytes request, uint64_t deadline_ms,
                               SubmitDone done);
  // Any thread: a Make()'d waiter that never reached the consensus thread.
  void Unmake() { pending_.fetch_sub(1); }
  uint64_t pending() const { return pending_.load(); }

  // Answers `w` at once (all DUPLICATE, with their locations) when all its records are on
  // the chain already; false (nothing done) otherwise.
  bool AnswerIfKnown(Waiter* w);
  // Keeps `w` waiting for request `request_id`.
  void Add(const Bytes& request_id, std::shared_ptr<Waiter> w);
  // Answers the waiters of `request_ids` from the chain (see the class comment);
  // `committed_above` is the height below the block that committed them; `refused` (may
  // be null) names the records the block refused, and why; `block_ids` (may be null) are
  // the record ids of that block in order, whose locations need no store lookup.
  void Complete(const std::vector<Bytes>& request_ids, uint64_t committed_above,
                const std::map<Bytes, Status>* refused = nullptr,
                const std::vector<Bytes>* block_ids = nullptr);
  // Answers the waiters of request ids[i] with errors[i] (ordered as rejected).
  void Reject(const std::vector<Bytes>& ids, const std::vector<Status>& errors);
  // Answers DEADLINE_EXCEEDED to every waiter whose deadline is at or before `now_ms`;
  // `timeout_ms` goes into the message.
  void Expire(uint64_t now_ms, uint32_t timeout_ms);
  // Answers every waiter left with `why` (an error) and forgets them: the orderer stops.
  void AnswerAll(const Status& why);
  // Calls `fn` with the serialized request of every request still waited for.
  void ForEachWaitingRequest(const std::function<void(const Bytes&)>& fn) const;

  // Tracks request `request_id` with its records' ids (32 bytes each, concatenated).
  void Track(const Bytes& request_id, Bytes record_ids);
  // Stops tracking these (an applied block named them).
  void Untrack(const std::vector<Bytes>& request_ids);
  // True when `record_ids` (32 bytes each) is not empty and all are on the chain.
  bool AllOnChain(ByteView record_ids) const;
  // The tracked requests whose records are all on the chain now; no longer tracked.
  std::vector<Bytes> SettleTracked();

 private:
  const ledger::BlockStore* store_;
  std::atomic<uint64_t> pending_{0};
  std::map<Bytes, std::vector<std::shared_ptr<Waiter>>> waiters_;
  std::map<Bytes, Bytes> tracked_;  // request id -> record ids
  std::deque<Bytes> tracked_fifo_;  // oldest first; may name ids erased meanwhile
  size_t tracked_records_ = 0;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_SUBMISSION_WAITERS_H_
