#include "ledger/merkle/proof_verifier.h"

#include <string>

#include "common/sha256.h"
#include "ledger/merkle/tree_hasher.h"

namespace provledger::ledger {
namespace {

// Number of bits needed to write x (0 for 0).
int BitLength(uint64_t x) {
  int n = 0;
  while (x != 0) {
    ++n;
    x >>= 1;
  }
  return n;
}

int PopCount(uint64_t x) {
  int n = 0;
  while (x != 0) {
    n += static_cast<int>(x & 1);
    x >>= 1;
  }
  return n;
}

int TrailingZeros(uint64_t x) {  // x != 0
  int n = 0;
  while ((x & 1) == 0) {
    ++n;
    x >>= 1;
  }
  return n;
}

// Length of PATH(index, D[size]) for index < size: the levels below the point where the
// paths to `index` and to the last leaf part ("inner"), plus one hash for each left
// sibling on the right border above it ("border").
size_t InclusionPathLength(uint64_t index, uint64_t size) {
  const int inner = BitLength(index ^ (size - 1));
  const int border = PopCount(index >> inner);
  return static_cast<size_t>(inner + border);
}

Status CheckHash(ByteView hash, const std::string& what) {
  if (hash.size() != kSha256Size) {
    return InvalidArgumentError(what + " is " + std::to_string(hash.size()) + " bytes, not 32");
  }
  return OkStatus();
}

Status CheckPathHashes(const std::vector<Bytes>& path, const char* what) {
  for (size_t i = 0; i < path.size(); ++i) {
    PL_RETURN_IF_ERROR(CheckHash(path[i], std::string(what) + "[" + std::to_string(i) + "]"));
  }
  return OkStatus();
}

Status RootMismatch(const std::string& what, ByteView expected, ByteView computed) {
  return UnauthenticatedError(what + " mismatch (expected " + ShortHex(expected) + ", computed " +
                              ShortHex(computed) + ")");
}

}  // namespace

StatusOr<Bytes> RootFromInclusionProof(ByteView leaf_hash, uint64_t index, uint64_t tree_size,
                                       const std::vector<Bytes>& path) {
  if (index >= tree_size) {
    return OutOfRangeError("inclusion proof: leaf index " + std::to_string(index) +
                           " not below tree size " + std::to_string(tree_size));
  }
  PL_RETURN_IF_ERROR(CheckHash(leaf_hash, "inclusion proof: leaf hash"));
  PL_RETURN_IF_ERROR(CheckPathHashes(path, "inclusion proof: path"));
  const size_t want = InclusionPathLength(index, tree_size);
  if (path.size() != want) {
    return InvalidArgumentError("inclusion proof: path has " + std::to_string(path.size()) +
                                " hashes, leaf " + std::to_string(index) + " of " +
                                std::to_string(tree_size) + " needs " + std::to_string(want));
  }
  // RFC 9162 section 2.1.3.2.
  uint64_t fn = index;
  uint64_t sn = tree_size - 1;
  Bytes r(leaf_hash);
  for (const Bytes& p : path) {
    if (sn == 0) return InternalError("inclusion proof: path longer than the tree");
    if ((fn & 1) == 1 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return InternalError("inclusion proof: path shorter than the tree");
  return r;
}

Status VerifyInclusion(ByteView leaf_hash, uint64_t index, uint64_t tree_size,
                       const std::vector<Bytes>& path, ByteView expected_root) {
  PL_RETURN_IF_ERROR(CheckHash(expected_root, "inclusion proof: expected root"));
  PL_ASSIGN_OR_RETURN(Bytes root, RootFromInclusionProof(leaf_hash, index, tree_size, path));
  if (!ConstantTimeEqual(root, expected_root)) {
    return RootMismatch("inclusion proof: root", expected_root, root);
  }
  return OkStatus();
}

Status VerifyConsistency(uint64_t old_size, uint64_t new_size, ByteView old_root, ByteView new_root,
                         const std::vector<Bytes>& proof) {
  if (old_size > new_size) {
    return OutOfRangeError("consistency proof: old size " + std::to_string(old_size) +
                           " above new size " + std::to_string(new_size));
  }
  PL_RETURN_IF_ERROR(CheckHash(old_root, "consistency proof: old root"));
  PL_RETURN_IF_ERROR(CheckHash(new_root, "consistency proof: new root"));
  PL_RETURN_IF_ERROR(CheckPathHashes(proof, "consistency proof: proof"));
  if (old_size == new_size || old_size == 0) {
    if (!proof.empty()) {
      return InvalidArgumentError("consistency proof: " + std::to_string(proof.size()) +
                                  " hashes given, sizes " + std::to_string(old_size) + " and " +
                                  std::to_string(new_size) + " need none");
    }
    if (old_size == 0) {
      const Bytes empty = EmptyRoot();
      if (!ConstantTimeEqual(old_root, empty)) {
        return RootMismatch("consistency proof: old (empty) root", old_root, empty);
      }
      return OkStatus();
    }
    if (!ConstantTimeEqual(old_root, new_root)) {
      return RootMismatch("consistency proof: root of equal sizes", old_root, new_root);
    }
    return OkStatus();
  }
  // Expected length: the inclusion path of leaf old_size - 1 in the new tree, less the levels
  // inside the complete subtree ending at old_size, plus the seed unless old_size is a power
  // of two (then old_root itself is the seed).
  const int shift = TrailingZeros(old_size);
  const bool old_is_power_of_two = (old_size >> shift) == 1;
  const size_t want = InclusionPathLength(old_size - 1, new_size) - static_cast<size_t>(shift) +
                      (old_is_power_of_two ? 0 : 1);
  if (proof.size() != want) {
    return InvalidArgumentError("consistency proof: " + std::to_string(proof.size()) +
                                " hashes, sizes " + std::to_string(old_size) + " and " +
                                std::to_string(new_size) + " need " + std::to_string(want));
  }
  // RFC 9162 section 2.1.4.2.
  std::vector<const Bytes*> path;
  path.reserve(proof.size() + 1);
  const Bytes old_root_copy(old_root);
  if (old_is_power_of_two) path.push_back(&old_root_copy);
  for (const Bytes& h : proof) path.push_back(&h);
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Bytes fr = *path[0];
  Bytes sr = *path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Bytes& c = *path[i];
    if (sn == 0) return InternalError("consistency proof: proof longer than the tree");
    if ((fn & 1) == 1 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return InternalError("consistency proof: proof shorter than the tree");
  if (!ConstantTimeEqual(fr, old_root)) {
    return RootMismatch("consistency proof: old root", old_root, fr);
  }
  if (!ConstantTimeEqual(sr, new_root)) {
    return RootMismatch("consistency proof: new root", new_root, sr);
  }
  return OkStatus();
}

}  // namespace provledger::ledger
