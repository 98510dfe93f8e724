#include "ledger/validator_schedule.h"

#include <utility>

namespace provledger::ledger {

ValidatorSchedule::ValidatorSchedule(const Genesis& genesis)
    : genesis_set_(std::make_shared<const ValidatorSet>(ValidatorSet::FromGenesis(genesis))) {}

std::shared_ptr<const ValidatorSet> ValidatorSchedule::SharedSetAt(uint64_t height) const {
  // Changes are in commit order and E(h) does not decrease with h: the last one in force wins
  // (of several with the same E, the last committed, which was based on the others).
  for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
    if (it->end < height) return it->set;
  }
  return genesis_set_;
}

const ValidatorSet& ValidatorSchedule::SetAt(uint64_t height) const {
  for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
    if (it->end < height) return *it->set;
  }
  return *genesis_set_;
}

const ValidatorSet& ValidatorSchedule::Latest() const {
  return changes_.empty() ? *genesis_set_ : *changes_.back().set;
}

const ValidatorChange* ValidatorSchedule::PendingAfter(uint64_t applied_height) const {
  if (changes_.empty() || changes_.back().end <= applied_height) return nullptr;
  return &changes_.back();
}

std::vector<ValidatorChange> ValidatorSchedule::ChangesInForceAt(uint64_t height) const {
  std::vector<ValidatorChange> out;
  for (const auto& c : changes_) {
    if (c.end < height) out.push_back(c);
  }
  return out;
}

Status ValidatorSchedule::CheckChange(const provledger::v1::SetValidators& op) const {
  const Bytes& latest = Latest().Digest();
  if (op.base_set_digest() != latest) {
    return FailedPreconditionError(
        "validator change is based on set " + ShortHex(op.base_set_digest()) +
        ", but the latest set (in force or scheduled) is " + ShortHex(latest));
  }
  return OkStatus();
}

ValidatorSchedule ValidatorSchedule::CommittedBelow(uint64_t height) const {
  ValidatorSchedule out = *this;
  out.changes_.clear();
  for (const auto& c : changes_) {
    if (c.committed_height < height) out.changes_.push_back(c);
  }
  return out;
}

bool ValidatorSchedule::SameChanges(const ValidatorSchedule& other) const {
  if (changes_.size() != other.changes_.size()) return false;
  for (size_t i = 0; i < changes_.size(); ++i) {
    if (changes_[i].committed_height != other.changes_[i].committed_height ||
        changes_[i].set->Digest() != other.changes_[i].set->Digest()) {
      return false;
    }
  }
  return true;
}

ValidatorSchedule ValidatorSchedule::WithChange(std::shared_ptr<const ValidatorSet> set,
                                                uint64_t committed_height) const {
  ValidatorSchedule next = *this;
  next.changes_.push_back(
      ValidatorChange{committed_height, EpochEndFor(committed_height), std::move(set)});
  return next;
}

}  // namespace provledger::ledger
