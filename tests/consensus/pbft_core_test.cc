// One PbftCore driven by hand: every message it gets is built and signed by the test.
#include "consensus/pbft_core.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

#include "common/sha256.h"
#include "tests/consensus/fakes.h"

namespace provledger {
namespace consensus {
namespace {

using testing::FakeBlockFactory;
using testing::FakeChecker;
using testing::FakeSigner;

const char kChain[] = "unit-chain";

class PbftCoreTest : public ::testing::Test {
 protected:
  // Replica 1 of 4 (a backup in view 0).
  PbftCoreTest() : checker_(4), signer_(1) {
    config_.chain_id = kChain;
    config_.n = 4;
    config_.self = 1;
    config_.checkpoint_interval = 4;
    config_.window = 2;
    config_.log_size = 8;
    core_ = std::make_unique<PbftCore>(config_, &signer_, &checker_, &factory_, 0, Bytes(32, '\0'));
  }

  static ConsensusMsg Sign(ConsensusMsg m) {
    m.signature = FakeSigner(m.sender).Sign(SigningDigest(kChain, m));
    return m;
  }
  // The primary of `view`'s pre-prepare at `height` on `prev`, holding request `k`.
  ConsensusMsg PrePrepare(uint64_t view, uint64_t height, const Bytes& prev, int k) {
    Request r{Sha256("req" + std::to_string(k)), "p"};
    Proposal p = *factory_.Build(height, view, prev, {r});
    ConsensusMsg m;
    m.type = ConsensusMsg::kPrePrepare;
    m.view = view;
    m.height = height;
    m.digest = p.header_hash;
    m.sender = static_cast<uint32_t>(view % 4);
    m.block = p.block;
    return Sign(m);
  }
  static ConsensusMsg Vote(ConsensusMsg::Type t, const ConsensusMsg& pp, uint32_t sender) {
    ConsensusMsg m;
    m.type = t;
    m.view = pp.view;
    m.height = pp.height;
    m.digest = pp.digest;
    m.sender = sender;
    return Sign(m);
  }
  static ConsensusMsg Checkpoint(uint64_t height, const Bytes& digest, uint32_t sender) {
    ConsensusMsg m;
    m.type = ConsensusMsg::kCheckpoint;
    m.height = height;
    m.digest = digest;
    m.sender = sender;
    return Sign(m);
  }
  // Drives heights 1..count through the normal case; returns the header hashes.
  std::vector<Bytes> CommitChain(int count) {
    std::vector<Bytes> hashes;
    Bytes prev(32, '\0');
    for (int h = 1; h <= count; ++h) {
      ConsensusMsg pp = PrePrepare(0, h, prev, h);
      core_->OnMessage(pp);
      core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 2));
      core_->OnMessage(Vote(ConsensusMsg::kCommit, pp, 0));
      core_->OnMessage(Vote(ConsensusMsg::kCommit, pp, 2));
      hashes.push_back(pp.digest);
      prev = pp.digest;
    }
    return hashes;
  }
  static ConsensusMsg Suspect(uint64_t view, uint32_t sender) {
    ConsensusMsg m;
    m.type = ConsensusMsg::kSuspect;
    m.view = view;
    m.sender = sender;
    return Sign(m);
  }
  // A view-change for `view` from `sender`, from the genesis checkpoint, nothing prepared.
  static ConsensusMsg ViewChange(uint64_t view, uint32_t sender) {
    ConsensusMsg m;
    m.type = ConsensusMsg::kViewChange;
    m.view = view;
    m.sender = sender;
    m.checkpoint_digest = Bytes(32, '\0');
    return Sign(m);
  }
  // A pending request, then one view timeout: the core suspects view 0.
  void RunOutTimer() {
    core_->OnRequest(Request{Sha256("lonely"), "p"});
    for (uint64_t t = 0; t < config_.view_change_timeout_ticks; ++t) core_->OnTick();
  }
  // Replica 1 is the primary of view 1: 2 and 3 suspect view 0, all send view-changes.
  void EnterViewOneAsPrimary() {
    core_->OnMessage(Suspect(0, 2));
    core_->OnMessage(Suspect(0, 3));
    core_->OnMessage(ViewChange(1, 2));
    core_->OnMessage(ViewChange(1, 3));  // with ours, 2f+1: replica 0 need not take part
    ASSERT_EQ(core_->view(), 1u);
    ASSERT_FALSE(core_->in_view_change());
    core_->TakeOutput();
  }
  static int CountFrom(const CoreOutput& out, ConsensusMsg::Type t, uint32_t sender) {
    int c = 0;
    for (const auto& [to, m] : out.to_send) c += m.type == t && m.sender == sender;
    return c;
  }
  static int Count(const CoreOutput& out, ConsensusMsg::Type t) {
    int c = 0;
    for (const auto& [to, m] : out.to_send) c += m.type == t;
    return c;
  }

