// The requests a replica knows but has not seen committed, in arrival order, and a bounded
// memory of committed request ids for deduplication.
//
// Every replica keeps its requests (a backup may become primary). A request is pending
// (waiting for a block) or in flight (in a proposal not yet committed).
// Owner: PbftCore. Thread rules: not thread-safe, used by the core's owner.
#ifndef PROVLEDGER_CONSENSUS_REQUEST_POOL_H_
#define PROVLEDGER_CONSENSUS_REQUEST_POOL_H_

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/core_seams.h"

namespace provledger {
namespace consensus {

class RequestPool {
 public:
  // Holds at most `capacity` uncommitted requests and remembers the last
  // `committed_memory` committed ids.
  RequestPool(size_t capacity, size_t committed_memory)
      : capacity_(capacity), committed_memory_(committed_memory) {}

  // Adds `req`, arrived at tick `now`, as pending. kAlreadyExists if it is known or was
  // committed; kResourceExhausted when full. The pool is unchanged on error.
  Status Add(Request req, uint64_t now);
  // Moves up to `max` of the oldest pending requests in flight and returns them.
  std::vector<Request> TakeBatch(size_t max);
  // Marks `ids` in flight (they are in an accepted proposal); unknown ids are ignored.
  void MarkInFlight(const std::vector<Bytes>& ids);
  // Forgets `ids` and remembers them as committed.
  void MarkCommitted(const std::vector<Bytes>& ids);
  // Returns every in-flight request to pending, in arrival order (after a view change).
  void ReturnInFlight();
  // Returns the in-flight requests `ids` to pending (a proposal could not be built).
  void ReturnToPending(const std::vector<Bytes>& ids);

  bool IsCommitted(const Bytes& id) const { return committed_.count(id) > 0; }
  bool Contains(const Bytes& id) const { return entries_.count(id) > 0; }
  size_t pending() const { return pending_order_.size(); }
  size_t uncommitted() const { return entries_.size(); }
  // Every uncommitted request (pending and in flight), in arrival order.
  std::vector<Request> Uncommitted() const;
  // Arrival tick of the oldest pending request; 0 when none is pending.
  uint64_t oldest_pending_tick() const;

 private:
  struct Entry {
    Request req;
    uint64_t seq = 0;
    uint64_t arrival = 0;
    bool in_flight = false;
  };
  size_t capacity_;
  size_t committed_memory_;
  uint64_t next_seq_ = 0;
  std::map<Bytes, Entry> entries_;
  std::map<uint64_t, Bytes> pending_order_;  // seq -> id, pending only
  std::set<Bytes> committed_;
  std::deque<Bytes> committed_fifo_;
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_REQUEST_POOL_H_
