// EpochPlan: what the chain says about the validators at the next height, and the role it
// gives this node. Validator-set changes (docs/OPERATIONS.md "Adding, removing and replacing
// validators") take effect at an epoch end E: the set in force for heights E+1.. is epoch E
// (the genesis set is epoch 0). A node is a validator of the set in force when its id is in
// it and it holds the private key the set names for that id; otherwise it follows.
//
// Thread rules: plain data and pure functions; share freely.
#ifndef PROVLEDGER_NODE_EPOCH_PLAN_H_
#define PROVLEDGER_NODE_EPOCH_PLAN_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "common/status.h"
#include "ledger/genesis.h"
#include "ledger/validator_schedule.h"

namespace provledger::node {

struct EpochPlan {
  uint64_t height = 0;  // the store's height the plan was read at
  uint64_t epoch = 0;   // `set` certifies heights above this one (0: the genesis set)
  std::vector<ledger::Validator> set;  // in force at height+1, primary order
  // A committed change not in force yet: the block that holds it (0: none), the last
  // height `set` certifies (its epoch end E), and the set in force above E.
  uint64_t pending_height = 0;
  uint64_t pending_end = 0;
  std::vector<ledger::Validator> pending_set;
};

// Reads the plan at the store's height now. Called from any thread.
using PlanSource = std::function<StatusOr<EpochPlan>()>;

// The plan of a chain whose set never changed: epoch 0, the genesis set, nothing pending.
EpochPlan GenesisPlan(const ledger::Genesis& genesis, uint64_t height);
// The plan at `height` under `schedule` (ledger/validator_schedule.h): the set SetAt(height+1),
// its epoch (the highest end of a change in force there), and the nearest end above `height`
// with the set in force after it (the change committed last with that end).
EpochPlan PlanAt(const ledger::ValidatorSchedule& schedule, uint64_t height);

// What node `id` holding `keys` is under `set`.
struct NodeRole {
  bool validator = false;
  uint32_t index = 0;  // validator: its index in the set
  size_t key = 0;      // validator: which of `keys` the set names for it
  // Follower: why ("not in the set", or "key not held" when the set names a key for `id`
  // that none of `keys` is).
  std::string why;
};
NodeRole RoleIn(const std::vector<ledger::Validator>& set, const std::string& id,
                const std::vector<PrivateKey>& keys);

// A copy of `genesis` whose validators are `set`: the chain as one epoch's orderer sees it
// (peers, primaries and certificate signers by index in that set). Chain id, admins and the
// file hash stay the genesis file's.
ledger::Genesis EpochGenesis(const ledger::Genesis& genesis,
                             const std::vector<ledger::Validator>& set);

// The ids of `set`, in order.
std::vector<std::string> SetIds(const std::vector<ledger::Validator>& set);

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_EPOCH_PLAN_H_
