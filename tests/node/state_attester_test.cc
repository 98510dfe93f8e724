// StateAttester (node/state_attester.h): a node attests a pinned state only when the validator
// set in force at its height names it, and signs with the key that set names: a validator
// added later attests, a rekeyed one signs with its new key, a removed one signs nothing.
#include "node/state_attester.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "node/checkpoint_joiner.h"
#include "tests/ledger/validator_test_chain.h"

namespace provledger::node {
namespace {

namespace v1 = provledger::v1;

class StateAttesterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/attester_" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    ledger::StoreOptions o;
    o.path = dir;
    o.state_interval = 16;
    auto s = ledger::BlockStore::Open(o, "att");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    // The chain's blocks only fill the store (pinned at 80 and 96); the schedule the attester
    // follows is this test's own: genesis a0..a3, then a3 removed, a4 added and a2 rekeyed
    // (committed at 1, in force above 64).
    provledger::testing::ValidatorTestChain chain("att", 4, 1, store_.get());
    chain.FillTo(100);
    genesis_.chain_id = "att";
    for (int i = 0; i < 4; ++i) genesis_.validators.push_back(Member(i, keys_[i]));
    std::vector<ledger::Validator> next = {genesis_.validators[0], genesis_.validators[1],
                                           Member(2, a2_next_), Member(4, keys_[4])};
    schedule_ = std::make_shared<const ledger::ValidatorSchedule>(
        ledger::ValidatorSchedule(genesis_).WithChange(
            std::make_shared<const ledger::ValidatorSet>(*ledger::ValidatorSet::FromMembers(next)),
            1));
  }
  static ledger::Validator Member(int i, const PrivateKey& key) {
    return ledger::Validator{"a" + std::to_string(i), key.PublicKey(),
                             "127.0.0.1:" + std::to_string(7000 + i)};
  }
  std::unique_ptr<StateAttester> Attester(const std::string& id, std::vector<PrivateKey> keys) {
    auto s = schedule_;
    return std::make_unique<StateAttester>(store_.get(), &genesis_, std::move(keys), id,
                                           [s] { return s; });
  }
  // The attester's attestations once it has made `want` (polled; the digest runs on its thread).
  static std::vector<v1::StateAttestation> WaitFor(const StateAttester& a, size_t want) {
    for (int i = 0; i < 3000 && a.Latest().size() < want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return a.Latest();
  }

  std::unique_ptr<ledger::BlockStore> store_;
  ledger::Genesis genesis_;
  PrivateKey keys_[5] = {PrivateKey::Generate(), PrivateKey::Generate(), PrivateKey::Generate(),
                         PrivateKey::Generate(), PrivateKey::Generate()};
  PrivateKey a2_next_ = PrivateKey::Generate();
  std::shared_ptr<const ledger::ValidatorSchedule> schedule_;
};

TEST_F(StateAttesterTest, AMemberAddedLaterAttestsWithItsKey) {
  ASSERT_EQ(store_->StateHeights(), (std::vector<uint64_t>{80, 96}));
  auto a4 = Attester("a4", {keys_[4]});
  const auto made = WaitFor(*a4, 2);
  ASSERT_EQ(made.size(), 2u);
  for (const auto& a : made) {
    EXPECT_EQ(a.validator(), "a4");
    auto idx = VerifyStateAttestation(schedule_->SetAt(a.height()), "att", a);
    EXPECT_TRUE(idx.ok()) << a.height() << ": " << idx.status().ToString();
  }
}

TEST_F(StateAttesterTest, ARekeyedMemberSignsWithTheKeyTheSetNames) {
  // It holds both keys (--key and --next_key); above 64 the set names the new one.
  auto a2 = Attester("a2", {keys_[2], a2_next_});
  const auto made = WaitFor(*a2, 2);
  ASSERT_EQ(made.size(), 2u);
  for (const auto& a : made) {
    EXPECT_TRUE(VerifyStateAttestation(schedule_->SetAt(a.height()), "att", a).ok());
    EXPECT_FALSE(
        VerifyStateAttestation(ledger::ValidatorSet::FromGenesis(genesis_), "att", a).ok());
  }
}

TEST_F(StateAttesterTest, ARemovedValidatorAttestsNothing) {
  auto a3 = Attester("a3", {keys_[3]});
  auto a0 = Attester("a0", {keys_[0]});
  // Both loops look at the same pinned heights; once a0 has signed them, a3 has passed them too
  // (give it a few more rounds: each is 200 ms).
  ASSERT_EQ(WaitFor(*a0, 2).size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_TRUE(a3->Latest().empty());
}

}  // namespace
}  // namespace provledger::node
