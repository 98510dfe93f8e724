// ParseRetentionAge and PruneTarget (node/pruner.h): a body goes once it is outside both the
// height window and the age window; the head always stays. Pruner over a real light
// BlockStore (RocksDB under $TEST_TMPDIR) with an injected clock: prunes in steps, reports
// the bytes.
#include "node/pruner.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/block_header.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"
#include "ledger/store/block_store.h"

namespace provledger::node {
namespace {

constexpr uint64_t kMax = 1000;

// Block h was proposed at h seconds.
StatusOr<uint64_t> TsOfHeight(uint64_t h) { return h * 1000; }

TEST(ParseRetentionAge, ReadsEachUnit) {
  EXPECT_EQ(ParseRetentionAge("45s").value(), 45000u);
  EXPECT_EQ(ParseRetentionAge("90m").value(), 90u * 60 * 1000);
  EXPECT_EQ(ParseRetentionAge("12h").value(), 12u * 3600 * 1000);
  EXPECT_EQ(ParseRetentionAge("30d").value(), 30ull * 24 * 3600 * 1000);
}

TEST(ParseRetentionAge, RefusesWhatIsNoAge) {
  for (const char* bad : {"", "d", "30", "0d", "3x", "-1d", "1.5h", "30 d", "99999999999999d"}) {
    EXPECT_EQ(ParseRetentionAge(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PruneTarget, WithoutAWindowPrunesNothing) {
  EXPECT_EQ(PruneTarget(100, 1, RetentionOptions{}, 1000000, TsOfHeight, kMax), 1u);
}

TEST(PruneTarget, HeightWindowKeepsTheLastN) {
  RetentionOptions o;
  o.retain_blocks = 10;
  EXPECT_EQ(PruneTarget(100, 1, o, 0, TsOfHeight, kMax), 91u);   // 91..100 kept
  EXPECT_EQ(PruneTarget(8, 1, o, 0, TsOfHeight, kMax), 1u);      // fewer than N: all kept
  EXPECT_EQ(PruneTarget(100, 95, o, 0, TsOfHeight, kMax), 95u);  // never moves back
}

TEST(PruneTarget, AgeWindowKeepsTheYoungBlocks) {
  RetentionOptions o;
  o.retain_age_ms = 50000;  // now 100 s: blocks proposed before 50 s go
  EXPECT_EQ(PruneTarget(100, 1, o, 100000, TsOfHeight, kMax), 50u);
}

TEST(PruneTarget, AgeWindowNeverTakesTheHead) {
  RetentionOptions o;
  o.retain_age_ms = 1000;  // everything is old
  EXPECT_EQ(PruneTarget(100, 1, o, 10000000, TsOfHeight, kMax), 100u);
}

TEST(PruneTarget, BothWindowsKeepWhatEitherKeeps) {
  RetentionOptions o;
  o.retain_age_ms = 50000;  // alone: 50..100 kept
  o.retain_blocks = 10;     // alone: 91..100 kept
  EXPECT_EQ(PruneTarget(100, 1, o, 100000, TsOfHeight, kMax), 50u);
  o.retain_blocks = 60;  // alone: 41..100 kept
  EXPECT_EQ(PruneTarget(100, 1, o, 100000, TsOfHeight, kMax), 41u);
}

TEST(PruneTarget, AgeWalkStopsAtAYoungOrUnreadableBlock) {
  RetentionOptions o;
  o.retain_age_ms = 1000;
  // Block 20's proposer clock ran ahead: the walk stops there although 21.. are old.
  auto skewed = [](uint64_t h) -> StatusOr<uint64_t> { return h == 20 ? 99999999 : h * 1000; };
  EXPECT_EQ(PruneTarget(100, 1, o, 1000000, skewed, kMax), 20u);
  auto unreadable = [](uint64_t h) -> StatusOr<uint64_t> {
    if (h == 7) return DataLossError("bad header");
    return h * 1000;
  };
  EXPECT_EQ(PruneTarget(100, 1, o, 1000000, unreadable, kMax), 7u);
}

TEST(PruneTarget, PrunesAtMostMaxBlocksAtOnce) {
  RetentionOptions o;
  o.retain_blocks = 10;
  EXPECT_EQ(PruneTarget(5000, 1, o, 0, TsOfHeight, kMax), 1001u);
  o.retain_blocks = 0;
  o.retain_age_ms = 1;
  EXPECT_EQ(PruneTarget(5000, 1, o, 100000000, TsOfHeight, kMax), 1001u);
}

TEST(PruneTarget, AgeLongerThanTheClockPrunesNothing) {
  RetentionOptions o;
  o.retain_age_ms = 5000;
  EXPECT_EQ(PruneTarget(100, 1, o, 4000, TsOfHeight, kMax), 1u);
}

constexpr char kChain[] = "pl-test";
constexpr uint64_t kT0 = 1700000000000;

// Block h: two MAC readings of dev-1 (seq 2h-1, 2h), proposed at kT0 + h seconds. The store
// checks digests, not signatures, so the certificate carries none.
ledger::BlockToAppend MakeBlock(uint64_t height, const Bytes& prev) {
  ledger::BlockToAppend b;
  std::vector<Bytes> ids;
  for (uint64_t seq = 2 * height - 1; seq <= 2 * height; ++seq) {
    ledger::Record r;
    r.kind = ledger::RecordKind::kReading;
    r.reading.device = "dev-1";
    r.reading.item = "climate";
    r.reading.seq = seq;
    r.reading.ts = kT0 + seq;
    r.reading.payload_hash = Sha256("payload " + std::to_string(seq));
    r.reading.gateway = "gw-1";
    b.records.push_back(ledger::EncodeRecord(r));
    b.payloads.push_back("payload " + std::to_string(seq));
    ids.push_back(ledger::RecordId(b.records.back()));
  }
  ledger::BlockHeader h;
  h.chain_id = kChain;
  h.height = height;
  h.prev = prev;
  h.root = ledger::MerkleRoot(ids);
  h.record_count = ids.size();
  h.timestamp = kT0 + height * 1000;
  h.proposer = "v0";
  b.header_bytes = ledger::EncodeHeader(h);
  b.certificate.set_digest(
      ledger::CommitDigest(kChain, height, 0, ledger::HeaderHash(b.header_bytes)));
  return b;
}

class PrunerTest : public ::testing::Test {
 protected:
  void Open(bool light) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/pruner_" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    ledger::StoreOptions o;
    o.path = dir;
    o.light = light;
    auto s = ledger::BlockStore::Open(o, kChain);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  // Appends up to `height`, running the pruner after each block as a follower does.
  void AppendTo(uint64_t height, Pruner* pruner) {
    while (store_->height() < height) {
      ASSERT_TRUE(store_->Append(MakeBlock(store_->height() + 1, store_->head_hash())).ok());
      ASSERT_TRUE(pruner->MaybePrune().ok());
    }
  }
  std::unique_ptr<ledger::BlockStore> store_;
  uint64_t now_ms_ = kT0;
};

TEST_F(PrunerTest, HeightWindowPrunesInStepsOfTenAndReportsTheBytes) {
  Open(/*light=*/true);
  RetentionOptions o;
  o.retain_blocks = 5;
  Pruner p(store_.get(), o, [this] { return now_ms_; });
  AppendTo(14, &p);  // 1..9 are outside the window: fewer than a step
  EXPECT_EQ(store_->pruned_below(), 1u);
  EXPECT_EQ(p.stats().bytes_before, 0u);
  AppendTo(15, &p);  // 1..10 outside: one step
  EXPECT_EQ(store_->pruned_below(), 11u);
  EXPECT_GT(p.stats().bytes_before, 0u);
  EXPECT_GT(p.stats().bytes_after, 0u);
  EXPECT_EQ(p.stats().pruned_below, 11u);
  EXPECT_EQ(store_->ReadBlock(10).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->ReadBlock(11).ok());
}

TEST_F(PrunerTest, AgeWindowFollowsTheClock) {
  Open(/*light=*/true);
  RetentionOptions o;
  o.retain_age_ms = 5000;
  Pruner p(store_.get(), o, [this] { return now_ms_; });
  now_ms_ = kT0 + 30 * 1000;  // blocks 1..30 proposed at +1 s .. +30 s
  AppendTo(30, &p);
  // Each append since block 11 pruned what was over 5 s old once it made a step of 10.
  EXPECT_EQ(store_->pruned_below(), 21u);
  now_ms_ += 60 * 1000;  // a minute later 21..30 are old too: 9 blocks, less than a step
  ASSERT_TRUE(p.MaybePrune().ok());
  EXPECT_EQ(store_->pruned_below(), 21u);
  AppendTo(31, &p);  // 21..30 make a step; the head (31) stays
  EXPECT_EQ(store_->pruned_below(), 31u);
  EXPECT_TRUE(store_->ReadBlock(31).ok());
}

TEST_F(PrunerTest, LeavesAFullStoreAlone) {
  Open(/*light=*/false);
  RetentionOptions o;
  o.retain_blocks = 1;
  Pruner p(store_.get(), o, [this] { return now_ms_; });
  AppendTo(30, &p);
  EXPECT_EQ(store_->pruned_below(), 1u);
  EXPECT_TRUE(store_->ReadBlock(1).ok());
}

}  // namespace
}  // namespace provledger::node
