// PbftOrderer: the node shell around consensus::PbftCore. It owns the consensus thread
// (sole owner of the core, sole writer of the BlockStore), a ticker, one sender Worker per
// peer and the gRPC stubs to them; it turns the core's outputs into messages, durable
// blocks and answered submissions, and fetches certified blocks from peers when behind.
//
// A store write that fails (disk full, I/O error: Append from a commit or from state
// transfer, a vote, any write) stops ordering for good: ev=store_write_failed is logged,
// nothing more is written or sent, and failure() says why, for the process to stop. A block
// a read finds damaged is fetched again from peers by a repair thread, checked against its
// certificate (BlockRepairer), and rewritten by the consensus thread (ev=block_repaired).
//
// Thread rules: Submit(), Deliver(), RequestRepair() and the accessors from any thread (they
// post to the consensus thread's bounded queue, or the repair thread's, or read atomics).
#ifndef PROVLEDGER_NODE_PBFT_ORDERER_H_
#define PROVLEDGER_NODE_PBFT_ORDERER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/ecdsa.h"
#include "common/worker.h"
#include "consensus/pbft_core.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/block_repairer.h"
#include "node/chain_block_factory.h"
#include "node/orderer.h"
#include "node/registry_holder.h"
#include "node/vote_guard.h"
#include "proto/consensus.grpc.pb.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {

struct PbftOptions {
  uint32_t tick_ms = 10;                   // one core tick
  uint32_t block_timeout_ms = 10;          // a batch is cut this long after its first request
  size_t max_block_batches = 64;           // ... or at this many gateway batches
  uint32_t view_change_timeout_ms = 2000;  // base; doubles per failed view change
  uint64_t checkpoint_interval = 16;
  uint64_t window = 4;                 // blocks in flight
  uint32_t submit_timeout_ms = 30000;  // a submission not committed by then: DEADLINE_EXCEEDED
  size_t max_queued_events = 100000;
  size_t max_peer_queue = 20000;  // messages waiting for one peer; oldest dropped
  // Make every pre-prepare, prepare and commit we sign durable before it is sent, and
  // refuse to sign another digest for the same (view, height) after a restart. Costs one
  // synced write per batch of new votes; off only to measure what it costs.
  bool persist_votes = true;
};

class PbftOrderer final : public Orderer {
 public:
  // All pointers must outlive the orderer; `self` is this validator's index.
  PbftOrderer(ledger::BlockStore* store, const ledger::Genesis* genesis, PrivateKey key,
              uint32_t self, RegistryHolder* registry, PbftOptions options);
  ~PbftOrderer() override;

  StatusOr<std::future<SubmitResult>> Submit(CheckedBatch batch,
                                             provledger::v1::ConsensusRequest request) override;
  uint64_t pending() const override { return waiting_.load(); }
  uint64_t view() const override { return view_.load(); }
  Status failure() const override;
  void RequestRepair(uint64_t height) override;
  ViewHealth view_health() const override;

  // Takes a peer's delivery: checks each message's signature (on the calling gRPC thread)
  // and queues the good ones; bad ones are counted and dropped.
  void Deliver(const provledger::v1::Delivery& d);
  uint64_t dropped_messages() const { return dropped_.load(); }

 private:
  struct Waiter {
    std::vector<Bytes> record_ids;
    std::promise<SubmitResult> done;
    uint64_t deadline_ms = 0;
    Bytes request;  // the serialized ConsensusRequest, relayed again after a view change
  };
  struct Event {
    enum Kind { kMessage, kRequest, kLocal, kRepair } kind = kMessage;
    consensus::ConsensusMsg msg;
    consensus::Request request;
    Bytes record_ids;  // kRequest, kLocal: the request's record ids, 32 bytes each
    std::shared_ptr<Waiter> waiter;
    std::shared_ptr<BlockRepairer::Copy> repair;  // kRepair
  };
  class KeySigner;
  class GenesisChecker;
  struct Peer;

