// What a node joining from a checkpoint counts (node/checkpoint_joiner.h, docs/CATCHUP.md):
// VerifyStateAttestation and PickAttestedCheckpoint check each attestation against the
// validator set in force at its height (after 4 -> 5, a removal, a rekey; quorum
// floor((N+f)/2)+1 for N = 5, 6), and HeaderWalk learns the set at each height from the
// blocks that hold the changes. ParseCatchUpMode: the flag's three words.
#include "node/checkpoint_joiner.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "ledger/state_digest.h"
#include "ledger/validator_schedule.h"
#include "tests/ledger/validator_test_chain.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

class AttestationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis_.chain_id = "t";
    for (int i = 0; i < 4; ++i) genesis_.validators.push_back(Member(i));
  }
  // Validator v<i> with its own key (made on first use), at a port of its own.
  ledger::Validator Member(int i) {
    const std::string id = "v" + std::to_string(i);
    if (keys_.count(id) == 0) keys_.emplace(id, PrivateKey::Generate());
    return ledger::Validator{id, keys_.at(id).PublicKey(), "127.0.0.1:" + std::to_string(7000 + i)};
  }
  std::shared_ptr<const ledger::ValidatorSet> Set(const std::vector<ledger::Validator>& members) {
    auto set = ledger::ValidatorSet::FromMembers(members);
    EXPECT_TRUE(set.ok()) << set.status().ToString();
    return std::make_shared<const ledger::ValidatorSet>(*set);
  }
  std::vector<ledger::Validator> Members(std::vector<int> ids) {
    std::vector<ledger::Validator> out;
    for (int i : ids) out.push_back(Member(i));
    return out;
  }
  // `id`'s attestation of (height, header 'h'*32, state 's'*32) signed with `key`.
  static v1::StateAttestation Make(const std::string& id, const PrivateKey& key,
                                   uint64_t height = 256, char state = 's') {
    v1::StateAttestation a;
    a.set_height(height);
    a.set_header_hash(Bytes(32, 'h'));
    a.set_state_digest(Bytes(32, state));
    a.set_rows(10);
    a.set_validator(id);
    a.set_signature(
        *key.Sign(ledger::StateAttestationDigest("t", height, a.header_hash(), a.state_digest())));
    return a;
  }
  std::vector<v1::StateAttestation> By(std::vector<int> ids, uint64_t height) {
    std::vector<v1::StateAttestation> out;
    for (int i : ids) {
      const std::string id = "v" + std::to_string(i);
      out.push_back(Make(id, keys_.at(id), height));
    }
    return out;
  }
  std::map<std::string, PrivateKey> keys_;
  ledger::Genesis genesis_;
};

TEST_F(AttestationTest, AcceptsAMembersSignatureAndNamesItsIndex) {
  auto idx = VerifyStateAttestation(ledger::ValidatorSet::FromGenesis(genesis_), "t",
                                    Make("v1", keys_.at("v1")));
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  EXPECT_EQ(*idx, 1u);
}

TEST_F(AttestationTest, RefusesAnotherStateDigestHeightOrSignerName) {
  const auto set = ledger::ValidatorSet::FromGenesis(genesis_);
  v1::StateAttestation a = Make("v0", keys_.at("v0"));
  a.set_state_digest(Bytes(32, 't'));
  EXPECT_EQ(VerifyStateAttestation(set, "t", a).status().code(), StatusCode::kUnauthenticated);
  a = Make("v0", keys_.at("v0"));
  a.set_height(272);
  EXPECT_EQ(VerifyStateAttestation(set, "t", a).status().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(VerifyStateAttestation(set, "t", Make("v0", keys_.at("v1"))).ok());
  EXPECT_EQ(VerifyStateAttestation(set, "t", Make("v9", PrivateKey::Generate())).status().code(),
            StatusCode::kUnauthenticated);
}

TEST_F(AttestationTest, AfterFourToFiveAQuorumOfFiveIsNeeded) {
  // v4 added at 8: in force above 64. q(5) = 4, not the genesis 2f+1 = 3.
  const auto schedule =
      ledger::ValidatorSchedule(genesis_).WithChange(Set(Members({0, 1, 2, 3, 4})), 8);
  EXPECT_FALSE(PickAttestedCheckpoint(schedule, "t", By({0, 1, 2}, 80)));
  auto cp = PickAttestedCheckpoint(schedule, "t", By({1, 2, 3, 4}, 80));
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->height, 80u);
  EXPECT_EQ(cp->signers, (std::vector<std::string>{"v1", "v2", "v3", "v4"}));
  EXPECT_EQ(cp->set_digest, schedule.SetAt(80).Digest());
  // At 64 the genesis set still certifies: three of it are a quorum, v4 is no member there.
  std::vector<std::string> refused;
  auto early = PickAttestedCheckpoint(schedule, "t", By({0, 1, 4}, 64), &refused);
  EXPECT_FALSE(early);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(refused[0].find("v4"), std::string::npos) << refused[0];
  EXPECT_TRUE(PickAttestedCheckpoint(schedule, "t", By({0, 1, 2}, 64)));
}

