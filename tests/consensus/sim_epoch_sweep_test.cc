// Seeded sweep over validator-set changes: each seed grows the set 4 -> 7, shrinks it to 6
// (removing a random original member) and replaces a random member's key, at random
// heights, under random message loss, delay, reordering and replays, with one validator
// crashing between a change and its epoch start and another right after an epoch starts
// (both restarted from their persisted votes and applied blocks). Checked at every step:
// no two blocks at one height, every certificate against the set in force at its height,
// no second vote; after each phase every request is committed, and in the end every
// member is in the last epoch with the chain past it. PL_SIM_SEED=<n> runs one seed;
// PL_SIM_SEEDS=<count> sweeps more (from 1); PL_SIM_SHOW=1 prints a line per seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
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

constexpr uint64_t kSeeds = 200;

PbftConfig EpochSweepConfig() {
  PbftConfig c;
  c.chain_id = "epoch-sweep";
  c.checkpoint_interval = 4;
  c.window = 3;
  c.max_batch_requests = 8;
  c.batch_timeout_ticks = 2;
  c.view_change_timeout_ticks = 30;
  c.resend_ticks = 15;
  return c;
}

uint64_t LowestUp(const SimNetwork& net) {
  uint64_t low = UINT64_MAX;
  for (uint32_t i = 0; i < net.members(); ++i) {
    if (net.up(i)) low = std::min(low, net.committed_height(i));
  }
  return low;
}

uint64_t HighestUp(const SimNetwork& net) {
  uint64_t high = 0;
  for (uint32_t i = 0; i < net.members(); ++i) {
    if (net.up(i)) high = std::max(high, net.committed_height(i));
  }
  return high;
}

template <typename Pred>
bool RunUntil(SimNetwork& net, uint64_t max_ticks, Pred done) {
  for (uint64_t t = 0; t < max_ticks; ++t) {
    if (done()) return true;
    net.RunTicks(1);
  }
  return done();
}

struct SeedStats {
  uint64_t ticks = 0;
  uint64_t height = 0;
  uint64_t other_epoch_drops = 0;
};

// Runs one seed; returns "" or a failure description that names the seed.
std::string RunEpochSeed(uint64_t seed, SeedStats* stats) {
  std::mt19937_64 pick(seed ^ 0xe90c4e90c4ULL);
  SimNetwork net(4, seed, EpochSweepConfig());
  net.Drop(-1, -1, static_cast<double>(pick() % 12) / 100.0);
  net.Delay(pick() % 3);
  net.Reorder(pick() % 2 == 0);
  if (pick() % 3 == 0) net.Replay(0.3);
  uint64_t next = 0;
  auto submit = [&](uint64_t count) {
    net.SubmitRange(next, count);
    next += count;
  };
  auto fail = [&](const std::string& what) {
    return what + ": " + net.Describe() +
           (net.safety_violation().empty() ? "" : " | " + net.safety_violation());
  };

  // The changes, at random heights. 4 -> 7 ...
  std::vector<SimMember> seven;
  for (uint32_t m = 0; m < 7; ++m) seven.push_back({m, 0});
  const uint64_t h1 = 3 + pick() % 10;
  const uint64_t e1 = net.ChangeSetAt(h1, seven);
  // ... 7 -> 6 without one of the original four ...
  const uint32_t removed = static_cast<uint32_t>(pick() % 4);
  std::vector<SimMember> six;
  for (const SimMember& m : seven) {
    if (m.member != removed) six.push_back(m);
  }
  const uint64_t h2 = e1 + 1 + pick() % 8;
  const uint64_t e2 = net.ChangeSetAt(h2, six);
  // ... and one of the six gets a new key.
  std::vector<SimMember> rekeyed = six;
  const uint32_t rekey = static_cast<uint32_t>(pick() % rekeyed.size());
  rekeyed[rekey].key_version = 1;
  const uint64_t h3 = e2 + 1 + pick() % 8;
  const uint64_t e3 = net.ChangeSetAt(h3, rekeyed);

  // Phase 1: a genesis validator crashes after the change is applied, before E1.
  submit(110);  // at least 14 blocks: past h1
  const uint32_t early = static_cast<uint32_t>(pick() % 4);
  const uint64_t crash_at = h1 + pick() % (e1 - h1 - 8);
  if (!RunUntil(net, 20000, [&] { return HighestUp(net) >= crash_at; })) {
    return fail("never reached the crash height");
  }
  net.Crash(early);
  // Phase 2: another member crashes right after it entered epoch E1.
  uint32_t late = static_cast<uint32_t>(pick() % 7);
  if (late == early) late = (late + 1) % 7;
  if (!RunUntil(net, 30000, [&] { return net.up(late) && net.epoch_of(late) == e1; })) {
    return fail("epoch E1 never started at member " + std::to_string(late));
  }
  net.Crash(late);
  submit(90);  // at least 12 blocks in E1: past h2
  net.RunTicks(100 + pick() % 400);
  net.Restart(early);
  net.RunTicks(pick() % 300);
  net.Restart(late);
  if (!net.RunUntilAllCommitted(60000)) return fail("liveness in E1");
  if (!net.safety_violation().empty()) return fail("safety in E1");
  // Phase 3: on to E2 (six validators) and E3 (the new key).
  if (!RunUntil(net, 30000, [&] { return LowestUp(net) >= e2; })) return fail("never reached E2");
  if (!net.removed(removed) || net.up(removed)) return fail("removed member still running");
  submit(90);  // past h3
  if (!net.RunUntilAllCommitted(60000)) return fail("liveness in E2");
  if (!RunUntil(net, 30000, [&] { return LowestUp(net) >= e3; })) return fail("never reached E3");
  submit(30);
  if (!net.RunUntilAllCommitted(60000)) return fail("liveness in E3");
  if (!net.safety_violation().empty()) return fail("safety");
  for (const SimMember& m : rekeyed) {
    if (!net.up(m.member) || net.epoch_of(m.member) != e3 || net.committed_height(m.member) <= e3) {
      return fail("member " + std::to_string(m.member) + " not past E3");
    }
    stats->other_epoch_drops += net.dropped(m.member, DropReason::kOtherEpoch);
  }
  stats->ticks = net.now();
  stats->height = LowestUp(net);
  return "";
}

