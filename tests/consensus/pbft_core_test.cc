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
  EXPECT_EQ(core_->other_digest_votes(), 1u);  // the wrong prepare; the later right one is not
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
  c.n = 0;
  EXPECT_FALSE(c.Validate().ok());
  for (uint32_t n : {1u, 2u, 5u, 6u, 7u}) {  // a changed set may have any size
    c.n = n;
    EXPECT_TRUE(c.Validate().ok()) << n;
  }
  c.n = 4;
  c.self = 4;
  EXPECT_FALSE(c.Validate().ok());
  c.self = 0;
  c.log_size = c.checkpoint_interval;  // no room for the window
  EXPECT_FALSE(c.Validate().ok());
  c.log_size = 0;
  for (uint64_t k : {3u, 5u, 12u, 32u}) {  // epoch boundaries (multiples of 16) must be checkpoints
    c.checkpoint_interval = k;
    EXPECT_FALSE(c.Validate().ok()) << k;
  }
  c.checkpoint_interval = 16;
  c.window = 16;  // default log 2*16+16 = 48: the largest allowed
  EXPECT_TRUE(c.Validate().ok());
  c.window = 17;
  EXPECT_FALSE(c.Validate().ok());
  c.window = 4;
  c.log_size = kMaxLogSize + 1;
  EXPECT_FALSE(c.Validate().ok());
  c.log_size = 0;
  c.epoch = 64;  // a later epoch needs the header hash at its start
  EXPECT_FALSE(c.Validate().ok());
  c.epoch_hash = Sha256("block 64");
  EXPECT_TRUE(c.Validate().ok());
  c.epoch = 0;  // the genesis epoch starts from the zero hash
  EXPECT_FALSE(c.Validate().ok());
}

TEST_F(PbftCoreTest, DropsMessagesOfAnotherEpoch) {
  ConsensusMsg pp = PrePrepare(0, 1, Bytes(32, '\0'), 1);
  pp.epoch = 64;
  core_->OnMessage(Sign(pp));
  ConsensusMsg suspect = Suspect(0, 2);
  suspect.epoch = 16;
  core_->OnMessage(Sign(suspect));
  EXPECT_EQ(core_->dropped(DropReason::kOtherEpoch), 2u);
  EXPECT_EQ(core_->dropped_total(), 2u);
  CoreOutput out = core_->TakeOutput();
  EXPECT_TRUE(out.to_send.empty());
  EXPECT_EQ(out.later_epoch, 64u);  // peers moved on: a hint to fetch blocks
  EXPECT_STREQ(DropReasonName(DropReason::kOtherEpoch), "other_epoch");
}

// Epochs: one core of a 4-validator set driven by hand, its peers' votes signed by the test.
class PbftEpochTest : public ::testing::Test {
 protected:
  PbftEpochTest() : checker_(7) {
    config_.chain_id = kChain;
    config_.checkpoint_interval = 4;
    config_.window = 2;
    config_.log_size = 8;
    config_.batch_timeout_ticks = 2;
  }
  std::unique_ptr<PbftCore> Make(uint32_t n, uint32_t self, uint64_t epoch, const Bytes& hash) {
    PbftConfig c = config_;
    c.n = n;
    c.self = self;
    c.epoch = epoch;
    if (epoch != 0) c.epoch_hash = hash;
    signer_ = std::make_unique<FakeSigner>(self);
    return std::make_unique<PbftCore>(c, signer_.get(), &checker_, &factory_, epoch, hash);
  }
  static ConsensusMsg Sign(ConsensusMsg m) {
    m.signature = FakeSigner(m.sender).Sign(SigningDigest(kChain, m));
    return m;
  }
  static ConsensusMsg Vote(ConsensusMsg::Type t, const ConsensusMsg& pp, uint32_t sender) {
    ConsensusMsg m;
    m.type = t;
    m.epoch = pp.epoch;
    m.view = pp.view;
    m.height = pp.height;
    m.digest = pp.digest;
    m.sender = sender;
    return Sign(m);
  }
  static ConsensusMsg Suspect(uint64_t epoch, uint64_t view, uint32_t sender) {
    ConsensusMsg m;
    m.type = ConsensusMsg::kSuspect;
    m.epoch = epoch;
    m.view = view;
    m.sender = sender;
    return Sign(m);
  }
  // Ticks primary `core` (index 0 of 4) for `ticks`, feeding prepares and commits of 1 and 2
  // to each pre-prepare it sends; records every pre-prepare and the tick it left.
  void DrivePrimary(PbftCore* core, uint64_t ticks) {
    Flush(core);
    for (uint64_t t = 0; t < ticks; ++t) {
      core->OnTick();
      ++tick_;
      Flush(core);
    }
  }
  // Handles what `core` output at tick_, and what that leads to, until it outputs nothing.
  void Flush(PbftCore* core) {
    for (CoreOutput out = core->TakeOutput(); !out.to_send.empty() || !out.to_apply.empty();
         out = core->TakeOutput()) {
      for (const CommittedBlock& b : out.to_apply) applied_.push_back(b);
      for (const auto& [to, m] : out.to_send) {
        if (m.type == ConsensusMsg::kCheckpoint) checkpoints_.push_back(m);
        if (m.type != ConsensusMsg::kPrePrepare) continue;
        proposals_.emplace_back(tick_, m);
        for (uint32_t v : {1u, 2u}) core->OnMessage(Vote(ConsensusMsg::kPrepare, m, v));
        for (uint32_t v : {1u, 2u}) core->OnMessage(Vote(ConsensusMsg::kCommit, m, v));
      }
    }
  }

