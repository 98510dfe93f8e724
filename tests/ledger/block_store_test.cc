// BlockStore (ledger/store/block_store.h) over a real RocksDB in a fresh folder under
// $TEST_TMPDIR: append and read back, the refusals that leave the store unchanged, the
// indexes (record, device seq, time), reopening, and corruption reported as kDataLoss.
//
// Records are kind 1 readings signed by device dev-1 (PROTOCOL.md A.1), blocks carry a
// certificate whose digest is the commit digest (6.4) signed by validator v0.
#include "ledger/store/block_store.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/block_header.h"
#include "ledger/genesis.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"
#include "ledger/store/block_store_testing.h"

namespace provledger::ledger {
namespace {

constexpr char kChain[] = "pl-test";
// PROTOCOL.md A.1.
constexpr char kDeviceSecret[] = "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95";
constexpr char kV0Secret[] = "acfbb3c70c6e20bf3a70a2cb5b148a7de2d105bdd0c6047028ab131a863a598f";

PrivateKey Key(const char* hex) {
  StatusOr<PrivateKey> k = PrivateKey::FromHex(hex);
  if (!k.ok()) std::abort();
  return *k;
}

// A kind 1 reading of `device` signed with dev-1's key (auth 2), accepted by gw-1.
Bytes Reading(const std::string& device, const std::string& item, uint64_t seq, uint64_t ts,
              const Bytes& payload) {
  Record r;
  r.kind = RecordKind::kReading;
  r.reading.device = device;
  r.reading.item = item;
  r.reading.seq = seq;
  r.reading.ts = ts;
  r.reading.payload_hash = Sha256(payload);
  r.reading.auth = kAuthSignature;
  StatusOr<Bytes> sig = Key(kDeviceSecret).Sign(DataDigest(device, item, seq, ts, Sha256(payload)));
  EXPECT_TRUE(sig.ok());
  r.reading.device_sig = sig.ok() ? *sig : Bytes(64, '\0');
  r.reading.gateway = "gw-1";
  r.reading.received = ts + 42;
  EXPECT_TRUE(ValidateRecord(r).ok());
  return EncodeRecord(r);
}

Bytes Payload(uint64_t seq) { return "reading " + std::to_string(seq); }

Bytes Reading(uint64_t seq) { return Reading("dev-1", "climate", seq, 1000 * seq, Payload(seq)); }

// A well-formed block at `height` after `prev`: header, records, payloads, and a v0-signed
// certificate over the commit digest of view 0.
BlockToAppend MakeBlock(uint64_t height, const Bytes& prev, std::vector<Bytes> records,
                        std::vector<std::optional<Bytes>> payloads = {}) {
  std::vector<Bytes> ids;
  for (const Bytes& r : records) ids.push_back(RecordId(r));
  BlockHeader h;
  h.chain_id = kChain;
  h.height = height;
  h.prev = prev;
  h.root = MerkleRoot(ids);
  h.record_count = records.size();
  h.timestamp = 1700000000000 + height;
  h.view = 0;
  h.proposer = "v0";
  EXPECT_TRUE(ValidateHeader(h).ok());
  BlockToAppend b;
  b.header_bytes = EncodeHeader(h);
  b.records = std::move(records);
  b.payloads = std::move(payloads);
  b.certificate.set_view(0);
  b.certificate.set_digest(CommitDigest(kChain, height, 0, HeaderHash(b.header_bytes)));
  StatusOr<Bytes> sig = Key(kV0Secret).Sign(b.certificate.digest());
  EXPECT_TRUE(sig.ok());
  auto* s = b.certificate.add_signatures();
  s->set_validator(0);
  s->set_signature(sig.ok() ? *sig : Bytes());
  return b;
}

// As MakeBlock, with header fields overridden after the fact.
BlockToAppend MakeBlockWithHeader(const BlockHeader& h, std::vector<Bytes> records) {
  BlockToAppend b = MakeBlock(h.height, h.prev, std::move(records));
  b.header_bytes = EncodeHeader(h);
  b.certificate.set_digest(CommitDigest(kChain, h.height, 0, HeaderHash(b.header_bytes)));
  return b;
}

BlockHeader HeaderOf(const BlockToAppend& b) {
  StatusOr<BlockHeader> h = DecodeHeader(b.header_bytes);
  EXPECT_TRUE(h.ok());
  return h.ok() ? *h : BlockHeader();
}

// The answer of a Contains / ContainsSeq that must have read its index.
bool Stored(const StatusOr<bool>& s) {
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() && *s;
}

// The bytes read, or the read's error as text (never equal to a payload of these tests).
Bytes Got(const StatusOr<Bytes>& s) { return s.ok() ? *s : "error: " + s.status().ToString(); }

// `n` bytes no compressor shrinks, the same for the same seed.
Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  Bytes out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

// Flips one byte of `marker` where it sits in the table files of the (closed) store at `dir`,
// as a bad sector under one data block would. False if no table file holds it.
bool DamageTableFiles(const std::string& dir, const Bytes& marker) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".sst") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = data.find(marker);
    if (at == std::string::npos) continue;
    data[at + marker.size() / 2] = static_cast<char>(data[at + marker.size() / 2] ^ 0x01);
    std::ofstream out(e.path(), std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return static_cast<bool>(out);
  }
  return false;
}

// Rows of 8 KiB random values: each lands in a data block of its own.
std::vector<std::pair<Bytes, Bytes>> BigRows(const std::string& prefix) {
  std::vector<std::pair<Bytes, Bytes>> rows;
  for (uint32_t i = 0; i < 3; ++i)
    rows.emplace_back(prefix + std::to_string(i), RandomBytes(8192, i));
  return rows;
}

class BlockStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string base = tmp != nullptr ? tmp : "/tmp";
    dir_ = base + "/block_store_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    Reopen();
  }

  StatusOr<std::unique_ptr<BlockStore>> OpenAt(const std::string& chain_id) {
    StoreOptions o;
    o.path = dir_;
    o.light = light_;
    return BlockStore::Open(o, chain_id);
  }

  void Reopen() {
    store_.reset();
    auto s = OpenAt(kChain);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  // Appends blocks 1..n holding readings 1..2n, two per block.
  void AppendBlocks(uint64_t n) {
    for (uint64_t h = store_->height() + 1, last = store_->height() + n; h <= last; ++h) {
      Status s =
          store_->Append(MakeBlock(h, store_->head_hash(), {Reading(2 * h - 1), Reading(2 * h)},
                                   {Payload(2 * h - 1), Payload(2 * h)}));
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  // What a refused Append must leave as it was.
  struct Snapshot {
    uint64_t height;
    Bytes head;
    uint64_t count;
  };
  Snapshot Snap() const { return {store_->height(), store_->head_hash(), store_->record_count()}; }
  void ExpectUnchanged(const Snapshot& before) const {
    EXPECT_EQ(store_->height(), before.height);
    EXPECT_EQ(store_->head_hash(), before.head);
    EXPECT_EQ(store_->record_count(), before.count);
    EXPECT_EQ(store_->ReadBlock(before.height + 1).status().code(), StatusCode::kOutOfRange);
  }

  std::string dir_;
  bool light_ = false;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(BlockStoreTest, NewStoreIsEmptyWithZeroHeadHash) {
  EXPECT_EQ(store_->height(), 0u);
  EXPECT_EQ(store_->head_hash(), Bytes(32, '\0'));
  EXPECT_EQ(store_->record_count(), 0u);
  EXPECT_EQ(store_->chain_id(), kChain);
}

TEST_F(BlockStoreTest, ReadsBackTheBlocksItAppended) {
  BlockToAppend b1 = MakeBlock(1, Bytes(32, '\0'), {Reading(1), Reading(2)});
  ASSERT_TRUE(store_->Append(b1).ok());
  BlockToAppend b2 = MakeBlock(2, HeaderHash(b1.header_bytes), {Reading(3)});
  ASSERT_TRUE(store_->Append(b2).ok());

  StatusOr<StoredBlock> r1 = store_->ReadBlock(1);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->header_bytes, b1.header_bytes);
  EXPECT_EQ(r1->header_hash, HeaderHash(b1.header_bytes));
  EXPECT_EQ(r1->records, b1.records);
  EXPECT_EQ(r1->header.height, 1u);
  EXPECT_EQ(r1->certificate.SerializeAsString(), b1.certificate.SerializeAsString());
  StatusOr<StoredBlock> r2 = store_->ReadBlock(2);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->records, b2.records);
  EXPECT_EQ(r2->header.prev, HeaderHash(b1.header_bytes));
  StatusOr<Bytes> hb = store_->ReadHeaderBytes(2);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(*hb, b2.header_bytes);
}

TEST_F(BlockStoreTest, AppendMovesHeightHeadHashAndRecordCount) {
  BlockToAppend b1 = MakeBlock(1, Bytes(32, '\0'), {Reading(1), Reading(2), Reading(3)});
  ASSERT_TRUE(store_->Append(b1).ok());
  EXPECT_EQ(store_->height(), 1u);
  EXPECT_EQ(store_->head_hash(), HeaderHash(b1.header_bytes));
  EXPECT_EQ(store_->record_count(), 3u);
}

TEST_F(BlockStoreTest, HeightHeadHashAndRecordCountSurviveReopen) {
  AppendBlocks(3);
  const Bytes head = store_->head_hash();
  Reopen();
  EXPECT_EQ(store_->height(), 3u);
  EXPECT_EQ(store_->head_hash(), head);
  EXPECT_EQ(store_->record_count(), 6u);
  EXPECT_TRUE(store_->ReadBlock(3).ok());
  EXPECT_TRUE(store_->Append(MakeBlock(4, head, {Reading(7)})).ok());
}

TEST_F(BlockStoreTest, ReadBlockPastTheHeadIsOutOfRange) {
  AppendBlocks(1);
  EXPECT_EQ(store_->ReadBlock(0).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(store_->ReadBlock(2).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(store_->ReadHeaderBytes(2).status().code(), StatusCode::kOutOfRange);
}

TEST_F(BlockStoreTest, RefusesBlockWithWrongPrev) {
  AppendBlocks(1);
  const Snapshot before = Snap();
  Bytes wrong = store_->head_hash();
  wrong[0] ^= 1;
  Status s = store_->Append(MakeBlock(2, wrong, {Reading(3)}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  ExpectUnchanged(before);
  EXPECT_FALSE(Stored(store_->Contains(RecordId(Reading(3)))));
}

TEST_F(BlockStoreTest, RefusesBlockWithWrongHeight) {
  AppendBlocks(1);
  const Snapshot before = Snap();
  Status s = store_->Append(MakeBlock(3, store_->head_hash(), {Reading(3)}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  ExpectUnchanged(before);
  EXPECT_FALSE(Stored(store_->Contains(RecordId(Reading(3)))));
}

TEST_F(BlockStoreTest, RefusesFirstBlockAtHeightTwo) {
  const Snapshot before = Snap();
  BlockHeader h = HeaderOf(MakeBlock(1, Bytes(32, '\0'), {Reading(1)}));
  h.height = 2;
  h.prev = Bytes(32, '\x07');
  Status s = store_->Append(MakeBlockWithHeader(h, {Reading(1)}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  ExpectUnchanged(before);
}

TEST_F(BlockStoreTest, RefusesBlockWithWrongRoot) {
  AppendBlocks(1);
  const Snapshot before = Snap();
  BlockHeader h = HeaderOf(MakeBlock(2, store_->head_hash(), {Reading(3), Reading(4)}));
  h.root = MerkleRoot({RecordId(Reading(4)), RecordId(Reading(3))});  // records swapped
  Status s = store_->Append(MakeBlockWithHeader(h, {Reading(3), Reading(4)}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  ExpectUnchanged(before);
  EXPECT_FALSE(Stored(store_->Contains(RecordId(Reading(3)))));
}

TEST_F(BlockStoreTest, RefusesBlockWithWrongRecordCount) {
  AppendBlocks(1);
  const Snapshot before = Snap();
  BlockHeader h = HeaderOf(MakeBlock(2, store_->head_hash(), {Reading(3), Reading(4)}));
  h.record_count = 3;
  Status s = store_->Append(MakeBlockWithHeader(h, {Reading(3), Reading(4)}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  ExpectUnchanged(before);
}

TEST_F(BlockStoreTest, RefusesBlockOfAnotherChain) {
  const Snapshot before = Snap();
  BlockHeader h = HeaderOf(MakeBlock(1, Bytes(32, '\0'), {Reading(1)}));
  h.chain_id = "other-chain";
  Status s = store_->Append(MakeBlockWithHeader(h, {Reading(1)}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  ExpectUnchanged(before);
}

TEST_F(BlockStoreTest, RefusesRecordIdAlreadyOnTheChain) {
  AppendBlocks(1);  // readings 1 and 2
  const Snapshot before = Snap();
  Status s = store_->Append(MakeBlock(2, store_->head_hash(), {Reading(3), Reading(2)}));
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
  ExpectUnchanged(before);
  EXPECT_FALSE(Stored(store_->Contains(RecordId(Reading(3)))));  // nothing of the block was written
  EXPECT_EQ(store_->FindBySeq("dev-1", 3).status().code(), StatusCode::kNotFound);
}

TEST_F(BlockStoreTest, RefusesSameRecordTwiceInOneBlock) {
  const Snapshot before = Snap();
  Status s = store_->Append(MakeBlock(1, Bytes(32, '\0'), {Reading(1), Reading(1)}));
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
  ExpectUnchanged(before);
}

TEST_F(BlockStoreTest, RefusesDeviceSeqAlreadyOnTheChainUnderAnotherId) {
  AppendBlocks(1);  // dev-1 seq 1 and 2
  const Snapshot before = Snap();
  const Bytes other = Reading("dev-1", "humidity", 2, 99999, "another payload");
  ASSERT_NE(RecordId(other), RecordId(Reading(2)));
  Status s = store_->Append(MakeBlock(2, store_->head_hash(), {Reading(3), other}));
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
  ExpectUnchanged(before);
  EXPECT_FALSE(Stored(store_->Contains(RecordId(other))));
  EXPECT_FALSE(Stored(store_->Contains(RecordId(Reading(3)))));
  StatusOr<Bytes> id = store_->FindBySeq("dev-1", 2);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, RecordId(Reading(2)));
}

TEST_F(BlockStoreTest, RefusesDeviceSeqTwiceInOneBlock) {
  const Snapshot before = Snap();
  const Bytes a = Reading("dev-1", "climate", 5, 5000, "a");
  const Bytes b = Reading("dev-1", "climate", 5, 5001, "b");
  Status s = store_->Append(MakeBlock(1, Bytes(32, '\0'), {a, b}));
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
  ExpectUnchanged(before);
}

TEST_F(BlockStoreTest, SameSeqOfAnotherDeviceIsNotADuplicate) {
  AppendBlocks(1);
  EXPECT_TRUE(
      store_->Append(MakeBlock(2, store_->head_hash(), {Reading("dev-2", "climate", 1, 1000, "x")}))
          .ok());
}

TEST_F(BlockStoreTest, FindRecordGivesHeightAndIndex) {
  AppendBlocks(2);  // block 2 holds readings 3 and 4
  StatusOr<RecordLocation> loc = store_->FindRecord(RecordId(Reading(4)));
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->height, 2u);
  EXPECT_EQ(loc->index, 1u);
  EXPECT_TRUE(Stored(store_->Contains(RecordId(Reading(4)))));
}

TEST_F(BlockStoreTest, FindRecordOfUnknownIdIsNotFound) {
  AppendBlocks(1);
  EXPECT_EQ(store_->FindRecord(RecordId(Reading(9))).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(Stored(store_->Contains(RecordId(Reading(9)))));
}

TEST_F(BlockStoreTest, FindBySeqGivesTheRecordId) {
  AppendBlocks(2);
  StatusOr<Bytes> id = store_->FindBySeq("dev-1", 3);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, RecordId(Reading(3)));
  EXPECT_TRUE(Stored(store_->ContainsSeq("dev-1", 3)));
  EXPECT_EQ(store_->FindBySeq("dev-1", 5).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->FindBySeq("dev-2", 3).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(Stored(store_->ContainsSeq("dev-2", 3)));
}

// Issue 11 item 2: `datas` goes on the block holding a device/item's first record on the
// chain, which the time index (device clock) cannot tell.
TEST_F(BlockStoreTest, FirstItemHeightNamesTheBlockOfTheFirstRecordNotTheEarliestClock) {
  ASSERT_TRUE(store_
                  ->Append(MakeBlock(1, store_->head_hash(),
                                     {Reading("dev-1", "climate", 10, 5000, Payload(10))}))
                  .ok());
  ASSERT_TRUE(store_
                  ->Append(MakeBlock(2, store_->head_hash(),
                                     {Reading("dev-1", "climate", 5, 1000, Payload(5)),
                                      Reading("dev-1", "hum", 11, 6000, Payload(11))}))
                  .ok());
  for (int reopened = 0; reopened < 2; ++reopened) {
    SCOPED_TRACE(reopened ? "after reopen" : "before reopen");
    StatusOr<uint64_t> climate = store_->FirstItemHeight("dev-1", "climate");
    ASSERT_TRUE(climate.ok()) << climate.status().ToString();
    EXPECT_EQ(*climate, 1u);
    StatusOr<uint64_t> hum = store_->FirstItemHeight("dev-1", "hum");
    ASSERT_TRUE(hum.ok()) << hum.status().ToString();
    EXPECT_EQ(*hum, 2u);
    EXPECT_EQ(store_->FirstItemHeight("dev-2", "climate").status().code(), StatusCode::kNotFound);
    Reopen();
  }
}

TEST_F(BlockStoreTest, FirstItemIndexIsRebuiltForAStoreWrittenWithoutIt) {
  AppendBlocks(2);
  ASSERT_TRUE(store_
                  ->Append(MakeBlock(3, store_->head_hash(),
                                     {Reading("dev-1", "hum", 9, 9000, Payload(9))}))
                  .ok());
  // What a store of an older version holds: no index entries, no marker.
  std::vector<std::string> gone = {"first_index_v1"};
  auto first = store_->MetaScan("first/");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  for (const auto& [k, v] : *first) gone.push_back(k);
  ASSERT_EQ(gone.size(), 3u);
  ASSERT_TRUE(store_->PutMetaBatch({}, gone, /*sync=*/true).ok());
  EXPECT_EQ(store_->FirstItemHeight("dev-1", "hum").status().code(), StatusCode::kNotFound);
  Reopen();
  EXPECT_EQ(store_->FirstItemHeight("dev-1", "climate").value(), 1u);
  EXPECT_EQ(store_->FirstItemHeight("dev-1", "hum").value(), 3u);
}

TEST_F(BlockStoreTest, ReadPayloadGivesTheKeptPayload) {
  AppendBlocks(1);
  StatusOr<Bytes> p = store_->ReadPayload(RecordId(Reading(2)));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, Payload(2));
}

TEST_F(BlockStoreTest, ReadPayloadOfRecordWithoutPayloadIsNotFound) {
  ASSERT_TRUE(store_
                  ->Append(MakeBlock(1, Bytes(32, '\0'), {Reading(1), Reading(2)},
                                     {Payload(1), std::nullopt}))
                  .ok());
  EXPECT_TRUE(store_->ReadPayload(RecordId(Reading(1))).ok());
  EXPECT_EQ(store_->ReadPayload(RecordId(Reading(2))).status().code(), StatusCode::kNotFound);
}

TEST_F(BlockStoreTest, ReadBlockWithPayloadsFillsThoseKept) {
  ASSERT_TRUE(store_
                  ->Append(MakeBlock(1, Bytes(32, '\0'), {Reading(1), Reading(2)},
                                     {std::nullopt, Payload(2)}))
                  .ok());
  StatusOr<StoredBlock> b = store_->ReadBlock(1, /*with_payloads=*/true);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(b->payloads.size(), 2u);
  EXPECT_FALSE(b->payloads[0].has_value());
  ASSERT_TRUE(b->payloads[1].has_value());
  EXPECT_EQ(*b->payloads[1], Payload(2));
}

TEST_F(BlockStoreTest, LargePayloadRoundTripsAcrossReopen) {
  Bytes big(100 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  const Bytes rec = Reading("dev-1", "camera", 1, 1000, big);
  ASSERT_TRUE(store_->Append(MakeBlock(1, Bytes(32, '\0'), {rec}, {big})).ok());
  StatusOr<Bytes> p = store_->ReadPayload(RecordId(rec));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, big);
  Reopen();
  p = store_->ReadPayload(RecordId(rec));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, big);
}

TEST_F(BlockStoreTest, LargePayloadIsKeptInABlobFile) {
  const Bytes big(100 * 1024, 'x');
  const Bytes rec = Reading("dev-1", "camera", 1, 1000, big);
  ASSERT_TRUE(store_->Append(MakeBlock(1, Bytes(32, '\0'), {rec}, {big})).ok());
  Reopen();  // recovery flushes the WAL into table and blob files
  bool blob = false;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().extension() == ".blob") blob = true;
  }
  EXPECT_TRUE(blob);
  StatusOr<Bytes> p = store_->ReadPayload(RecordId(rec));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, big);
}

// ---- History ----

class BlockStoreHistoryTest : public BlockStoreTest {
 protected:
  void SetUp() override {
    BlockStoreTest::SetUp();
    // dev-1: seq 1..5, items alternating, time not in seq order; dev-2 interleaved in time.
    recs_ = {
        Reading("dev-1", "climate", 1, 3000, "a"),  Reading("dev-1", "humidity", 2, 1000, "b"),
        Reading("dev-1", "climate", 3, 5000, "c"),  Reading("dev-1", "humidity", 4, 2000, "d"),
        Reading("dev-1", "climate", 5, 4000, "e"),  Reading("dev-2", "climate", 1, 2500, "f"),
        Reading("dev-10", "climate", 1, 2600, "g"),
    };
    ASSERT_TRUE(store_->Append(MakeBlock(1, Bytes(32, '\0'), {recs_[0], recs_[1], recs_[2]})).ok());
    ASSERT_TRUE(
        store_->Append(MakeBlock(2, store_->head_hash(), {recs_[3], recs_[4], recs_[5], recs_[6]}))
            .ok());
  }

  std::vector<HistoryItem> All(const std::string& device, const std::string& item, uint64_t from,
                               uint64_t to) {
    std::vector<HistoryItem> out;
    Bytes next;
    Status s = store_->History(device, item, from, to, 100, Bytes(), &out, &next);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(next.empty());
    return out;
  }

  static std::vector<uint64_t> Seqs(const std::vector<HistoryItem>& items) {
    std::vector<uint64_t> out;
    for (const auto& h : items) out.push_back(h.seq);
    return out;
  }

  std::vector<Bytes> recs_;
};

TEST_F(BlockStoreHistoryTest, ListsOneDevicesRecordsInTimeOrder) {
  std::vector<HistoryItem> h = All("dev-1", "", 0, 0);
  EXPECT_EQ(Seqs(h), (std::vector<uint64_t>{2, 4, 1, 5, 3}));
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(h[0].record_id, RecordId(recs_[1]));
  EXPECT_EQ(h[0].item, "humidity");
  EXPECT_EQ(h[0].ts, 1000u);
  EXPECT_EQ(h[0].height, 1u);
  EXPECT_EQ(h[1].height, 2u);
}

TEST_F(BlockStoreHistoryTest, FiltersByItem) {
  EXPECT_EQ(Seqs(All("dev-1", "climate", 0, 0)), (std::vector<uint64_t>{1, 5, 3}));
  EXPECT_EQ(Seqs(All("dev-1", "humidity", 0, 0)), (std::vector<uint64_t>{2, 4}));
  EXPECT_TRUE(All("dev-1", "pressure", 0, 0).empty());
}

TEST_F(BlockStoreHistoryTest, TimeRangeIsInclusiveAtBothEnds) {
  EXPECT_EQ(Seqs(All("dev-1", "", 2000, 4000)), (std::vector<uint64_t>{4, 1, 5}));
  EXPECT_EQ(Seqs(All("dev-1", "climate", 3001, 4000)), (std::vector<uint64_t>{5}));
  EXPECT_TRUE(All("dev-1", "", 5001, 0).empty());
}

TEST_F(BlockStoreHistoryTest, DoesNotMixDevicesSharingAPrefix) {
  EXPECT_EQ(Seqs(All("dev-2", "", 0, 0)), (std::vector<uint64_t>{1}));
  std::vector<HistoryItem> h = All("dev-10", "", 0, 0);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].record_id, RecordId(recs_[6]));
  EXPECT_TRUE(All("dev-3", "", 0, 0).empty());
}

TEST_F(BlockStoreHistoryTest, PagesOfTwoCoverFiveRecordsInThreePagesWithoutRepeats) {
  std::vector<std::vector<HistoryItem>> pages;
  Bytes cursor;
  for (int i = 0; i < 10; ++i) {
    std::vector<HistoryItem> page;
    Bytes next;
    ASSERT_TRUE(store_->History("dev-1", "", 0, 0, 2, cursor, &page, &next).ok());
    pages.push_back(page);
    if (next.empty()) break;
    cursor = next;
  }
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].size(), 2u);
  EXPECT_EQ(pages[1].size(), 2u);
  EXPECT_EQ(pages[2].size(), 1u);
  std::vector<uint64_t> seqs;
  std::set<Bytes> ids;
  for (const auto& p : pages) {
    for (const auto& h : p) {
      seqs.push_back(h.seq);
      ids.insert(h.record_id);
    }
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{2, 4, 1, 5, 3}));
  EXPECT_EQ(ids.size(), 5u);
}

TEST_F(BlockStoreHistoryTest, PagesWithItemFilterStayWithinTheItem) {
  std::vector<uint64_t> seqs;
  Bytes cursor;
  int pages = 0;
  for (; pages < 10; ++pages) {
    std::vector<HistoryItem> page;
    Bytes next;
    ASSERT_TRUE(store_->History("dev-1", "climate", 0, 0, 1, cursor, &page, &next).ok());
    for (const auto& h : page) seqs.push_back(h.seq);
    if (next.empty()) break;
    cursor = next;
  }
  EXPECT_EQ(pages + 1, 3);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 5, 3}));
}

TEST_F(BlockStoreHistoryTest, ExactlyFullLastPageHasNoCursor) {
  std::vector<HistoryItem> page;
  Bytes next;
  ASSERT_TRUE(store_->History("dev-1", "humidity", 0, 0, 2, Bytes(), &page, &next).ok());
  EXPECT_EQ(page.size(), 2u);
  EXPECT_TRUE(next.empty());
}

TEST_F(BlockStoreHistoryTest, LimitZeroIsRefused) {
  std::vector<HistoryItem> page;
  Bytes next;
  EXPECT_EQ(store_->History("dev-1", "", 0, 0, 0, Bytes(), &page, &next).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(page.empty());
  EXPECT_TRUE(next.empty());
}

TEST_F(BlockStoreHistoryTest, CursorOfAnotherDeviceIsRefused) {
  std::vector<HistoryItem> page;
  Bytes next;
  ASSERT_TRUE(store_->History("dev-1", "", 0, 0, 1, Bytes(), &page, &next).ok());
  ASSERT_FALSE(next.empty());
  Bytes next2;
  EXPECT_EQ(store_->History("dev-2", "", 0, 0, 1, next, &page, &next2).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(BlockStoreHistoryTest, CursorVariableMayAlsoReceiveTheNextCursor) {
  // The natural paging loop passes one variable as both `after` and `next_cursor`.
  std::vector<uint64_t> seqs;
  Bytes cursor;
  int pages = 0;
  for (; pages < 10; ++pages) {
    std::vector<HistoryItem> page;
    ASSERT_TRUE(store_->History("dev-1", "", 0, 0, 2, cursor, &page, &cursor).ok());
    for (const auto& h : page) seqs.push_back(h.seq);
    if (cursor.empty()) break;
  }
  EXPECT_EQ(pages + 1, 3);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{2, 4, 1, 5, 3}));
}

// ---- Chain id and corruption ----

TEST_F(BlockStoreTest, OpeningWithAnotherChainIdFails) {
  AppendBlocks(1);
  store_.reset();
  auto other = OpenAt("other-chain");
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition) << other.status().ToString();
  Reopen();  // the store is still good for its own chain
  EXPECT_EQ(store_->height(), 1u);
}

// A genesis whose one validator is v0, the signer of MakeBlock's certificates.
Genesis V0Genesis() {
  Genesis g;
  g.chain_id = kChain;
  g.validators.push_back(Validator{"v0", Key(kV0Secret).PublicKey(), "127.0.0.1:1"});
  return g;
}

TEST_F(BlockStoreTest, VerifyChainAcceptsAnIntactChain) {
  AppendBlocks(3);
  const Genesis g = V0Genesis();
  std::vector<uint64_t> reached;
  Status s = store_->VerifyChain(&g, [&](uint64_t h) { reached.push_back(h); });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(reached.empty());  // called every 1000 blocks
}

TEST_F(BlockStoreTest, CorruptBodyMakesReadBlockDataLoss) {
  AppendBlocks(3);
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, EncodeBody({Reading(3)}))
                  .ok());  // Reading 4 dropped
  EXPECT_EQ(store_->ReadBlock(2).status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(store_->ReadBlock(1).ok());
  EXPECT_TRUE(store_->ReadBlock(3).ok());
}

