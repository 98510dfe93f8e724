#include "ledger/merkle/tree_hasher.h"

#include <cassert>

#include "common/sha256.h"

namespace provledger::ledger {

Bytes LeafHash(ByteView data) {
  Sha256Hasher h;
  const char prefix = 0x00;
  h.Update(ByteView(&prefix, 1));
  h.Update(data);
  return h.Finish();
}

Bytes NodeHash(ByteView left, ByteView right) {
  Sha256Hasher h;
  const char prefix = 0x01;
  h.Update(ByteView(&prefix, 1));
  h.Update(left);
  h.Update(right);
  return h.Finish();
}

Bytes EmptyRoot() { return Sha256(ByteView()); }

Bytes MerkleRoot(const std::vector<Bytes>& leaf_hashes) {
  return MerkleRootOfRange(leaf_hashes, 0, leaf_hashes.size());
}

Bytes MerkleRootOfRange(const std::vector<Bytes>& leaf_hashes, size_t begin, size_t end) {
  assert(begin <= end && end <= leaf_hashes.size());
  const size_t n = end - begin;
  if (n == 0) return EmptyRoot();
  if (n == 1) return leaf_hashes[begin];
  // Level by level: pair neighbours left to right; an odd last node moves up unchanged.
  // This builds the same left-complete tree as RFC 6962's split at the largest power of two.
  std::vector<Bytes> level;
  level.reserve((n + 1) / 2);
  for (size_t i = begin; i + 1 < end; i += 2) {
    level.push_back(NodeHash(leaf_hashes[i], leaf_hashes[i + 1]));
  }
  if (n % 2 == 1) level.push_back(leaf_hashes[end - 1]);
  while (level.size() > 1) {
    size_t out = 0;
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      level[out++] = NodeHash(level[i], level[i + 1]);
    }
    if (level.size() % 2 == 1) level[out++] = std::move(level.back());
    level.resize(out);
  }
  return level[0];
}

}  // namespace provledger::ledger
