// PbftOrderer: the node shell around consensus::PbftCore. It wires the parts and runs the
// consensus loop; each part has one job:
//   PeerTransport      channels and one sender Worker per peer
//   SubmissionWaiters  clients waiting for their submissions, tracked requests, answers
//   StateTransfer      fetching certified blocks from peers, on its own Worker
//   BlockRepairer      fetching a damaged block again, on its own Worker
//   BlockApplier       committed / fetched / repaired blocks into the store and registry
//   StoreWriter        two: committed blocks written and synced in order on one, votes
//                      (then the messages that carry them) on the other, while the
//                      consensus thread goes on
//   VoteStore          the core's votes, durable before anything of that output is sent
//   ViewMonitor        view events and view health, for logs and `status`
//   ConsensusEvidence  peers' messages refused or doubted, for logs and metrics
// The consensus thread is the sole owner of the core and the sole writer of the BlockStore:
// every input (peer message, request, fetched block, repair copy) reaches it through one
// bounded queue, and every core output is handled there. A committed block is derived here
// and written and synced, in height order, by the block writer; its submitters are
// answered here once that writer reports it durable. The votes of an output are written by
// the vote writer, which then sends that output's messages (persist before send), but a
// CHECKPOINT for a height, held here until that block is durable. Any other store write (a
// fetched or repaired block, pruning) first waits for the block writer to finish, and a
// block that changes the registry is finished before anything else goes on, so the registry
// and the store's head the factory derives on never change behind this thread's back.
//
// A store write that fails (disk full, I/O error: a committed or fetched block, a vote, a
// repair) stops ordering for good: ev=store_write_failed is logged, nothing more is written
// or sent, and failure() says why, for the process to stop.
//
// Thread rules: Submit(), Deliver(), RequestRepair() and the accessors from any thread (they
// post to the consensus thread's bounded queue, or the repair thread's, or read atomics).
#ifndef PROVLEDGER_NODE_PBFT_ORDERER_H_
#define PROVLEDGER_NODE_PBFT_ORDERER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "common/ecdsa.h"
#include "common/worker.h"
#include "consensus/pbft_core.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/access_policy.h"
#include "node/block_applier.h"
#include "node/block_repairer.h"
#include "node/chain_block_factory.h"
#include "node/checked_batch_cache.h"
#include "node/consensus_evidence.h"
#include "node/orderer.h"
#include "node/peer_transport.h"
#include "node/pruner.h"
#include "node/registry_holder.h"
#include "node/state_transfer.h"
#include "node/store_writer.h"
#include "node/submission_waiters.h"
#include "node/test_seams.h"
#include "node/view_monitor.h"
#include "node/vote_store.h"
#include "proto/consensus.grpc.pb.h"

namespace provledger::node {

struct PbftOptions {
  uint32_t tick_ms = 10;           // one core tick
  uint32_t block_timeout_ms = 10;  // a batch is cut this long after its first request
  size_t max_block_batches = 64;   // ... or at this many gateway batches
  // Self-clocking: while this many of the primary's blocks are in flight (not committed or
  // not yet durable here), the next is cut only when max_block_batches wait, so that it
  // fills while the round and the write run; 0: cut at block_timeout_ms regardless
  // (docs/CONSENSUS.md, "When the primary cuts a block").
  uint64_t block_cut_in_flight = 1;
  uint32_t view_change_timeout_ms = 2000;  // base; doubles per failed view change
  uint64_t checkpoint_interval = 16;
  uint64_t window = 4;  // blocks in flight
  // Committed blocks handed to the store writer and not yet durable, at most; 0 writes
  // each on the consensus thread before it goes on (to measure what the pipeline gains).
  size_t apply_queue = 4;
  uint32_t submit_timeout_ms = 30000;  // a submission not committed by then: DEADLINE_EXCEEDED
  size_t max_queued_events = 100000;
  size_t max_peer_queue = 20000;  // messages waiting for one peer; oldest dropped
  // Make every pre-prepare, prepare and commit we sign durable before it is sent (the core
  // refuses a second digest for one after a restart only if it was). Costs one synced write
  // per batch of new votes; off only to measure what it costs.
  bool persist_votes = true;
  // A light validator (ledger_node --mode=light): prunes old block bodies, about once a
  // second on the consensus thread (node/pruner.h). Null: keep every block. Must outlive
  // the orderer.
  Pruner* pruner = nullptr;
};

// The validator-set epoch one PbftOrderer orders (node/epoch_plan.h, RoleSwitcher).
struct PbftEpoch {
  uint64_t epoch = 0;  // the set orders the heights above this one (0: genesis)
  // The end of the epoch once a change is committed (its E), 0 while none is: read after
  // every block appended (on the consensus thread) and at start, so that the core is capped
  // before it could vote above E. Empty: the epoch never ends.
  std::function<uint64_t()> pending_end;
};

class PbftOrderer final : public Orderer {
 public:
  // All pointers must outlive the orderer; `genesis` is the chain as this epoch sees it
  // (its validators are the set in force: EpochGenesis), `self` is this validator's index
  // in it. Exits the process (code 3) when the persisted votes cannot be read.
  PbftOrderer(ledger::BlockStore* store, const ledger::Genesis* genesis, PrivateKey key,
              uint32_t self, RegistryHolder* registry, PbftOptions options,
              PbftEpoch epoch = PbftEpoch());
  ~PbftOrderer() override;

