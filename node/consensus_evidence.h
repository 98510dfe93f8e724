// ConsensusEvidence: what this validator refused or doubted of its peers' consensus
// messages, for operators: what only a faulty or Byzantine peer sends. Kinds:
//   bad_signature, undecodable, unknown_sender   refused by Deliver (PbftOrderer), before
//                                                the core; bad_signature also for a
//                                                signature inside a view change
//   equivocation, conflicting_vote               a second pre-prepare / vote of one sender
//                                                for one view and height, another digest
//   other_digest_vote                            a prepare or commit naming another digest
//                                                than the pre-prepare we accepted
//   invalid_block, digest_mismatch, not_from_primary, malformed, invalid_view_change,
//   invalid_new_view                             the core's drops of those names
//   bad_state_transfer                           a block a peer answered to our state
//                                                transfer (ev=state_transfer_refused) or
//                                                block repair (ev=block_repair_refused)
//                                                that failed a check (certificate, height,
//                                                link, records vs root and count)
// Each is counted in provledger_node_consensus_evidence_total{kind} and logged as
// ev=consensus_evidence kind=K count=N total=T (from=ID when the claimed author is known;
// for a message refused as delivered, peer=ID the delivering caller as its TLS certificate
// names it, or peer=unauthenticated under --insecure, and claimed=ID the sender the
// delivery names), the first at once, then at most one line per kind every 5 s with the
// count since the last. Identities go to the log only: the metric's one label is `kind`.
//
// Owner: PbftOrderer. Thread rules: Count() from any thread; Note() on the consensus thread.
#ifndef PROVLEDGER_NODE_CONSENSUS_EVIDENCE_H_
#define PROVLEDGER_NODE_CONSENSUS_EVIDENCE_H_

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "consensus/pbft_core.h"

namespace provledger::node {

class ConsensusEvidence {
 public:
  ConsensusEvidence();
  // Who delivered a message: `peer` as authenticated (AuthenticatedPeer), `claimed` as the
  // delivery names its sender; each empty when not known.
  struct Delivered {
    std::string peer;
    std::string claimed;
  };
  // Counts `n` pieces of evidence of `kind` (a fixed word above); `from` is the claimed
  // author's id, empty when not known.
  void Count(const char* kind, uint64_t n, const std::string& from,
             const Delivered& via = Delivered());
  // Counts what the core dropped or doubted since the last call (for this core).
  void Note(const consensus::PbftCore& core);

 private:
  struct Kind {
    uint64_t total = 0;
    uint64_t unlogged = 0;
    uint64_t logged_ms = 0;  // SteadyMs() of the last line; 0: none yet
  };
  std::mutex mu_;
  std::map<std::string, Kind> kinds_;  // guarded by mu_
  // Consensus thread only: the core's counters at the last Note.
  std::array<uint64_t, static_cast<size_t>(consensus::DropReason::kCount)> seen_drops_{};
  uint64_t seen_other_digest_ = 0;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_CONSENSUS_EVIDENCE_H_
