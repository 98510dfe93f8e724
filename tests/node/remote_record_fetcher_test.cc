// CheckFetchedProof and RemoteRecordFetcher (node/remote_record_fetcher.h): a light node takes
// a pruned record from a full node only when it checks against its own header, and asks the
// next full node after a wrong answer.
#include "node/remote_record_fetcher.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ledger/block_header.h"
#include "ledger/merkle/proof_builder.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

// A block of 7 records at height 12, as a full node keeps it.
struct Block {
  std::vector<Bytes> records;
  std::vector<Bytes> leaves;
  Bytes header_bytes;
  ledger::BlockHeader header;
};

Block MakeBlock(uint64_t height, const std::string& tag) {
  Block b;
  for (int i = 0; i < 7; ++i) {
    b.records.push_back("record " + tag + " " + std::to_string(i));
    b.leaves.push_back(ledger::RecordId(b.records.back()));
  }
  b.header.chain_id = "pl-test";
  b.header.height = height;
  b.header.root = ledger::MerkleRoot(b.leaves);
  b.header.record_count = b.records.size();
  b.header.timestamp = 1700000000000;
  b.header.proposer = "v0";
  b.header_bytes = ledger::EncodeHeader(b.header);
  return b;
}

// The proof an honest full node sends for leaf `index` of `b`.
v1::Proof HonestProof(const Block& b, uint32_t index) {
  v1::Proof p;
  p.set_chain_id("pl-test");
  p.set_record_id(b.leaves[index]);
  p.set_record(b.records[index]);
  p.set_height(b.header.height);
  p.set_leaf_index(index);
  p.set_tree_size(b.records.size());
  const StatusOr<std::vector<Bytes>> path = ledger::InclusionProof(b.leaves, index);
  EXPECT_TRUE(path.ok());
  for (const Bytes& h : *path) p.add_audit_path(h);
  p.set_header(b.header_bytes);
  return p;
}

// What the light node holds of leaf `index` of `b`.
LocalRecord Local(const Block& b, uint32_t index) {
  LocalRecord l;
  l.record_id = b.leaves[index];
  l.height = b.header.height;
  l.index = index;
  l.header = b.header;
  l.header_hash = ledger::HeaderHash(b.header_bytes);
  return l;
}

void FlipByte(std::string* s, size_t at) { (*s)[at % s->size()] ^= 0x01; }

TEST(CheckFetchedProof, AcceptsAnHonestProof) {
  const Block b = MakeBlock(12, "a");
  for (uint32_t i = 0; i < 7; ++i) {
    EXPECT_TRUE(CheckFetchedProof(Local(b, i), HonestProof(b, i)).ok()) << i;
  }
}

TEST(CheckFetchedProof, RefusesRecordBytesThatDoNotHashToTheId) {
  const Block b = MakeBlock(12, "a");
  v1::Proof p = HonestProof(b, 3);
  FlipByte(p.mutable_record(), 5);
  Status s = CheckFetchedProof(Local(b, 3), p);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("record bytes hash to"), std::string::npos) << s.message();
}

TEST(CheckFetchedProof, RefusesAProofOfAnotherRecord) {
  const Block b = MakeBlock(12, "a");
  Status s = CheckFetchedProof(Local(b, 3), HonestProof(b, 4));
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
}

TEST(CheckFetchedProof, RefusesAnAuditPathThatMissesTheHeaderRoot) {
  const Block b = MakeBlock(12, "a");
  v1::Proof p = HonestProof(b, 2);
  FlipByte(p.mutable_audit_path(1), 0);
  Status s = CheckFetchedProof(Local(b, 2), p);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("audit path"), std::string::npos) << s.message();
}

TEST(CheckFetchedProof, RefusesAnAuditPathOfTheWrongLength) {
  const Block b = MakeBlock(12, "a");
  v1::Proof p = HonestProof(b, 2);
  p.mutable_audit_path()->RemoveLast();
  EXPECT_EQ(CheckFetchedProof(Local(b, 2), p).code(), StatusCode::kUnauthenticated);
}

