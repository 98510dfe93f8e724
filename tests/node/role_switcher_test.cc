// RoleSwitcher (node/role_switcher.h): a node takes the role the validator set in force gives
// it, and switches orderers at an epoch's end without a restart; RoleIn (node/epoch_plan.h)
// picks the key the set names.
#include "node/role_switcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace provledger::node {
namespace {

ledger::Validator Member(const std::string& id, const PrivateKey& k) {
  return ledger::Validator{id, k.PublicKey(), "127.0.0.1:1"};
}

// An orderer that records what it was built as and counts how many are alive.
class FakeOrderer final : public Orderer, public SubmitForwarder {
 public:
  FakeOrderer(bool validator, std::atomic<int>* alive, std::atomic<int>* max_alive,
              std::function<void(Status)> on_stop_reason)
      : validator_(validator), alive_(alive), on_stop_reason_(std::move(on_stop_reason)) {
    const int now = ++*alive_;
    int seen = max_alive->load();
    while (now > seen && !max_alive->compare_exchange_weak(seen, now)) {
    }
  }
  ~FakeOrderer() override { --*alive_; }
  Status Submit(CheckedBatch, provledger::v1::ConsensusRequest, SubmitDone) override {
    return ResourceExhaustedError("fake");
  }
  uint64_t pending() const override { return 0; }
  uint64_t view() const override { return 0; }
  void SetStopReason(Status why) override { on_stop_reason_(std::move(why)); }
  SubmitForwarder* forwarder() override { return validator_ ? nullptr : this; }
  std::string role() const override { return validator_ ? "validator" : "follower"; }
  StatusOr<provledger::v1::SubmitResponse> Submit(const provledger::v1::SignedBatch&) override {
    return provledger::v1::SubmitResponse();
  }
  StatusOr<provledger::v1::SubmitResponse> SubmitRegistry(const std::string&) override {
    return provledger::v1::SubmitResponse();
  }
  StatusOr<provledger::v1::SubmitResponse> SubmitFirmware(const std::string&) override {
    return provledger::v1::SubmitResponse();
  }

 private:
  bool validator_;
  std::atomic<int>* alive_;
  std::function<void(Status)> on_stop_reason_;
};

// The plan a test sets, and the orderers the switcher built from it.
class Harness {
 public:
  Harness() : genesis_() {
    genesis_.chain_id = "test";
    for (int i = 0; i < 4; ++i) keys_.push_back(PrivateKey::Generate());
    for (int i = 0; i < 4; ++i)
      genesis_.validators.push_back(Member("v" + std::to_string(i), keys_[i]));
    plan_ = GenesisPlan(genesis_, 0);
  }
  void SetPlan(EpochPlan p) {
    std::lock_guard<std::mutex> lock(mu_);
    plan_ = std::move(p);
  }
  StatusOr<std::unique_ptr<RoleSwitcher>> Start(const std::string& id,
                                                std::vector<PrivateKey> keys) {
    RoleSwitcherOptions o;
    o.poll_ms = 1;
    o.lag_probe_ms = 0;
    return RoleSwitcher::Create(
        &genesis_, id, std::move(keys),
        [this]() -> StatusOr<EpochPlan> {
          std::lock_guard<std::mutex> lock(mu_);
          return plan_;
        },
        [this](const ledger::Genesis* g, const EpochPlan& p,
               const NodeRole& r) -> StatusOr<std::unique_ptr<Orderer>> {
          std::lock_guard<std::mutex> lock(mu_);
          built_.push_back(Built{p.epoch, r, g->validators.size()});
          cv_.notify_all();
          return std::unique_ptr<Orderer>(
              std::make_unique<FakeOrderer>(r.validator, &alive_, &max_alive_, [this](Status why) {
                std::lock_guard<std::mutex> lock(mu_);
                stop_reasons_.push_back(std::move(why));
              }));
        },
        o);
  }
  struct Built {
    uint64_t epoch;
    NodeRole role;
    size_t n;
  };
  // The builds so far, once there are at least `n` (or after 10 s: the test then fails).
  std::vector<Built> WaitForBuilds(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return built_.size() >= n; });
    return built_;
  }
  // What each orderer taken down so far was told (Orderer::SetStopReason), in order.
  std::vector<Status> StopReasons() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_reasons_;
  }
  // The set of epoch `end`: v0, v1, v2 and `extra`.
  EpochPlan Epoch(uint64_t end, std::vector<ledger::Validator> set) const {
    EpochPlan p;
    p.height = end;
    p.epoch = end;
    p.set = std::move(set);
    return p;
  }

  ledger::Genesis genesis_;
  std::vector<PrivateKey> keys_;
  std::atomic<int> alive_{0};
  std::atomic<int> max_alive_{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  EpochPlan plan_;
  std::vector<Built> built_;
  std::vector<Status> stop_reasons_;
};

