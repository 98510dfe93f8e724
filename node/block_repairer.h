// BlockRepairer: fetches a block again from the peers when a read found the stored copy
// damaged (ledger_service reads, a peer's catch-up request, the head block at open).
//
// Request(height) queues a height; the repair thread asks the peers for it in turn
// (GetBlock with payloads, 5 s each), checks each copy with CheckPeerBlock (certificate against the
// set at its height) and CheckRecordsMatchHeader (its records against the header's Merkle root and
// count) and hands the first good one to `deliver`, which posts it to the store's sole writer (the
// consensus thread, which calls BlockStore::RepairBlock and then Done()). A copy that fails a check
// is refused (ev=block_repair_refused from=PEER, and `refused` when set: only a faulty or lying
// peer answers so) and the next peer asked in the same round. A height no peer could send is
// asked for again, backing off up to 30 s.
//
// Thread rules: Request() and Done() from any thread; `deliver` runs on the repair thread
// and must not block. The destructor stops and joins the repair thread.
#ifndef PROVLEDGER_NODE_BLOCK_REPAIRER_H_
#define PROVLEDGER_NODE_BLOCK_REPAIRER_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/worker.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "ledger/store/block_store.h"
#include "ledger/validator_schedule.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {

// A block a peer sent, checked as far as it can be without our chain.
struct PeerBlock {
  ledger::BlockHeader header;
  Bytes hash;                   // the header hash
  ledger::BlockToAppend block;  // no registry changes: the caller computes those if it appends
  std::vector<ledger::Record> records;  // decoded, in block order
};

// Trusts nothing a peer sends as block `height`: ledger::CheckCertifiedBlock
// (ledger/chain_check.h) with `genesis` (the header names the chain and `height`, links to
// `prev_hash` when given, 2f+1 genesis validators signed its commit digest and its proposer
// is the primary of its view), and every
// record must decode. Payloads are kept where they hash to what their record names. Root and
// count are CheckRecordsMatchHeader's to check. kInvalidArgument or kUnauthenticated naming
// the cause.
StatusOr<PeerBlock> CheckPeerBlock(const ledger::Genesis& genesis, uint64_t height,
                                   const provledger::v1::Block& block,
                                   const std::optional<Bytes>& prev_hash = std::nullopt);
// The same with `set`, the validator set in force at `height` (docs/VALIDATOR_SET.md): its
// quorum signed, and the header's proposer is its primary of the header's view.
StatusOr<PeerBlock> CheckPeerBlock(const ledger::Genesis& genesis, const ledger::ValidatorSet& set,
                                   uint64_t height, const provledger::v1::Block& block,
                                   const std::optional<Bytes>& prev_hash = std::nullopt);
// OK when the header's Merkle root and record count are those of the records `pb` holds
// (CheckPeerBlock does not look at them), so that a peer that left out or changed a
// record of a certified block is refused before the block reaches the store's writer;
// kInvalidArgument otherwise.
Status CheckRecordsMatchHeader(const PeerBlock& pb);

// Told of a block `peer` (its name) answered for `height` that failed a check, `why`:
// evidence against that peer (a missing block or no answer is not). Runs on the fetching
// thread.
using RefusedBlockFn =
    std::function<void(const std::string& peer, uint64_t height, const Status& why)>;

// Where the validator schedule comes from (the node's RegistryHolder: registry->Get()->
// schedule()); null or returning null: the genesis set certifies every height.
using ScheduleSource = std::function<std::shared_ptr<const ledger::ValidatorSchedule>()>;
// The schedule `source` gives, or the genesis set alone.
ledger::ValidatorSchedule CurrentSchedule(const ScheduleSource& source,
                                          const ledger::Genesis& genesis);

class BlockRepairer {
 public:
  // A good copy of block `height` from validator `from`.
  struct Copy {
    uint64_t height = 0;
    uint32_t from = 0;
    ledger::BlockToAppend block;
  };
  // Takes a copy for the writer; an error (say its queue is full) counts as a failed round.
  using Deliver = std::function<Status(std::shared_ptr<Copy>)>;

  // `peers` by validator index, null for this validator; they and `genesis` must outlive
  // the repairer.
  BlockRepairer(const ledger::Genesis* genesis, uint32_t self,
                std::vector<provledger::v1::Ledger::Stub*> peers, Deliver deliver);
  ~BlockRepairer();
  BlockRepairer(const BlockRepairer&) = delete;
  BlockRepairer& operator=(const BlockRepairer&) = delete;

  // Queues `height` unless it is queued or being repaired already (logs ev=block_damaged
  // when it is new). Returns at once.
  void Request(uint64_t height);
  // Checks each copy against the set at its height from `source` (default: the genesis
  // set). Call before the first Request.
  void SetScheduleSource(ScheduleSource source);
  // Sets who is told of refused copies. Call before the first Request.
  void SetOnRefused(RefusedBlockFn refused);
  // Replaces the peers asked (after a validator-set change), `names` parallel to `peers`
  // (for logs); Copy::from then indexes the new list.
  void SetPeers(std::vector<provledger::v1::Ledger::Stub*> peers, std::vector<std::string> names);

  // The writer is done with a delivered copy of `height`: rewritten, or found good already
  // (`settled`), or refused (the height is asked for again, from the next peer).
  void Done(uint64_t height, bool settled);

 private:
  void Loop(Worker& w);

  const ledger::Genesis* genesis_;
  uint32_t self_;
  Deliver deliver_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<provledger::v1::Ledger::Stub*> peers_;  // guarded by mu_
  std::vector<std::string> names_;                    // guarded by mu_: parallel to peers_
  ScheduleSource schedule_source_;                    // guarded by mu_
  RefusedBlockFn refused_;                            // guarded by mu_
  std::set<uint64_t> wanted_;                         // guarded by mu_: heights to fetch
  std::set<uint64_t> inflight_;       // guarded by mu_: being fetched, or delivered and not Done
  std::map<uint64_t, int> failures_;  // repair thread only: failed rounds by height
  uint64_t round_ = 0;                // repair thread only
  std::unique_ptr<Worker> worker_;    // last: started once the fields above exist
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_BLOCK_REPAIRER_H_