TEST_F(AttestationTest, SixValidatorsNeedFour) {
  const auto schedule =
      ledger::ValidatorSchedule(genesis_).WithChange(Set(Members({0, 1, 2, 3, 4, 5})), 8);
  EXPECT_EQ(schedule.SetAt(80).quorum(), 4u);
  EXPECT_FALSE(PickAttestedCheckpoint(schedule, "t", By({0, 4, 5}, 80)));
  EXPECT_TRUE(PickAttestedCheckpoint(schedule, "t", By({0, 3, 4, 5}, 80)));
}

TEST_F(AttestationTest, AGenesisOfFiveNeedsFour) {
  // A Genesis also stands for one epoch's set of any N (EpochGenesis): the one rule holds.
  genesis_.validators.push_back(Member(4));
  const ledger::ValidatorSchedule schedule(genesis_);
  EXPECT_EQ(schedule.SetAt(16).quorum(), 4u);
  EXPECT_FALSE(PickAttestedCheckpoint(schedule, "t", By({0, 1, 2}, 16)));
  EXPECT_TRUE(PickAttestedCheckpoint(schedule, "t", By({0, 1, 2, 4}, 16)));
}

TEST_F(AttestationTest, ARemovedValidatorsAttestationCountsForNothing) {
  // v3 replaced by v4 (committed at 8 and 9, both in force above 64): {v0, v1, v2, v4}, q = 3.
  const auto schedule = ledger::ValidatorSchedule(genesis_)
                            .WithChange(Set(Members({0, 1, 2, 3, 4})), 8)
                            .WithChange(Set(Members({0, 1, 2, 4})), 9);
  std::vector<std::string> refused;
  // v3 still signs with its genesis key: not enough, since it is no member at 80.
  EXPECT_FALSE(PickAttestedCheckpoint(schedule, "t", By({1, 2, 3}, 80), &refused));
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(refused[0].find("v3"), std::string::npos) << refused[0];
  auto cp = PickAttestedCheckpoint(schedule, "t", By({1, 2, 3, 4}, 80));
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->signers, (std::vector<std::string>{"v1", "v2", "v4"}));
  // The highest attested height wins, each counted with its own set.
  auto all = By({0, 1, 2}, 64);
  for (auto& a : By({1, 2, 4}, 96)) all.push_back(a);
  cp = PickAttestedCheckpoint(schedule, "t", all);
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->height, 96u);
}

TEST_F(AttestationTest, AfterARekeyOnlyTheNewKeyCounts) {
  std::vector<ledger::Validator> rekeyed = genesis_.validators;
  const PrivateKey next = PrivateKey::Generate();
  rekeyed[2].pubkey = next.PublicKey();
  const auto schedule = ledger::ValidatorSchedule(genesis_).WithChange(Set(rekeyed), 20);
  // In force above 80: v2's old key signs nothing there any more.
  auto old_key = By({0, 1, 2}, 96);
  EXPECT_FALSE(PickAttestedCheckpoint(schedule, "t", old_key));
  old_key[2] = Make("v2", next, 96);
  EXPECT_TRUE(PickAttestedCheckpoint(schedule, "t", old_key));
  // At 80 (the old set) the old key is the one.
  EXPECT_TRUE(PickAttestedCheckpoint(schedule, "t", By({0, 1, 2}, 80)));
  EXPECT_FALSE(PickAttestedCheckpoint(
      schedule, "t",
      {Make("v0", keys_.at("v0"), 80), Make("v1", keys_.at("v1"), 80), Make("v2", next, 80)}));
}