  Status Submit(CheckedBatch batch, provledger::v1::ConsensusRequest request,
                SubmitDone done) override;
  uint64_t pending() const override { return waiters_.pending(); }
  uint64_t view() const override { return monitor_.view(); }
  Status failure() const override;
  void RequestRepair(uint64_t height) override;
  ViewHealth view_health() const override { return monitor_.health(); }
  std::vector<PeerState> peers() const override;

  // Takes a peer's delivery: checks each message's signature (on the calling gRPC thread)
  // and queues the good ones; bad ones are counted and dropped. A relayed gateway batch, and
  // the batches of a PRE-PREPARE not seen relayed, are validated here too (signature,
  // records, payloads) and the outcome kept for the block that orders them
  // (CheckedBatchCache), so that the consensus thread does not check them.
  void Deliver(const provledger::v1::Delivery& d, const std::string& peer) override;
  // Fetches the blocks up to `target` by state transfer (posted to the consensus thread).
  void CatchUp(uint64_t target) override;
  void SetStopReason(Status why) override;
  uint64_t dropped_messages() const { return dropped_.load(); }

 private:
  struct Event {
    enum Kind { kMessage, kRequest, kLocal, kRepair, kTransfer, kCatchUp } kind = kMessage;
    consensus::ConsensusMsg msg;
    consensus::Request request;
    Bytes record_ids;  // kRequest, kLocal: the request's record ids, 32 bytes each
    std::shared_ptr<Waiter> waiter;
    std::shared_ptr<BlockRepairer::Copy> repair;     // kRepair
    std::shared_ptr<StateTransfer::Batch> transfer;  // kTransfer
    uint64_t target = 0;                             // kCatchUp
  };
  class KeySigner;
  class GenesisChecker;

  Status Post(Event e);
  void Run(Worker& w);    // the consensus loop
  void Handle(Event& e);  // one input into the core
  // Any thread: records a checked message of a peer for peers().
  void NotePeer(const consensus::ConsensusMsg& m);
  void OnTick();  // the core's tick, deadlines, relays
  // Consensus thread: takes the core's output; its votes and messages wait for FlushSends.
  void HandleOutput(consensus::CoreOutput out);
  // Consensus thread: makes the pending votes durable, then sends the pending messages.
  void FlushSends();
  void Apply(const consensus::CommittedBlock& c);
  // Consensus thread: answers the submitters of the blocks the writer made durable, and
  // sends the CHECKPOINTs held for them.
  void ProcessApplied();
  // Consensus thread: waits for every queued block write, then ProcessApplied(); halts
  // when a write failed. Before any other block write, and before reading the store's head.
  void DrainWriter();
  // Consensus thread: halts when a queued store write failed.
  void CheckWriter();
  // Consensus thread: hands `sends` to the vote writer, to leave once `votes` (and every
  // vote handed over before) are durable.
  void QueueSends(std::vector<consensus::Vote> votes,
                  std::vector<std::pair<int, consensus::ConsensusMsg>> sends);
  // Vote writer: persists every vote handed over so far, then sends the messages.
  Status SendOutputs();
  // Vote writer, test binaries only (node/test_seams.h): sends what `seam` makes of each
  // message, per recipient.
  void SendThroughSeam(test_seams::OutgoingFn seam,
                       const std::vector<std::pair<int, consensus::ConsensusMsg>>& sends);
  void ApplyTransfer(StateTransfer::Batch& batch);
  void ApplyRepair(const BlockRepairer::Copy& r);
  // Consensus thread: caps the core at the epoch's end once a change is committed.
  void NoteEpochEnd();
  // Consensus thread: hands every request a local client still waits for to every peer.
  void RebroadcastWaiting();
  // Consensus thread: fetches blocks up to `target` from the peers.
  void StartTransfer(uint64_t target);
  // Consensus thread: a store write failed during `during` at `height`: log it once, stop
  // ordering, publish failure().
  void Halt(const char* during, uint64_t height, const Status& s);

  ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  RegistryHolder* registry_;
  PrivateKey key_;
  uint32_t self_;
  PbftOptions options_;
  PbftEpoch epoch_;
  uint64_t epoch_end_ = 0;  // consensus thread only: the end the core was capped at
  std::unique_ptr<KeySigner> signer_;
  std::unique_ptr<GenesisChecker> checker_;
  // Batches this node validated at submission, until it derives their block.
  static constexpr size_t kCheckedBatchCacheEntries = 4096;
  static constexpr size_t kCheckedBatchCacheBytes = 256u << 20;
  CheckedBatchCache batch_cache_;
  ChainBlockFactory factory_;
  BlockApplier applier_;
  VoteStore vote_store_;
  ViewMonitor monitor_;
  ConsensusEvidence evidence_;
  SubmissionWaiters waiters_;                  // consensus thread only, but pending()
  std::unique_ptr<consensus::PbftCore> core_;  // consensus thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;  // guarded by mu_

