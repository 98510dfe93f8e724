#include "consensus/vote_guard.h"

namespace provledger {
namespace consensus {

void VoteGuard::Restore(const std::vector<Vote>& votes) {
  for (const Vote& v : votes) votes_[{v.type, v.view, v.height}] = v.digest;
}

VoteGuard::Verdict VoteGuard::Admit(const ConsensusMsg& m, Vote* persist) {
  const bool vote = m.type == ConsensusMsg::kPrePrepare || m.type == ConsensusMsg::kPrepare ||
                    m.type == ConsensusMsg::kCommit;
  if (!vote || m.sender != self_) return Verdict::kNotGuarded;
  const auto key = std::make_tuple(static_cast<uint8_t>(m.type), m.view, m.height);
  auto it = votes_.find(key);
  if (it != votes_.end()) return it->second == m.digest ? Verdict::kRepeat : Verdict::kConflict;
  votes_[key] = m.digest;
  *persist = Vote{static_cast<uint8_t>(m.type), m.view, m.height, m.digest};
  return Verdict::kNew;
}

std::vector<Vote> VoteGuard::Prune(uint64_t height) {
  std::vector<Vote> gone;
  for (auto it = votes_.begin(); it != votes_.end();) {
    if (std::get<2>(it->first) <= height) {
      gone.push_back(
          Vote{std::get<0>(it->first), std::get<1>(it->first), std::get<2>(it->first), it->second});
      it = votes_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

}  // namespace consensus
}  // namespace provledger
