#include "consensus/view_change.h"

#include <gtest/gtest.h>

#include "common/sha256.h"
#include "tests/consensus/fakes.h"

namespace provledger {
namespace consensus {
namespace {

using testing::FakeBlockFactory;
using testing::FakeChecker;
using testing::FakeSigner;

const char kChain[] = "vc-chain";
constexpr uint64_t kLogSize = 16;

ConsensusMsg Sign(ConsensusMsg m) {
  m.signature = FakeSigner(m.sender).Sign(SigningDigest(kChain, m));
  return m;
}

class ViewChangeTest : public ::testing::Test {
 protected:
  // A certificate for `height` on `prev`, prepared in `view` by backups other than its primary.
  PreparedCert Cert(uint64_t view, uint64_t height, const Bytes& prev, int k) {
    Proposal p =
        *factory_.Build(height, view, prev, {Request{Sha256("r" + std::to_string(k)), ""}});
    PreparedCert c;
    c.pre_prepare.type = ConsensusMsg::kPrePrepare;
    c.pre_prepare.view = view;
    c.pre_prepare.height = height;
    c.pre_prepare.digest = p.header_hash;
    c.pre_prepare.sender = static_cast<uint32_t>(view % 4);
    c.pre_prepare.block = p.block;
    c.pre_prepare = Sign(c.pre_prepare);
    for (uint32_t s = 0; s < 4 && c.prepares.size() < 2; ++s) {
      if (s == c.pre_prepare.sender) continue;
      ConsensusMsg v;
      v.type = ConsensusMsg::kPrepare;
      v.view = view;
      v.height = height;
      v.digest = p.header_hash;
      v.sender = s;
      c.prepares.push_back(Sign(v));
    }
    return c;
  }
  ConsensusMsg ViewChange(uint64_t view, uint32_t sender, std::vector<PreparedCert> certs) {
    ConsensusMsg vc;
    vc.type = ConsensusMsg::kViewChange;
    vc.view = view;
    vc.sender = sender;
    vc.checkpoint_digest = Bytes(32, '\0');
    vc.prepared = std::move(certs);
    return Sign(vc);
  }

