// ParseRetentionAge and PruneTarget (node/pruner.h): a body goes once it is outside both the
// height window and the age window; the head always stays.
#include "node/pruner.h"

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace provledger::node