// Runs seeds [first, first + count) (PL_SIM_SEED / PL_SIM_SEEDS override it, in the first
// part only) and prints a summary line.
void SweepSeeds(uint64_t first, uint64_t count, bool first_part) {
  if (const char* env = std::getenv("PL_SIM_SEEDS")) {
    if (!first_part) return;
    first = 1;
    count = std::strtoull(env, nullptr, 10);
  }
  if (const char* env = std::getenv("PL_SIM_SEED")) {
    if (!first_part) return;
    first = std::strtoull(env, nullptr, 10);
    count = 1;
  }
  const bool show = std::getenv("PL_SIM_SHOW") != nullptr;
  int failures = 0;
  uint64_t ticks = 0;
  uint64_t max_ticks = 0;
  uint64_t other_epoch = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SeedStats s;
    const std::string err = RunEpochSeed(seed, &s);
    if (show) {
      std::printf("seed %llu: %s ticks=%llu height=%llu\n", static_cast<unsigned long long>(seed),
                  err.empty() ? "ok" : err.c_str(), static_cast<unsigned long long>(s.ticks),
                  static_cast<unsigned long long>(s.height));
    }
    if (!err.empty()) {
      ADD_FAILURE() << err;
      if (++failures >= 5) break;
    }
    ticks += s.ticks;
    max_ticks = std::max(max_ticks, s.ticks);
    other_epoch += s.other_epoch_drops;
  }
  std::printf(
      "seeds %llu..%llu: mean %.0f ticks to E3 and everything committed, worst %llu; "
      "%llu messages of another epoch dropped\n",
      static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + count - 1),
      static_cast<double>(ticks) / static_cast<double>(count),
      static_cast<unsigned long long>(max_ticks), static_cast<unsigned long long>(other_epoch));
}

// Eight parts of kSeeds / 8 seeds each, so that test shards run them side by side.
constexpr uint64_t kPart = kSeeds / 8;
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart1) {
  SweepSeeds(1 + 0 * kPart, kPart, true);
}
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart2) {
  SweepSeeds(1 + 1 * kPart, kPart, false);
}
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart3) {
  SweepSeeds(1 + 2 * kPart, kPart, false);
}
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart4) {
  SweepSeeds(1 + 3 * kPart, kPart, false);
}
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart5) {
  SweepSeeds(1 + 4 * kPart, kPart, false);
}
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart6) {
  SweepSeeds(1 + 5 * kPart, kPart, false);
}
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart7) {
  SweepSeeds(1 + 6 * kPart, kPart, false);
}
TEST(SimEpochSweep, SetChangesWithCrashesMidChangeNeverForkAndKeepCommittingPart8) {
  SweepSeeds(1 + 7 * kPart, kPart, false);
}

}  // namespace
}  // namespace testing
}  // namespace consensus
}  // namespace provledger