// The switcher's role once it reads `want` (it publishes a build just after the factory
// returns), or what it was after 10 s.
std::string RoleBecomes(const RoleSwitcher& s, const std::string& want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.role() != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  return s.role();
}

TEST(RoleInTest, AValidatorSignsWithTheKeyTheSetNamesForIt) {
  PrivateKey old_key = PrivateKey::Generate(), new_key = PrivateKey::Generate();
  NodeRole r = RoleIn({Member("a", old_key), Member("b", new_key)}, "b", {old_key, new_key});
  EXPECT_TRUE(r.validator);
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.key, 1u);
}

TEST(RoleInTest, AnIdWhoseKeyIsNotHeldFollowsAndSaysWhy) {
  PrivateKey named = PrivateKey::Generate(), held = PrivateKey::Generate();
  NodeRole r = RoleIn({Member("a", named)}, "a", {held});
  EXPECT_FALSE(r.validator);
  EXPECT_EQ(r.why, "key not held");
  EXPECT_EQ(RoleIn({Member("a", named)}, "z", {held}).why, "not in the set");
}

TEST(RoleSwitcherTest, AGenesisValidatorStartsAsValidatorOfEpochZero) {
  Harness h;
  auto s = h.Start("v2", {h.keys_[2]});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto built = h.WaitForBuilds(1);
  ASSERT_EQ(built.size(), 1u);
  EXPECT_TRUE(built[0].role.validator);
  EXPECT_EQ(built[0].role.index, 2u);
  EXPECT_EQ((*s)->role(), "validator");
  EXPECT_EQ((*s)->forwarder(), nullptr);
}

TEST(RoleSwitcherTest, AFollowerNamedInTheNextSetBecomesAValidatorAtTheEpochEnd) {
  Harness h;
  PrivateKey k5 = PrivateKey::Generate();
  auto s = h.Start("v5", {k5});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->role(), "follower");
  EXPECT_NE((*s)->forwarder(), nullptr);
  auto set = h.genesis_.validators;
  set.push_back(Member("v5", k5));
  h.SetPlan(h.Epoch(64, set));
  auto built = h.WaitForBuilds(2);
  ASSERT_EQ(built.size(), 2u);
  EXPECT_EQ(built[1].epoch, 64u);
  EXPECT_TRUE(built[1].role.validator);
  EXPECT_EQ(built[1].role.index, 4u);
  EXPECT_EQ(built[1].n, 5u);  // the orderer sees the new set as its validators
  EXPECT_EQ(RoleBecomes(**s, "validator"), "validator");
  EXPECT_EQ((*s)->epoch(), 64u);
}

// A submission still waiting in the old orderer at the switch is answered a transient error
// that says so (the client resends it, to this node or another), never as at a shutdown.
TEST(RoleSwitcherTest, TheOldOrderersWaitingCallsHearOfAnEpochSwitchNotOfAShutdown) {
  Harness h;
  {
    auto s = h.Start("v0", {h.keys_[0]});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    h.SetPlan(h.Epoch(64, h.genesis_.validators));
    ASSERT_EQ(h.WaitForBuilds(2).size(), 2u);
    std::vector<Status> reasons = h.StopReasons();
    ASSERT_EQ(reasons.size(), 1u);
    EXPECT_EQ(reasons[0].code(), StatusCode::kUnavailable);
    EXPECT_NE(reasons[0].message().find("epoch switch, retry"), std::string::npos)
        << reasons[0].ToString();
    EXPECT_NE(reasons[0].message().find("epoch 64"), std::string::npos) << reasons[0].ToString();
    EXPECT_EQ(reasons[0].message().find("shutting down"), std::string::npos);
  }
  std::vector<Status> reasons = h.StopReasons();  // the switcher itself went: a shutdown
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_EQ(reasons[1].code(), StatusCode::kUnavailable);
  EXPECT_NE(reasons[1].message().find("shutting down"), std::string::npos);
}

