#include "node/epoch_plan.h"

#include <algorithm>

namespace provledger::node {

EpochPlan GenesisPlan(const ledger::Genesis& genesis, uint64_t height) {
  EpochPlan p;
  p.height = height;
  p.set = genesis.validators;
  return p;
}

EpochPlan PlanAt(const ledger::ValidatorSchedule& schedule, uint64_t height) {
  EpochPlan p;
  p.height = height;
  p.set = schedule.SetAt(height + 1).members();
  for (const auto& c : schedule.changes()) {
    if (c.end < height + 1) p.epoch = std::max(p.epoch, c.end);
  }
  // The NEAREST end above us (not the newest change's): the core must stop there, where the
  // next set takes over, even when another change is already scheduled after it.
  for (const auto& c : schedule.changes()) {
    if (c.end <= height) continue;
    if (p.pending_end == 0 || c.end < p.pending_end) {
      p.pending_end = c.end;
      p.pending_height = c.committed_height;
    } else if (c.end == p.pending_end) {
      p.pending_height = std::max(p.pending_height, c.committed_height);  // the last one wins
    }
  }
  if (p.pending_end != 0) p.pending_set = schedule.SetAt(p.pending_end + 1).members();
  return p;
}

NodeRole RoleIn(const std::vector<ledger::Validator>& set, const std::string& id,
                const std::vector<PrivateKey>& keys) {
  NodeRole r;
  for (uint32_t i = 0; i < set.size(); ++i) {
    if (set[i].id != id) continue;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (keys[k].PublicKey() == set[i].pubkey) {
        r.validator = true;
        r.index = i;
        r.key = k;
        return r;
      }
    }
    r.why = "key not held";
    return r;
  }
  r.why = "not in the set";
  return r;
}

ledger::Genesis EpochGenesis(const ledger::Genesis& genesis,
                             const std::vector<ledger::Validator>& set) {
  ledger::Genesis g = genesis;
  g.validators = set;
  return g;
}

std::vector<std::string> SetIds(const std::vector<ledger::Validator>& set) {
  std::vector<std::string> ids;
  ids.reserve(set.size());
  for (const auto& v : set) ids.push_back(v.id);
  return ids;
}

}  // namespace provledger::node