TEST(CheckFetchedProof, RefusesAnotherHeaderEvenIfItsOwnPathChecks) {
  // A full node on another chain (or lying about the block) proves a record of its own
  // block consistently: only our stored header hash catches it.
  const Block ours = MakeBlock(12, "a");
  Block theirs = MakeBlock(12, "a");
  theirs.header.timestamp += 1;
  theirs.header_bytes = ledger::EncodeHeader(theirs.header);
  Status s = CheckFetchedProof(Local(ours, 1), HonestProof(theirs, 1));
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("stored header hash"), std::string::npos) << s.message();
}

TEST(CheckFetchedProof, RefusesAnotherPlaceOrTreeSize) {
  const Block b = MakeBlock(12, "a");
  v1::Proof p = HonestProof(b, 1);
  p.set_height(13);
  EXPECT_EQ(CheckFetchedProof(Local(b, 1), p).code(), StatusCode::kUnauthenticated);
  p = HonestProof(b, 1);
  p.set_leaf_index(2);
  EXPECT_EQ(CheckFetchedProof(Local(b, 1), p).code(), StatusCode::kUnauthenticated);
  p = HonestProof(b, 1);
  p.set_tree_size(8);
  EXPECT_EQ(CheckFetchedProof(Local(b, 1), p).code(), StatusCode::kUnauthenticated);
}

// Full nodes by address: "good" answers honestly, "tamper" flips a record byte, "down" is
// unreachable; every call is noted.
struct FakeNodes {
  Block block = MakeBlock(12, "a");
  std::vector<std::string> asked;
  RemoteRecordFetcher::ProofSource Source() {
    return [this](const std::string& address, ByteView id,
                  RemoteRecordFetcher::Deadline) -> StatusOr<v1::Proof> {
      asked.push_back(address);
      uint32_t index = 0;
      while (index < block.leaves.size() && block.leaves[index] != id) ++index;
      if (address == "down") return UnavailableError("connection refused");
      v1::Proof p = HonestProof(block, index);
      if (address == "tamper") FlipByte(p.mutable_record(), 3);
      return p;
    };
  }
};

TEST(RemoteRecordFetcher, AsksTheNextFullNodeAfterATamperedAnswer) {
  FakeNodes nodes;
  RemoteRecordFetcher f({"tamper", "down", "good"}, nodes.Source());
  StatusOr<FetchedRecord> r = f.Fetch(Local(nodes.block, 5));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from, "good");
  EXPECT_EQ(r->record, nodes.block.records[5]);
  EXPECT_EQ(nodes.asked, (std::vector<std::string>{"tamper", "down", "good"}));
}

TEST(RemoteRecordFetcher, StopsAtTheFirstRightAnswer) {
  FakeNodes nodes;
  RemoteRecordFetcher f({"good", "tamper"}, nodes.Source());
  ASSERT_TRUE(f.Fetch(Local(nodes.block, 0)).ok());
  EXPECT_EQ(nodes.asked, (std::vector<std::string>{"good"}));
}

TEST(RemoteRecordFetcher, UnavailableNamingWhatEachFullNodeDid) {
  FakeNodes nodes;
  RemoteRecordFetcher f({"tamper", "down"}, nodes.Source());
  StatusOr<FetchedRecord> r = f.Fetch(Local(nodes.block, 5));
  ASSERT_EQ(r.status().code(), StatusCode::kUnavailable);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("tamper answered wrong (refused): record bytes hash to"), std::string::npos)
      << m;
  EXPECT_NE(m.find("down did not answer it"), std::string::npos) << m;
}

TEST(RemoteRecordFetcher, AsksNoOneOnceTheDeadlineHasPassed) {
  FakeNodes nodes;
  RemoteRecordFetcher f({"good"}, nodes.Source());
  StatusOr<FetchedRecord> r =
      f.Fetch(Local(nodes.block, 0), std::chrono::system_clock::now() - std::chrono::seconds(1));
  ASSERT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("good not asked: the request's deadline passed"),
            std::string::npos)
      << r.status().message();
  EXPECT_TRUE(nodes.asked.empty());
}

TEST(RemoteRecordFetcher, WithoutFullNodesIsAFailedPrecondition) {
  FakeNodes nodes;
  RemoteRecordFetcher f({}, nodes.Source());
  EXPECT_EQ(f.Fetch(Local(nodes.block, 0)).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(nodes.asked.empty());
}

}  // namespace
}  // namespace provledger::node