TEST_F(BlockStoreTest, GarbageBodyMakesReadBlockDataLoss) {
  AppendBlocks(3);
  ASSERT_TRUE(
      BlockStoreTesting::CorruptBody(*store_, 2, Bytes("\x00\x00\x00\x05garbage", 11)).ok());
  EXPECT_EQ(store_->ReadBlock(2).status().code(), StatusCode::kDataLoss);
}

TEST_F(BlockStoreTest, VerifyChainNamesTheCorruptBlock) {
  AppendBlocks(3);
  Bytes body = EncodeBody({Reading(4), Reading(3)});  // same records, other order
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, body).ok());
  Status s = store_->VerifyChain(nullptr, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("block 2"), std::string::npos) << s.ToString();
}

TEST_F(BlockStoreTest, VerifyChainWithTheGenesisRefusesACertificateItsValidatorsDidNotSign) {
  AppendBlocks(2);
  BlockToAppend b = MakeBlock(3, store_->head_hash(), {Reading(5)});
  StatusOr<Bytes> sig = PrivateKey::Generate().Sign(b.certificate.digest());
  ASSERT_TRUE(sig.ok());
  b.certificate.mutable_signatures(0)->set_signature(*sig);
  ASSERT_TRUE(store_->Append(b).ok());  // the store checks the digest, not signatures
  EXPECT_TRUE(store_->VerifyChain(nullptr, nullptr).ok());
  const Genesis g = V0Genesis();
  Status s = store_->VerifyChain(&g, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("block 3"), std::string::npos) << s.ToString();
}

