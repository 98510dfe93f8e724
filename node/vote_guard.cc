#include "node/vote_guard.h"

namespace provledger::node {

using consensus::ConsensusMsg;

std::string VoteGuard::PersistKey(uint8_t type, uint64_t view, uint64_t height) {
  Bytes k = kPrefix;
  AppendU8(&k, type);
  AppendU64(&k, view);
  AppendU64(&k, height);
  return k;
}

Status VoteGuard::Load(const std::vector<std::pair<std::string, Bytes>>& stored) {
  const size_t prefix = sizeof(kPrefix) - 1;
  for (const auto& [key, digest] : stored) {
    if (key.compare(0, prefix, kPrefix) != 0) return DataLossError("stored vote key is malformed");
    ByteReader r(ByteView(key).substr(prefix));
    uint8_t type = 0;
    uint64_t view = 0, height = 0;
    if (!r.ReadU8(&type).ok() || !r.ReadU64(&view).ok() || !r.ReadU64(&height).ok() || !r.done()) {
      return DataLossError("stored vote key is malformed");
    }
    votes_[{type, view, height}] = digest;
  }
  return OkStatus();
}

VoteGuard::Verdict VoteGuard::Admit(const ConsensusMsg& m, std::pair<std::string, Bytes>* persist) {
  const bool vote = m.type == ConsensusMsg::kPrePrepare || m.type == ConsensusMsg::kPrepare ||
                    m.type == ConsensusMsg::kCommit;
  if (!vote || m.sender != self_) return Verdict::kNotGuarded;
  const auto key = std::make_tuple(static_cast<uint8_t>(m.type), m.view, m.height);
  auto it = votes_.find(key);
  if (it != votes_.end()) return it->second == m.digest ? Verdict::kRepeat : Verdict::kConflict;
  votes_[key] = m.digest;
  *persist = {PersistKey(static_cast<uint8_t>(m.type), m.view, m.height), m.digest};
  return Verdict::kNew;
}

std::vector<std::string> VoteGuard::Prune(uint64_t height) {
  std::vector<std::string> gone;
  for (auto it = votes_.begin(); it != votes_.end();) {
    if (std::get<2>(it->first) <= height) {
      gone.push_back(
          PersistKey(std::get<0>(it->first), std::get<1>(it->first), std::get<2>(it->first)));
      it = votes_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

}  // namespace provledger::node
