// PlanAt (node/epoch_plan.h): the epoch and set a node works in at its height, and the end
// its core must stop at.
#include "node/epoch_plan.h"

#include <gtest/gtest.h>

#include <memory>

namespace provledger::node {
namespace {

class PlanAtTest : public ::testing::Test {
 protected:
  PlanAtTest() {
    genesis_.chain_id = "test";
    for (int i = 0; i < 4; ++i) genesis_.validators.push_back(Member("v" + std::to_string(i)));
  }
  static ledger::Validator Member(const std::string& id) {
    return ledger::Validator{id, PrivateKey::Generate().PublicKey(), "127.0.0.1:7000"};
  }
  // The genesis set plus `extra`.
  std::shared_ptr<const ledger::ValidatorSet> SetWith(std::vector<std::string> extra) {
    auto members = genesis_.validators;
    for (const auto& id : extra) members.push_back(Member(id));
    auto set = ledger::ValidatorSet::FromMembers(members);
    EXPECT_TRUE(set.ok()) << set.status().ToString();
    return std::make_shared<const ledger::ValidatorSet>(*set);
  }
  ledger::Genesis genesis_;
};

TEST_F(PlanAtTest, ANodeStopsAtTheNearestEndNotTheNewestChangesEnd) {
  // Changes committed at 8 (end 64) and 21 (end 80): at 64 the first set takes over, and
  // its core must stop at 80, not run on to a later end (two cores would then order 81).
  ledger::ValidatorSchedule s = ledger::ValidatorSchedule(genesis_)
                                    .WithChange(SetWith({"v4"}), 8)
                                    .WithChange(SetWith({"v4", "v5"}), 21);
  EpochPlan at30 = PlanAt(s, 30);
  EXPECT_EQ(at30.epoch, 0u);
  EXPECT_EQ(at30.set.size(), 4u);
  EXPECT_EQ(at30.pending_end, 64u);
  EXPECT_EQ(at30.pending_height, 8u);
  EXPECT_EQ(at30.pending_set.size(), 5u);

  EpochPlan at64 = PlanAt(s, 64);
  EXPECT_EQ(at64.epoch, 64u);
  EXPECT_EQ(at64.set.size(), 5u);
  EXPECT_EQ(at64.pending_end, 80u);
  EXPECT_EQ(at64.pending_set.size(), 6u);

  EpochPlan at90 = PlanAt(s, 90);
  EXPECT_EQ(at90.epoch, 80u);
  EXPECT_EQ(at90.set.size(), 6u);
  EXPECT_EQ(at90.pending_end, 0u);
}

TEST_F(PlanAtTest, OfTwoChangesWithOneEndTheLastCommittedIsPending) {
  ledger::ValidatorSchedule s = ledger::ValidatorSchedule(genesis_)
                                    .WithChange(SetWith({"v4"}), 2)
                                    .WithChange(SetWith({"v4", "v5"}), 9);
  EpochPlan p = PlanAt(s, 10);
  EXPECT_EQ(p.pending_end, 64u);
  EXPECT_EQ(p.pending_height, 9u);
  EXPECT_EQ(p.pending_set.size(), 6u);
  EXPECT_EQ(PlanAt(s, 64).set.size(), 6u);
}

}  // namespace
}  // namespace provledger::node
