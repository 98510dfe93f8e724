// Seeded sweep: each seed draws an adversary (drops, delays, reordering, replays, and one
// crashed, partitioned or Byzantine replica), runs it, heals, and checks safety at every
// step and liveness after healing. PL_SIM_SEED=<n> runs that one seed only;
// PL_SIM_SEEDS=<count> sweeps more seeds (from 1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "tests/consensus/sim_network.h"

namespace provledger {
namespace consensus {
namespace testing {
namespace {

constexpr uint64_t kFirstSeed = 1;
constexpr uint64_t kSeeds = 200;

PbftConfig SweepConfig() {
  PbftConfig c;
  c.chain_id = "sweep-chain";
  c.checkpoint_interval = 4;
  c.window = 3;
  c.max_batch_requests = 8;
  c.batch_timeout_ticks = 2;
  c.view_change_timeout_ticks = 30;
  c.resend_ticks = 15;
  return c;
}

// Runs one seed; returns "" or a failure description that names the seed.
std::string RunSeed(uint64_t seed, const PbftConfig& config = SweepConfig()) {
  std::mt19937_64 pick(seed ^ 0x5eed5eed5eedULL);
  SimNetwork net(4, seed, config);
  const uint32_t victim = static_cast<uint32_t>(pick() % 4);
  const int fault = static_cast<int>(pick() % 6);  // 0 none, 1 crash, 2 isolate, 3-5 Byzantine
  if (fault == 3) net.SetByzantine(victim, Byzantine::kEquivocate);
  if (fault == 4) net.SetByzantine(victim, Byzantine::kWrongDigest);
  if (fault == 5) net.SetByzantine(victim, Byzantine::kForge);
  net.Drop(-1, -1, static_cast<double>(pick() % 30) / 100.0);
  net.Delay(pick() % 4);
  net.Reorder(pick() % 2 == 0);
  if (pick() % 3 == 0) net.Replay(0.5);
  net.SubmitRange(0, 40);
  net.RunTicks(50 + pick() % 100);
  if (fault == 1) net.Crash(victim);
  if (fault == 2) {
    std::vector<uint32_t> rest;
    for (uint32_t i = 0; i < 4; ++i) {
      if (i != victim) rest.push_back(i);
    }
    net.Partition(rest, {victim});
  }
  net.SubmitRange(40, 40);
  net.RunTicks(200 + pick() % 200);
  if (!net.safety_violation().empty()) return "safety before heal: " + net.Describe();
  net.Heal();
  if (fault == 1 && pick() % 2 == 0) net.Restart(victim);
  net.SubmitRange(80, 20);
  if (!net.RunUntilAllCommitted(30000)) return "liveness after heal: " + net.Describe();
  if (!net.safety_violation().empty()) return "safety after heal: " + net.Describe();
  return "";
}

// Ticks after the last heal within which every replica must be in one view: a handful of
// view-change rounds (the timeout doubles at most twice here).
constexpr uint64_t kOneViewBound = 20 * 30;

// Runs one seed of partitions that heal: a few rounds, each cutting off one replica (a
// backup or the primary) or splitting 2-2 for several view-change timeouts, then healing.
// Afterwards: no fork, every replica in one view within kOneViewBound ticks, everything
// committed, and with one more replica crashed the other three still commit (so the ones
// cut off earlier vote again). Returns "" or a failure naming the seed; *rejoin gets the
// ticks the last heal took to reach one view.
std::string RunHealingSeed(uint64_t seed, uint64_t* rejoin) {
  std::mt19937_64 pick(seed ^ 0x4ea1ed5eedULL);
  SimNetwork net(4, seed, SweepConfig());
  uint64_t next = 0;
  auto submit = [&](uint64_t count) {
    net.SubmitRange(next, count);
    next += count;
  };
  auto adversary = [&] {
    net.Drop(-1, -1, static_cast<double>(pick() % 15) / 100.0);
    net.Delay(pick() % 3);
    net.Reorder(pick() % 2 == 0);
  };
  adversary();
  submit(30);
  net.RunTicks(50 + pick() % 100);
  const int rounds = 1 + static_cast<int>(pick() % 3);
  for (int r = 0; r < rounds; ++r) {
    const int kind = static_cast<int>(pick() % 5);  // 0-2 a backup, 3 the primary, 4 2-2
    uint32_t lone = static_cast<uint32_t>(pick() % 4);
    if (kind <= 2) {
      while (lone == net.core(0).primary() && net.up(lone)) lone = (lone + 1) % 4;
    } else if (kind == 3) {
      lone = net.core((lone + 1) % 4).primary();
    }
    if (kind == 4) {
      const uint32_t a = static_cast<uint32_t>(pick() % 3) + 1;  // 0 pairs with a
      std::vector<uint32_t> g1 = {0, a};
      std::vector<uint32_t> g2;
      for (uint32_t i = 1; i < 4; ++i) {
        if (i != a) g2.push_back(i);
      }
      net.Partition(g1, g2);
    } else {
      std::vector<uint32_t> rest;
      for (uint32_t i = 0; i < 4; ++i) {
        if (i != lone) rest.push_back(i);
      }
      net.Partition(rest, {lone});
    }
    submit(20);
    net.RunTicks(100 + pick() % 500);  // 3 to 20 view-change timeouts
    if (!net.safety_violation().empty()) return "safety while cut: " + net.Describe();
    net.Heal();
    if (r + 1 < rounds) {
      adversary();
      net.RunTicks(pick() % 200);
    }
  }
  *rejoin = net.RunUntilOneView(kOneViewBound);
  if (*rejoin > kOneViewBound) return "not one view after heal: " + net.Describe();
  submit(20);
  if (!net.RunUntilAllCommitted(30000)) return "liveness after heal: " + net.Describe();
  if (!net.safety_violation().empty()) return "safety after heal: " + net.Describe();
  uint32_t down = static_cast<uint32_t>(pick() % 4);
  if (down == net.core(0).primary()) down = (down + 1) % 4;
  net.Crash(down);
  submit(20);
  if (!net.RunUntilAllCommitted(30000)) return "liveness with one down: " + net.Describe();
  if (!net.safety_violation().empty()) return "safety with one down: " + net.Describe();
  return "";
}

struct SeedRange {
  uint64_t first = kFirstSeed;
  uint64_t count = kSeeds;
};

SeedRange SeedsFromEnv() {
  SeedRange r;
  if (const char* env = std::getenv("PL_SIM_SEEDS")) r.count = std::strtoull(env, nullptr, 10);
  if (const char* env = std::getenv("PL_SIM_SEED")) {
    r.first = std::strtoull(env, nullptr, 10);
    r.count = 1;
  }
  return r;
}

TEST(SimSweep, TwoHundredSeedsKeepSafetyAndRecoverAfterHeal) {
  const SeedRange range = SeedsFromEnv();
  int failures = 0;
  for (uint64_t seed = range.first; seed < range.first + range.count; ++seed) {
    const std::string err = RunSeed(seed);
    if (!err.empty()) {
      ADD_FAILURE() << err;
      if (++failures >= 5) break;
    }
  }
}

// Self-clocking, the node's default (--block_cut_in_flight=1; PbftConfig::full_cut_in_flight
// is 0 unless the shell sets it): a primary with a block in flight holds a partial batch for
// the round. The same adversaries, the first 50 seeds (or the environment's): still safe, still
// live after the heal.
TEST(SimSweep, ASelfClockingPrimaryKeepsSafetyAndRecoversAfterHeal) {
  SeedRange range = SeedsFromEnv();
  if (std::getenv("PL_SIM_SEEDS") == nullptr && std::getenv("PL_SIM_SEED") == nullptr) {
    range.count = 50;
  }
  PbftConfig config = SweepConfig();
  config.full_cut_in_flight = 1;
  int failures = 0;
  for (uint64_t seed = range.first; seed < range.first + range.count; ++seed) {
    const std::string err = RunSeed(seed, config);
    if (!err.empty()) {
      ADD_FAILURE() << "self-clocking: " << err;
      if (++failures >= 5) break;
    }
  }
}

TEST(SimSweep, PartitionsThatHealNeverForkAndLeaveEveryReplicaVotingInOneView) {
  const SeedRange range = SeedsFromEnv();
  int failures = 0;
  uint64_t worst = 0;
  uint64_t sum = 0;
  for (uint64_t seed = range.first; seed < range.first + range.count; ++seed) {
    uint64_t rejoin = 0;
    const std::string err = RunHealingSeed(seed, &rejoin);
    worst = std::max(worst, rejoin);
    sum += rejoin;
    if (!err.empty()) {
      ADD_FAILURE() << err;
      if (++failures >= 5) break;
    }
  }
  std::printf("one view after the last heal: mean %.1f ticks, worst %llu (bound %llu)\n",
              static_cast<double>(sum) / static_cast<double>(range.count),
              static_cast<unsigned long long>(worst),
              static_cast<unsigned long long>(kOneViewBound));
}

TEST(SimSweep, TheSameSeedReplaysTheSameRun) {
  SimNetwork a(4, 77, SweepConfig());
  SimNetwork b(4, 77, SweepConfig());
  for (SimNetwork* net : {&a, &b}) {
    net->Drop(-1, -1, 0.2);
    net->Delay(3);
    net->Reorder(true);
    net->SubmitRange(0, 30);
    net->RunTicks(300);
  }
  EXPECT_EQ(a.Describe(), b.Describe());
  EXPECT_EQ(a.delivered(), b.delivered());
  for (uint64_t h = 1; h <= a.committed_height(1); ++h) {
    EXPECT_EQ(a.committed_hash(1, h), b.committed_hash(1, h));
  }
}

}  // namespace
}  // namespace testing
}  // namespace consensus
}  // namespace provledger
