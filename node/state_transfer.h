// StateTransfer: fetches certified blocks from peers when the core says we are behind
// (CoreOutput::need_state_transfer), on its own Worker, never on the consensus thread.
//
// Request(next, prev_hash, target) starts a fetch of blocks next, next+1, ... up to
// `target`: each asked of the peers in turn, from the validator after this one on (GetBlock
// with payloads, 5 s deadline), checked with CheckPeerBlock (certificate against the
// validator set in force at that height, ValidatorSchedule::SetAt; records decode), its
// records against the header's Merkle root and count, and against the chain (its prev hash
// is the hash of the block before: `prev_hash` for the first, the previous fetched block's
// after). A peer's block that fails a check is refused (ev=state_transfer_refused, and
// `refused` when set: only a faulty or lying peer answers so) and the next peer asked. Verified
// blocks are handed to `deliver` in batches of up to 16, in height order; the batch that ends the
// fetch (target reached, or 2 failures per validator) has `last` set and may be empty. `deliver`
// posts them to the consensus thread, which appends them (BlockApplier::ApplyFetched) and tells the
// core. While a fetch runs, Request() only raises its target.
//
// Owner: PbftOrderer. Thread rules: Request() from any thread; `deliver` runs on the
// fetch thread and must not block. The destructor stops and joins the fetch thread.
#ifndef PROVLEDGER_NODE_STATE_TRANSFER_H_
#define PROVLEDGER_NODE_STATE_TRANSFER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/worker.h"
#include "ledger/genesis.h"
#include "node/block_repairer.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {

class StateTransfer {
 public:
  struct Batch {
    std::vector<PeerBlock> blocks;  // ascending, contiguous, each extending the one before
    uint64_t target = 0;            // the height the fetch was for
    bool last = false;              // the fetch ended with this batch
  };
  // Takes a batch for the consensus thread; an error (its queue is full, the node stops)
  // ends the fetch.
  using Deliver = std::function<Status(std::shared_ptr<Batch>)>;
  // Told of a block a peer answered that failed a check (RefusedBlockFn).
  using Refused = RefusedBlockFn;

  // `peers` by validator index, null for this validator; they and `genesis` must outlive
  // this.
  StateTransfer(const ledger::Genesis* genesis, uint32_t self,
                std::vector<provledger::v1::Ledger::Stub*> peers, Deliver deliver);
  ~StateTransfer();
  StateTransfer(const StateTransfer&) = delete;
  StateTransfer& operator=(const StateTransfer&) = delete;

  // Checks each block against the set at its height (docs/VALIDATOR_SET.md): the schedule
  // `source` gives (taken at the start of each fetch, its changes below `next`), advanced by
  // the fetched blocks themselves (ScheduleAfterBlock), since a fetch runs ahead of the
  // registry. Default: the genesis set. Call before the first Request.
  void SetScheduleSource(ScheduleSource source);
  // Sets who is told of refused blocks. Call before the first Request.
  void SetOnRefused(Refused refused);
  // Replaces the peers asked from the next fetch on (after a validator-set change), `names`
  // parallel to `peers` (for logs).
  void SetPeers(std::vector<provledger::v1::Ledger::Stub*> peers, std::vector<std::string> names);

  // Fetches from height `next` (whose prev hash must be `prev_hash`) up to `target`, or
  // raises the running fetch's target. Returns at once.
  void Request(uint64_t next, Bytes prev_hash, uint64_t target);

 private:
  void Loop(Worker& w);
  void Fetch(Worker& w, uint64_t next, Bytes prev);

  const ledger::Genesis* genesis_;
  uint32_t self_;
  Deliver deliver_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<provledger::v1::Ledger::Stub*> peers_;  // guarded by mu_
  std::vector<std::string> names_;                    // guarded by mu_: parallel to peers_
  ScheduleSource schedule_source_;                    // guarded by mu_
  Refused refused_;                                   // guarded by mu_
  bool wanted_ = false;             // guarded by mu_: a fetch asked for and not started
  bool running_ = false;            // guarded by mu_
  uint64_t next_ = 0;               // guarded by mu_
  Bytes prev_;                      // guarded by mu_
  uint64_t target_ = 0;             // guarded by mu_
  std::unique_ptr<Worker> worker_;  // last: started once the fields above exist
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_STATE_TRANSFER_H_
