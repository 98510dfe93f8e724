// Checkpoint states (ledger/state_digest.h, BlockStore's ReadState and state install) over a
// real RocksDB under $TEST_TMPDIR: the digest binds every row and its order, a pinned state
// does not move when blocks are appended after it, and a store installed from another's
// state refuses the duplicates the source would, reopens as it was, and drops an install
// that never finished.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/block_header.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"
#include "ledger/state_digest.h"
#include "ledger/store/block_store.h"

namespace provledger::ledger {
namespace {

constexpr char kChain[] = "pl-test";
// PROTOCOL.md A.1.
constexpr char kDeviceSecret[] = "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95";

Bytes Reading(uint64_t seq, uint64_t ts) {
  Record r;
  r.kind = RecordKind::kReading;
  r.reading.device = "dev-1";
  r.reading.item = "climate";
  r.reading.seq = seq;
  r.reading.ts = ts;
  r.reading.payload_hash = Sha256("p");
  r.reading.auth = kAuthSignature;
  auto key = PrivateKey::FromHex(kDeviceSecret);
  auto sig = key->Sign(DataDigest("dev-1", "climate", seq, ts, Sha256("p")));
  r.reading.device_sig = sig.ok() ? *sig : Bytes(64, '\0');
  r.reading.gateway = "gw-1";
  r.reading.received = ts;
  return EncodeRecord(r);
}
Bytes Reading(uint64_t seq) { return Reading(seq, 1000 * seq); }

// Block `height` after `prev` with `records` and one registry row "dev/<height>"; its
// certificate carries the commit digest (the store checks no signature).
BlockToAppend MakeBlock(uint64_t height, const Bytes& prev, std::vector<Bytes> records) {
  std::vector<Bytes> ids;
  for (const Bytes& r : records) ids.push_back(RecordId(r));
  BlockHeader h;
  h.chain_id = kChain;
  h.height = height;
  h.prev = prev;
  h.root = MerkleRoot(ids);
  h.record_count = records.size();
  h.timestamp = 1700000000000 + height;
  h.proposer = "v0";
  BlockToAppend b;
  b.header_bytes = EncodeHeader(h);
  b.records = std::move(records);
  b.certificate.set_digest(CommitDigest(kChain, height, 0, HeaderHash(b.header_bytes)));
  b.registry_puts.emplace_back("dev/" + std::to_string(height), "row " + std::to_string(height));
  return b;
}

std::string Dir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string d = std::string(tmp != nullptr ? tmp : "/tmp") + "/state_" + name + "_" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::filesystem::remove_all(d);
  return d;
}

std::unique_ptr<BlockStore> Open(const std::string& dir, uint64_t interval) {
  StoreOptions o;
  o.path = dir;
  o.state_interval = interval;
  auto s = BlockStore::Open(o, kChain);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

// Appends blocks holding readings 2h-1 and 2h, up to height `to`.
void Grow(BlockStore* s, uint64_t to) {
  for (uint64_t h = s->height() + 1; h <= to; ++h) {
    ASSERT_TRUE(s->Append(MakeBlock(h, s->head_hash(), {Reading(2 * h - 1), Reading(2 * h)})).ok());
  }
}

std::vector<StateRow> AllRows(const BlockStore& s, uint64_t height, size_t page) {
  std::vector<StateRow> rows;
  Bytes cursor;
  do {
    auto chunk = s.ReadState(height, cursor, page);
    EXPECT_TRUE(chunk.ok()) << chunk.status().ToString();
    if (!chunk.ok()) break;
    rows.insert(rows.end(), chunk->rows.begin(), chunk->rows.end());
    cursor = chunk->next;
  } while (!cursor.empty());
  return rows;
}

Bytes DigestOf(const std::vector<StateRow>& rows, uint64_t height, const Bytes& header_hash) {
  StateDigester d(kChain, height, header_hash);
  for (const auto& r : rows) EXPECT_TRUE(d.Add(r).ok());
  return d.Finish();
}

// A record-index value: u64be(height) ‖ u32be(index).
Bytes Loc(uint64_t height, uint32_t index) {
  Bytes v;
  AppendU64(&v, height);
  AppendU32(&v, index);
  return v;
}
Bytes U64(uint64_t x) {
  Bytes v;
  AppendU64(&v, x);
  return v;
}

TEST(StateDigester, RefusesRowsOutOfOrderOrOfUnknownTables) {
  StateDigester d(kChain, 4, Bytes(32, 'h'));
  ASSERT_TRUE(d.Add({1, "b", "x"}).ok());
  EXPECT_EQ(d.Add({1, "a", "x"}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Add({1, "b", "y"}).code(), StatusCode::kInvalidArgument);  // same key twice
  EXPECT_EQ(d.Add({5, "a", "x"}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(d.Add({2, "a", Loc(1, 0)}).ok());  // a later table sorts above any key
  EXPECT_EQ(d.rows(), 2u);
}

TEST(StateDigester, RefusesIndexRowsOfNoBlockOfTheState) {
  StateDigester d(kChain, 4, Bytes(32, 'h'));
  EXPECT_EQ(d.Add({2, "a", "x"}).code(), StatusCode::kInvalidArgument);        // no location
  EXPECT_EQ(d.Add({2, "a", Loc(5, 0)}).code(), StatusCode::kInvalidArgument);  // above H
  EXPECT_EQ(d.Add({2, "a", Loc(0, 0)}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(d.Add({2, "a", Loc(3, 0)}).ok());
  EXPECT_EQ(d.Add({3, "s", "b"}).code(), StatusCode::kInvalidArgument);  // no record "b"
  EXPECT_TRUE(d.Add({3, "s", "a"}).ok());
  EXPECT_EQ(d.Add({4, "first/x", U64(9)}).code(), StatusCode::kInvalidArgument);
}

TEST(StateDigester, EveryRowValueHeightAndHeaderCounts) {
  const std::vector<StateRow> rows = {
      {1, "a", "1"}, {2, "b", Loc(2, 0)}, {3, "c", "b"}, {4, "first/d", U64(2)}};
  const Bytes base = DigestOf(rows, 4, Bytes(32, 'h'));
  EXPECT_NE(DigestOf({rows[0], rows[1], rows[2]}, 4, Bytes(32, 'h')), base);  // a row left out
  EXPECT_NE(DigestOf({rows[0], rows[1]}, 4, Bytes(32, 'h')), base);
  EXPECT_NE(DigestOf({rows[1], rows[2], rows[3]}, 4, Bytes(32, 'h')), base);
  EXPECT_NE(DigestOf({{1, "a", "2"}, rows[1], rows[2], rows[3]}, 4, Bytes(32, 'h')), base);
  // The same rows, the record in block 3 (its (device, seq) row moves with it).
  EXPECT_NE(DigestOf({rows[0], {2, "b", Loc(3, 0)}, rows[2], rows[3]}, 4, Bytes(32, 'h')), base);
  EXPECT_NE(DigestOf({rows[0], {2, "b", Loc(2, 1)}, rows[2], rows[3]}, 4, Bytes(32, 'h')), base);
  EXPECT_NE(DigestOf({rows[0], rows[1], rows[2], {4, "first/d", U64(3)}}, 4, Bytes(32, 'h')), base);
  EXPECT_NE(
      DigestOf({rows[0], rows[1], rows[2], rows[3], {4, "first/e", U64(1)}}, 4, Bytes(32, 'h')),
      base);  // a row added
  EXPECT_NE(DigestOf(rows, 5, Bytes(32, 'h')), base);
  EXPECT_NE(DigestOf(rows, 4, Bytes(32, 'i')), base);
  EXPECT_NE(StateAttestationDigest(kChain, 4, Bytes(32, 'h'), base),
            StateAttestationDigest("other", 4, Bytes(32, 'h'), base));
}

// The digest an attester signs for the state pinned at `height`: the registry scanned, the
// index tables from the store's running chain.
Bytes AttestedDigest(const BlockStore& s, uint64_t height) {
  auto index = s.PinnedIndexChain(height);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  if (!index.ok()) return "";
  RowsDigester registry;
  uint64_t index_rows = 0;
  for (const auto& r : AllRows(s, height, 1 << 20)) {
    if (r.table == static_cast<uint8_t>(StateTable::kRegistry)) {
      registry.Add(r.table, r.key, r.value);
    } else {
      ++index_rows;
    }
  }
  EXPECT_EQ(index->rows, index_rows);
  return StateDigest(kChain, height, HeaderHash(*s.ReadHeaderBytes(height)), registry.Finish(),
                     index->digest);
}

Bytes FullDigest(const BlockStore& s, uint64_t height) {
  return DigestOf(AllRows(s, height, 1 << 20), height, HeaderHash(*s.ReadHeaderBytes(height)));
}

TEST(StateIndexChain, RunningDigestIsTheDigestOfTheWholeStateAndSurvivesARestart) {
  const std::string dir = Dir("src");
  auto s = Open(dir, 4);
  Grow(s.get(), 4);
  // An empty block, and one that repeats a device and item (no new first-record row).
  ASSERT_TRUE(s->Append(MakeBlock(5, s->head_hash(), {})).ok());
  ASSERT_TRUE(s->Append(MakeBlock(6, s->head_hash(), {Reading(100)})).ok());
  Grow(s.get(), 8);
  EXPECT_EQ(AttestedDigest(*s, 4), FullDigest(*s, 4));
  EXPECT_EQ(AttestedDigest(*s, 8), FullDigest(*s, 8));
  const Bytes at8 = AttestedDigest(*s, 8);
  s.reset();
  s = Open(dir, 4);
  EXPECT_EQ(AttestedDigest(*s, 8), at8);
  Grow(s.get(), 12);
  EXPECT_EQ(AttestedDigest(*s, 12), FullDigest(*s, 12));
}

TEST(StateIndexChain, AStoreWithoutTheChainDerivesItAtOpen) {
  const std::string dir = Dir("src");
  auto s = Open(dir, 4);
  Grow(s.get(), 8);
  const Bytes at8 = AttestedDigest(*s, 8);
  // As a store written before the chain existed: no chain in the metadata.
  ASSERT_TRUE(s->PutMetaBatch({}, {"state_index_chain"}, true).ok());
  s.reset();
  s = Open(dir, 4);
  EXPECT_EQ(AttestedDigest(*s, 8), at8);
  EXPECT_TRUE(s->GetMeta("state_index_chain").ok());  // stored: derived once
  Grow(s.get(), 12);
  EXPECT_EQ(AttestedDigest(*s, 12), FullDigest(*s, 12));
}

TEST(StateIndexChain, AChainBehindTheHeadIsDerivedAgainAtOpen) {
  const std::string dir = Dir("src");
  auto s = Open(dir, 4);
  Grow(s.get(), 4);
  const Bytes at4 = *s->GetMeta("state_index_chain");
  Grow(s.get(), 8);
  const Bytes at8 = AttestedDigest(*s, 8);
  // As after blocks appended by a build that does not keep the chain.
  ASSERT_TRUE(s->PutMeta("state_index_chain", at4).ok());
  s.reset();
  s = Open(dir, 4);
  EXPECT_EQ(AttestedDigest(*s, 8), at8);
}

TEST(StateSnapshot, PinsTheLatestTwoMultiplesOfTheInterval) {
  auto s = Open(Dir("src"), 2);
  Grow(s.get(), 5);
  EXPECT_EQ(s->StateHeights(), (std::vector<uint64_t>{2, 4}));
  Grow(s.get(), 6);
  EXPECT_EQ(s->StateHeights(), (std::vector<uint64_t>{4, 6}));
  EXPECT_EQ(s->ReadState(2, "", 1 << 20).status().code(), StatusCode::kNotFound);
}

TEST(StateSnapshot, PinnedStateStaysAsOfItsBlockAndPagesAddUp) {
  auto s = Open(Dir("src"), 4);
  Grow(s.get(), 4);
  const std::vector<StateRow> before = AllRows(*s, 4, 1 << 20);
  Grow(s.get(), 7);
  const std::vector<StateRow> after = AllRows(*s, 4, 1 << 20);
  const std::vector<StateRow> paged = AllRows(*s, 4, 1);  // one row per page
  ASSERT_EQ(before.size(), after.size());
  ASSERT_EQ(paged.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].key, before[i].key);
    EXPECT_EQ(paged[i].key, before[i].key);
    EXPECT_EQ(paged[i].value, before[i].value);
  }
  // 4 registry rows, 8 record ids, 8 (device, seq) keys, 1 first-record row.
  EXPECT_EQ(before.size(), 4u + 8u + 8u + 1u);
}

class StateInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = Open(Dir("src"), 4);
    Grow(src_.get(), 4);
    dst_dir_ = Dir("dst");
    dst_ = Open(dst_dir_, 4);
  }
  // Stages headers 1..3 and the state at 4 of src_ into dst_.
  void Stage() {
    std::vector<std::pair<Bytes, provledger::v1::CommitCertificate>> headers;
    for (uint64_t h = 1; h <= 3; ++h) headers.push_back(*src_->ReadHeaderAndCertificate(h));
    ASSERT_TRUE(dst_->PutStateHeaders(1, headers).ok());
    ASSERT_TRUE(dst_->PutStateRows(AllRows(*src_, 4, 1 << 20)).ok());
  }
  BlockToAppend Head() {
    auto b = src_->ReadBlock(4);
    BlockToAppend out;
    out.header_bytes = b->header_bytes;
    out.records = b->records;
    out.certificate = b->certificate;
    return out;
  }
  std::unique_ptr<BlockStore> src_, dst_;
  std::string dst_dir_;
};

TEST_F(StateInstallTest, InstalledStoreRefusesOldDuplicatesAndGoesOn) {
  Stage();
  ASSERT_TRUE(dst_->FinishStateInstall(4, Head(), src_->record_count()).ok());
  EXPECT_EQ(dst_->height(), 4u);
  EXPECT_EQ(dst_->head_hash(), src_->head_hash());
  EXPECT_EQ(dst_->record_count(), 8u);
  EXPECT_EQ(dst_->state_base(), 4u);
  EXPECT_TRUE(*dst_->Contains(RecordId(Reading(1))));
  EXPECT_TRUE(*dst_->ContainsSeq("dev-1", 1));
  EXPECT_EQ(*dst_->RegistryGet("dev/2"), "row 2");
  EXPECT_EQ(dst_->ReadBlock(2).status().code(), StatusCode::kFailedPrecondition);  // absent
  EXPECT_TRUE(dst_->ReadBlock(4).ok());
  // Reading 1 again, and another record with seq 2: both already on the chain.
  EXPECT_EQ(dst_->Append(MakeBlock(5, dst_->head_hash(), {Reading(1)})).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(dst_->Append(MakeBlock(5, dst_->head_hash(), {Reading(2, 7)})).code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(dst_->Append(MakeBlock(5, dst_->head_hash(), {Reading(9), Reading(10)})).ok());
  dst_.reset();
  dst_ = Open(dst_dir_, 4);
  EXPECT_EQ(dst_->height(), 5u);
  EXPECT_EQ(dst_->state_base(), 4u);
  EXPECT_TRUE(dst_->VerifyChain(nullptr, {}).ok());
}

TEST_F(StateInstallTest, InstalledStoreContinuesTheIndexChain) {
  for (bool given : {true, false}) {
    dst_.reset();
    src_.reset();
    SetUp();
    Stage();
    const std::vector<StateRow> rows = AllRows(*src_, 4, 1 << 20);
    StateDigester d(kChain, 4, HeaderHash(*src_->ReadHeaderBytes(4)));
    for (const auto& r : rows) ASSERT_TRUE(d.Add(r).ok());
    ASSERT_EQ(d.Finish(), AttestedDigest(*src_, 4));
    IndexChainHead chain{4, d.index_digest(), d.index_rows()};
    ASSERT_TRUE(
        dst_->FinishStateInstall(4, Head(), src_->record_count(), given ? &chain : nullptr).ok());
    EXPECT_EQ(AttestedDigest(*dst_, 4), AttestedDigest(*src_, 4)) << given;
    for (uint64_t h = 5; h <= 8; ++h) {
      BlockToAppend b = MakeBlock(h, src_->head_hash(), {Reading(2 * h - 1), Reading(2 * h)});
      ASSERT_TRUE(src_->Append(b).ok());
      ASSERT_TRUE(dst_->Append(b).ok());
    }
    EXPECT_EQ(AttestedDigest(*dst_, 8), AttestedDigest(*src_, 8)) << given;
  }
}

TEST_F(StateInstallTest, UnfinishedInstallIsDroppedAtReopen) {
  Stage();
  dst_.reset();
  dst_ = Open(dst_dir_, 4);
  EXPECT_EQ(dst_->height(), 0u);
  EXPECT_FALSE(*dst_->Contains(RecordId(Reading(1))));
  EXPECT_TRUE(dst_->RegistryScan("")->empty());
  EXPECT_EQ(dst_->FinishStateInstall(4, Head(), 8).code(), StatusCode::kNotFound);  // no header 3
}

TEST_F(StateInstallTest, RefusesAHeadBlockThatDoesNotLinkAndFirstRowsWithoutPrefix) {
  Stage();
  BlockToAppend wrong = MakeBlock(4, Bytes(32, 'x'), {Reading(7), Reading(8)});
  EXPECT_EQ(dst_->FinishStateInstall(4, wrong, 8).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(dst_->PutStateRows({{4, "head", "x"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dst_->height(), 0u);
}

TEST_F(StateInstallTest, DiscardedRowsLeaveNothingBehind) {
  Stage();
  ASSERT_TRUE(dst_->DiscardStaged(/*headers=*/false).ok());
  EXPECT_FALSE(*dst_->ContainsSeq("dev-1", 1));
  EXPECT_TRUE(dst_->RegistryScan("")->empty());
}

}  // namespace
}  // namespace provledger::ledger