  Quorum q_{4};
  FakeChecker checker_{4};
  FakeBlockFactory factory_;
};

TEST_F(ViewChangeTest, AcceptsAWellFormedViewChange) {
  PreparedCert c1 = Cert(0, 1, Bytes(32, '\0'), 1);
  EXPECT_TRUE(VerifyViewChange(q_, kChain, &checker_, ViewChange(1, 2, {c1}), kLogSize).ok());
}

TEST_F(ViewChangeTest, RefusesACertificateWithTooFewOrForgedPrepares) {
  PreparedCert c = Cert(0, 1, Bytes(32, '\0'), 1);
  PreparedCert few = c;
  few.prepares.pop_back();
  EXPECT_FALSE(VerifyViewChange(q_, kChain, &checker_, ViewChange(1, 2, {few}), kLogSize).ok());
  PreparedCert twice = c;
  twice.prepares[1] = twice.prepares[0];
  EXPECT_FALSE(VerifyViewChange(q_, kChain, &checker_, ViewChange(1, 2, {twice}), kLogSize).ok());
  PreparedCert forged = c;
  forged.prepares[0].signature = forged.prepares[1].signature;
  EXPECT_EQ(VerifyViewChange(q_, kChain, &checker_, ViewChange(1, 2, {forged}), kLogSize).code(),
            StatusCode::kUnauthenticated);
}

TEST_F(ViewChangeTest, RefusesCertificatesFromTheNewViewOrBeyondTheWatermarks) {
  PreparedCert same_view = Cert(1, 1, Bytes(32, '\0'), 1);
  EXPECT_FALSE(
      VerifyViewChange(q_, kChain, &checker_, ViewChange(1, 2, {same_view}), kLogSize).ok());
  PreparedCert far = Cert(0, kLogSize + 1, Bytes(32, '\0'), 1);
  EXPECT_FALSE(VerifyViewChange(q_, kChain, &checker_, ViewChange(1, 2, {far}), kLogSize).ok());
  PreparedCert c = Cert(0, 1, Bytes(32, '\0'), 1);
  EXPECT_FALSE(VerifyViewChange(q_, kChain, &checker_, ViewChange(1, 2, {c, c}), kLogSize).ok());
}

TEST_F(ViewChangeTest, NewViewReproposesTheHighestViewChainAndStopsAtAGap) {
  PreparedCert c1 = Cert(0, 1, Bytes(32, '\0'), 1);
  PreparedCert c2 = Cert(0, 2, c1.pre_prepare.digest, 2);
  PreparedCert c2_later = Cert(1, 2, c1.pre_prepare.digest, 22);  // re-prepared in view 1
  PreparedCert c4 = Cert(0, 4, Sha256("unknown 3"), 4);           // above a gap at 3
  std::vector<ConsensusMsg> vcs = {ViewChange(2, 0, {c1, c2}), ViewChange(2, 1, {c1, c2_later}),
                                   ViewChange(2, 3, {c4})};
  StatusOr<NewViewPlan> plan = ComputeNewView(q_, 2, vcs, &factory_);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->pre_prepares.size(), 2u);
  EXPECT_EQ(plan->pre_prepares[0].digest, c1.pre_prepare.digest);
  EXPECT_EQ(plan->pre_prepares[1].digest, c2_later.pre_prepare.digest);
  EXPECT_EQ(plan->pre_prepares[1].sender, 2u);
  EXPECT_EQ(plan->pre_prepares[1].view, 2u);
}

TEST_F(ViewChangeTest, NewViewNeedsTwoFPlusOneDistinctViewChanges) {
  std::vector<ConsensusMsg> vcs = {ViewChange(2, 0, {}), ViewChange(2, 1, {})};
  EXPECT_FALSE(ComputeNewView(q_, 2, vcs, &factory_).ok());
  vcs.push_back(ViewChange(2, 1, {}));
  EXPECT_FALSE(ComputeNewView(q_, 2, vcs, &factory_).ok());
}

TEST_F(ViewChangeTest, BackupsRefuseANewViewThatDiffersFromTheComputation) {
  PreparedCert c1 = Cert(0, 1, Bytes(32, '\0'), 1);
  std::vector<ConsensusMsg> vcs = {ViewChange(2, 0, {c1}), ViewChange(2, 1, {}),
                                   ViewChange(2, 3, {})};
  NewViewPlan plan = *ComputeNewView(q_, 2, vcs, &factory_);
  ConsensusMsg nv;
  nv.type = ConsensusMsg::kNewView;
  nv.view = 2;
  nv.sender = 2;
  nv.view_changes = vcs;
  for (const ConsensusMsg& pp : plan.pre_prepares) nv.pre_prepares.push_back(Sign(pp));
  NewViewPlan got;
  EXPECT_TRUE(VerifyNewView(q_, kChain, &checker_, &factory_, Sign(nv), kLogSize, &got).ok());

  ConsensusMsg dropped_block = nv;  // the new primary omits the prepared block
  dropped_block.pre_prepares.clear();
  EXPECT_FALSE(
      VerifyNewView(q_, kChain, &checker_, &factory_, Sign(dropped_block), kLogSize, &got).ok());
  ConsensusMsg other_block = nv;  // ... or replaces it
  other_block.pre_prepares[0] = Sign(Cert(2, 1, Bytes(32, '\0'), 9).pre_prepare);
  EXPECT_FALSE(
      VerifyNewView(q_, kChain, &checker_, &factory_, Sign(other_block), kLogSize, &got).ok());
  ConsensusMsg wrong_sender = nv;
  wrong_sender.sender = 3;
  EXPECT_FALSE(
      VerifyNewView(q_, kChain, &checker_, &factory_, Sign(wrong_sender), kLogSize, &got).ok());
  ConsensusMsg too_few = nv;
  too_few.view_changes.pop_back();
  EXPECT_FALSE(VerifyNewView(q_, kChain, &checker_, &factory_, Sign(too_few), kLogSize, &got).ok());
}

}  // namespace
}  // namespace consensus
}  // namespace provledger
