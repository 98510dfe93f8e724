// Named scenarios on the simulated network: each arranges an adversary, submits requests
// and checks safety after every step and liveness once the network is healed.
#include <gtest/gtest.h>

#include "tests/consensus/sim_network.h"

namespace provledger {
namespace consensus {
namespace testing {
namespace {

PbftConfig SimConfig() {
  PbftConfig c;
  c.chain_id = "sim-chain";
  c.checkpoint_interval = 8;
  c.window = 4;
  c.max_batch_requests = 16;
  c.batch_timeout_ticks = 2;
  c.view_change_timeout_ticks = 40;
  c.resend_ticks = 20;
  return c;
}

constexpr uint64_t kSeed = 20240611;

TEST(SimScenario, FourHonestReplicasCommitAThousandRequests) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SubmitRange(0, 1000);
  ASSERT_TRUE(net.RunUntilAllCommitted(5000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(net.core(i).view(), 0u) << net.Describe();
    EXPECT_GE(net.core(i).low_watermark(), 8u) << net.Describe();
  }
}

TEST(SimScenario, CommitsWithOneBackupCrashed) {
  SimNetwork net(4, kSeed, SimConfig());
  net.Crash(2);
  net.SubmitRange(0, 200);
  ASSERT_TRUE(net.RunUntilAllCommitted(3000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  EXPECT_EQ(net.core(0).view(), 0u) << net.Describe();
}

TEST(SimScenario, PrimaryCrashLeadsToViewChangeWithoutLosingCommittedBlocks) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SubmitRange(0, 100);
  ASSERT_TRUE(net.RunUntilAllCommitted(2000)) << net.Describe();
  const uint64_t before = net.committed_height(1);
  const Bytes tip = net.committed_hash(1, before);
  net.Crash(0);
  net.SubmitRange(100, 100);
  ASSERT_TRUE(net.RunUntilAllCommitted(5000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  for (uint32_t i = 1; i < 4; ++i) {
    EXPECT_GE(net.core(i).view(), 1u) << net.Describe();
    EXPECT_EQ(net.committed_hash(i, before), tip) << net.Describe();
    EXPECT_GT(net.committed_height(i), before) << net.Describe();
  }
}

TEST(SimScenario, PrimaryCrashWhileBlocksAreInFlightKeepsSafety) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SubmitRange(0, 100);
  net.RunTicks(5);  // some blocks prepared, some committed
  net.Crash(0);
  ASSERT_TRUE(net.RunUntilAllCommitted(5000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
}

TEST(SimScenario, TwoOfFourDownCommitsNothingAndForksNothing) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SubmitRange(0, 50);
  ASSERT_TRUE(net.RunUntilAllCommitted(2000)) << net.Describe();
  const uint64_t before = net.committed_height(2);
  net.Crash(0);
  net.Crash(1);
  net.SubmitRange(50, 50);
  net.RunTicks(2000);
  EXPECT_EQ(net.committed_height(2), before) << net.Describe();
  EXPECT_EQ(net.committed_height(3), before) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  net.Restart(0);
  net.Restart(1);
  ASSERT_TRUE(net.RunUntilAllCommitted(20000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
}

TEST(SimScenario, PartitionIntoHalvesStallsThenHealsAndCommits) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SubmitRange(0, 50);
  net.RunTicks(3);
  net.Partition({0, 1}, {2, 3});
  net.SubmitRange(50, 50);
  net.RunTicks(1500);
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  net.Heal();
  ASSERT_TRUE(net.RunUntilAllCommitted(20000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
}

TEST(SimScenario, IsolatedBackupCatchesUpAfterHeal) {
  SimNetwork net(4, kSeed, SimConfig());
  net.Partition({0, 1, 2}, {3});
  net.SubmitRange(0, 300);
  net.RunTicks(1000);
  net.Heal();
  ASSERT_TRUE(net.RunUntilAllCommitted(20000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
}

TEST(SimScenario, RestartedBackupRejoinsTheCurrentView) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SubmitRange(0, 50);
  ASSERT_TRUE(net.RunUntilAllCommitted(2000)) << net.Describe();
  net.Crash(3);
  net.Crash(0);  // view change to 1 among 1, 2 and ... nobody: 3 comes back
  net.Restart(3);
  net.SubmitRange(50, 50);
  ASSERT_TRUE(net.RunUntilAllCommitted(20000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  EXPECT_GE(net.core(3).view(), 1u) << net.Describe();
}

TEST(SimScenario, EquivocatingPrimaryIsReplacedAndNoForkOccurs) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SetByzantine(0, Byzantine::kEquivocate);
  net.SubmitRange(0, 200);
  ASSERT_TRUE(net.RunUntilAllCommitted(20000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  EXPECT_GE(net.core(1).view(), 1u) << net.Describe();
}

TEST(SimScenario, ReplicaVotingForAWrongDigestCannotStopOrForkTheOthers) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SetByzantine(2, Byzantine::kWrongDigest);
  net.SubmitRange(0, 200);
  ASSERT_TRUE(net.RunUntilAllCommitted(5000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  EXPECT_EQ(net.core(0).view(), 0u) << net.Describe();
}

TEST(SimScenario, ForgedSignaturesAreDroppedAndCounted) {
  SimNetwork net(4, kSeed, SimConfig());
  net.SetByzantine(3, Byzantine::kForge);
  net.SubmitRange(0, 200);
  ASSERT_TRUE(net.RunUntilAllCommitted(5000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  EXPECT_GT(net.core(1).dropped(DropReason::kBadSignature), 0u) << net.Describe();
}

TEST(SimScenario, ReplayedMessagesChangeNothing) {
  SimNetwork net(4, kSeed, SimConfig());
  net.Replay(0.9);
  net.SubmitRange(0, 300);
  ASSERT_TRUE(net.RunUntilAllCommitted(5000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
  uint64_t replays = 0;
  for (uint32_t i = 0; i < 4; ++i) {
    replays += net.core(i).dropped(DropReason::kDuplicate) +
               net.core(i).dropped(DropReason::kOutsideWatermarks) +
               net.core(i).dropped(DropReason::kStaleCheckpoint);
  }
  EXPECT_GT(replays, 0u);
}

TEST(SimScenario, SevenReplicasTolerateTwoCrashes) {
  SimNetwork net(7, kSeed, SimConfig());
  net.Crash(0);
  net.Crash(4);
  net.SubmitRange(0, 200);
  ASSERT_TRUE(net.RunUntilAllCommitted(20000)) << net.Describe();
  EXPECT_EQ(net.safety_violation(), "") << net.Describe();
}

}  // namespace
}  // namespace testing
}  // namespace consensus
}  // namespace provledger
