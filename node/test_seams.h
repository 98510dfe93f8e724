// Test seams: hooks that only test binaries set (tests/integration:byzantine_node links the
// node's own main with one), so that a real validator can be made Byzantine in a test
// without a flag that could ever be turned on in the field. Unset, each costs one atomic
// load per batch of outgoing messages.
//
// Thread rules: Set* before the node starts (a static initializer of the test binary); the
// seam is then called from the orderer's vote writer thread, one call at a time.
#ifndef PROVLEDGER_NODE_TEST_SEAMS_H_
#define PROVLEDGER_NODE_TEST_SEAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "consensus/core_seams.h"
#include "consensus/pbft_messages.h"

namespace provledger::node::test_seams {

// Where an outgoing message goes, and this validator's signer (over SigningDigest or
// CommitDigest, as the core signs), so a seam can sign what it changed.
struct Outgoing {
  uint32_t to = 0;    // the recipient's index in the epoch's set
  uint32_t self = 0;  // ours
  uint32_t n = 0;     // validators in the set
  const std::string* chain_id = nullptr;
  consensus::Signer* signer = nullptr;
};

// Asked for each consensus message this validator sends, once per recipient (a broadcast
// once per peer), after its votes are durable: returns the messages to send instead
// (none, the message itself, changed copies...).
using OutgoingFn = std::vector<consensus::ConsensusMsg> (*)(const Outgoing& where,
                                                            const consensus::ConsensusMsg& msg);
void SetOutgoing(OutgoingFn fn);
// Null when no seam is set.
OutgoingFn GetOutgoing();

}  // namespace provledger::node::test_seams

#endif  // PROVLEDGER_NODE_TEST_SEAMS_H_
