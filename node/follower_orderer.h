// FollowerOrderer: the Orderer of a node outside consensus (ledger_node --follow). It
// orders nothing: every `poll_ms` it asks the validators of the set in force at our next
// height (the registry's ValidatorSchedule; docs/VALIDATOR_SET.md) for their head
// (GetStatus) and, when one is ahead, fetches the missing blocks in batches with
// StateTransfer, which checks each header and commit certificate against the validator
// set at its height (CheckPeerBlock) and its link to our chain before this appends it
// (BlockApplier::ApplyFetched: registry and firmware rows follow). A block read damaged is
// fetched again from the validators (BlockRepairer). Submissions are forwarded to the
// validators (client::LedgerClient, with its failover); their answer is the node's.
//
// A reported height is only a hint: the follower aims at the (f+1)-th highest report
// (FollowTarget, f of the current set), which at least one honest validator holds, so f lying
// validators cannot send it after blocks that do not exist; and a lie makes a fetch fail, never a
// block appear. The store has one writer at a time (write_mu_): the fetch thread or the repair
// thread.
//
// Thread rules: every method may be called from any thread. The destructor stops and
// joins the poll, fetch and repair threads.
#ifndef PROVLEDGER_NODE_FOLLOWER_ORDERER_H_
#define PROVLEDGER_NODE_FOLLOWER_ORDERER_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/ledger_client.h"
#include "common/worker.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/block_applier.h"
#include "node/block_repairer.h"
#include "node/orderer.h"
#include "node/pruner.h"
#include "node/registry_holder.h"
#include "node/state_transfer.h"

namespace provledger::node {

// The height to fetch up to from the heads the validators reported now: the (f+1)-th
// highest (some honest validator has reached it), 0 with fewer than f+1 reports.
uint64_t FollowTarget(std::vector<uint64_t> reported, size_t f);

struct FollowerOptions {
  uint32_t poll_ms = 200;             // how often the validators' heads are asked for
  uint32_t status_timeout_ms = 1000;  // deadline of each GetStatus
  client::ClientOptions forward;      // deadlines of forwarded submissions
  // Light node (the store is light): run after each delivery, on the fetch thread, to prune
  // old bodies (node/pruner.h). Null: keep all. Must outlive the orderer.
  Pruner* pruner = nullptr;
};

class FollowerOrderer final : public Orderer, public SubmitForwarder {
 public:
  // Starts following at once. All pointers must outlive the orderer. kInvalidArgument when
  // the genesis names no validator.
  static StatusOr<std::unique_ptr<FollowerOrderer>> Create(ledger::BlockStore* store,
                                                           const ledger::Genesis* genesis,
                                                           RegistryHolder* registry,
                                                           FollowerOptions options);
  ~FollowerOrderer() override;
  FollowerOrderer(const FollowerOrderer&) = delete;
  FollowerOrderer& operator=(const FollowerOrderer&) = delete;

  // Orderer. Submit is never used (LedgerService forwards instead): kFailedPrecondition.
  Status Submit(CheckedBatch batch, provledger::v1::ConsensusRequest request,
                SubmitDone done) override;
  uint64_t pending() const override { return 0; }
  // The highest view a validator reported lately.
  uint64_t view() const override { return view_.load(); }
  Status failure() const override;
  void RequestRepair(uint64_t height) override { repairer_->Request(height); }
  SubmitForwarder* forwarder() override { return this; }
  std::string role() const override { return "follower"; }

  // SubmitForwarder: the validators' answer.
  StatusOr<provledger::v1::SubmitResponse> Submit(
      const provledger::v1::SignedBatch& batch) override;
  StatusOr<provledger::v1::SubmitResponse> SubmitRegistry(const std::string& tx) override;
  StatusOr<provledger::v1::SubmitResponse> SubmitFirmware(const std::string& record) override;

 private:
  FollowerOrderer(ledger::BlockStore* store, const ledger::Genesis* genesis,
                  RegistryHolder* registry, FollowerOptions options,
                  std::unique_ptr<client::LedgerClient> forward);
  void PollLoop(Worker& w);
  // FollowTarget of the heads the validators of the current set report now; sets view_ to
  // the highest view. Poll thread only.
  uint64_t PollTarget();
  // Points the fetch and repair at the members of the set in force at `next` and of the
  // newest set when either changed. Poll thread only.
  void UsePeersOf(const ledger::ValidatorSchedule& schedule, uint64_t next);
  provledger::v1::Ledger::Stub* StubFor(const std::string& address);
  Status Deliver(std::shared_ptr<StateTransfer::Batch> batch);
  Status DeliverRepair(std::shared_ptr<BlockRepairer::Copy> copy);
  // options_.pruner->MaybePrune() (light nodes); stops the node if the store broke. Called
  // with write_mu_ held.
  void MaybePrune();
  void Fail(const Status& s);

  ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  FollowerOptions options_;
  BlockApplier applier_;
  std::unique_ptr<client::LedgerClient> forward_;
  RegistryHolder* registry_;
  // Poll thread only: a stub per address ever used (the fetch and repair threads hold raw
  // pointers to them), and the set the peers were last chosen from.
  std::map<std::string, std::unique_ptr<provledger::v1::Ledger::Stub>> stubs_;
  std::vector<provledger::v1::Ledger::Stub*> poll_stubs_;  // the current set's, in order
  Bytes peers_for_;  // digests of the current and the newest set

  std::mutex write_mu_;  // one store writer at a time
  mutable std::mutex failure_mu_;
  Status failure_;  // guarded by failure_mu_: the first failed store write
  std::atomic<uint64_t> view_{0};

  // Last: they start threads that use the fields above.
  std::unique_ptr<StateTransfer> transfer_;
  std::unique_ptr<BlockRepairer> repairer_;
  std::unique_ptr<Worker> poller_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_FOLLOWER_ORDERER_H_
