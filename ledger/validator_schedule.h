// The validator schedule (docs/VALIDATOR_SET.md): the genesis set and every validator-set
// change recorded on the chain, each committed at a height h and in force for heights above
// E(h) = EpochEndFor(h). Which set certifies block H is SetAt(H), the same on every node and
// for every outside verifier, because it is a function of the chain alone.
//
// The registry (ledger/registry.h) keeps one schedule in each RegistrySnapshot and persists
// its changes as registry rows; a node fetching blocks ahead of its registry (state transfer,
// follower) advances its own copy with ScheduleAfterBlock (ledger/registry.h).
//
// Thread rules: a ValidatorSchedule is an immutable value (WithChange returns a new one);
// share it freely.
#ifndef PROVLEDGER_LEDGER_VALIDATOR_SCHEDULE_H_
#define PROVLEDGER_LEDGER_VALIDATOR_SCHEDULE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "ledger/genesis.h"
#include "ledger/validator_epoch.h"
#include "ledger/validator_set.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {

// One recorded change: committed in block `committed_height`, in force above `end`.
struct ValidatorChange {
  uint64_t committed_height = 0;
  uint64_t end = 0;  // EpochEndFor(committed_height)
  std::shared_ptr<const ValidatorSet> set;
};

class ValidatorSchedule {
 public:
  // The genesis set alone.
  explicit ValidatorSchedule(const Genesis& genesis);

  const ValidatorSet& genesis_set() const { return *genesis_set_; }
  // Every change in commit order (committed heights non-decreasing).
  const std::vector<ValidatorChange>& changes() const { return changes_; }

  // The set that certifies block `height`: the last committed change with end < height, or
  // the genesis set.
  const ValidatorSet& SetAt(uint64_t height) const;
  std::shared_ptr<const ValidatorSet> SharedSetAt(uint64_t height) const;
  // The newest set, in force or scheduled: the base a new change must name.
  const ValidatorSet& Latest() const;
  // The last change not yet in force at height applied_height+1 (end > applied_height), or
  // null: what `ledgerctl validator list` shows as pending.
  const ValidatorChange* PendingAfter(uint64_t applied_height) const;
  // The changes in force at or below `height` (end < height), in commit order: those a proof
  // of a record at `height` carries (docs/VALIDATOR_SET.md), superseded ones included.
  std::vector<ValidatorChange> ChangesInForceAt(uint64_t height) const;

  // OK when `op` names Latest() as its base; kFailedPrecondition naming both digests.
  Status CheckChange(const provledger::v1::SetValidators& op) const;
  // The schedule with only the changes committed below `height` (what the chain below
  // `height` alone establishes).
  ValidatorSchedule CommittedBelow(uint64_t height) const;
  // True when both hold the same changes (heights and set digests).
  bool SameChanges(const ValidatorSchedule& other) const;
  // This schedule plus `set` committed at `committed_height` (not below the last change's).
  ValidatorSchedule WithChange(std::shared_ptr<const ValidatorSet> set,
                               uint64_t committed_height) const;

 private:
  std::shared_ptr<const ValidatorSet> genesis_set_;
  std::vector<ValidatorChange> changes_;
};

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_VALIDATOR_SCHEDULE_H_
