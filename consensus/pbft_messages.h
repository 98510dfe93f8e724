// PBFT messages, the digests validators sign over them, and their binary encoding.
//
// The encoding is the project's own (PROTOCOL.md fixes only the commit digest, 6.4): the
// node shell carries Encode()'d bytes inside gRPC messages. A Commit's signature is over
// CommitDigest(), so the q commits of one block are its commit certificate. Every other
// message's signature covers its epoch too; a commit's does not need to: the heights an
// epoch orders belong to it alone, and its sender index is checked against its set's keys.
// Thread rules: plain values and pure functions.
#ifndef PROVLEDGER_CONSENSUS_PBFT_MESSAGES_H_
#define PROVLEDGER_CONSENSUS_PBFT_MESSAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "ledger/block_header.h"

namespace provledger {
namespace consensus {

// Domain tags of the consensus digests. Together with PROTOCOL.md's tags no tag is a
// prefix of another (checked by a test).
inline constexpr char kTagPrePrepare[] = "pl/v1/pbft/pre-prepare";
inline constexpr char kTagPrepare[] = "pl/v1/pbft/prepare";
inline constexpr char kTagCommit[] = "pl/v1/commit";  // PROTOCOL.md 6.4
inline constexpr char kTagCheckpoint[] = "pl/v1/pbft/checkpoint";
inline constexpr char kTagViewChange[] = "pl/v1/pbft/view-change";
inline constexpr char kTagNewView[] = "pl/v1/pbft/new-view";
inline constexpr char kTagSuspect[] = "pl/v1/pbft/suspect";

struct PreparedCert;

// One PBFT message. Which fields are used depends on `type`; unused ones stay empty/zero
// (Decode refuses a message that sets fields its type does not use).
struct ConsensusMsg {
  enum Type : uint8_t {
    kPrePrepare = 1,
    kPrepare = 2,
    kCommit = 3,
    kCheckpoint = 4,
    kViewChange = 5,
    kNewView = 6,
    // "My view timer ran out in `view`": a pre-vote, sent while the sender keeps working
    // in `view`. A replica leaves a view only on f+1 of them (see pbft_core.h).
    kSuspect = 7,
  };
  Type type = kPrepare;
  // The validator set the message belongs to: the height after which that set orders (0
  // for the genesis set, E for a set in force from E+1). Views restart at 0 in each epoch.
  uint64_t epoch = 0;
  // The new view for kViewChange / kNewView; the suspected view for kSuspect; unused by
  // kCheckpoint.
  uint64_t view = 0;
  uint64_t height = 0;  // PBFT sequence number = block height; kViewChange/kNewView/kSuspect: 0
  Bytes digest;         // header hash (32); kCheckpoint: header hash at `height`
  uint32_t sender = 0;  // validator index in the order of the epoch's set
  Bytes block;          // kPrePrepare: the opaque serialized proposal

  // kViewChange: the sender's stable checkpoint and its 2f+1 signed kCheckpoint messages
  // (empty proof when checkpoint_height is the genesis/start height), and its prepared
  // certificates for heights above the checkpoint.
  uint64_t checkpoint_height = 0;
  Bytes checkpoint_digest;
  std::vector<ConsensusMsg> checkpoint_proof;
  std::vector<PreparedCert> prepared;
  // kNewView: the 2f+1 view-change messages and the re-issued pre-prepares (ascending).
  std::vector<ConsensusMsg> view_changes;
  std::vector<ConsensusMsg> pre_prepares;

  Bytes signature;
};

// A block prepared in some view: its pre-prepare (with the block) and 2f matching
// prepares from distinct backups.
struct PreparedCert {
  ConsensusMsg pre_prepare;
  std::vector<ConsensusMsg> prepares;
};

// Name of a type for logs and test output, e.g. "pre-prepare".
const char* TypeName(ConsensusMsg::Type type);

// PROTOCOL.md 6.4's commit digest, the one the ledger checks certificates with.
using ::provledger::ledger::CommitDigest;

// The 32-byte digest `msg.sender` signs: CommitDigest for kCommit, otherwise SHA256 over
// the type's tag, lp(chain_id) and every field but the signature. Never fails.
Bytes SigningDigest(const std::string& chain_id, const ConsensusMsg& msg);

// Strict binary encoding of `msg` (signature included). Epoch 0 encodes as version 1,
// byte for byte as before epochs existed; any other epoch as version 2, which adds
// u64be(epoch) after the type.
Bytes Encode(const ConsensusMsg& msg);

// Decodes Encode()'s output. kInvalidArgument on truncation, trailing bytes, an unknown
// type or version, version 2 with epoch 0, a digest that is neither empty nor 32 bytes, nesting
// deeper than a new-view allows, or fields the type does not use. *msg is unspecified on failure.
Status Decode(ByteView data, ConsensusMsg* msg);

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_PBFT_MESSAGES_H_