TEST_F(AttestationTest, AttestationsOfTwoStatesAtOneHeightDoNotAddUp) {
  const ledger::ValidatorSchedule schedule(genesis_);
  std::vector<v1::StateAttestation> split = {Make("v0", keys_.at("v0"), 32, 's'),
                                             Make("v1", keys_.at("v1"), 32, 's'),
                                             Make("v2", keys_.at("v2"), 32, 'x')};
  EXPECT_FALSE(PickAttestedCheckpoint(schedule, "t", split));
}

// A chain whose v0 is removed and v4 added (committed at 5, in force above 64): from the
// headers alone, with the block holding the change, the walk reaches the new set.
class HeaderWalkTest : public ::testing::Test {
 protected:
  HeaderWalkTest() : chain_("walk", 4) {}
  void SetUp() override {
    chain_.FillTo(4);
    std::vector<ledger::Validator> next(chain_.genesis().validators.begin() + 1,
                                        chain_.genesis().validators.end());
    next.push_back(chain_.NewValidator("v4", 4));
    next.push_back(chain_.NewValidator("v5", 5));
    chain_.AddBlock({chain_.FillerRecord(), chain_.SetValidatorsRecord(next)});
    chain_.FillTo(90);
  }
  // Walks 1..to; the body of `with_body` is given. The first error, or OK.
  Status Walk(HeaderWalk* walk, uint64_t to, uint64_t with_body) {
    while (walk->next() <= to) {
      const v1::Block b = chain_.BlockAt(walk->next());
      std::vector<Bytes> records(b.records().begin(), b.records().end());
      auto checked =
          walk->Add(b.header(), b.certificate(), walk->next() == with_body ? &records : nullptr);
      if (!checked.ok()) return checked.status().Annotate("at " + std::to_string(walk->next()));
    }
    return OkStatus();
  }
  provledger::testing::ValidatorTestChain chain_;
};

TEST_F(HeaderWalkTest, LearnsTheSetFromTheBlockThatHoldsTheChange) {
  HeaderWalk walk(&chain_.genesis());
  ASSERT_TRUE(Walk(&walk, 90, 5).ok());
  EXPECT_EQ(walk.schedule().changes().size(), 1u);
  EXPECT_EQ(walk.schedule().SetAt(80).n(), 5u);
  EXPECT_EQ(walk.schedule().SetAt(80).Digest(), chain_.schedule().SetAt(80).Digest());
  EXPECT_EQ(walk.schedule().SetAt(80).quorum(), 4u);
  EXPECT_TRUE(walk.schedule().SameChanges(chain_.schedule()));
}

TEST_F(HeaderWalkTest, WithoutTheChangeTheNewSetsCertificatesFail) {
  HeaderWalk walk(&chain_.genesis());
  Status s = Walk(&walk, 90, /*with_body=*/0);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(walk.next(), 65u) << s.ToString();  // the first height the new set certifies
}

TEST_F(HeaderWalkTest, RefusesABodyThatIsNotTheHeaders) {
  HeaderWalk walk(&chain_.genesis());
  ASSERT_TRUE(Walk(&walk, 4, 0).ok());
  const v1::Block b = chain_.BlockAt(5);
  std::vector<Bytes> records(b.records().begin(), b.records().end());
  records.pop_back();  // the change left out: the root differs
  EXPECT_FALSE(walk.Add(b.header(), b.certificate(), &records).ok());
  EXPECT_EQ(walk.next(), 5u);
  EXPECT_TRUE(walk.schedule().changes().empty());
}

TEST(ParseCatchUpMode, KnowsThreeWords) {
  EXPECT_EQ(*ParseCatchUpMode("auto"), CatchUpMode::kAuto);
  EXPECT_EQ(*ParseCatchUpMode("blocks"), CatchUpMode::kBlocks);
  EXPECT_EQ(*ParseCatchUpMode("checkpoint"), CatchUpMode::kCheckpoint);
  EXPECT_EQ(ParseCatchUpMode("snapshot").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger::node