  PbftConfig config_;
  FakeChecker checker_;
  FakeSigner signer_;
  FakeBlockFactory factory_;
  std::unique_ptr<PbftCore> core_;
};

TEST_F(PbftCoreTest, BackupPreparesCommitsAndAppliesWithACertificate) {
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  core_->OnMessage(pp);
  CoreOutput out = core_->TakeOutput();
  EXPECT_EQ(Count(out, ConsensusMsg::kPrepare), 1);
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 2));
  out = core_->TakeOutput();
  EXPECT_EQ(Count(out, ConsensusMsg::kCommit), 1);
  core_->OnMessage(Vote(ConsensusMsg::kCommit, pp, 0));
  EXPECT_TRUE(core_->TakeOutput().to_apply.empty());
  core_->OnMessage(Vote(ConsensusMsg::kCommit, pp, 3));
  out = core_->TakeOutput();
  ASSERT_EQ(out.to_apply.size(), 1u);
  const CommittedBlock& b = out.to_apply[0];
  EXPECT_EQ(b.height, 1u);
  EXPECT_EQ(b.header_hash, pp.digest);
  ASSERT_EQ(b.commit_signatures.size(), 3u);
  for (const auto& [v, sig] : b.commit_signatures) {
    EXPECT_TRUE(checker_.Verify(v, CommitDigest(kChain, 1, 0, pp.digest), sig));
  }
  EXPECT_EQ(core_->committed_height(), 1u);
}

TEST_F(PbftCoreTest, DoesNotCommitABlockWhosePredecessorItHasNotCommittedToo) {
  ConsensusMsg pp1 = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  ConsensusMsg pp2 = PrePrepare(0, 2, pp1.digest, 2);
  core_->OnMessage(pp1);
  core_->OnMessage(pp2);
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp2, 2));  // 2 prepared, 1 not
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kCommit), 0);
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp1, 2));  // now both, in order
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kCommit), 2);
}

TEST_F(PbftCoreTest, DropsHeightsOutsideTheWatermarks) {
  core_->OnMessage(PrePrepare(0, 9, Bytes(32, '\0'), 9));  // high watermark is 0 + 8
  EXPECT_EQ(core_->dropped(DropReason::kOutsideWatermarks), 1u);
  core_->OnMessage(PrePrepare(0, 0, Bytes(32, '\0'), 0));  // at the low watermark
  EXPECT_EQ(core_->dropped(DropReason::kOutsideWatermarks), 2u);
  core_->OnMessage(PrePrepare(0, 8, Bytes(32, '\0'), 8));  // inside: kept waiting for 7
  EXPECT_EQ(core_->dropped(DropReason::kOutsideWatermarks), 2u);
}

