// VoteGuard: every pre-prepare, prepare and commit this validator signs, by (type, view,
// height), so that it never signs a second digest for one of them — not even after a crash
// and restart, because the caller makes each new vote durable (PersistKey/digest) before the
// vote leaves. Without it a restarted honest replica, back in an old view with its memory
// gone, could be led by a lying primary into voting for two blocks at one height.
//
// Thread rules: not thread-safe; owned by the consensus thread.
#ifndef PROVLEDGER_NODE_VOTE_GUARD_H_
#define PROVLEDGER_NODE_VOTE_GUARD_H_

#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "consensus/pbft_messages.h"

namespace provledger::node {

class VoteGuard {
 public:
  enum class Verdict {
    kNotGuarded,  // not one of our votes: send it
    kNew,         // a new vote: persist (key, digest) before sending
    kRepeat,      // the same vote again (a resend): send it
    kConflict,    // another digest for a vote already cast: never send
  };

  explicit VoteGuard(uint32_t self) : self_(self) {}

  // Restores votes persisted under PersistKey() keys. kDataLoss on a malformed key.
  Status Load(const std::vector<std::pair<std::string, Bytes>>& stored);
  // Judges `msg`; on kNew it is remembered and *persist is set to what must be made
  // durable before the message is sent.
  Verdict Admit(const consensus::ConsensusMsg& msg, std::pair<std::string, Bytes>* persist);
  // Forgets votes at heights <= `height` (below the stable checkpoint nothing is asked
  // again) and returns their keys, for deletion.
  std::vector<std::string> Prune(uint64_t height);
  size_t size() const { return votes_.size(); }

  // The metadata key of a vote: "vote/" u8(type) u64be(view) u64be(height).
  static std::string PersistKey(uint8_t type, uint64_t view, uint64_t height);
  static constexpr char kPrefix[] = "vote/";

 private:
  uint32_t self_;
  std::map<std::tuple<uint8_t, uint64_t, uint64_t>, Bytes> votes_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_VOTE_GUARD_H_