  Status Post(Event e);
  void Run(Worker& w);
  void HandleOutput(consensus::CoreOutput out);
  Status LoadVotes();
  void FlushSends();
  void PruneVotes();
  void Apply(const consensus::CommittedBlock& c);
  // Answers the waiters of `request_ids`: a record above height `committed_above` is
  // COMMITTED, one at or below it DUPLICATE (an earlier copy); one not on the chain is
  // REFUSED with its reason when `refused` (may be null) names it, CONFLICT otherwise.
  void CompleteWaiters(const std::vector<Bytes>& request_ids, uint64_t committed_above,
                       const std::map<Bytes, Status>* refused = nullptr);
  void Track(const Bytes& request_id, Bytes record_ids);
  bool AllOnChain(ByteView record_ids) const;
  std::vector<Bytes> TrackedOnChain();
  void RelayLocalRequests();
  bool AnswerIfKnown(Waiter* w);
  void StateTransfer(uint64_t target);
  void SendTo(uint32_t to, const Bytes& msg, const provledger::v1::ConsensusRequest* req);
  void PeerLoop(Peer* p, Worker& w);
  // Consensus thread: a store write failed during `during` at `height`: log it once, stop
  // ordering, publish failure().
  void Halt(const char* during, uint64_t height, const Status& s);
  void ApplyRepair(const BlockRepairer::Copy& r);  // consensus thread: rewrite a block
  // Consensus thread: logs the core's view events (ev=view_suspected, view_change_started,
  // view_entered); publishes view_health() and logs ev=view_alone when that flag changes.
  void LogViewEvents(const std::vector<consensus::ViewEvent>& events);
  void NoteViewState();

  ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  PrivateKey key_;
  uint32_t self_;
  RegistryHolder* registry_;
  PbftOptions options_;
  std::unique_ptr<KeySigner> signer_;
  std::unique_ptr<GenesisChecker> checker_;
  std::unique_ptr<ChainBlockFactory> factory_;
  std::unique_ptr<consensus::PbftCore> core_;  // consensus thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;                                       // guarded by mu_
  std::map<Bytes, std::vector<std::shared_ptr<Waiter>>> waiters_;  // consensus thread only
  std::set<Bytes> relayed_;  // consensus thread only: requests a peer sent us, not to forward
  // Consensus thread only: the record ids (32 bytes each, concatenated) of the requests
  // handed to the core and not yet seen in an applied block, oldest first in tracked_fifo_.
  // Blocks fetched by state transfer carry no request ids; these let the shell tell the
  // core (and the waiters) which requests those blocks settled.
  std::map<Bytes, Bytes> tracked_;
  std::deque<Bytes> tracked_fifo_;
  size_t tracked_records_ = 0;
  uint64_t relayed_view_ = 0;  // consensus thread only: the view local requests went out in

  std::vector<std::unique_ptr<Peer>> peers_;  // by validator index; null for self
  std::atomic<uint64_t> view_{0};
  std::atomic<bool> view_changing_{false};
  std::atomic<uint32_t> peers_in_view_{0};
  std::atomic<uint32_t> peers_elsewhere_{0};
  std::atomic<bool> alone_in_view_{false};
  uint64_t health_window_ticks_ = 0;  // how far back PeersByView looks: two view timeouts
  bool logged_alone_ = false;         // consensus thread only: the flag last logged
  std::atomic<uint64_t> waiting_{0};
  std::atomic<uint64_t> dropped_{0};
  VoteGuard votes_;  // consensus thread only; mirrored on disk
  std::vector<std::pair<int, consensus::ConsensusMsg>> pending_sends_;
  uint64_t ticks_ = 0;
  bool halted_ = false;  // consensus thread only
  std::atomic<bool> failed_{false};
  mutable std::mutex fail_mu_;
  Status failure_;  // guarded by fail_mu_

  std::unique_ptr<Worker> worker_;
  std::unique_ptr<BlockRepairer> repairer_;  // fetches damaged blocks; posts kRepair events
};

// The gRPC face of PbftOrderer::Deliver.
class ConsensusService final : public provledger::v1::Consensus::Service {
 public:
  explicit ConsensusService(PbftOrderer* orderer) : orderer_(orderer) {}
  grpc::Status Deliver(grpc::ServerContext*, const provledger::v1::Delivery* d,
                       provledger::v1::DeliveryAck*) override {
    orderer_->Deliver(*d);
    return grpc::Status::OK;
  }

 private:
  PbftOrderer* orderer_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_PBFT_ORDERER_H_