TEST_F(BlockStoreTest, CorruptHeadBlockMakesOpenFailWithDataLoss) {
  AppendBlocks(3);
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 3, EncodeBody({Reading(5)})).ok());
  store_.reset();
  auto reopened = OpenAt(kChain);
  EXPECT_EQ(reopened.status().code(), StatusCode::kDataLoss) << reopened.status().ToString();
  EXPECT_NE(reopened.status().message().find("block 3"), std::string::npos)
      << reopened.status().ToString();
}

TEST_F(BlockStoreTest, CorruptBlockBelowTheHeadStillOpens) {
  AppendBlocks(3);
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 1, EncodeBody({Reading(1)})).ok());
  Reopen();
  EXPECT_EQ(store_->height(), 3u);
  EXPECT_EQ(store_->ReadBlock(1).status().code(), StatusCode::kDataLoss);
}

// Block `h` exactly as AppendBlocks wrote it (blocks and signatures are deterministic): the
// copy a peer would send.
BlockToAppend CopyOfBlock(uint64_t h, const Bytes& prev) {
  return MakeBlock(h, prev, {Reading(2 * h - 1), Reading(2 * h)},
                   {Payload(2 * h - 1), Payload(2 * h)});
}

TEST_F(BlockStoreTest, RepairBlockRewritesACorruptBodyFromAGoodCopy) {
  AppendBlocks(3);
  const Bytes prev = store_->ReadBlock(1)->header_hash;
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, EncodeBody({Reading(3)})).ok());
  ASSERT_EQ(store_->ReadBlock(2).status().code(), StatusCode::kDataLoss);
  Status s = store_->RepairBlock(2, CopyOfBlock(2, prev));
  ASSERT_TRUE(s.ok()) << s.ToString();
  StatusOr<StoredBlock> b = store_->ReadBlock(2);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->records, (std::vector<Bytes>{Reading(3), Reading(4)}));
  EXPECT_TRUE(store_->VerifyChain(nullptr, nullptr).ok());
  StatusOr<RecordLocation> loc = store_->FindRecord(RecordId(Reading(4)));
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->height, 2u);
  EXPECT_EQ(loc->index, 1u);
  EXPECT_EQ(store_->height(), 3u);
  EXPECT_EQ(store_->record_count(), 6u);
}

