// Test seams: hooks that only test binaries set (tests/integration:byzantine_node links the
// node's own main with one), so that a real validator can be made Byzantine in a test
// without a flag that could ever be turned on in the field. Unset, each costs one atomic
// load per batch of outgoing messages.
//
// Thread rules: Set* before the node starts (a static initializer of the test binary); the
// outgoing seam is then called from the orderer's vote writer thread, one call at a time,
// the served-block seam from gRPC's server threads.
#ifndef PROVLEDGER_NODE_TEST_SEAMS_H_
#define PROVLEDGER_NODE_TEST_SEAMS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "consensus/core_seams.h"
#include "consensus/pbft_messages.h"

namespace provledger::v1 {
class Block;
class GetBlockRequest;
}  // namespace provledger::v1

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

// Asked for each block this validator serves by Ledger.GetBlock (state transfer and block
// repair of its peers, clients), with the request: may change `block` in place. Called on
// gRPC's server threads, concurrently.
using ServedBlockFn = void (*)(const provledger::v1::GetBlockRequest& req,
                               provledger::v1::Block* block);
void SetServedBlock(ServedBlockFn fn);
// Null when no seam is set.
ServedBlockFn GetServedBlock();

}  // namespace provledger::node::test_seams

#endif  // PROVLEDGER_NODE_TEST_SEAMS_H_
