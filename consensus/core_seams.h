// The seams between the PBFT core and its surroundings: signing, verifying and the
// application's block building. The core calls these synchronously from its owner's thread.
//
// Owner: the node shell (or a test) builds the implementations and lends raw pointers to
// PbftCore, which never deletes them and calls them only from inside its own methods.
// Thread rules: an implementation is called from one thread at a time (the core's owner).
#ifndef PROVLEDGER_CONSENSUS_CORE_SEAMS_H_
#define PROVLEDGER_CONSENSUS_CORE_SEAMS_H_

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger {
namespace consensus {

// A client submission as the core sees it: an id to deduplicate by (a gateway batch
// digest) and an opaque payload the BlockFactory understands.
struct Request {
  Bytes id;
  Bytes payload;
};

// A block built by the primary: its header hash (32 bytes) and its opaque serialization.
struct Proposal {
  Bytes header_hash;
  Bytes block;
};

// What Validate learns from a block: its header hash and the ids of the requests it holds.
struct BlockInfo {
  Bytes header_hash;
  std::vector<Bytes> request_ids;
};

// Signs 32-byte digests with this validator's key (RFC 6979: deterministic).
class Signer {
 public:
  virtual ~Signer() = default;
  // Returns the signature over `digest32`, used as is (never hashed again).
  virtual Bytes Sign(ByteView digest32) = 0;
};

// Checks signatures of the validators of the genesis file, by index.
class SignatureChecker {
 public:
  virtual ~SignatureChecker() = default;
  // True when `sig` is validator `validator`'s signature over `digest32`; false for an
  // unknown index or any malformed input.
  virtual bool Verify(uint32_t validator, ByteView digest32, ByteView sig) = 0;
};

// The application side of agreement: builds the primary's proposals and checks others'.
// Both functions are deterministic: the same inputs give the same header hash on every node.
class BlockFactory {
 public:
  virtual ~BlockFactory() = default;
  // Builds the block at `height` on top of `prev_hash`, proposed in `view`, holding
  // `requests` in order (possibly none). An error leaves the requests pending in the core.
  virtual StatusOr<Proposal> Build(uint64_t height, uint64_t view, ByteView prev_hash,
                                   std::vector<Request> requests) = 0;
  // OK when `block` is a valid block at `height` on top of `prev_hash`, proposed in `view`
  // or in an earlier view (a re-proposal after a view change); fills *info. On error
  // (kInvalidArgument, kUnauthenticated, ...) *info is unspecified.
  virtual Status Validate(uint64_t height, uint64_t view, ByteView prev_hash, ByteView block,
                          BlockInfo* info) = 0;
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_CORE_SEAMS_H_