TEST_F(BlockStoreTest, RepairedBlockStaysRepairedAfterReopen) {
  AppendBlocks(3);
  const Bytes prev = store_->ReadBlock(1)->header_hash;
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, EncodeBody({Reading(3)})).ok());
  ASSERT_TRUE(store_->RepairBlock(2, CopyOfBlock(2, prev)).ok());
  Reopen();
  EXPECT_TRUE(store_->ReadBlock(2).ok());
  EXPECT_TRUE(store_->VerifyChain(nullptr, nullptr).ok());
}

TEST_F(BlockStoreTest, RepairBlockRefusesABlockThatDoesNotLinkToItsSuccessor) {
  AppendBlocks(3);
  const Bytes prev = store_->ReadBlock(1)->header_hash;
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, EncodeBody({Reading(3)})).ok());
  // A well-formed block 2 with a valid digest, but not the one block 3 follows.
  BlockToAppend other = MakeBlock(2, prev, {Reading(30)});
  Status s = store_->RepairBlock(2, other);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(store_->ReadBlock(2).status().code(), StatusCode::kDataLoss);
}

TEST_F(BlockStoreTest, RepairBlockRefusesRecordsThatDoNotMatchTheRoot) {
  AppendBlocks(3);
  const Bytes prev = store_->ReadBlock(1)->header_hash;
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, EncodeBody({Reading(3)})).ok());
  BlockToAppend copy = CopyOfBlock(2, prev);
  copy.records = {Reading(4), Reading(3)};
  Status s = store_->RepairBlock(2, copy);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(store_->ReadBlock(2).status().code(), StatusCode::kDataLoss);
}

TEST_F(BlockStoreTest, RepairBlockLeavesAGoodBlockAlone) {
  AppendBlocks(3);
  const Bytes prev = store_->ReadBlock(1)->header_hash;
  EXPECT_EQ(store_->RepairBlock(2, CopyOfBlock(2, prev)).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->RepairBlock(4, CopyOfBlock(4, prev)).code(), StatusCode::kOutOfRange);
}

TEST_F(BlockStoreTest, DamagedHeadOpensWhenAskedAndIsRepaired) {
  AppendBlocks(3);
  const Bytes prev = store_->ReadBlock(2)->header_hash;
  const Bytes head = store_->head_hash();
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 3, EncodeBody({Reading(5)})).ok());
  store_.reset();
  StoreOptions o;
  o.path = dir_;
  o.open_damaged_head = true;
  auto opened = BlockStore::Open(o, kChain);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(*opened);
  EXPECT_EQ(store_->damaged_head(), 3u);
  EXPECT_EQ(store_->height(), 3u);
  EXPECT_EQ(store_->head_hash(), head);
  EXPECT_EQ(store_->ReadBlock(3).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store_->RepairBlock(3, MakeBlock(3, prev, {Reading(50)})).code(),
            StatusCode::kFailedPrecondition);
  Status s = store_->RepairBlock(3, CopyOfBlock(3, prev));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(store_->damaged_head(), 0u);
  EXPECT_TRUE(store_->VerifyChain(nullptr, nullptr).ok());
}

TEST_F(BlockStoreTest, ARegistryScanThatCannotReadARowReturnsTheErrorNotTheRowsBeforeIt) {
  BlockToAppend b = MakeBlock(1, store_->head_hash(), {Reading(1)});
  b.registry_puts = BigRows("dev/");
  ASSERT_TRUE(store_->Append(b).ok());
  ASSERT_EQ(store_->RegistryScan("dev/").value().size(), 3u);
  store_.reset();  // flushed into table files
  ASSERT_TRUE(DamageTableFiles(dir_, b.registry_puts[1].second.substr(4000, 64)));
  Reopen();
  auto scan = store_->RegistryScan("dev/");
  ASSERT_FALSE(scan.ok()) << "a partial registry of " << scan.value().size() << " row(s)";
  EXPECT_EQ(scan.status().code(), StatusCode::kDataLoss);
}

