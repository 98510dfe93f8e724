#include "consensus/checkpoint_tracker.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace provledger {
namespace consensus {

Status VerifyCheckpointProof(const Quorum& quorum, const std::string& chain_id,
                             SignatureChecker* checker, uint64_t height, ByteView digest,
                             const std::vector<ConsensusMsg>& proof, const EpochBounds& epoch) {
  if (height < epoch.start) return InvalidArgumentError("checkpoint below the epoch's start");
  if (height == epoch.start) {
    if (!proof.empty() || digest != epoch.start_digest) {
      return InvalidArgumentError(
          "the epoch's start checkpoint must have the start digest and no proof");
    }
    return OkStatus();
  }
  std::set<uint32_t> signers;
  for (const ConsensusMsg& m : proof) {
    if (m.type != ConsensusMsg::kCheckpoint || m.height != height || m.digest != digest ||
        m.epoch != epoch.start) {
      return InvalidArgumentError("checkpoint proof holds a message for another checkpoint");
    }
    if (m.sender >= quorum.n()) return InvalidArgumentError("checkpoint proof: unknown sender");
    if (!checker->Verify(m.sender, SigningDigest(chain_id, m), m.signature)) {
      return UnauthenticatedError("checkpoint proof: bad signature");
    }
    if (!signers.insert(m.sender).second) {
      return InvalidArgumentError("checkpoint proof: validator listed twice");
    }
  }
  if (signers.size() < quorum.Strong()) {
    return InvalidArgumentError("checkpoint proof: fewer than a quorum of signers");
  }
  return OkStatus();
}

CheckpointTracker::AddResult CheckpointTracker::Add(const ConsensusMsg& msg) {
  if (msg.height <= stable_.height) return AddResult::kStale;
  auto& mine = by_sender_[msg.sender];
  auto it = mine.find(msg.height);
  if (it != mine.end()) {
    return it->second.digest == msg.digest ? AddResult::kDuplicate : AddResult::kConflict;
  }
  mine.emplace(msg.height, msg);
  while (mine.size() > per_sender_) mine.erase(mine.begin());
  if (mine.count(msg.height) == 0) return AddResult::kStale;  // older than what we keep

  std::vector<ConsensusMsg> proof;
  for (const auto& [sender, heights] : by_sender_) {
    auto m = heights.find(msg.height);
    if (m != heights.end() && m->second.digest == msg.digest) proof.push_back(m->second);
  }
  if (proof.size() < quorum_.Strong()) return AddResult::kStored;
  StableCheckpoint cp;
  cp.height = msg.height;
  cp.digest = msg.digest;
  cp.proof = std::move(proof);
  Advance(std::move(cp));
  return AddResult::kNewStable;
}

uint32_t CheckpointTracker::MostVouchedAt(uint64_t height) const {
  std::map<Bytes, uint32_t> by_digest;
  uint32_t most = 0;
  for (const auto& [sender, heights] : by_sender_) {
    auto m = heights.find(height);
    if (m != heights.end()) most = std::max(most, ++by_digest[m->second.digest]);
  }
  return most;
}

void CheckpointTracker::Advance(StableCheckpoint cp) {
  if (cp.height <= stable_.height) return;
  stable_ = std::move(cp);
  DropUpTo(stable_.height);
}

void CheckpointTracker::DropUpTo(uint64_t height) {
  for (auto it = by_sender_.begin(); it != by_sender_.end();) {
    auto& heights = it->second;
    heights.erase(heights.begin(), heights.upper_bound(height));
    it = heights.empty() ? by_sender_.erase(it) : std::next(it);
  }
}

}  // namespace consensus
}  // namespace provledger
