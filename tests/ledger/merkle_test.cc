// Merkle tree hashing, proof building and proof verification (PROTOCOL.md 6.2, STYLE.md 1.4).
//
// Vectors: tests/testdata/ct_merkle.json, the Certificate Transparency test tree as published
// in transparency-dev/merkle (testonly/constants.go, proof/verify_test.go). The mutants follow
// that repository's corruptInclusionProof / corruptConsistencyProof. A slow recursive reference
// written straight from RFC 6962 section 2.1 cross-checks the fast code.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/json.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/merkle/proof_builder.h"
#include "ledger/merkle/proof_verifier.h"
#include "ledger/merkle/tree_hasher.h"

namespace provledger::ledger {
namespace {

Bytes Hex(std::string_view hex) {
  StatusOr<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

std::vector<Bytes> HexList(const JsonValue& array) {
  std::vector<Bytes> out;
  for (const JsonValue& v : array.items()) out.push_back(Hex(v.string_value()));
  return out;
}

// ---- The CT vectors, from the data file. ----

struct InclusionCase {
  std::string desc;
  uint64_t index = 0;
  uint64_t size = 0;
  std::vector<Bytes> path;
};

struct ConsistencyCase {
  std::string desc;
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  std::vector<Bytes> proof;
};

struct CtVectors {
  std::vector<Bytes> leaf_inputs;
  std::vector<Bytes> roots;  // by size, 0..8
  std::vector<InclusionCase> inclusion;
  std::vector<ConsistencyCase> consistency;
};

std::string RunfilePath(const std::string& rel) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr && ws != nullptr) return std::string(srcdir) + "/" + ws + "/" + rel;
  return rel;
}

const CtVectors& Ct() {
  static const CtVectors* const vectors = [] {
    auto* v = new CtVectors;  // NOLINT: a test-lifetime singleton
    std::ifstream in(RunfilePath("tests/testdata/ct_merkle.json"));
    std::stringstream ss;
    ss << in.rdbuf();
    StatusOr<JsonValue> doc = ParseJson(ss.str());
    if (!doc.ok()) {
      ADD_FAILURE() << "ct_merkle.json: " << doc.status().ToString();
      return v;
    }
    v->leaf_inputs = HexList(*doc->Find("leaves"));
    for (const JsonValue& r : doc->Find("roots")->items()) {
      EXPECT_EQ(r.Find("size")->int_value(), v->roots.size());
      v->roots.push_back(Hex(r.Find("root")->string_value()));
    }
    for (const JsonValue& c : doc->Find("inclusion")->items()) {
      v->inclusion.push_back({c.Find("desc")->string_value(), c.Find("index")->int_value(),
                              c.Find("size")->int_value(), HexList(*c.Find("path"))});
    }
    for (const JsonValue& c : doc->Find("consistency")->items()) {
      v->consistency.push_back({c.Find("desc")->string_value(), c.Find("old_size")->int_value(),
                                c.Find("new_size")->int_value(), HexList(*c.Find("proof"))});
    }
    return v;
  }();
  return *vectors;
}

std::vector<Bytes> LeafHashesOf(const std::vector<Bytes>& inputs, size_t n) {
  std::vector<Bytes> out;
  for (size_t i = 0; i < n; ++i) out.push_back(LeafHash(inputs[i]));
  return out;
}

std::vector<Bytes> CtLeafHashes(size_t n) { return LeafHashesOf(Ct().leaf_inputs, n); }

// ---- Reference: RFC 6962 section 2.1, recursive over copies, independent of the fast code.

using Data = std::vector<Bytes>;

Data Slice(const Data& d, size_t begin, size_t end) {
  return Data(d.begin() + static_cast<ptrdiff_t>(begin), d.begin() + static_cast<ptrdiff_t>(end));
}

size_t RefSplit(size_t n) {
  size_t k = 1;
  while (k < n) k <<= 1;
  return k >> 1;
}

Bytes RefMth(const Data& d) {
  if (d.empty()) return Sha256("");
  if (d.size() == 1) return Sha256(Bytes(1, '\x00') + d[0]);
  const size_t k = RefSplit(d.size());
  return Sha256(Bytes(1, '\x01') + RefMth(Slice(d, 0, k)) + RefMth(Slice(d, k, d.size())));
}

Data RefPath(size_t m, const Data& d) {
  if (d.size() <= 1) return {};
  const size_t k = RefSplit(d.size());
  Data out;
  if (m < k) {
    out = RefPath(m, Slice(d, 0, k));
    out.push_back(RefMth(Slice(d, k, d.size())));
  } else {
    out = RefPath(m - k, Slice(d, k, d.size()));
    out.push_back(RefMth(Slice(d, 0, k)));
  }
  return out;
}

Data RefSubproof(size_t m, const Data& d, bool b) {
  if (m == d.size()) return b ? Data{} : Data{RefMth(d)};
  const size_t k = RefSplit(d.size());
  Data out;
  if (m <= k) {
    out = RefSubproof(m, Slice(d, 0, k), b);
    out.push_back(RefMth(Slice(d, k, d.size())));
  } else {
    out = RefSubproof(m - k, Slice(d, k, d.size()), false);
    out.push_back(RefMth(Slice(d, 0, k)));
  }
  return out;
}

Data RefProof(size_t m, const Data& d) { return RefSubproof(m, d, true); }

// Leaf inputs for the cross-check: the 8 CT leaves, then "leaf 8", "leaf 9", ...
Data CrossCheckInputs(size_t n) {
  Data d = Ct().leaf_inputs;
  for (size_t i = d.size(); i < n; ++i) d.push_back("leaf " + std::to_string(i));
  d.resize(n);
  return d;
}

// ---- Mutants, after transparency-dev/merkle proof/verify_test.go. ----
//
// No "size + 1" mutant: where the path to a leaf has the same shape in trees of n and n + 1
// leaves (say leaf 1 of 5 and of 6), one path and root verify for both, since a hash cannot
// tell a leaf from a subtree. RFC 9162 proofs do not bind the size; the signed header does.

const Bytes& SomeHash() {
  static const Bytes h = Hex("abacaba000000000000000000000000000000000000000000060061e00123456");
  return h;
}

struct InclusionProbe {
  std::string desc;
  uint64_t index;
  uint64_t size;
  Bytes leaf;
  std::vector<Bytes> path;
  Bytes root;
};

std::vector<Bytes> With(std::vector<Bytes> path, size_t at, Bytes h) {
  path.insert(path.begin() + static_cast<ptrdiff_t>(at), std::move(h));
  return path;
}

std::vector<InclusionProbe> InclusionMutants(uint64_t index, uint64_t size, const Bytes& leaf,
                                             const std::vector<Bytes>& path, const Bytes& root) {
  std::vector<InclusionProbe> out = {
      {"index - 1", index - 1, size, leaf, path, root},
      {"index + 1", index + 1, size, leaf, path, root},
      {"index ^ 2", index ^ 2, size, leaf, path, root},
      {"size * 2", index, size * 2, leaf, path, root},
      {"size / 2", index, size / 2, leaf, path, root},
      {"wrong leaf", index, size, LeafHash("wrong leaf"), path, root},
      {"short leaf", index, size, "WrongLeaf", path, root},
      {"empty root", index, size, leaf, path, EmptyRoot()},
      {"random root", index, size, leaf, path, SomeHash()},
      {"trailing garbage", index, size, leaf, With(path, path.size(), ""), root},
      {"trailing root", index, size, leaf, With(path, path.size(), root), root},
      {"preceding garbage", index, size, leaf, With(path, 0, ""), root},
      {"preceding root", index, size, leaf, With(path, 0, root), root},
  };
  for (size_t i = 0; i < path.size(); ++i) {
    std::vector<Bytes> p = path;
    p[i][0] = static_cast<char>(p[i][0] ^ 8);
    out.push_back({"flipped bit 3 of path[" + std::to_string(i) + "]", index, size, leaf, p, root});
  }
  if (!path.empty()) {
    out.push_back({"missing last hash", index, size, leaf,
                   std::vector<Bytes>(path.begin(), path.end() - 1), root});
  }
  if (path.size() > 1) {
    out.push_back({"inserted hash", index, size, leaf, With(path, 1, SomeHash()), root});
  }
  return out;
}

struct ConsistencyProbe {
  std::string desc;
  uint64_t old_size;
  uint64_t new_size;
  Bytes old_root;
  Bytes new_root;
  std::vector<Bytes> proof;
};

std::vector<ConsistencyProbe> ConsistencyMutants(uint64_t m, uint64_t n, const Bytes& r1,
                                                 const Bytes& r2, const std::vector<Bytes>& p) {
  std::vector<ConsistencyProbe> out = {
      {"old size - 1", m - 1, n, r1, r2, p},
      {"old size + 1", m + 1, n, r1, r2, p},
      {"old size ^ 2", m ^ 2, n, r1, r2, p},
      {"new size * 2", m, n * 2, r1, r2, p},
      {"new size / 2", m, n / 2, r1, r2, p},
      {"short old root", m, n, "WrongRoot", r2, p},
      {"short new root", m, n, r1, "WrongRoot", p},
      {"wrong old root", m, n, SomeHash(), r2, p},
      {"wrong new root", m, n, r1, SomeHash(), p},
      {"swapped roots", m, n, r2, r1, p},
      {"empty proof", m, n, r1, r2, {}},
      {"trailing garbage", m, n, r1, r2, With(p, p.size(), "")},
      {"trailing old root", m, n, r1, r2, With(p, p.size(), r1)},
      {"trailing new root", m, n, r1, r2, With(p, p.size(), r2)},
      {"preceding garbage", m, n, r1, r2, With(p, 0, "")},
      {"preceding old root", m, n, r1, r2, With(p, 0, r1)},
      {"preceding new root", m, n, r1, r2, With(p, 0, r2)},
      {"preceding proof[0]", m, n, r1, r2, With(p, 0, p[0])},
      {"missing last hash", m, n, r1, r2, std::vector<Bytes>(p.begin(), p.end() - 1)},
  };
  for (size_t i = 0; i < p.size(); ++i) {
    std::vector<Bytes> q = p;
    q[i][0] = static_cast<char>(q[i][0] ^ 16);
    out.push_back({"flipped bit 4 of proof[" + std::to_string(i) + "]", m, n, r1, r2, q});
  }
  return out;
}

// ---- Tree hasher. ----

TEST(TreeHasher, HashesLeafWithZeroPrefix) {
  EXPECT_EQ(HexEncode(LeafHash("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
}

TEST(TreeHasher, EmptyTreeRootIsSha256OfNothing) {
  EXPECT_EQ(HexEncode(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(MerkleRoot({}), EmptyRoot());
}

TEST(TreeHasher, NodeHashDiffersFromLeafHashOfTheConcatenation) {
  const Bytes l = LeafHash("left");
  const Bytes r = LeafHash("right");
  EXPECT_NE(NodeHash(l, r), LeafHash(l + r));
  EXPECT_EQ(NodeHash(l, r), Sha256(Bytes(1, '\x01') + l + r));
}

TEST(TreeHasher, ComputesTheCtRootOfEverySize) {
  ASSERT_EQ(Ct().roots.size(), 9u);
  for (size_t n = 0; n <= 8; ++n) {
    SCOPED_TRACE("size " + std::to_string(n));
    EXPECT_EQ(HexEncode(MerkleRoot(CtLeafHashes(n))), HexEncode(Ct().roots[n]));
  }
  EXPECT_EQ(HexEncode(MerkleRoot(CtLeafHashes(8))),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
}

TEST(TreeHasher, MatchesTheReferenceRootForEverySizeUpTo64) {
  const Data all = CrossCheckInputs(64);
  for (size_t n = 0; n <= 64; ++n) {
    SCOPED_TRACE("size " + std::to_string(n));
    const Data d = Slice(all, 0, n);
    EXPECT_EQ(MerkleRoot(LeafHashesOf(d, n)), RefMth(d));
  }
}

TEST(TreeHasher, RootOfRangeEqualsRootOfTheSubList) {
  const std::vector<Bytes> leaves = CtLeafHashes(8);
  EXPECT_EQ(MerkleRootOfRange(leaves, 2, 5), MerkleRoot(Slice(leaves, 2, 5)));
  EXPECT_EQ(MerkleRootOfRange(leaves, 3, 3), EmptyRoot());
}

// ---- Proof builder. ----

TEST(ProofBuilder, BuildsThePublishedCtInclusionProofs) {
  for (const InclusionCase& c : Ct().inclusion) {
    SCOPED_TRACE(c.desc);
    StatusOr<std::vector<Bytes>> path = InclusionProof(CtLeafHashes(c.size), c.index);
    ASSERT_TRUE(path.ok()) << path.status().ToString();
    EXPECT_EQ(*path, c.path);
  }
}

TEST(ProofBuilder, BuildsThePublishedCtConsistencyProofs) {
  for (const ConsistencyCase& c : Ct().consistency) {
    SCOPED_TRACE(c.desc);
    StatusOr<std::vector<Bytes>> proof = ConsistencyProof(CtLeafHashes(8), c.old_size, c.new_size);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, c.proof);
  }
}

TEST(ProofBuilder, MatchesTheReferencePathForEverySizeUpTo64AndEveryIndex) {
  const Data all = CrossCheckInputs(64);
  for (size_t n = 1; n <= 64; ++n) {
    const Data d = Slice(all, 0, n);
    const std::vector<Bytes> leaves = LeafHashesOf(d, n);
    const Bytes root = RefMth(d);
    for (size_t m = 0; m < n; ++m) {
      SCOPED_TRACE("leaf " + std::to_string(m) + " of " + std::to_string(n));
      StatusOr<std::vector<Bytes>> path = InclusionProof(leaves, m);
      ASSERT_TRUE(path.ok()) << path.status().ToString();
      ASSERT_EQ(*path, RefPath(m, d));
      StatusOr<Bytes> got = RootFromInclusionProof(leaves[m], m, n, *path);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, root);
      EXPECT_TRUE(VerifyInclusion(leaves[m], m, n, *path, root).ok());
    }
  }
}

TEST(ProofBuilder, MatchesTheReferenceConsistencyProofForAllPairsUpTo32) {
  const Data all = CrossCheckInputs(32);
  const std::vector<Bytes> leaves = LeafHashesOf(all, 32);
  for (size_t n = 1; n <= 32; ++n) {
    const Data d = Slice(all, 0, n);
    const Bytes new_root = RefMth(d);
    for (size_t m = 1; m <= n; ++m) {
      SCOPED_TRACE("sizes " + std::to_string(m) + " to " + std::to_string(n));
      StatusOr<std::vector<Bytes>> proof = ConsistencyProof(leaves, m, n);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      ASSERT_EQ(*proof, RefProof(m, d));
      const Bytes old_root = RefMth(Slice(d, 0, m));
      Status s = VerifyConsistency(m, n, old_root, new_root, *proof);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (m < n) {
        EXPECT_FALSE(VerifyConsistency(m, n, SomeHash(), new_root, *proof).ok());
        EXPECT_FALSE(VerifyConsistency(m, n, old_root, SomeHash(), *proof).ok());
      }
    }
  }
}

TEST(ProofBuilder, RefusesAnIndexNotBelowTheTreeSize) {
  EXPECT_EQ(InclusionProof(CtLeafHashes(3), 3).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(InclusionProof({}, 0).status().code(), StatusCode::kOutOfRange);
}

TEST(ProofBuilder, RefusesConsistencyBackwardsOrPastTheLeavesHeld) {
  EXPECT_EQ(ConsistencyProof(CtLeafHashes(8), 5, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(CtLeafHashes(8), 4, 9).status().code(), StatusCode::kOutOfRange);
}

TEST(ProofBuilder, GivesEmptyConsistencyProofsFromZeroAndForEqualSizes) {
  EXPECT_TRUE(ConsistencyProof(CtLeafHashes(8), 0, 8)->empty());
  EXPECT_TRUE(ConsistencyProof(CtLeafHashes(8), 5, 5)->empty());
}

// ---- Proof verifier: inclusion. ----

TEST(ProofVerifier, AcceptsThePublishedCtInclusionProofs) {
  for (const InclusionCase& c : Ct().inclusion) {
    SCOPED_TRACE(c.desc);
    const Bytes leaf = LeafHash(Ct().leaf_inputs[c.index]);
    StatusOr<Bytes> root = RootFromInclusionProof(leaf, c.index, c.size, c.path);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    EXPECT_EQ(*root, Ct().roots[c.size]);
    Status s = VerifyInclusion(leaf, c.index, c.size, c.path, Ct().roots[c.size]);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
}

TEST(ProofVerifier, RefusesEveryInclusionMutantOfTheCtProofs) {
  for (const InclusionCase& c : Ct().inclusion) {
    const Bytes leaf = LeafHash(Ct().leaf_inputs[c.index]);
    for (const InclusionProbe& p :
         InclusionMutants(c.index, c.size, leaf, c.path, Ct().roots[c.size])) {
      SCOPED_TRACE(c.desc + ", mutant: " + p.desc);
      EXPECT_FALSE(VerifyInclusion(p.leaf, p.index, p.size, p.path, p.root).ok());
    }
  }
}

TEST(ProofVerifier, RefusesFlippedBitsAndNeighbourIndexesForEveryBuiltProofUpTo64) {
  const Data all = CrossCheckInputs(64);
  const std::vector<Bytes> leaves = LeafHashesOf(all, 64);
  for (size_t n = 1; n <= 64; ++n) {
    const std::vector<Bytes> tree(leaves.begin(), leaves.begin() + static_cast<ptrdiff_t>(n));
    const Bytes root = MerkleRoot(tree);
    for (size_t m = 0; m < n; ++m) {
      SCOPED_TRACE("leaf " + std::to_string(m) + " of " + std::to_string(n));
      const std::vector<Bytes> path = *InclusionProof(tree, m);
      for (size_t i = 0; i < path.size(); ++i) {
        std::vector<Bytes> bad = path;
        bad[i][31] = static_cast<char>(bad[i][31] ^ 1);
        EXPECT_FALSE(VerifyInclusion(tree[m], m, n, bad, root).ok());
      }
      if (m + 1 < n) {
        EXPECT_FALSE(VerifyInclusion(tree[m], m + 1, n, path, root).ok());
      }
      if (m > 0) {
        EXPECT_FALSE(VerifyInclusion(tree[m], m - 1, n, path, root).ok());
      }
    }
  }
}

TEST(ProofVerifier, RefusesAnIndexNotBelowTheSizeAsOutOfRange) {
  const Bytes leaf = LeafHash("data");
  EXPECT_EQ(VerifyInclusion(leaf, 0, 0, {}, EmptyRoot()).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(VerifyInclusion(leaf, 1, 1, {}, leaf).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(RootFromInclusionProof(leaf, 2, 1, {}).status().code(), StatusCode::kOutOfRange);
}

TEST(ProofVerifier, RefusesAPathOneHashTooLongAsInvalidArgument) {
  const InclusionCase& c = Ct().inclusion[1];  // leaf 0 of 8
  const Bytes leaf = LeafHash(Ct().leaf_inputs[c.index]);
  std::vector<Bytes> path = c.path;
  path.push_back(SomeHash());
  Status s = VerifyInclusion(leaf, c.index, c.size, path, Ct().roots[c.size]);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
}

TEST(ProofVerifier, RefusesAPathOneHashTooShortAsInvalidArgument) {
  const InclusionCase& c = Ct().inclusion[1];
  const Bytes leaf = LeafHash(Ct().leaf_inputs[c.index]);
  std::vector<Bytes> path = c.path;
  path.pop_back();
  EXPECT_EQ(VerifyInclusion(leaf, c.index, c.size, path, Ct().roots[c.size]).code(),
            StatusCode::kInvalidArgument);
}

TEST(ProofVerifier, RefusesHashesThatAreNot32BytesAsInvalidArgument) {
  const Bytes leaf = LeafHash("data");
  EXPECT_EQ(VerifyInclusion("short", 0, 1, {}, leaf).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(leaf, 0, 1, {}, "short").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(leaf, 0, 2, {Bytes(31, 'x')}, leaf).code(),
            StatusCode::kInvalidArgument);
}

TEST(ProofVerifier, ReportsBothRootsWhenTheRootDiffers) {
  const InclusionCase& c = Ct().inclusion[2];  // leaf 5 of 8
  const Bytes leaf = LeafHash(Ct().leaf_inputs[c.index]);
  Status s = VerifyInclusion(leaf, c.index, c.size, c.path, SomeHash());
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find(ShortHex(SomeHash())), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(ShortHex(Ct().roots[8])), std::string::npos) << s.message();
}

TEST(ProofVerifier, AcceptsASingleLeafTreeWithAnEmptyPath) {
  const Bytes leaf = LeafHash("data");
  EXPECT_TRUE(VerifyInclusion(leaf, 0, 1, {}, leaf).ok());
  EXPECT_EQ(VerifyInclusion(leaf, 0, 1, {}, LeafHash("other")).code(),
            StatusCode::kUnauthenticated);
}

// ---- Proof verifier: consistency. ----

TEST(ProofVerifier, AcceptsThePublishedCtConsistencyProofs) {
  for (const ConsistencyCase& c : Ct().consistency) {
    SCOPED_TRACE(c.desc);
    Status s = VerifyConsistency(c.old_size, c.new_size, Ct().roots[c.old_size],
                                 Ct().roots[c.new_size], c.proof);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
}

TEST(ProofVerifier, RefusesEveryConsistencyMutantOfTheCtProofs) {
  for (const ConsistencyCase& c : Ct().consistency) {
    if (c.proof.empty()) continue;
    for (const ConsistencyProbe& p : ConsistencyMutants(
             c.old_size, c.new_size, Ct().roots[c.old_size], Ct().roots[c.new_size], c.proof)) {
      SCOPED_TRACE(c.desc + ", mutant: " + p.desc);
      EXPECT_FALSE(VerifyConsistency(p.old_size, p.new_size, p.old_root, p.new_root, p.proof).ok());
    }
  }
}

TEST(ProofVerifier, AcceptsConsistencyFromTheEmptyTreeOnlyWithItsRootAndNoHashes) {
  const Bytes r8 = Ct().roots[8];
  EXPECT_TRUE(VerifyConsistency(0, 8, EmptyRoot(), r8, {}).ok());
  EXPECT_TRUE(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}).ok());
  EXPECT_EQ(VerifyConsistency(0, 8, SomeHash(), r8, {}).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyConsistency(0, 8, EmptyRoot(), r8, {EmptyRoot()}).code(),
            StatusCode::kInvalidArgument);
}

TEST(ProofVerifier, AcceptsEqualSizesOnlyWithEqualRootsAndNoHashes) {
  const Bytes r5 = Ct().roots[5];
  EXPECT_TRUE(VerifyConsistency(5, 5, r5, r5, {}).ok());
  EXPECT_EQ(VerifyConsistency(5, 5, r5, Ct().roots[6], {}).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyConsistency(5, 5, r5, r5, {r5}).code(), StatusCode::kInvalidArgument);
}

TEST(ProofVerifier, RefusesConsistencyFromALargerTreeAsOutOfRange) {
  EXPECT_EQ(VerifyConsistency(2, 1, Ct().roots[2], Ct().roots[1], {}).code(),
            StatusCode::kOutOfRange);
}

TEST(ProofVerifier, RefusesANonEmptyConsistencyProofWithAWrongLength) {
  const ConsistencyCase& c = Ct().consistency[2];  // 6 to 8
  std::vector<Bytes> proof = c.proof;
  proof.push_back(SomeHash());
  EXPECT_EQ(VerifyConsistency(6, 8, Ct().roots[6], Ct().roots[8], proof).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger::ledger
