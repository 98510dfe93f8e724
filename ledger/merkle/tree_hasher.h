// RFC 6962 / RFC 9162 Merkle Tree Hash over SHA-256 (PROTOCOL.md 6.2).
//
// Leaf hash SHA256(0x00 || data), node hash SHA256(0x01 || left || right), empty tree
// SHA256(""). A list of n > 1 leaves splits into the first k and the other n - k, k being the
// largest power of two strictly below n. Thread rules: pure functions, safe from any thread.
#ifndef PROVLEDGER_LEDGER_MERKLE_TREE_HASHER_H_
#define PROVLEDGER_LEDGER_MERKLE_TREE_HASHER_H_

#include <cstddef>
#include <vector>

#include "common/bytes.h"

namespace provledger::ledger {

// SHA256(0x00 || data): the hash of one leaf (for a record, its record id).
Bytes LeafHash(ByteView data);

// SHA256(0x01 || left || right): the hash of an inner node.
Bytes NodeHash(ByteView left, ByteView right);

// SHA256(""): the root of the empty tree.
Bytes EmptyRoot();

// The Merkle Tree Hash of `leaf_hashes` (already leaf-hashed), in O(n) hashes and O(n) memory.
// EmptyRoot() when the list is empty; the leaf hash itself for one leaf.
Bytes MerkleRoot(const std::vector<Bytes>& leaf_hashes);

// As MerkleRoot, over leaf_hashes[begin, end). Requires begin <= end <= leaf_hashes.size().
Bytes MerkleRootOfRange(const std::vector<Bytes>& leaf_hashes, size_t begin, size_t end);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_MERKLE_TREE_HASHER_H_
