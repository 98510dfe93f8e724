#include "consensus/vote_guard.h"

#include <gtest/gtest.h>

namespace provledger {
namespace consensus {
namespace {

ConsensusMsg VoteMsg(ConsensusMsg::Type type, uint64_t view, uint64_t height, char digest,
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
  Vote persist;
  EXPECT_EQ(g.Admit(VoteMsg(ConsensusMsg::kPrepare, 0, 5, 'a'), &persist),
            VoteGuard::Verdict::kNew);
  EXPECT_EQ(persist, (Vote{ConsensusMsg::kPrepare, 0, 5, Bytes(32, 'a')}));
  EXPECT_EQ(g.Admit(VoteMsg(ConsensusMsg::kPrepare, 0, 5, 'a'), &persist),
            VoteGuard::Verdict::kRepeat);
}

TEST(VoteGuard, RefusesASecondDigestForOneTypeViewAndHeight) {
  VoteGuard g(2);
  Vote persist;
  ASSERT_EQ(g.Admit(VoteMsg(ConsensusMsg::kCommit, 3, 9, 'a'), &persist), VoteGuard::Verdict::kNew);
  EXPECT_EQ(g.Admit(VoteMsg(ConsensusMsg::kCommit, 3, 9, 'b'), &persist),
            VoteGuard::Verdict::kConflict);
  // Another view, height or type is another vote.
  EXPECT_EQ(g.Admit(VoteMsg(ConsensusMsg::kCommit, 4, 9, 'b'), &persist), VoteGuard::Verdict::kNew);
  EXPECT_EQ(g.Admit(VoteMsg(ConsensusMsg::kPrepare, 3, 9, 'b'), &persist),
            VoteGuard::Verdict::kNew);
}

TEST(VoteGuard, RemembersVotesAcrossARestartFromWhatWasPersisted) {
  std::vector<Vote> disk;
  {
    VoteGuard before(0);
    Vote persist;
    ASSERT_EQ(before.Admit(VoteMsg(ConsensusMsg::kPrePrepare, 0, 7, 'a', 0), &persist),
              VoteGuard::Verdict::kNew);
    disk.push_back(persist);
  }
  VoteGuard after(0);  // the restarted primary, back in view 0, with a new block for 7
  after.Restore(disk);
  Vote persist;
  EXPECT_EQ(after.Admit(VoteMsg(ConsensusMsg::kPrePrepare, 0, 7, 'z', 0), &persist),
            VoteGuard::Verdict::kConflict);
  EXPECT_EQ(after.Admit(VoteMsg(ConsensusMsg::kPrePrepare, 0, 7, 'a', 0), &persist),
            VoteGuard::Verdict::kRepeat);
}

TEST(VoteGuard, LeavesOtherMessagesAndOtherSendersAlone) {
  VoteGuard g(2);
  Vote persist;
  EXPECT_EQ(g.Admit(VoteMsg(ConsensusMsg::kCheckpoint, 0, 16, 'a'), &persist),
            VoteGuard::Verdict::kNotGuarded);
  EXPECT_EQ(g.Admit(VoteMsg(ConsensusMsg::kPrepare, 0, 5, 'a', 1), &persist),
            VoteGuard::Verdict::kNotGuarded);
  EXPECT_EQ(g.size(), 0u);
}

TEST(VoteGuard, PrunesVotesAtOrBelowTheCheckpointAndNamesThem) {
  VoteGuard g(2);
  Vote persist;
  for (uint64_t h = 1; h <= 5; ++h)
    (void)g.Admit(VoteMsg(ConsensusMsg::kPrepare, 0, h, 'a'), &persist);
  auto gone = g.Prune(3);
  EXPECT_EQ(gone.size(), 3u);
  EXPECT_EQ(g.size(), 2u);
  EXPECT_EQ(gone[0], (Vote{ConsensusMsg::kPrepare, 0, 1, Bytes(32, 'a')}));
}

}  // namespace
}  // namespace consensus
}  // namespace provledger
