// Audit and consistency proofs of RFC 9162 (sections 2.1.3.1 and 2.1.4.1), built by full
// nodes that hold every leaf hash of a tree. Verifiers use proof_verifier.h instead.
//
// Thread rules: pure functions, safe from any thread. Cost: O(n) hashes per proof.
#ifndef PROVLEDGER_LEDGER_MERKLE_PROOF_BUILDER_H_
#define PROVLEDGER_LEDGER_MERKLE_PROOF_BUILDER_H_

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::ledger {

// RFC 9162 PATH(index, D[n]) over the tree of `leaf_hashes` (n = its size): the sibling
// hashes from the leaf level up; empty for a one-leaf tree. kOutOfRange unless index < n.
StatusOr<std::vector<Bytes>> InclusionProof(const std::vector<Bytes>& leaf_hashes, uint64_t index);

// RFC 9162 PROOF(old_size, D[new_size]) over the first new_size of `leaf_hashes`; empty
// when old_size is 0 or equals new_size. kInvalidArgument if old_size > new_size;
// kOutOfRange if new_size > leaf_hashes.size().
StatusOr<std::vector<Bytes>> ConsistencyProof(const std::vector<Bytes>& leaf_hashes,
                                              uint64_t old_size, uint64_t new_size);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_MERKLE_PROOF_BUILDER_H_
