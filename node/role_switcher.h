// RoleSwitcher: the node's one Orderer (LedgerService and ConsensusService keep a pointer
// to it), which delegates to the orderer of the validator-set epoch in force and replaces
// it, without a restart, once the store reaches the end of the epoch (docs/OPERATIONS.md
// "Adding, removing and replacing validators").
//
// Every `poll_ms` it reads the EpochPlan (the set in force at the store's height + 1); when
// its epoch is not the one the current orderer was built for, it switches: the old orderer
// is taken out (calls meanwhile answer kUnavailable "epoch switch, retry", which clients
// retry), waited for until no call uses it any more, destroyed (its waiting submitters are
// answered the same: Orderer::SetStopReason), and the Factory builds the next one for the
// role RoleIn gives this node in the new set:
//   validator in both sets  a fresh PbftOrderer of the new epoch (its index, the new peers,
//                           the key the new set names)            ev=epoch_started
//   validator, not in new   a FollowerOrderer of the new set      ev=left_validator_set
//   follower, in the new    a PbftOrderer                         ev=joined_validator_set
//   follower, not in new    a FollowerOrderer of the new set      ev=epoch_started
// A set that names our id with a key we do not hold: ev=validator_key_not_held (error), and
// the node follows. A restart reads the same plan from the store, so it starts in the role
// and epoch it had (no state of its own).
//
// A validator behind its peers (LagNeedsCatchUp over the (f+1)-th highest head and epoch the
// set in force reports, asked every `lag_probe_ms`) is told to CatchUp: after a restart its
// peers may have moved to a later epoch, whose messages its core does not take.
//
// Thread rules: every method from any thread. The destructor stops the poll thread, then
// destroys the current orderer.
#ifndef PROVLEDGER_NODE_ROLE_SWITCHER_H_
#define PROVLEDGER_NODE_ROLE_SWITCHER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "common/worker.h"
#include "ledger/genesis.h"
#include "node/epoch_plan.h"
#include "node/orderer.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {

// Whether a validator at `plan` must fetch blocks (CatchUp) when the set's (f+1)-th highest
// head is `target` and its (f+1)-th highest epoch `peers_epoch`: they are in a later epoch,
// or past the end of ours, or `lag_blocks` ahead of us.
bool LagNeedsCatchUp(const EpochPlan& plan, uint64_t target, uint64_t peers_epoch,
                     uint64_t lag_blocks);

struct RoleSwitcherOptions {
  uint32_t poll_ms = 10;             // the plan is read this often
  uint32_t lag_probe_ms = 1000;      // a validator asks the set's heads this often (0: never)...
  uint64_t lag_blocks = 64;          // ... and catches up when this far behind them
  uint32_t status_timeout_ms = 500;  // deadline of each of those GetStatus calls
};

class RoleSwitcher final : public Orderer, public SubmitForwarder {
 public:
  // Builds the orderer of one epoch for `role` under `plan`; `epoch_genesis` (the chain as
  // that epoch sees it: EpochGenesis) outlives the orderer.
  using Factory = std::function<StatusOr<std::unique_ptr<Orderer>>(
      const ledger::Genesis* epoch_genesis, const EpochPlan& plan, const NodeRole& role)>;

  // Reads the plan, builds the first orderer and starts switching. `genesis` must outlive
  // this. The plan's or the factory's error when either fails.
  static StatusOr<std::unique_ptr<RoleSwitcher>> Create(const ledger::Genesis* genesis,
                                                        std::string node_id,
                                                        std::vector<PrivateKey> keys,
                                                        PlanSource plans, Factory make,
                                                        RoleSwitcherOptions options);
  ~RoleSwitcher() override;
  RoleSwitcher(const RoleSwitcher&) = delete;
  RoleSwitcher& operator=(const RoleSwitcher&) = delete;

  // Orderer: the current orderer's answer; kUnavailable ("retry") while switching.
  Status Submit(CheckedBatch batch, provledger::v1::ConsensusRequest request,
                SubmitDone done) override;
  uint64_t pending() const override;
  uint64_t view() const override;
  Status failure() const override;
  void RequestRepair(uint64_t height) override;
  ViewHealth view_health() const override;
  std::vector<PeerState> peers() const override;
  // `this` while the current orderer forwards (a follower), else null.
  SubmitForwarder* forwarder() override;
  std::string role() const override;
  void Deliver(const provledger::v1::Delivery& d, const std::string& peer) override;
  void CatchUp(uint64_t target) override;
  std::optional<EpochPlan> epoch_plan() const override;

  // SubmitForwarder: the current follower's answer; kUnavailable when this node is not
  // following (any more) or is switching.
  StatusOr<provledger::v1::SubmitResponse> Submit(
      const provledger::v1::SignedBatch& batch) override;
  StatusOr<provledger::v1::SubmitResponse> SubmitRegistry(const std::string& tx) override;
  StatusOr<provledger::v1::SubmitResponse> SubmitFirmware(const std::string& record) override;

  // The epoch the current orderer was built for, and how many switches happened.
  uint64_t epoch() const { return epoch_.load(); }
  uint64_t switches() const { return switches_.load(); }

 private:
  RoleSwitcher(const ledger::Genesis* genesis, std::string node_id, std::vector<PrivateKey> keys,
               PlanSource plans, Factory make, RoleSwitcherOptions options);
  std::shared_ptr<Orderer> Current() const;
  // Builds the orderer for `plan` and makes it current. Poll thread (or Create).
  Status Build(const EpochPlan& plan);
  // Takes the current orderer out and destroys it once no call uses it; the submissions it
  // still holds are answered `why`. Poll thread (or the destructor).
  void TearDown(Status why);
  void Loop(Worker& w);
  // Validator: asks the set's heads; CatchUp when far behind. Poll thread.
  void ProbeLag(const EpochPlan& plan);

  const ledger::Genesis* genesis_;
  const std::string node_id_;
  const std::vector<PrivateKey> keys_;
  PlanSource plans_;
  Factory make_;
  RoleSwitcherOptions options_;

  mutable std::mutex mu_;
  std::shared_ptr<Orderer> current_;  // guarded by mu_; null while switching
  EpochPlan plan_;                    // guarded by mu_: the plan last read
  std::string role_ = "follower";     // guarded by mu_: the role of the last build
  std::string switching_to_;          // guarded by mu_: why Submit is unavailable

  // Poll thread only:
  std::unique_ptr<ledger::Genesis> epoch_genesis_;  // outlives the current orderer
  NodeRole node_role_;                              // of the last orderer built
  bool built_ = false;       // false after a failed Build: retried at the next poll
  bool ever_built_ = false;  // an orderer was built once (later ones are switches)
  uint64_t next_probe_ms_ = 0;
  uint64_t switch_started_ms_ = 0;  // SteadyMs() when the running switch began
  std::vector<std::unique_ptr<provledger::v1::Ledger::Stub>> probe_stubs_;  // this epoch's peers

  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> switches_{0};
  std::unique_ptr<Worker> worker_;  // last: its thread uses everything above
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_ROLE_SWITCHER_H_
