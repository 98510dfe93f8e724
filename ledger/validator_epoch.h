// Validator-set epochs (docs/VALIDATOR_SET.md): where a validator-set change takes effect.
#ifndef PROVLEDGER_LEDGER_VALIDATOR_EPOCH_H_
#define PROVLEDGER_LEDGER_VALIDATOR_EPOCH_H_

#include <cstdint>

namespace provledger::ledger {

constexpr uint64_t kEpochStep = 16;

// The last height certified by the old set when a change commits at committed_height (docs/VALIDATOR_SET.md).
constexpr uint64_t EpochEndFor(uint64_t committed_height) {
  return kEpochStep * (committed_height / kEpochStep + 4);
}

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_VALIDATOR_EPOCH_H_
