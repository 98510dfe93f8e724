#include "ledger/merkle/proof_builder.h"

#include <string>

#include "ledger/merkle/tree_hasher.h"

namespace provledger::ledger {
namespace {

// Largest power of two strictly below n (n >= 2).
size_t SplitPoint(size_t n) {
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// Appends PATH(m, D[begin, end)) to *out, leaf level first. Requires m < end - begin.
void AppendPath(const std::vector<Bytes>& leaves, size_t m, size_t begin, size_t end,
                std::vector<Bytes>* out) {
  const size_t n = end - begin;
  if (n <= 1) return;
  const size_t k = SplitPoint(n);
  if (m < k) {
    AppendPath(leaves, m, begin, begin + k, out);
    out->push_back(MerkleRootOfRange(leaves, begin + k, end));
  } else {
    AppendPath(leaves, m - k, begin + k, end, out);
    out->push_back(MerkleRootOfRange(leaves, begin, begin + k));
  }
}

// Appends SUBPROOF(m, D[begin, end), b) to *out. Requires 0 < m <= end - begin.
void AppendSubproof(const std::vector<Bytes>& leaves, size_t m, size_t begin, size_t end, bool b,
                    std::vector<Bytes>* out) {
  const size_t n = end - begin;
  if (m == n) {
    if (!b) out->push_back(MerkleRootOfRange(leaves, begin, end));
    return;
  }
  const size_t k = SplitPoint(n);
  if (m <= k) {
    AppendSubproof(leaves, m, begin, begin + k, b, out);
    out->push_back(MerkleRootOfRange(leaves, begin + k, end));
  } else {
    AppendSubproof(leaves, m - k, begin + k, end, false, out);
    out->push_back(MerkleRootOfRange(leaves, begin, begin + k));
  }
}

}  // namespace

StatusOr<std::vector<Bytes>> InclusionProof(const std::vector<Bytes>& leaf_hashes, uint64_t index) {
  if (index >= leaf_hashes.size()) {
    return OutOfRangeError("inclusion proof: leaf index " + std::to_string(index) +
                           " not below tree size " + std::to_string(leaf_hashes.size()));
  }
  std::vector<Bytes> path;
  AppendPath(leaf_hashes, static_cast<size_t>(index), 0, leaf_hashes.size(), &path);
  return path;
}

StatusOr<std::vector<Bytes>> ConsistencyProof(const std::vector<Bytes>& leaf_hashes,
                                              uint64_t old_size, uint64_t new_size) {
  if (old_size > new_size) {
    return InvalidArgumentError("consistency proof: old size " + std::to_string(old_size) +
                                " above new size " + std::to_string(new_size));
  }
  if (new_size > leaf_hashes.size()) {
    return OutOfRangeError("consistency proof: new size " + std::to_string(new_size) +
                           " above the " + std::to_string(leaf_hashes.size()) + " leaves held");
  }
  std::vector<Bytes> proof;
  if (old_size == 0 || old_size == new_size) return proof;
  AppendSubproof(leaf_hashes, static_cast<size_t>(old_size), 0, static_cast<size_t>(new_size), true,
                 &proof);
  return proof;
}

}  // namespace provledger::ledger