TEST_F(PbftCoreTest, AMessageTheShellVerifiedIsNotVerifiedAgainButStillChecked) {
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  const size_t before = checker_.calls();
  core_->OnVerifiedMessage(pp);
  EXPECT_EQ(checker_.calls(), before);
  bool prepared = false;
  for (const auto& [to, m] : core_->TakeOutput().to_send) {
    prepared = prepared || m.type == ConsensusMsg::kPrepare;
  }
  EXPECT_TRUE(prepared) << "the backup took the pre-prepare and prepares";
  ConsensusMsg unknown = pp;
  unknown.sender = 9;
  core_->OnVerifiedMessage(unknown);
  EXPECT_EQ(core_->dropped(DropReason::kUnknownSender), 1u);
  // OnMessage still checks the envelope itself.
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 2));
  EXPECT_EQ(checker_.calls(), before + 1);
}

TEST_F(PbftCoreTest, DropsUnknownSendersBadSignaturesAndPrePreparesFromBackups) {
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  ConsensusMsg unknown = pp;
  unknown.sender = 9;
  core_->OnMessage(unknown);
  EXPECT_EQ(core_->dropped(DropReason::kUnknownSender), 1u);
  ConsensusMsg forged = pp;
  forged.signature = FakeSigner(3).Sign(SigningDigest(kChain, pp));
  core_->OnMessage(forged);
  EXPECT_EQ(core_->dropped(DropReason::kBadSignature), 1u);
  ConsensusMsg from_backup = pp;
  from_backup.sender = 2;
  core_->OnMessage(Sign(from_backup));
  EXPECT_EQ(core_->dropped(DropReason::kNotFromPrimary), 1u);
  EXPECT_TRUE(core_->TakeOutput().to_send.empty());
}

TEST_F(PbftCoreTest, CountsASecondDifferentPrePrepareAsEquivocation) {
  ConsensusMsg a = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  ConsensusMsg b = PrePrepare(0, 1, Bytes(32, '\0'), 2);
  core_->OnMessage(a);
  core_->OnMessage(b);
  core_->OnMessage(a);
  EXPECT_EQ(core_->dropped(DropReason::kEquivocation), 1u);
  EXPECT_EQ(core_->dropped(DropReason::kDuplicate), 1u);
}

TEST_F(PbftCoreTest, DropsAPrePrepareWhoseDigestIsNotItsBlocksHash) {
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  pp.digest = Sha256("not the header");
  core_->OnMessage(Sign(pp));
  EXPECT_EQ(core_->dropped(DropReason::kDigestMismatch), 1u);
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kPrepare), 0);
}

TEST_F(PbftCoreTest, CountsConflictingVotesAndIgnoresWrongDigestVotes) {
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  core_->OnMessage(pp);
  ConsensusMsg wrong = pp;
  wrong.digest = Sha256("wrong");
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, wrong, 2));
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kCommit), 0);
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 2));
  EXPECT_EQ(core_->dropped(DropReason::kConflictingVote), 1u);
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 3));
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kCommit), 1);
}

TEST_F(PbftCoreTest, StableCheckpointAdvancesTheLowWatermarkAndTruncates) {
  std::vector<Bytes> hashes = CommitChain(5);
  EXPECT_EQ(core_->committed_height(), 5u);
  CoreOutput out = core_->TakeOutput();
  EXPECT_EQ(Count(out, ConsensusMsg::kCheckpoint), 1);  // at height 4
  EXPECT_EQ(core_->low_watermark(), 0u);
  core_->OnMessage(Checkpoint(4, hashes[3], 0));
  EXPECT_EQ(core_->low_watermark(), 0u);
  core_->OnMessage(Checkpoint(4, hashes[3], 3));  // ours + 2 = 2f+1
  EXPECT_EQ(core_->low_watermark(), 4u);
  EXPECT_EQ(core_->high_watermark(), 12u);
  EXPECT_EQ(core_->stable_checkpoint().proof.size(), 3u);
  core_->OnMessage(PrePrepare(0, 3, hashes[1], 3));  // below the new low watermark
  EXPECT_EQ(core_->dropped(DropReason::kOutsideWatermarks), 1u);
  core_->OnMessage(Checkpoint(4, hashes[3], 2));
  EXPECT_EQ(core_->dropped(DropReason::kStaleCheckpoint), 1u);
}

