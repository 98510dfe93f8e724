// FollowTarget (node/follower_orderer.h): the height a follower fetches up to is one some
// honest validator holds, whatever f validators report.
#include "node/follower_orderer.h"

#include <gtest/gtest.h>

namespace provledger::node {
namespace {

TEST(FollowTargetTest, OneLyingValidatorOfFourCannotRaiseTheTarget) {
  EXPECT_EQ(FollowTarget({10, 1000000, 10, 9}, 1), 10u);
}

TEST(FollowTargetTest, TheSecondHighestOfFourIsFetchedWhileOneLags) {
  EXPECT_EQ(FollowTarget({12, 3, 11, 10}, 1), 11u);
}

TEST(FollowTargetTest, FewerReportsThanFPlusOneGiveNothingToFetch) {
  EXPECT_EQ(FollowTarget({50}, 1), 0u);
  EXPECT_EQ(FollowTarget({}, 0), 0u);
}

TEST(FollowTargetTest, ASingleValidatorChainFollowsItsOneValidator) {
  EXPECT_EQ(FollowTarget({7}, 0), 7u);
}

}  // namespace
}  // namespace provledger::node
