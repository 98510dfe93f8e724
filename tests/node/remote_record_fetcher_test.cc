// CheckFetchedProof and RemoteRecordFetcher (node/remote_record_fetcher.h): a light node takes
// a pruned record from a full node only when it checks against its own header, and asks the
// next full node after a wrong answer.
#include "node/remote_record_fetcher.h"

#include <algorithm>
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
  const std::string m = r.status().message();  // status() returns a copy
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

// --- Records this node no longer indexes (FetchById, FetchBySeq, ForwardHistory) ---

// A kind 1 reading of dev-1 with `seq` (well-formed; its signature is not checked here).
Bytes DeviceReading(uint64_t seq) {
  ledger::Record r;
  r.kind = ledger::RecordKind::kReading;
  r.reading.device = "dev-1";
  r.reading.item = "climate";
  r.reading.seq = seq;
  r.reading.ts = 1000 * seq;
  r.reading.payload_hash = Bytes(32, 'p');
  r.reading.auth = ledger::kAuthSignature;
  r.reading.device_sig = Bytes(64, 's');
  r.reading.gateway = "gw-1";
  r.reading.received = 1000 * seq + 1;
  return ledger::EncodeRecord(r);
}

// Block 12 of readings seq 1..7, as a full node keeps it.
Block ReadingBlock() {
  Block b = MakeBlock(12, "r");
  b.records.clear();
  b.leaves.clear();
  for (uint64_t seq = 1; seq <= 7; ++seq) {
    b.records.push_back(DeviceReading(seq));
    b.leaves.push_back(ledger::RecordId(b.records.back()));
  }
  b.header.root = ledger::MerkleRoot(b.leaves);
  b.header_bytes = ledger::EncodeHeader(b.header);
  return b;
}

// This node holds the header of block 12, pruned (its index kept from 20 on, head 30).
LocateFn LocateIn(const Block& b) {
  return [b](const v1::Proof& p) -> StatusOr<LocalRecord> {
    if (p.height() > 30) return NotFoundError("past this node's head");
    if (p.height() >= 20) return UnauthenticatedError("this node keeps that block whole");
    if (p.height() != b.header.height) return DataLossError("no header");
    LocalRecord l = Local(b, 0);
    l.record_id = p.record_id();
    l.index = p.leaf_index();
    return l;
  };
}

// Full nodes answering for ReadingBlock(): "good", "tamper" (a flipped record byte), "gone"
// (holds nothing), "liar" (names seq+1's record for seq), "ahead" (places it at block 31),
// "hlie" (a History entry whose ts is not its record's).
struct FakeFullNodes {
  Block block = ReadingBlock();
  std::vector<std::string> asked;
  int Find(ByteView id) const {
    for (size_t i = 0; i < block.leaves.size(); ++i)
      if (block.leaves[i] == id) return static_cast<int>(i);
    return -1;
  }
  RemoteRecordFetcher::ProofSource Proofs() {
    return [this](const std::string& a, ByteView id,
                  RemoteRecordFetcher::Deadline) -> StatusOr<v1::Proof> {
      asked.push_back(a);
      const int i = Find(id);
      if (a == "gone" || i < 0) return NotFoundError("record not on the chain");
      v1::Proof p = HonestProof(block, i);
      if (a == "tamper") FlipByte(p.mutable_record(), 9);
      if (a == "ahead") p.set_height(31);
      return p;
    };
  }
  RemoteRecordFetcher::RecordSource Records() {
    return [this](const std::string& a, const v1::GetRecordRequest& req,
                  RemoteRecordFetcher::Deadline) -> StatusOr<v1::RecordResponse> {
      if (a == "gone" || req.seq() < 1 || req.seq() > 7) return NotFoundError("no such seq");
      const uint64_t seq = a == "liar" ? req.seq() % 7 + 1 : req.seq();
      v1::RecordResponse r;
      r.set_record(block.records[seq - 1]);
      return r;
    };
  }
  RemoteRecordFetcher::HistorySource History() {
    return [this](const std::string& a, const v1::HistoryRequest&,
                  RemoteRecordFetcher::Deadline) -> StatusOr<v1::HistoryResponse> {
      v1::HistoryResponse resp;
      for (uint64_t seq = 1; seq <= 7; ++seq) {
        auto* e = resp.add_entries();
        e->set_record_id(block.leaves[seq - 1]);
        e->set_item("climate");
        e->set_seq(seq);
        e->set_ts(1000 * seq);
        e->set_height(12);
      }
      if (a == "hlie") resp.mutable_entries(4)->set_ts(1);  // not what the record says
      return resp;
    };
  }
};