  // Consensus thread only:
  std::set<Bytes> relayed_;                     // requests a peer sent us, not to forward
  uint64_t relayed_view_ = 0;                   // the view local requests went out in
  std::vector<consensus::Vote> pending_votes_;  // to persist before pending_sends_ leave
  std::vector<std::pair<int, consensus::ConsensusMsg>> pending_sends_;
  std::vector<consensus::Vote> forget_votes_;
  uint64_t transfer_start_ = 0;  // the first height the running state transfer asked for
  size_t transfer_settled_ = 0;  // requests its blocks settled so far
  uint64_t ticks_ = 0;
  bool halted_ = false;
  // Blocks handed to writer_, not yet answered, by height; the highest such height.
  std::map<uint64_t, std::shared_ptr<PreparedBlock>> in_flight_;
  uint64_t queued_height_ = 0;
  bool writer_woke_ = false;  // guarded by mu_: a write finished, for Run to look
  // Held around every store write (BlockStore: one writer at a time): the two writers' and
  // this thread's. A failed write then sets the store's write_status() before any other
  // write starts, so nothing reaches RocksDB after a failed WAL write.
  std::mutex store_write_mu_;
  // Handed to the vote writer by QueueSends, taken by SendOutputs; guarded by out_mu_.
  std::mutex out_mu_;
  std::vector<consensus::Vote> out_votes_;
  std::vector<std::pair<int, consensus::ConsensusMsg>> out_sends_;
  bool out_queued_ = false;  // a SendOutputs job is queued and has not taken them yet
  // Our CHECKPOINTs for heights not yet durable here.
  std::vector<std::pair<int, consensus::ConsensusMsg>> held_checkpoints_;

  std::atomic<uint64_t> dropped_{0};
  // By validator index (ours unused): the highest height a checked message of that peer
  // named, and SteadyMs() of its newest; written by Deliver on gRPC threads.
  std::unique_ptr<std::atomic<uint64_t>[]> peer_height_;
  std::unique_ptr<std::atomic<uint64_t>[]> peer_heard_ms_;
  std::atomic<bool> failed_{false};
  mutable std::mutex fail_mu_;
  Status failure_;  // guarded by fail_mu_
  // What submissions still waiting when we stop are answered; guarded by fail_mu_.
  Status stop_reason_ = UnavailableError("node is shutting down");

  // Threads, stopped in reverse order: the consensus thread first (it calls into the
  // others), then the store writer (it sends), the fetchers (they use the transport's
  // stubs), then the transport.
  std::unique_ptr<PeerTransport> transport_;
  std::unique_ptr<BlockRepairer> repairer_;
  std::unique_ptr<StateTransfer> transfer_;
  std::unique_ptr<StoreWriter> writer_;       // committed blocks
  std::unique_ptr<StoreWriter> vote_writer_;  // votes, then sends through transport_
  std::unique_ptr<Worker> worker_;
};

// The gRPC face of Orderer::Deliver (the RoleSwitcher's: the orderer of the epoch in force).
class ConsensusService final : public provledger::v1::Consensus::Service {
 public:
  explicit ConsensusService(Orderer* orderer) : orderer_(orderer) {}
  grpc::Status Deliver(grpc::ServerContext* ctx, const provledger::v1::Delivery* d,
                       provledger::v1::DeliveryAck*) override {
    orderer_->Deliver(*d, AuthenticatedPeer(ctx));
    return grpc::Status::OK;
  }

 private:
  Orderer* orderer_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_PBFT_ORDERER_H_