TEST_F(PbftCoreTest, AStableCheckpointAboveUsAsksForStateTransfer) {
  const Bytes far = Sha256("state at 8");
  for (uint32_t s : {0u, 2u, 3u}) core_->OnMessage(Checkpoint(8, far, s));
  CoreOutput out = core_->TakeOutput();
  ASSERT_TRUE(out.need_state_transfer.has_value());
  EXPECT_EQ(*out.need_state_transfer, 8u);
  core_->OnStateTransferred({{8, far, {}}});  // a gap: block 1 is missing, nothing happens
  EXPECT_EQ(core_->committed_height(), 0u);
  std::vector<TransferredBlock> blocks;
  for (uint64_t h = 1; h <= 8; ++h) blocks.push_back({h, h == 8 ? far : Sha256("x"), {}});
  core_->OnStateTransferred(blocks);
  EXPECT_EQ(core_->committed_height(), 8u);
}

TEST_F(PbftCoreTest, ABackupForwardsNewRequestsAndIgnoresCommittedOnes) {
  Request r{Sha256("req1"), "p"};
  core_->OnRequest(r);
  CoreOutput out = core_->TakeOutput();
  ASSERT_EQ(out.forward.size(), 1u);
  EXPECT_EQ(out.forward[0].first, 0u);
  core_->OnRequest(r);
  EXPECT_TRUE(core_->TakeOutput().forward.empty());
  CommitChain(1);  // the block holds req1
  core_->TakeOutput();
  core_->OnRequest(r);
  EXPECT_TRUE(core_->TakeOutput().forward.empty());
}

TEST_F(PbftCoreTest, ABackupWhoseTimerRunsOutSuspectsTheViewAndKeepsWorkingInIt) {
  RunOutTimer();
  CoreOutput out = core_->TakeOutput();
  EXPECT_GE(Count(out, ConsensusMsg::kSuspect), 1);
  EXPECT_EQ(Count(out, ConsensusMsg::kViewChange), 0);
  EXPECT_EQ(core_->view(), 0u);
  EXPECT_FALSE(core_->in_view_change());
  EXPECT_TRUE(core_->suspects_view());
  ASSERT_EQ(out.view_events.size(), 1u);
  EXPECT_EQ(out.view_events[0].kind, ViewEvent::kSuspected);
  EXPECT_EQ(out.view_events[0].view, 0u);
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  core_->OnMessage(pp);  // still a backup of view 0: it prepares
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kPrepare), 1);
}

TEST_F(PbftCoreTest, ResendsItsSuspicionUntilTheViewChanges) {
  RunOutTimer();
  core_->TakeOutput();
  int resent = 0;
  for (uint64_t t = 0; t < 3 * config_.resend_ticks; ++t) {
    core_->OnTick();
    resent += Count(core_->TakeOutput(), ConsensusMsg::kSuspect);
  }
  EXPECT_GE(resent, 2);
  EXPECT_EQ(core_->view(), 0u);
}

TEST_F(PbftCoreTest, OneSuspectingValidatorDoesNotMoveABackupButFPlusOneDo) {
  core_->OnMessage(Suspect(0, 2));
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kViewChange), 0);
  EXPECT_EQ(core_->view(), 0u);
  core_->OnMessage(Suspect(0, 3));
  CoreOutput out = core_->TakeOutput();
  EXPECT_EQ(Count(out, ConsensusMsg::kViewChange), 1);
  EXPECT_EQ(core_->view(), 1u);
  EXPECT_TRUE(core_->in_view_change());
  ASSERT_EQ(out.view_events.size(), 1u);
  EXPECT_EQ(out.view_events[0].kind, ViewEvent::kChangeStarted);
  EXPECT_EQ(out.view_events[0].view, 1u);
  EXPECT_EQ(out.view_events[0].from_view, 0u);
  // The evidence goes out with it, signed by its authors, so that nobody stays behind.
  std::set<uint32_t> relayed;
  for (const auto& [to, m] : out.to_send) {
    if (m.type == ConsensusMsg::kSuspect) relayed.insert(m.sender);
  }
  EXPECT_EQ(relayed, (std::set<uint32_t>{2, 3}));
}

