#include "mqtt-bridge/batch_cut.h"

#include <gtest/gtest.h>

namespace provledger::bridge {
namespace {

TEST(BatchCut, AnIdleLedgerGetsTheFirstEntryAtOnce) {
  BatchCut cut(50);
  cut.Arrived(1000);
  EXPECT_EQ(cut.Decide(/*full=*/false, 1000), 0u);
  cut.Cut(/*remaining=*/false, 1000);
  EXPECT_EQ(cut.in_flight(), 1u);
}

TEST(BatchCut, AShortBatchWaitsForTheAnswerOfTheOneInFlight) {
  BatchCut cut(50);
  cut.Arrived(1000);
  cut.Cut(false, 1000);
  cut.Arrived(1005);
  EXPECT_EQ(cut.Decide(false, 1005), 50u);  // waits from its arrival
  EXPECT_EQ(cut.Decide(false, 1030), 25u);
  cut.Answered();
  EXPECT_EQ(cut.in_flight(), 0u);
  EXPECT_EQ(cut.Decide(false, 1031), 0u);  // answered: what arrived meanwhile leaves
}

TEST(BatchCut, AShortBatchLeavesAfterTheDelayWhileTheLedgerIsSlow) {
  BatchCut cut(50);
  cut.Cut(false, 1000);
  cut.Arrived(1010);
  EXPECT_GT(cut.Decide(false, 1059), 0u);
  EXPECT_EQ(cut.Decide(false, 1060), 0u);
  cut.Cut(false, 1060);
  EXPECT_EQ(cut.in_flight(), 2u);
  cut.Answered();
  // A later arrival waits from its own arrival, not from the first one's.
  cut.Arrived(1070);
  EXPECT_EQ(cut.Decide(false, 1080), 40u);
}

TEST(BatchCut, NeverAThirdShortBatchWhileTwoAreInFlight) {
  BatchCut cut(50);
  cut.Cut(false, 1000);
  cut.Arrived(1001);
  EXPECT_EQ(cut.Decide(false, 1051), 0u);
  cut.Cut(false, 1051);
  cut.Arrived(1052);
  EXPECT_GT(cut.Decide(false, 1200), 0u);          // long overdue, but two are with the ledger
  EXPECT_EQ(cut.Decide(/*full=*/true, 1200), 0u);  // a full one still leaves
  cut.Answered();
  EXPECT_EQ(cut.Decide(false, 1201), 0u);  // one in flight, overdue: leaves
}

TEST(BatchCut, AFullBatchLeavesAtOnceAndTheRestWaitsFromThen) {
  BatchCut cut(50);
  cut.Cut(false, 1000);
  cut.Arrived(1001);
  EXPECT_EQ(cut.Decide(/*full=*/true, 1020), 0u);
  cut.Cut(/*remaining=*/true, 1020);
  cut.Answered();  // the first one: the full one is still in flight
  EXPECT_EQ(cut.Decide(false, 1021), 49u);
  EXPECT_EQ(cut.Decide(false, 1070), 0u);
}

TEST(BatchCut, NoDelayMeansEveryBatchLeavesAtOnce) {
  BatchCut cut(0);
  cut.Cut(false, 1000);
  cut.Cut(false, 1000);
  cut.Arrived(1001);
  EXPECT_EQ(cut.Decide(false, 1001), 0u);
}

TEST(BatchCut, EntriesFoundWithoutAnArrivalStartTheirWaitWhenSeen) {
  BatchCut cut(50);
  cut.Cut(false, 1000);
  // The outbox held entries of an earlier run: no Arrived() was seen for them.
  EXPECT_EQ(cut.Decide(false, 2000), 50u);
  EXPECT_EQ(cut.Decide(false, 2050), 0u);
}

TEST(BatchCut, AnAnswerWithoutABatchInFlightIsIgnored) {
  BatchCut cut(50);
  cut.Answered();
  EXPECT_EQ(cut.in_flight(), 0u);
  cut.Cut(false, 1000);
  EXPECT_EQ(cut.in_flight(), 1u);
}

}  // namespace
}  // namespace provledger::bridge