  PbftConfig config_;
  FakeChecker checker_;
  std::unique_ptr<FakeSigner> signer_;
  FakeBlockFactory factory_;
  uint64_t tick_ = 0;
  std::vector<std::pair<uint64_t, ConsensusMsg>> proposals_;
  std::vector<CommittedBlock> applied_;
  std::vector<ConsensusMsg> checkpoints_;
};

TEST_F(PbftEpochTest, AnIdlePrimaryCutsEmptyBlocksUpToTheEndAndNothingAbove) {
  auto core = Make(4, 0, 0, Bytes(32, '\0'));
  DrivePrimary(core.get(), 20);
  EXPECT_TRUE(proposals_.empty());  // no end pending: an idle chain stays idle
  core->EndEpochAt(8);
  EXPECT_FALSE(core->epoch_done());
  Flush(core.get());
  DrivePrimary(core.get(), 100);
  ASSERT_EQ(applied_.size(), 8u);
  EXPECT_EQ(core->committed_height(), 8u);
  EXPECT_TRUE(core->epoch_done());
  ASSERT_EQ(proposals_.size(), 8u);
  for (size_t i = 0; i < proposals_.size(); ++i) {
    testing::FakeBlock b;
    ASSERT_TRUE(testing::DecodeFakeBlock(proposals_[i].second.block, &b).ok());
    EXPECT_TRUE(b.requests.empty());
    EXPECT_LE(proposals_[i].second.height, 8u);
    // One empty block per batch timeout, not a burst.
    if (i > 0) EXPECT_GE(proposals_[i].first - proposals_[i - 1].first, 2u);
  }
  // Requests after the end wait for the next epoch's core: nothing is proposed here.
  core->OnRequest(Request{Sha256("late"), "p"});
  DrivePrimary(core.get(), 50);
  EXPECT_EQ(proposals_.size(), 8u);
  EXPECT_EQ(core->committed_height(), 8u);
}

TEST_F(PbftEpochTest, RequestsAreOrderedUpToTheEndAndTheRestHandedOn) {
  auto core = Make(4, 0, 0, Bytes(32, '\0'));
  core->EndEpochAt(4);
  for (int k = 0; k < 40; ++k) core->OnRequest(Request{Sha256("r" + std::to_string(k)), "p"});
  config_.max_batch_requests = 256;
  DrivePrimary(core.get(), 100);
  EXPECT_EQ(core->committed_height(), 4u);
  EXPECT_TRUE(core->epoch_done());
  size_t ordered = 0;
  for (const CommittedBlock& b : applied_) ordered += b.request_ids.size();
  EXPECT_EQ(ordered + core->UncommittedRequests().size(), 40u);
}

TEST_F(PbftEpochTest, ABackupWithAnEndPendingSuspectsAPrimaryThatProposesNothing) {
  auto core = Make(4, 1, 0, Bytes(32, '\0'));
  for (uint64_t t = 0; t < 3 * config_.view_change_timeout_ticks; ++t) core->OnTick();
  EXPECT_FALSE(core->suspects_view());  // idle and no end: nothing to wait for
  core->EndEpochAt(16);
  for (uint64_t t = 0; t < config_.view_change_timeout_ticks; ++t) core->OnTick();
  EXPECT_TRUE(core->suspects_view());
}