TEST(RoleSwitcherTest, ARemovedValidatorBecomesAFollowerOfTheNewSet) {
  Harness h;
  auto s = h.Start("v3", {h.keys_[3]});
  ASSERT_TRUE(s.ok());
  auto set = h.genesis_.validators;
  set.pop_back();
  h.SetPlan(h.Epoch(80, set));
  auto built = h.WaitForBuilds(2);
  ASSERT_EQ(built.size(), 2u);
  EXPECT_FALSE(built[1].role.validator);
  EXPECT_EQ(built[1].n, 3u);  // it follows the validators of the new set
  EXPECT_EQ(RoleBecomes(**s, "follower"), "follower");
}

TEST(RoleSwitcherTest, AReplacedKeyIsUsedFromItsEpochOn) {
  Harness h;
  PrivateKey next = PrivateKey::Generate();
  auto s = h.Start("v1", {h.keys_[1], next});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(h.WaitForBuilds(1)[0].role.key, 0u);
  auto set = h.genesis_.validators;
  set[1].pubkey = next.PublicKey();
  h.SetPlan(h.Epoch(96, set));
  auto built = h.WaitForBuilds(2);
  ASSERT_EQ(built.size(), 2u);
  EXPECT_TRUE(built[1].role.validator);
  EXPECT_EQ(built[1].role.key, 1u);
}

TEST(RoleSwitcherTest, AValidatorWhoseNewKeyItDoesNotHoldFollows) {
  Harness h;
  auto s = h.Start("v1", {h.keys_[1]});
  ASSERT_TRUE(s.ok());
  auto set = h.genesis_.validators;
  set[1].pubkey = PrivateKey::Generate().PublicKey();
  h.SetPlan(h.Epoch(96, set));
  auto built = h.WaitForBuilds(2);
  ASSERT_EQ(built.size(), 2u);
  EXPECT_FALSE(built[1].role.validator);
  EXPECT_EQ(built[1].role.why, "key not held");
}

TEST(RoleSwitcherTest, NeverTwoOrderersAtOnceAcrossSwitches) {
  Harness h;
  auto s = h.Start("v0", {h.keys_[0]});
  ASSERT_TRUE(s.ok());
  auto set = h.genesis_.validators;
  for (uint64_t e = 16; e <= 160; e += 16) {
    h.SetPlan(
        h.Epoch(e, e % 32 == 0 ? set : std::vector<ledger::Validator>(set.begin(), set.end() - 1)));
    h.WaitForBuilds(e / 16 + 1);
  }
  EXPECT_EQ(h.WaitForBuilds(11).size(), 11u);
  EXPECT_EQ(h.max_alive_.load(), 1);  // the old one is gone before the next is built
  s->reset();
  EXPECT_EQ(h.alive_.load(), 0);
}

TEST(LagNeedsCatchUpTest, PeersInALaterEpochAreFetchedFromAtOnce) {
  EpochPlan p;
  p.height = 60;
  p.epoch = 0;
  EXPECT_TRUE(LagNeedsCatchUp(p, 62, 64, 32));
}

TEST(LagNeedsCatchUpTest, PeersPastTheEndOfOurEpochAreFetchedFrom) {
  EpochPlan p;
  p.height = 60;
  p.pending_height = 10;
  p.pending_end = 64;
  EXPECT_TRUE(LagNeedsCatchUp(p, 64, 0, 32));
  EXPECT_FALSE(LagNeedsCatchUp(p, 63, 0, 32));  // our core gets there by messages
}

TEST(LagNeedsCatchUpTest, ASmallLagInTheSameEpochIsLeftToTheCore) {
  EpochPlan p;
  p.height = 100;
  EXPECT_FALSE(LagNeedsCatchUp(p, 120, 0, 32));
  EXPECT_TRUE(LagNeedsCatchUp(p, 132, 0, 32));
  EXPECT_FALSE(LagNeedsCatchUp(p, 90, 64, 32));  // ahead of them: nothing to fetch
}

}  // namespace
}  // namespace provledger::node
