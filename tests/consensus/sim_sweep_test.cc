// Seeded sweep: each seed draws an adversary (drops, delays, reordering, replays, and one
// crashed, partitioned or Byzantine replica), runs it, heals, and checks safety at every
// step and liveness after healing. PL_SIM_SEED=<n> runs that one seed only;
// PL_SIM_SEEDS=<count> sweeps more seeds (from 1).
#include <gtest/gtest.h>

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
std::string RunSeed(uint64_t seed) {
  std::mt19937_64 pick(seed ^ 0x5eed5eed5eedULL);
  SimNetwork net(4, seed, SweepConfig());
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

TEST(SimSweep, TwoHundredSeedsKeepSafetyAndRecoverAfterHeal) {
  uint64_t first = kFirstSeed;
  uint64_t count = kSeeds;
  if (const char* env = std::getenv("PL_SIM_SEEDS")) count = std::strtoull(env, nullptr, 10);
  if (const char* env = std::getenv("PL_SIM_SEED")) {
    first = std::strtoull(env, nullptr, 10);
    count = 1;
  }
  int failures = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    const std::string err = RunSeed(seed);
    if (!err.empty()) {
      ADD_FAILURE() << err;
      if (++failures >= 5) break;
    }
  }
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