TEST_F(BlockStoreTest, AMetaScanThatCannotReadAnEntryReturnsTheErrorNotTheEntriesBeforeIt) {
  std::vector<std::pair<std::string, Bytes>> rows;
  for (auto& [k, v] : BigRows("zz/")) rows.emplace_back(k, v);
  ASSERT_TRUE(store_->PutMetaBatch(rows, {}, /*sync=*/true).ok());
  ASSERT_EQ(store_->MetaScan("zz/").value().size(), 3u);
  store_.reset();
  ASSERT_TRUE(DamageTableFiles(dir_, rows[1].second.substr(4000, 64)));
  Reopen();
  auto scan = store_->MetaScan("zz/");
  ASSERT_FALSE(scan.ok()) << "a partial vote set of " << scan.value().size() << " entr(ies)";
  EXPECT_EQ(scan.status().code(), StatusCode::kDataLoss);
}

TEST_F(BlockStoreTest, WriteStatusIsOkWhileWritesSucceed) {
  AppendBlocks(2);
  ASSERT_TRUE(store_->PutMeta("node_id", "v0").ok());
  EXPECT_TRUE(store_->write_status().ok());
}

TEST_F(BlockStoreTest, MetadataSurvivesReopen) {
  ASSERT_TRUE(store_->PutMeta("node_id", "v0").ok());
  Reopen();
  StatusOr<Bytes> v = store_->GetMeta("node_id");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "v0");
  EXPECT_EQ(store_->GetMeta("absent").status().code(), StatusCode::kNotFound);
}

TEST(BlockBody, DecodeBodyInvertsEncodeBody) {
  const std::vector<Bytes> records = {"a", Bytes(), Bytes(300, 'z')};
  StatusOr<std::vector<Bytes>> back = DecodeBody(EncodeBody(records));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, records);
}

TEST(BlockBody, DecodeBodyRefusesTrailingBytes) {
  EXPECT_EQ(DecodeBody(EncodeBody({"a"}) + "x").status().code(), StatusCode::kDataLoss);
}

TEST(BlockBody, DecodeBodyRefusesTruncatedRecord) {
  Bytes body = EncodeBody({"abc"});
  body.pop_back();
  EXPECT_EQ(DecodeBody(body).status().code(), StatusCode::kDataLoss);
}

// --- Light stores: Prune ---

TEST_F(BlockStoreTest, FullStoreRefusesToPrune) {
  AppendBlocks(3);
  EXPECT_EQ(store_->Prune(2).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->ReadBlock(1).ok());
}

// Blocks 1..n with two readings each carrying an 8 KiB payload (so they go to blob files);
// block 3 also writes a registry row.
void AppendBigBlocks(BlockStore* store, uint64_t n) {
  for (uint64_t h = store->height() + 1, last = store->height() + n; h <= last; ++h) {
    std::vector<Bytes> records, payloads_raw;
    std::vector<std::optional<Bytes>> payloads;
    for (uint64_t seq = 2 * h - 1; seq <= 2 * h; ++seq) {
      const Bytes payload(8192, static_cast<char>('a' + seq % 26));
      records.push_back(Reading("dev-1", "climate", seq, 1000 * seq, payload));
      payloads.push_back(payload);
    }
    BlockToAppend b = MakeBlock(h, store->head_hash(), std::move(records), std::move(payloads));
    if (h == 3) b.registry_puts.push_back({"dev/dev-1", "row"});
    ASSERT_TRUE(store->Append(b).ok());
  }
}

TEST_F(BlockStoreTest, LightStorePrunesBodiesKeepsHeadersCertificatesRegistryAndIndexes) {
  light_ = true;
  Reopen();
  AppendBigBlocks(store_.get(), 60);
  const Bytes old_id = RecordId(store_->ReadBlock(10)->records[0]);
  const Bytes recent_id = RecordId(store_->ReadBlock(55)->records[1]);
  StatusOr<Bytes> header10 = store_->ReadHeaderBytes(10);
  ASSERT_TRUE(header10.ok());

  StatusOr<PruneResult> r = store_->Prune(50);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->from, 1u);
  EXPECT_EQ(r->to, 49u);
  EXPECT_LT(r->bytes_after, r->bytes_before);
  std::printf("prune 1..49 of 60 blocks: bytes_before=%llu bytes_after=%llu\n",
              static_cast<unsigned long long>(r->bytes_before),
              static_cast<unsigned long long>(r->bytes_after));
  // Bodies and payloads gone below 50.
  EXPECT_EQ(store_->pruned_below(), 50u);
  StatusOr<StoredBlock> pruned = store_->ReadBlock(10);
  EXPECT_EQ(pruned.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(pruned.status().message().find("pruned"), std::string::npos);
  EXPECT_EQ(store_->ReadPayload(old_id).status().code(), StatusCode::kNotFound);
  // Headers, certificates (VerifyChain checks each digest), registry and indexes kept.
  EXPECT_EQ(store_->ReadHeaderBytes(10).value(), *header10);
  EXPECT_TRUE(store_->VerifyChain(nullptr, {}).ok());
  EXPECT_EQ(store_->RegistryGet("dev/dev-1").value(), "row");
  EXPECT_EQ(store_->FindRecord(old_id).value().height, 10u);
  EXPECT_TRUE(store_->Contains(old_id).value());  // duplicates are still refused
  EXPECT_TRUE(store_->ContainsSeq("dev-1", 19).value());
  // Recent blocks whole.
  StatusOr<StoredBlock> recent = store_->ReadBlock(55, /*with_payloads=*/true);
  ASSERT_TRUE(recent.ok());
  EXPECT_EQ(RecordId(recent->records[1]), recent_id);
  EXPECT_TRUE(recent->payloads[1].has_value());
  // Again below the same height: nothing to do.
  StatusOr<PruneResult> again = store_->Prune(50);
  ASSERT_TRUE(again.ok());
  EXPECT_GT(again->from, again->to);
}

// Readings with no payload kept (as on a light follower's chain): most of a store is indexes.
void AppendSmallBlocks(BlockStore* store, uint64_t n, uint64_t per_block) {
  for (uint64_t h = store->height() + 1, last = store->height() + n; h <= last; ++h) {
    std::vector<Bytes> records;
    for (uint64_t i = 0; i < per_block; ++i) {
      const uint64_t seq = (h - 1) * per_block + i + 1;
      records.push_back(
          Reading("dev-1", i % 2 ? "climate" : "door", seq, 1000 * seq, Payload(seq)));
    }
    ASSERT_TRUE(store->Append(MakeBlock(h, store->head_hash(), std::move(records))).ok());
  }
}

// Entries of `device` in the time index (History over every time).
size_t HistoryCount(const BlockStore& store, const std::string& device) {
  std::vector<HistoryItem> items;
  Bytes next;
  EXPECT_TRUE(store.History(device, "", 0, 0, 100000, Bytes(), &items, &next).ok());
  return items.size();
}

