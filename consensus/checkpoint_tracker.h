// Collects signed CHECKPOINT messages and decides when a checkpoint becomes stable: 2f+1
// distinct validators vouch for the same (height, header hash). The stable checkpoint is
// the low watermark; the core truncates its log below it.
//
// Memory is bounded: per sender only the `per_sender` highest checkpoints above the stable
// one are kept, so a Byzantine sender cannot grow the tracker.
// Owner: PbftCore. Thread rules: not thread-safe, used by the core's owner.
#ifndef PROVLEDGER_CONSENSUS_CHECKPOINT_TRACKER_H_
#define PROVLEDGER_CONSENSUS_CHECKPOINT_TRACKER_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/core_seams.h"
#include "consensus/pbft_messages.h"
#include "consensus/quorum.h"

namespace provledger {
namespace consensus {

// A checkpoint and its proof: q signed checkpoint messages (empty for height 0, whose
// digest is the 32 zero bytes that precede block 1, and for an epoch's start height).
struct StableCheckpoint {
  uint64_t height = 0;
  Bytes digest = Bytes(32, '\0');
  std::vector<ConsensusMsg> proof;
};

// The heights one validator set orders (one epoch): above `start`, whose block every member
// has applied before the epoch begins (so its checkpoint needs no proof), up to `last` once
// the epoch's end is known. `start` is also the epoch's number (ConsensusMsg::epoch).
struct EpochBounds {
  uint64_t start = 0;
  Bytes start_digest = Bytes(32, '\0');  // header hash at `start`; zeros for genesis
  uint64_t last = std::numeric_limits<uint64_t>::max();
};

// OK when `proof` holds kCheckpoint messages of epoch `epoch.start` for (`height`,
// `digest`) from at least q distinct validators whose signatures verify; the epoch's start
// height needs an empty proof and the start digest, a height below it is refused.
// kUnauthenticated / kInvalidArgument otherwise.
Status VerifyCheckpointProof(const Quorum& quorum, const std::string& chain_id,
                             SignatureChecker* checker, uint64_t height, ByteView digest,
                             const std::vector<ConsensusMsg>& proof,
                             const EpochBounds& epoch = EpochBounds());

class CheckpointTracker {
 public:
  enum class AddResult { kStored, kNewStable, kDuplicate, kStale, kConflict };

  explicit CheckpointTracker(Quorum quorum, size_t per_sender = 4)
      : quorum_(quorum), per_sender_(per_sender) {}

  // Records `msg`, a kCheckpoint whose signature the caller checked. kNewStable when it
  // completes 2f+1 matching messages above the stable height (stable() then holds it);
  // kStale at or below the stable height; kConflict when the sender already vouched for
  // another digest at that height (the message is not stored).
  AddResult Add(const ConsensusMsg& msg);
  // Makes `cp` stable (learned from a verified proof elsewhere) if it is higher.
  void Advance(StableCheckpoint cp);
  const StableCheckpoint& stable() const { return stable_; }
  // The most distinct validators vouching for one digest at `height` among the checkpoints
  // kept (0 at or below the stable height). f+1 of them mean an honest validator applied a
  // certified block there.
  uint32_t MostVouchedAt(uint64_t height) const;

 private:
  void DropUpTo(uint64_t height);

  Quorum quorum_;
  size_t per_sender_;
  StableCheckpoint stable_;
  std::map<uint32_t, std::map<uint64_t, ConsensusMsg>> by_sender_;  // sender -> height -> msg
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_CHECKPOINT_TRACKER_H_
