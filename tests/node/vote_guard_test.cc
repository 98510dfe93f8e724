#include "node/vote_guard.h"

#include <gtest/gtest.h>

namespace provledger::node {
namespace {

using consensus::ConsensusMsg;

ConsensusMsg Vote(ConsensusMsg::Type type, uint64_t view, uint64_t height, char digest,
                  uint32_t sender = 2) {
  ConsensusMsg m;
  m.type = type;
  m.view = view;
  m.height = height;
  m.digest = Bytes(32, digest);
  m.sender = sender;
  return m;
}

TEST(VoteGuard, AsksToPersistANewVoteAndLetsTheSameVoteBeResent) {
  VoteGuard g(2);
  std::pair<std::string, Bytes> persist;
  EXPECT_EQ(g.Admit(Vote(ConsensusMsg::kPrepare, 0, 5, 'a'), &persist), VoteGuard::Verdict::kNew);
  EXPECT_EQ(persist.first, VoteGuard::PersistKey(ConsensusMsg::kPrepare, 0, 5));
  EXPECT_EQ(persist.second, Bytes(32, 'a'));
  EXPECT_EQ(g.Admit(Vote(ConsensusMsg::kPrepare, 0, 5, 'a'), &persist),
            VoteGuard::Verdict::kRepeat);
}

TEST(VoteGuard, RefusesASecondDigestForOneTypeViewAndHeight) {
  VoteGuard g(2);
  std::pair<std::string, Bytes> persist;
  ASSERT_EQ(g.Admit(Vote(ConsensusMsg::kCommit, 3, 9, 'a'), &persist), VoteGuard::Verdict::kNew);
  EXPECT_EQ(g.Admit(Vote(ConsensusMsg::kCommit, 3, 9, 'b'), &persist),
            VoteGuard::Verdict::kConflict);
  // Another view, height or type is another vote.
  EXPECT_EQ(g.Admit(Vote(ConsensusMsg::kCommit, 4, 9, 'b'), &persist), VoteGuard::Verdict::kNew);
  EXPECT_EQ(g.Admit(Vote(ConsensusMsg::kPrepare, 3, 9, 'b'), &persist), VoteGuard::Verdict::kNew);
}

TEST(VoteGuard, RemembersVotesAcrossARestartFromWhatWasPersisted) {
  std::vector<std::pair<std::string, Bytes>> disk;
  {
    VoteGuard before(0);
    std::pair<std::string, Bytes> persist;
    ASSERT_EQ(before.Admit(Vote(ConsensusMsg::kPrePrepare, 0, 7, 'a', 0), &persist),
              VoteGuard::Verdict::kNew);
    disk.push_back(persist);
  }
  VoteGuard after(0);  // the restarted primary, back in view 0, with a new block for 7
  ASSERT_TRUE(after.Load(disk).ok());
  std::pair<std::string, Bytes> persist;
  EXPECT_EQ(after.Admit(Vote(ConsensusMsg::kPrePrepare, 0, 7, 'z', 0), &persist),
            VoteGuard::Verdict::kConflict);
}

TEST(VoteGuard, LeavesOtherMessagesAndOtherSendersAlone) {
  VoteGuard g(2);
  std::pair<std::string, Bytes> persist;
  EXPECT_EQ(g.Admit(Vote(ConsensusMsg::kCheckpoint, 0, 16, 'a'), &persist),
            VoteGuard::Verdict::kNotGuarded);
  EXPECT_EQ(g.Admit(Vote(ConsensusMsg::kPrepare, 0, 5, 'a', 1), &persist),
            VoteGuard::Verdict::kNotGuarded);
  EXPECT_EQ(g.size(), 0u);
}

TEST(VoteGuard, PrunesVotesAtOrBelowTheCheckpointAndNamesTheirKeys) {
  VoteGuard g(2);
  std::pair<std::string, Bytes> persist;
  for (uint64_t h = 1; h <= 5; ++h)
    (void)g.Admit(Vote(ConsensusMsg::kPrepare, 0, h, 'a'), &persist);
  auto gone = g.Prune(3);
  EXPECT_EQ(gone.size(), 3u);
  EXPECT_EQ(g.size(), 2u);
  EXPECT_EQ(gone[0], VoteGuard::PersistKey(ConsensusMsg::kPrepare, 0, 1));
}

TEST(VoteGuard, RefusesAMalformedStoredKey) {
  VoteGuard g(0);
  EXPECT_EQ(g.Load({{"vote/x", Bytes(32, 'a')}}).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace provledger::node