TEST_F(PbftCoreTest, ItsOwnSuspicionAndOneOtherMoveItToTheNextView) {
  RunOutTimer();
  core_->TakeOutput();
  core_->OnMessage(Suspect(0, 3));
  EXPECT_EQ(Count(core_->TakeOutput(), ConsensusMsg::kViewChange), 1);
  EXPECT_EQ(core_->view(), 1u);
}

TEST_F(PbftCoreTest, ItsOwnSuspicionAndOneValidatorInALaterViewMoveItThere) {
  RunOutTimer();
  core_->TakeOutput();
  core_->OnMessage(ViewChange(2, 3));
  EXPECT_EQ(CountFrom(core_->TakeOutput(), ConsensusMsg::kViewChange, 1), 1);
  EXPECT_EQ(core_->view(), 1u);  // the (f+1)-th highest: ours, view 0 + 1
}

TEST_F(PbftCoreTest, IgnoresAGarbledOrRepeatedSuspicion) {
  ConsensusMsg forged = Suspect(0, 2);
  forged.sender = 3;  // signed by 2, claims 3
  core_->OnMessage(forged);
  EXPECT_EQ(core_->dropped(DropReason::kBadSignature), 1u);
  core_->OnMessage(Suspect(0, 2));
  core_->OnMessage(Suspect(0, 2));
  EXPECT_EQ(core_->dropped(DropReason::kDuplicate), 1u);
  EXPECT_EQ(core_->view(), 0u);
}

TEST_F(PbftCoreTest, AViewChangeThatDoesNotCompleteIsSuspectedBeforeTheNextOne) {
  core_->OnMessage(ViewChange(2, 2));
  core_->OnMessage(ViewChange(2, 3));  // f+1 in view 2: we join, 2f+1 arm the timer
  ASSERT_EQ(core_->view(), 2u);
  ASSERT_TRUE(core_->in_view_change());
  core_->TakeOutput();
  int suspects = 0;
  int next = 0;
  for (uint64_t t = 0; t < 4 * config_.view_change_timeout_ticks; ++t) {
    core_->OnTick();
    CoreOutput out = core_->TakeOutput();
    suspects += CountFrom(out, ConsensusMsg::kSuspect, 1);
    next += CountFrom(out, ConsensusMsg::kViewChange, 1) > 0 && core_->view() > 2;
  }
  EXPECT_GE(suspects, 1);  // no NEW-VIEW came: we suspect view 2...
  EXPECT_EQ(next, 0);      // ...but do not run ahead to view 3 alone
  EXPECT_EQ(core_->view(), 2u);
  EXPECT_TRUE(core_->suspects_view());
  core_->OnMessage(Suspect(2, 3));
  EXPECT_EQ(core_->view(), 3u);
  EXPECT_TRUE(core_->in_view_change());
}

TEST_F(PbftCoreTest, ReportsLeavingAndEnteringAViewAsEvents) {
  core_->OnMessage(Suspect(0, 2));
  core_->OnMessage(Suspect(0, 3));
  core_->OnMessage(ViewChange(1, 2));
  core_->OnMessage(ViewChange(1, 3));  // 2f+1 with ours: we are the primary of view 1
  std::vector<ViewEvent> events = core_->TakeOutput().view_events;
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, ViewEvent::kChangeStarted);
  EXPECT_EQ(events[1].kind, ViewEvent::kEntered);
  EXPECT_EQ(events[1].view, 1u);
  EXPECT_EQ(events[1].from_view, 0u);  // the view it worked in before
}

