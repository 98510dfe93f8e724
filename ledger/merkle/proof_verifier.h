// Verifies RFC 9162 audit paths (section 2.1.3.2) and consistency proofs (section 2.1.4.2)
// against SHA-256 Merkle roots (PROTOCOL.md 6.2, 6.7 step 4). Needs only SHA-256 and Status:
// used by light nodes, ledgerctl and tests.
//
// Every check on shapes runs before any hashing: the leaf index is below the tree size, every
// hash is 32 bytes, the path has exactly the length the index and size imply. Codes:
// kOutOfRange for an index or size out of range, kInvalidArgument for a malformed hash or a
// path of the wrong length, kUnauthenticated when the computed root differs (both named).
// Thread rules: pure functions, safe from any thread.
#ifndef PROVLEDGER_LEDGER_MERKLE_PROOF_VERIFIER_H_
#define PROVLEDGER_LEDGER_MERKLE_PROOF_VERIFIER_H_

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::ledger {

// The root implied by `leaf_hash` at `index` in a tree of `tree_size` leaves with audit
// `path` (leaf level first). kOutOfRange unless index < tree_size; kInvalidArgument if a hash
// is not 32 bytes or path.size() is not the exact length for (index, tree_size).
StatusOr<Bytes> RootFromInclusionProof(ByteView leaf_hash, uint64_t index, uint64_t tree_size,
                                       const std::vector<Bytes>& path);

// OK when `path` proves `leaf_hash` at `index` in the tree of `tree_size` leaves whose root
// is `expected_root`. Errors as RootFromInclusionProof; kInvalidArgument if expected_root is
// not 32 bytes; kUnauthenticated naming both roots (short hex) when they differ.
Status VerifyInclusion(ByteView leaf_hash, uint64_t index, uint64_t tree_size,
                       const std::vector<Bytes>& path, ByteView expected_root);

// OK when `proof` shows the tree of old_size leaves with root `old_root` is a prefix of the
// tree of new_size leaves with root `new_root`. For old_size == new_size the proof must be
// empty and the roots equal; for old_size == 0 the proof must be empty and old_root must be
// EmptyRoot(). kOutOfRange if old_size > new_size; kInvalidArgument for a hash not of 32
// bytes or a proof of the wrong length; kUnauthenticated naming the roots when one differs.
Status VerifyConsistency(uint64_t old_size, uint64_t new_size, ByteView old_root, ByteView new_root,
                         const std::vector<Bytes>& proof);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_MERKLE_PROOF_VERIFIER_H_