TEST(RemoteRecordFetcher, FetchByIdTakesTheFirstProofThatChecksAgainstOurHeader) {
  FakeFullNodes nodes;
  RemoteRecordFetcher f({"tamper", "gone", "good"}, nodes.Proofs());
  StatusOr<FetchedRecord> r = f.FetchById(nodes.block.leaves[4], LocateIn(nodes.block));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from, "good");
  EXPECT_EQ(r->record, nodes.block.records[4]);
  EXPECT_EQ(r->height, 12u);
  EXPECT_EQ(r->index, 4u);
}

TEST(RemoteRecordFetcher, FetchByIdIsNotFoundOnlyWhenNoFullNodeHoldsIt) {
  FakeFullNodes nodes;
  const Bytes unknown(32, 'x');
  RemoteRecordFetcher f({"gone", "good"}, nodes.Proofs());
  EXPECT_EQ(f.FetchById(unknown, LocateIn(nodes.block)).status().code(), StatusCode::kNotFound);
  // Ahead of us is "not here yet"; a place we keep whole is a lie; a tampered answer too.
  RemoteRecordFetcher ahead({"ahead", "gone"}, nodes.Proofs());
  EXPECT_EQ(ahead.FetchById(nodes.block.leaves[1], LocateIn(nodes.block)).status().code(),
            StatusCode::kNotFound);
  RemoteRecordFetcher bad({"tamper", "gone"}, nodes.Proofs());
  StatusOr<FetchedRecord> r = bad.FetchById(nodes.block.leaves[1], LocateIn(nodes.block));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("tamper answered wrong (refused)"), std::string::npos)
      << r.status().message();
}

TEST(RemoteRecordFetcher, FetchBySeqRefusesARecordOfAnotherSeq) {
  FakeFullNodes nodes;
  RemoteRecordFetcher f({"liar", "good"}, nodes.Proofs(), nodes.Records());
  StatusOr<FetchedRecord> r = f.FetchBySeq("dev-1", 3, LocateIn(nodes.block));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from, "good");
  EXPECT_EQ(r->record, nodes.block.records[2]);
  RemoteRecordFetcher liar({"liar"}, nodes.Proofs(), nodes.Records());
  StatusOr<FetchedRecord> l = liar.FetchBySeq("dev-1", 3, LocateIn(nodes.block));
  EXPECT_EQ(l.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(l.status().message().find("is not device dev-1 seq 3"), std::string::npos)
      << l.status().message();
  EXPECT_EQ(f.FetchBySeq("dev-1", 99, LocateIn(nodes.block)).status().code(),
            StatusCode::kNotFound);
}

TEST(RemoteRecordFetcher, ForwardHistoryProvesEachPrunedEntryAndRefusesAPageThatLies) {
  FakeFullNodes nodes;
  RemoteRecordFetcher f({"hlie", "good"}, nodes.Proofs(), nullptr, nodes.History());
  v1::HistoryRequest req;
  req.set_device("dev-1");
  std::string from;
  // The check compares each proven record with its entry (as the ledger service does).
  HistoryEntryCheck check = [](const v1::HistoryEntry& e, const FetchedRecord* proven) {
    if (proven == nullptr) return InternalError("every entry here lies in a pruned block");
    auto fields = ledger::DecodeRecordFields(proven->record);
    if (!fields.ok() || fields->seq != e.seq() || fields->ts != e.ts())
      return UnauthenticatedError("entry is not its record");
    return OkStatus();
  };
  StatusOr<v1::HistoryResponse> page =
      f.ForwardHistory(req, /*prove_below=*/20, LocateIn(nodes.block), check, &from);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(from, "good");
  EXPECT_EQ(page->entries_size(), 7);
  // Seven proofs from "good"; "hlie" was asked until its fifth entry failed its record.
  EXPECT_EQ(std::count(nodes.asked.begin(), nodes.asked.end(), "good"), 7);
  EXPECT_EQ(std::count(nodes.asked.begin(), nodes.asked.end(), "hlie"), 5);
}

}  // namespace
}  // namespace provledger::node