TEST_F(PbftCoreTest, AReplicaSuspectingAnOlderViewIsHandedTheNewView) {
  EnterViewOneAsPrimary();
  core_->OnMessage(Suspect(0, 0));  // replica 0 is still in view 0
  CoreOutput out = core_->TakeOutput();
  ASSERT_EQ(out.to_send.size(), 1u);
  EXPECT_EQ(out.to_send[0].first, 0);
  EXPECT_EQ(out.to_send[0].second.type, ConsensusMsg::kNewView);
  EXPECT_EQ(out.to_send[0].second.view, 1u);
}

TEST_F(PbftCoreTest, IsAloneInItsViewWhenTheOthersAreHeardInAnotherOne) {
  EnterViewOneAsPrimary();
  EXPECT_FALSE(core_->AloneInView(100));
  EXPECT_EQ(core_->PeersByView(100).in_view, 2u);  // their view-changes for view 1
  for (uint64_t t = 0; t <= 2 * config_.resend_ticks; ++t) core_->OnTick();
  // Then the three others are heard in view 0 (say we were the one who moved, alone).
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  core_->OnMessage(pp);
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 2));
  core_->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 3));
  EXPECT_EQ(core_->PeersByView(100).elsewhere, 3u);
  EXPECT_TRUE(core_->AloneInView(100));
  for (uint64_t t = 0; t <= 100; ++t) core_->OnTick();
  EXPECT_FALSE(core_->AloneInView(100));  // nothing heard lately: no claim either way
}

TEST(PbftConfig, ValidatesItsFields) {
  PbftConfig c;
  EXPECT_TRUE(c.Validate().ok());
  c.n = 5;
  EXPECT_FALSE(c.Validate().ok());
  c.n = 4;
  c.self = 4;
  EXPECT_FALSE(c.Validate().ok());
  c.self = 0;
  c.log_size = c.checkpoint_interval;  // no room for the window
  EXPECT_FALSE(c.Validate().ok());
}

}  // namespace
}  // namespace consensus
}  // namespace provledger

namespace provledger {
namespace consensus {
namespace {

// A validator started from another genesis (another chain id) signs every message for its
// chain: honest replicas drop all of it, so it can neither vote nor propose here.
TEST(PbftCoreOtherGenesis, DropsEveryMessageOfAValidatorOnAnotherChain) {
  testing::FakeChecker checker(4);
  testing::FakeSigner signer(1);
  testing::FakeBlockFactory factory;
  PbftConfig config;
  config.chain_id = "unit-chain";
  config.n = 4;
  config.self = 1;
  config.checkpoint_interval = 4;
  config.window = 2;
  config.log_size = 8;
  PbftCore core(config, &signer, &checker, &factory, 0, Bytes(32, '\0'));
  Request r{Sha256("req"), "p"};
  Proposal p = *factory.Build(1, 0, Bytes(32, '\0'), {r});
  ConsensusMsg pp;
  pp.type = ConsensusMsg::kPrePrepare;
  pp.view = 0;
  pp.height = 1;
  pp.digest = p.header_hash;
  pp.sender = 0;
  pp.block = p.block;
  pp.signature = testing::FakeSigner(0).Sign(SigningDigest("other-chain", pp));
  core.OnMessage(pp);
  ConsensusMsg commit;
  commit.type = ConsensusMsg::kCommit;
  commit.height = 1;
  commit.digest = p.header_hash;
  commit.sender = 2;
  commit.signature = testing::FakeSigner(2).Sign(SigningDigest("other-chain", commit));
  core.OnMessage(commit);
  EXPECT_EQ(core.dropped(DropReason::kBadSignature), 2u);
  CoreOutput out = core.TakeOutput();
  EXPECT_TRUE(out.to_send.empty());
  EXPECT_TRUE(out.to_apply.empty());
}

}  // namespace
}  // namespace consensus
}  // namespace provledger