TEST_F(BlockStoreTest, PruneWithAllIndexesDropsThePrunedRecordsEntriesAndShrinksTheStore) {
  light_ = true;
  Reopen();
  AppendSmallBlocks(store_.get(), 60, 50);
  const Bytes old_id = RecordId(store_->ReadBlock(10)->records[3]);  // seq 454
  const Bytes kept_id = RecordId(store_->ReadBlock(55)->records[3]);
  ASSERT_EQ(HistoryCount(*store_, "dev-1"), 3000u);
  // What the bodies alone free, for comparison.
  StatusOr<PruneResult> r = store_->Prune(50, PrunedIndexes::kAll);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // record_index, device_seq and time_index of each record.
  EXPECT_EQ(r->index_entries_deleted, 49u * 50 * 3);
  std::printf("prune 1..49 of 60 blocks, all indexes: bytes_before=%llu bytes_after=%llu\n",
              static_cast<unsigned long long>(r->bytes_before),
              static_cast<unsigned long long>(r->bytes_after));
  // Below a third of the store is left (11 of 60 blocks' index entries, plus headers).
  EXPECT_LT(r->bytes_after * 3, r->bytes_before);
  EXPECT_EQ(store_->index_pruned_below(), 50u);
  EXPECT_EQ(store_->history_pruned_below(), 50u);
  // The pruned records are no longer found here; kept blocks' still are.
  EXPECT_EQ(store_->FindRecord(old_id).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store_->Contains(old_id).value());
  EXPECT_EQ(store_->FindBySeq("dev-1", 454).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store_->ContainsSeq("dev-1", 454).value());
  EXPECT_EQ(store_->FindRecord(kept_id).value().height, 55u);
  EXPECT_TRUE(store_->FindBySeq("dev-1", 2754).ok());
  EXPECT_EQ(HistoryCount(*store_, "dev-1"), 11u * 50);
  // Headers, certificates and the first-record index stay; the chain still verifies.
  EXPECT_TRUE(store_->ReadCertifiedHeader(10).ok());
  EXPECT_EQ(store_->FirstItemHeight("dev-1", "door").value(), 1u);
  EXPECT_TRUE(store_->VerifyChain(nullptr, {}).ok());
  // The marks survive a reopen; appending goes on and its entries are indexed.
  Reopen();
  EXPECT_EQ(store_->index_pruned_below(), 50u);
  EXPECT_EQ(store_->history_pruned_below(), 50u);
  AppendSmallBlocks(store_.get(), 1, 50);
  EXPECT_TRUE(store_->FindBySeq("dev-1", 3001).ok());
}

TEST_F(BlockStoreTest, PruneWithHistoryIndexesKeepsTheDuplicateChecks) {
  light_ = true;
  Reopen();
  AppendSmallBlocks(store_.get(), 20, 10);
  const Bytes old_id = RecordId(store_->ReadBlock(3)->records[0]);  // seq 21
  StatusOr<PruneResult> r = store_->Prune(15, PrunedIndexes::kHistory);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->index_entries_deleted, 14u * 10 * 1);  // time_index only
  EXPECT_EQ(store_->index_pruned_below(), 1u);
  EXPECT_EQ(store_->history_pruned_below(), 15u);
  EXPECT_TRUE(store_->Contains(old_id).value());  // a light validator still refuses these
  EXPECT_TRUE(store_->ContainsSeq("dev-1", 21).value());
  EXPECT_EQ(store_->FindRecord(old_id).value().height, 3u);
  EXPECT_EQ(HistoryCount(*store_, "dev-1"), 6u * 10);
  // The default keeps every index.
  ASSERT_TRUE(store_->Prune(18).ok());
  EXPECT_EQ(store_->history_pruned_below(), 15u);
  EXPECT_EQ(HistoryCount(*store_, "dev-1"), 6u * 10);
}

TEST_F(BlockStoreTest, RocksDbInfoLogStaysBoundedOverManyPrunes) {
  // Each prune logs a flush and compactions in RocksDB's LOG; a light node prunes for years.
  light_ = true;
  Reopen();
  AppendSmallBlocks(store_.get(), 150, 2);
  for (uint64_t below = 2; below <= 150; ++below) {
    ASSERT_TRUE(store_->Prune(below, PrunedIndexes::kAll).ok());
  }
  const auto size = [&](const char* name) -> uint64_t {
    std::error_code ec;
    const auto n = std::filesystem::file_size(dir_ + "/" + name, ec);
    return ec ? 0 : n;
  };
  std::printf("after 149 prunes: LOG %llu bytes, LOG.old %llu bytes\n",
              static_cast<unsigned long long>(size("LOG")),
              static_cast<unsigned long long>(size("LOG.old")));
  EXPECT_GT(size("LOG.old"), 256u * 1024);  // rotated while running, not only at open
  EXPECT_LE(size("LOG"), 512u * 1024);
  EXPECT_LE(size("LOG.old"), 512u * 1024);
}

TEST_F(BlockStoreTest, PruneKeepsTheHeadAndSurvivesReopen) {
  light_ = true;
  Reopen();
  AppendBigBlocks(store_.get(), 8);
  ASSERT_TRUE(store_->Prune(1000).ok());
  EXPECT_EQ(store_->pruned_below(), 8u);  // capped: the head block stays
  EXPECT_TRUE(store_->ReadBlock(8).ok());
  Reopen();
  EXPECT_EQ(store_->pruned_below(), 8u);
  EXPECT_EQ(store_->ReadBlock(7).status().code(), StatusCode::kFailedPrecondition);
  AppendBigBlocks(store_.get(), 2);  // appending goes on
  EXPECT_EQ(store_->height(), 10u);
  // A pruned store is never opened as a full one.
  store_.reset();
  light_ = false;
  auto full = OpenAt(kChain);
  EXPECT_EQ(full.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(BlockStoreTest, ReadCertifiedHeaderAnswersForAPrunedBlock) {
  light_ = true;
  Reopen();
  AppendBigBlocks(store_.get(), 12);
  const StatusOr<StoredBlock> whole = store_->ReadBlock(4);
  ASSERT_TRUE(whole.ok());
  ASSERT_TRUE(store_->Prune(10).ok());
  StatusOr<StoredBlock> h = store_->ReadCertifiedHeader(4);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->header_bytes, whole->header_bytes);
  EXPECT_EQ(h->header_hash, whole->header_hash);
  EXPECT_EQ(h->header.root, whole->header.root);
  EXPECT_EQ(h->certificate.digest(), whole->certificate.digest());
  EXPECT_TRUE(h->records.empty());
  EXPECT_EQ(store_->ReadCertifiedHeader(13).status().code(), StatusCode::kOutOfRange);
}

TEST_F(BlockStoreTest, AFormat1StoreIsMigratedAtOpenAndKeepsItsPayloads) {
  light_ = true;
  Reopen();
  AppendBlocks(6);
  ASSERT_TRUE(BlockStoreTesting::RewriteAsFormat1(*store_).ok());
  ASSERT_EQ(BlockStoreTesting::CountRows(*store_, "device_item"), 12);
  Reopen();
  EXPECT_EQ(store_->migrated_from(), 1u);
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "device_item"), 0);
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 12);
  EXPECT_EQ(store_->ReadPayload(RecordId(Reading(5))).value(), Payload(5));
  StatusOr<StoredBlock> b = store_->ReadBlock(6, /*with_payloads=*/true);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->payloads[1].value_or(""), Payload(12));
  EXPECT_TRUE(store_->VerifyChain(nullptr, {}).ok());
  // Migrated once: the next open finds the current format; pruning drops migrated payloads.
  Reopen();
  EXPECT_EQ(store_->migrated_from(), 0u);
  ASSERT_TRUE(store_->Prune(4).ok());
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 6);
  EXPECT_EQ(store_->ReadPayload(RecordId(Reading(3))).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadPayload(RecordId(Reading(7))).value(), Payload(7));
}

