#include "consensus/checkpoint_tracker.h"

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "tests/consensus/fakes.h"

namespace provledger {
namespace consensus {
namespace {

ConsensusMsg Checkpoint(uint64_t height, uint32_t sender, const std::string& chain = "c") {
  ConsensusMsg m;
  m.type = ConsensusMsg::kCheckpoint;
  m.height = height;
  m.digest = Sha256("state-" + std::to_string(height));
  m.sender = sender;
  m.signature = testing::FakeSigner(sender).Sign(SigningDigest(chain, m));
  return m;
}

TEST(CheckpointTracker, BecomesStableWithTwoFPlusOneMatchingMessages) {
  CheckpointTracker t(Quorum(4));
  EXPECT_EQ(t.Add(Checkpoint(8, 0)), CheckpointTracker::AddResult::kStored);
  EXPECT_EQ(t.Add(Checkpoint(8, 1)), CheckpointTracker::AddResult::kStored);
  EXPECT_EQ(t.stable().height, 0u);
  EXPECT_EQ(t.Add(Checkpoint(8, 3)), CheckpointTracker::AddResult::kNewStable);
  EXPECT_EQ(t.stable().height, 8u);
  EXPECT_EQ(t.stable().proof.size(), 3u);
  EXPECT_EQ(t.Add(Checkpoint(8, 2)), CheckpointTracker::AddResult::kStale);
}

TEST(CheckpointTracker, DifferentDigestsDoNotAddUp) {
  CheckpointTracker t(Quorum(4));
  ConsensusMsg odd = Checkpoint(8, 2);
  odd.digest = Sha256("forked state");
  EXPECT_EQ(t.Add(Checkpoint(8, 0)), CheckpointTracker::AddResult::kStored);
  EXPECT_EQ(t.Add(Checkpoint(8, 1)), CheckpointTracker::AddResult::kStored);
  EXPECT_EQ(t.Add(odd), CheckpointTracker::AddResult::kStored);
  EXPECT_EQ(t.stable().height, 0u);
  EXPECT_EQ(t.Add(Checkpoint(8, 2)), CheckpointTracker::AddResult::kConflict);
}

TEST(CheckpointTracker, KeepsABoundedNumberOfCheckpointsPerSender) {
  CheckpointTracker t(Quorum(4), 2);
  for (uint64_t h = 1; h <= 100; ++h) (void)t.Add(Checkpoint(h * 8, 3));
  // Only 792 and 800 are remembered for sender 3: older ones cannot become stable.
  (void)t.Add(Checkpoint(8, 0));
  EXPECT_EQ(t.Add(Checkpoint(8, 1)), CheckpointTracker::AddResult::kStored);
  (void)t.Add(Checkpoint(800, 0));
  EXPECT_EQ(t.Add(Checkpoint(800, 1)), CheckpointTracker::AddResult::kNewStable);
  EXPECT_EQ(t.stable().height, 800u);
}

TEST(CheckpointProof, AcceptsTwoFPlusOneDistinctValidSigners) {
  testing::FakeChecker checker(4);
  const Bytes d = Checkpoint(8, 0).digest;
  EXPECT_TRUE(VerifyCheckpointProof(Quorum(4), "c", &checker, 8, d,
                                    {Checkpoint(8, 0), Checkpoint(8, 1), Checkpoint(8, 2)})
                  .ok());
}

TEST(CheckpointProof, RefusesRepeatedSignersBadSignaturesAndTooFewSigners) {
  testing::FakeChecker checker(4);
  Quorum q(4);
  const Bytes d = Checkpoint(8, 0).digest;
  EXPECT_FALSE(VerifyCheckpointProof(q, "c", &checker, 8, d,
                                     {Checkpoint(8, 0), Checkpoint(8, 1), Checkpoint(8, 1)})
                   .ok());
  EXPECT_FALSE(
      VerifyCheckpointProof(q, "c", &checker, 8, d, {Checkpoint(8, 0), Checkpoint(8, 1)}).ok());
  ConsensusMsg forged = Checkpoint(8, 2);
  forged.signature = testing::FakeSigner(3).Sign(SigningDigest("c", forged));
  EXPECT_EQ(
      VerifyCheckpointProof(q, "c", &checker, 8, d, {Checkpoint(8, 0), Checkpoint(8, 1), forged})
          .code(),
      StatusCode::kUnauthenticated);
  EXPECT_FALSE(VerifyCheckpointProof(q, "other-chain", &checker, 8, d,
                                     {Checkpoint(8, 0), Checkpoint(8, 1), Checkpoint(8, 2)})
                   .ok());
}

TEST(CheckpointProof, AnEpochStartsFromItsOwnCheckpointAndTakesOnlyItsOwnMessages) {
  testing::FakeChecker checker(5);  // a set of 5: q = 4
  EpochBounds epoch;
  epoch.start = 64;
  epoch.start_digest = Sha256("block 64");
  EXPECT_TRUE(
      VerifyCheckpointProof(Quorum(5), "c", &checker, 64, epoch.start_digest, {}, epoch).ok());
  EXPECT_FALSE(VerifyCheckpointProof(Quorum(5), "c", &checker, 64, Sha256("x"), {}, epoch).ok());
  EXPECT_FALSE(  // the genesis checkpoint is not this epoch's
      VerifyCheckpointProof(Quorum(5), "c", &checker, 0, Bytes(32, '\0'), {}, epoch).ok());
  auto at = [&](uint32_t sender, uint64_t e) {
    ConsensusMsg m;
    m.type = ConsensusMsg::kCheckpoint;
    m.epoch = e;
    m.height = 72;
    m.digest = Sha256("block 72");
    m.sender = sender;
    m.signature = testing::FakeSigner(sender).Sign(SigningDigest("c", m));
    return m;
  };
  const Bytes d = Sha256("block 72");
  EXPECT_TRUE(VerifyCheckpointProof(Quorum(5), "c", &checker, 72, d,
                                    {at(0, 64), at(1, 64), at(2, 64), at(3, 64)}, epoch)
                  .ok());
  EXPECT_FALSE(VerifyCheckpointProof(Quorum(5), "c", &checker, 72, d,
                                     {at(0, 64), at(1, 64), at(2, 64)}, epoch)
                   .ok());  // 3 < q
  EXPECT_FALSE(VerifyCheckpointProof(Quorum(5), "c", &checker, 72, d,
                                     {at(0, 64), at(1, 64), at(2, 64), at(3, 0)}, epoch)
                   .ok());  // one of another epoch
}

TEST(CheckpointProof, HeightZeroNeedsTheZeroDigestAndNoProof) {
  testing::FakeChecker checker(4);
  EXPECT_TRUE(VerifyCheckpointProof(Quorum(4), "c", &checker, 0, Bytes(32, '\0'), {}).ok());
  EXPECT_FALSE(VerifyCheckpointProof(Quorum(4), "c", &checker, 0, Sha256("x"), {}).ok());
}

}  // namespace
}  // namespace consensus
}  // namespace provledger