TEST_F(PbftEpochTest, AFinishedCoreAnswersALaggardWithItsCheckpointAtTheEnd) {
  auto core = Make(4, 0, 0, Bytes(32, '\0'));
  core->EndEpochAt(4);
  DrivePrimary(core.get(), 60);
  ASSERT_TRUE(core->epoch_done());
  core->TakeOutput();
  // Replica 3 missed it all and suspects view 0: it is answered, not joined.
  core->OnMessage(Suspect(0, 0, 3));
  CoreOutput out = core->TakeOutput();
  ASSERT_EQ(out.to_send.size(), 2u);
  EXPECT_EQ(out.to_send[0].first, 3);
  EXPECT_EQ(out.to_send[0].second.type, ConsensusMsg::kCheckpoint);
  EXPECT_EQ(out.to_send[0].second.height, 4u);
  EXPECT_EQ(out.to_send[0].second.digest, applied_.back().header_hash);
  EXPECT_EQ(out.to_send[1].first, 3);
  EXPECT_EQ(out.to_send[1].second.type, ConsensusMsg::kCommit);
  EXPECT_EQ(out.to_send[1].second.height, 4u);
  EXPECT_EQ(core->dropped(DropReason::kEpochDone), 1u);
  core->OnMessage(Suspect(0, 0, 3));  // again at once: rate-limited
  EXPECT_TRUE(core->TakeOutput().to_send.empty());
  for (uint64_t t = 0; t < 4 * config_.view_change_timeout_ticks; ++t) core->OnTick();
  EXPECT_FALSE(core->suspects_view());
  EXPECT_EQ(core->view(), 0u);
}

TEST_F(PbftEpochTest, ANewEpochOfFiveStartsAtItsHeightWithItsQuorum) {
  const Bytes h16 = Sha256("block 16");
  auto core = Make(5, 1, 16, h16);  // 5 validators: f = 1, q = 4, 3 prepares
  EXPECT_EQ(core->committed_height(), 16u);
  EXPECT_EQ(core->stable_checkpoint().height, 16u);
  EXPECT_EQ(core->quorum().Strong(), 4u);
  Proposal p = *factory_.Build(17, 0, h16, {Request{Sha256("x"), "p"}});
  ConsensusMsg pp;
  pp.type = ConsensusMsg::kPrePrepare;
  pp.epoch = 16;
  pp.height = 17;
  pp.digest = p.header_hash;
  pp.sender = 0;
  pp.block = p.block;
  pp = Sign(pp);
  ConsensusMsg stale = pp;  // the same pre-prepare in the genesis epoch
  stale.epoch = 0;
  core->OnMessage(Sign(stale));
  EXPECT_EQ(core->dropped(DropReason::kOtherEpoch), 1u);
  core->OnMessage(pp);
  CoreOutput out = core->TakeOutput();
  ASSERT_EQ(out.to_send.size(), 1u);
  EXPECT_EQ(out.to_send[0].second.type, ConsensusMsg::kPrepare);
  EXPECT_EQ(out.to_send[0].second.epoch, 16u);
  core->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 2));
  EXPECT_TRUE(core->TakeOutput().to_send.empty());  // 2 prepares of 3: not prepared
  core->OnMessage(Vote(ConsensusMsg::kPrepare, pp, 3));
  EXPECT_EQ(core->TakeOutput().to_send.size(), 1u);  // our commit
  for (uint32_t v : {0u, 2u}) core->OnMessage(Vote(ConsensusMsg::kCommit, pp, v));
  EXPECT_TRUE(core->TakeOutput().to_apply.empty());  // 3 commits of 4
  core->OnMessage(Vote(ConsensusMsg::kCommit, pp, 4));
  out = core->TakeOutput();
  ASSERT_EQ(out.to_apply.size(), 1u);
  EXPECT_EQ(out.to_apply[0].height, 17u);
  EXPECT_EQ(out.to_apply[0].commit_signatures.size(), 4u);
}

TEST_F(PbftEpochTest, AViewChangeInANewEpochStartsFromItsStartCheckpointWithoutProof) {
  const Bytes h16 = Sha256("block 16");
  auto core = Make(5, 1, 16, h16);  // replica 1: the primary of view 1
  auto vc = [&](uint32_t sender, uint64_t cp_height, const Bytes& cp_digest) {
    ConsensusMsg m;
    m.type = ConsensusMsg::kViewChange;
    m.epoch = 16;
    m.view = 1;
    m.sender = sender;
    m.checkpoint_height = cp_height;
    m.checkpoint_digest = cp_digest;
    return Sign(m);
  };
  core->OnMessage(vc(4, 0, Bytes(32, '\0')));  // the genesis checkpoint is not this epoch's
  core->OnMessage(vc(4, 16, Sha256("another block 16")));
  EXPECT_EQ(core->dropped(DropReason::kInvalidViewChange), 2u);
  core->OnMessage(Suspect(16, 0, 2));
  core->OnMessage(Suspect(16, 0, 3));  // f+1 = 2: leave view 0
  for (uint32_t v : {2u, 3u, 4u}) core->OnMessage(vc(v, 16, h16));
  EXPECT_EQ(core->view(), 1u);
  EXPECT_FALSE(core->in_view_change());
  CoreOutput out = core->TakeOutput();
  bool sent_new_view = false;
  for (const auto& [to, m] : out.to_send) {
    if (m.type != ConsensusMsg::kNewView) continue;
    sent_new_view = true;
    EXPECT_EQ(m.epoch, 16u);
    EXPECT_EQ(m.view_changes.size(), 4u);  // q of 5
  }
  EXPECT_TRUE(sent_new_view);
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