TEST_F(BlockStoreTest, AFormat2StoreIsReadAsItIsMarkedCurrentAndPrunesBothPayloadForms) {
  light_ = true;
  Reopen();
  AppendBlocks(3);
  ASSERT_TRUE(BlockStoreTesting::RewriteAsFormat2(*store_).ok());
  ASSERT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 6);  // one row a payload
  Reopen();
  EXPECT_EQ(store_->migrated_from(), 2u);
  EXPECT_EQ(Got(store_->GetMeta("format_version")), Bytes("\0\0\0\3", 4));
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 6);  // not rewritten
  EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(3)))), Payload(3));
  StatusOr<StoredBlock> b = store_->ReadBlock(2, /*with_payloads=*/true);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->payloads[1].value_or(""), Payload(4));
  // Blocks appended now pack their payloads: one row a block beside the old ones.
  AppendBlocks(2);
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 8);
  EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(9)))), Payload(9));
  EXPECT_TRUE(store_->VerifyChain(nullptr, {}).ok());
  Reopen();
  EXPECT_EQ(store_->migrated_from(), 0u);
  // Pruning blocks 1..4 drops payloads of both forms.
  ASSERT_TRUE(store_->Prune(5).ok());
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 1);
  EXPECT_EQ(store_->ReadPayload(RecordId(Reading(3))).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadPayload(RecordId(Reading(8))).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(10)))), Payload(10));
}

TEST_F(BlockStoreTest, RepairOfAFormat2BlockReplacesItsPayloadsInsteadOfStoringThemTwice) {
  AppendBlocks(3);
  ASSERT_TRUE(BlockStoreTesting::RewriteAsFormat2(*store_).ok());
  Reopen();
  const Bytes prev = store_->ReadBlock(1)->header_hash;
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, EncodeBody({Reading(3)})).ok());
  ASSERT_TRUE(store_->RepairBlock(2, CopyOfBlock(2, prev)).ok());
  StatusOr<StoredBlock> b = store_->ReadBlock(2, /*with_payloads=*/true);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->payloads[0].value_or(""), Payload(3));
  EXPECT_EQ(b->payloads[1].value_or(""), Payload(4));
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 5);  // block 2's now one row
  EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(4)))), Payload(4));
}

TEST_F(BlockStoreTest, RepairWithSomePayloadsKeepsTheStoredOnesTheCopyLacks) {
  AppendBlocks(3);
  const Bytes prev = store_->ReadBlock(1)->header_hash;
  ASSERT_TRUE(BlockStoreTesting::CorruptBody(*store_, 2, EncodeBody({Reading(3)})).ok());
  BlockToAppend copy = CopyOfBlock(2, prev);
  copy.payloads[0] = std::nullopt;  // the peer sent only the second payload
  ASSERT_TRUE(store_->RepairBlock(2, copy).ok());
  EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(3)))), Payload(3));
  EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(4)))), Payload(4));
}

TEST_F(BlockStoreTest, SmallPayloadsOfABlockAreOneRowAndLargeOnesEachTheirOwn) {
  const Bytes big = RandomBytes(100 * 1024, 7);
  const Bytes big_rec = Reading("dev-1", "camera", 10, 10000, big);
  const Bytes empty_rec = Reading("dev-1", "climate", 11, 11000, "");
  ASSERT_TRUE(store_
                  ->Append(MakeBlock(1, Bytes(32, '\0'),
                                     {Reading(1), big_rec, Reading(2), empty_rec, Reading(3)},
                                     {Payload(1), big, std::nullopt, Bytes(), Payload(3)}))
                  .ok());
  // The packed row (payloads 1, the empty one and 3) and the large payload's own.
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "payloads"), 2);
  for (int pass = 0; pass < 2; ++pass) {
    EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(1)))), Payload(1));
    EXPECT_EQ(Got(store_->ReadPayload(RecordId(big_rec))), big);
    EXPECT_EQ(store_->ReadPayload(RecordId(Reading(2))).status().code(), StatusCode::kNotFound);
    EXPECT_EQ(Got(store_->ReadPayload(RecordId(empty_rec))), "");
    EXPECT_EQ(Got(store_->ReadPayload(RecordId(Reading(3)))), Payload(3));
    StatusOr<StoredBlock> b = store_->ReadBlock(1, /*with_payloads=*/true);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    const std::vector<std::optional<Bytes>> want = {Payload(1), big, std::nullopt, Bytes(),
                                                    Payload(3)};
    EXPECT_EQ(b->payloads, want);
    Reopen();  // from table and blob files
  }
}

TEST_F(BlockStoreTest, IndexFieldsGivenWithABlockIndexItAsItsDecodedRecordsWould) {
  std::vector<Bytes> recs = {Reading("dev-1", "climate", 1, 3000, "a"),
                             Reading("dev-2", "humidity", 7, 1000, "b")};
  BlockToAppend b = MakeBlock(1, Bytes(32, '\0'), recs);
  for (const Bytes& r : recs) b.fields.push_back(IndexFieldsOf(DecodeRecordFields(r).value()));
  BlockToAppend short_fields = b;
  short_fields.fields.pop_back();
  EXPECT_EQ(store_->Append(short_fields).code(), StatusCode::kInvalidArgument);
#ifndef NDEBUG
  BlockToAppend wrong = b;
  wrong.fields[1].seq = 8;
  EXPECT_EQ(store_->Append(wrong).code(), StatusCode::kInternal);
#endif
  EXPECT_EQ(store_->height(), 0u);
  ASSERT_TRUE(store_->Append(b).ok());
  EXPECT_EQ(Got(store_->FindBySeq("dev-2", 7)), RecordId(recs[1]));
  EXPECT_EQ(store_->FirstItemHeight("dev-2", "humidity").value(), 1u);
  std::vector<HistoryItem> h;
  Bytes next;
  ASSERT_TRUE(store_->History("dev-1", "", 0, 0, 10, Bytes(), &h, &next).ok());
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].ts, 3000u);
  EXPECT_EQ(h[0].item, "climate");
  // The duplicate checks read what the given fields indexed.
  EXPECT_EQ(
      store_
          ->Append(MakeBlock(2, store_->head_hash(), {Reading("dev-2", "humidity", 7, 2000, "c")}))
          .code(),
      StatusCode::kAlreadyExists);
}

TEST_F(BlockStoreTest, AStoreOfANewerFormatIsRefusedAndLeftAsItIs) {
  AppendBlocks(2);
  Bytes v;
  AppendU32(&v, 4);
  ASSERT_TRUE(store_->PutMeta("format_version", v).ok());
  store_.reset();
  StatusOr<std::unique_ptr<BlockStore>> s = OpenAt(kChain);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("format version 4"), std::string::npos)
      << s.status().ToString();
  // Still refused: nothing was rewritten.
  s = OpenAt(kChain);
  ASSERT_EQ(s.status().code(), StatusCode::kUnimplemented);
}

TEST_F(BlockStoreTest, ABlockWithoutRecordsIsAppendedAndTheNextOneStillChecksDuplicates) {
  ASSERT_TRUE(store_->Append(MakeBlock(1, store_->head_hash(), {})).ok());
  EXPECT_EQ(store_->height(), 1u);
  EXPECT_EQ(store_->record_count(), 0u);
  ASSERT_TRUE(store_->Append(MakeBlock(2, store_->head_hash(), {Reading(1)}, {Payload(1)})).ok());
  const Snapshot before = Snap();
  EXPECT_EQ(store_->Append(MakeBlock(3, store_->head_hash(), {Reading(1)})).code(),
            StatusCode::kAlreadyExists);
  ExpectUnchanged(before);
  EXPECT_EQ(store_->ReadPayload(RecordId(Reading(1))).value(), Payload(1));
}

TEST_F(BlockStoreTest, ANewStoreIsWrittenInTheCurrentFormat) {
  AppendBlocks(1);
  StatusOr<Bytes> v = store_->GetMeta("format_version");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, Bytes("\0\0\0\3", 4));
  EXPECT_EQ(store_->migrated_from(), 0u);
  EXPECT_EQ(BlockStoreTesting::CountRows(*store_, "device_item"), 0);
}

}  // namespace
}  // namespace provledger::ledger
