// VoteGuard: the no-second-vote rule. It remembers every pre-prepare, prepare and commit
// this validator signs, by (type, view, height), and refuses a second digest for one of
// them, also after a crash and restart: PbftCore outputs each new vote in
// CoreOutput::to_persist_votes, the shell makes those durable before it sends anything of
// that output, and a restarted core is given them back (PbftCore::RestoreVotes). Without it
// a restarted honest replica, back in an old view with its memory gone, could be led by a
// lying primary (or, as the primary, lead itself) into voting for two blocks at one height.
//
// Owner: PbftCore. Thread rules: not thread-safe; the core's owner thread only.
#ifndef PROVLEDGER_CONSENSUS_VOTE_GUARD_H_
#define PROVLEDGER_CONSENSUS_VOTE_GUARD_H_

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "common/bytes.h"
#include "consensus/messages.h"

namespace provledger {
namespace consensus {

// One vote this validator cast: what must be durable before it is sent.
struct Vote {
  uint8_t type = 0;  // ConsensusMsg::kPrePrepare, kPrepare or kCommit
  uint64_t view = 0;
  uint64_t height = 0;
  Bytes digest;
  bool operator==(const Vote& o) const {
    return type == o.type && view == o.view && height == o.height && digest == o.digest;
  }
};

class VoteGuard {
 public:
  enum class Verdict {
    kNotGuarded,  // not one of our votes: send it
    kNew,         // a new vote: persist it before sending
    kRepeat,      // the same vote again (a resend): send it
    kConflict,    // another digest for a vote already cast: never send
  };

  explicit VoteGuard(uint32_t self) : self_(self) {}

  // Restores votes cast before a restart (what was persisted). A later entry for the same
  // (type, view, height) replaces an earlier one.
  void Restore(const std::vector<Vote>& votes);
  // Judges `msg`; on kNew it is remembered and *persist (may not be null) is set to the vote
  // that must be made durable before the message is sent.
  Verdict Admit(const ConsensusMsg& msg, Vote* persist);
  // Forgets votes at heights <= `height` (below the stable checkpoint nothing is asked
  // again) and returns them, for deletion from where they were persisted.
  std::vector<Vote> Prune(uint64_t height);
  size_t size() const { return votes_.size(); }

 private:
  uint32_t self_;
  std::map<std::tuple<uint8_t, uint64_t, uint64_t>, Bytes> votes_;
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_VOTE_GUARD_H_
