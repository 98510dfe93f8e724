// ledgerctl status --all (every node side by side, with a fork check) and ledgerctl watch
// (commits as they happen, with rates). The printing is in cluster_view.h; this file asks
// the nodes. docs/OPERATIONS.md "Watching a cluster".
#include <atomic>
#include <csignal>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "client/transport_security.h"
#include "common/clock.h"
#include "common/log.h"
#include "ledger/block_header.h"
#include "ledger/genesis.h"
#include "tools/ledgerctl/cluster_view.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(uint64_t, seconds, 0, "watch: stop after this many seconds (0: on SIGINT only)");
ABSL_FLAG(uint64_t, interval_ms, 200, "watch: how often the node is asked for its head, in ms");

namespace provledger::tools {
namespace {

// A deadline for status --all and watch: short unless --timeout_ms was given, so that one
// silent node costs about that long, not the 30 s a submission may need.
constexpr uint32_t kShortDeadlineMs = 2000;

uint32_t ReadDeadlineMs() {
  const uint64_t t = absl::GetFlag(FLAGS_timeout_ms);
  if (FlagsNotAtDefault({"timeout_ms"}).empty()) return kShortDeadlineMs;
  return static_cast<uint32_t>(std::min<uint64_t>(t, UINT32_MAX));
}

StatusOr<std::unique_ptr<client::LedgerClient>> ConnectOne(const std::string& addr) {
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("ledgerctl"));
  client::ClientOptions o;
  o.timeout_ms = ReadDeadlineMs();
  return client::LedgerClient::Create({addr}, o);
}

// Runs fn(i) for every i in [0, n) on threads of its own and waits for them all.
template <typename Fn>
void ForEachParallel(size_t n, Fn fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back([&fn, i] { fn(i); });
  for (auto& t : threads) t.join();
}

// Asks the node of `row` for its status and the timestamp of its head block.
void Probe(NodeRow* row) {
  auto cl = ConnectOne(row->address);
  if (!cl.ok()) {
    row->error = cl.status().ToString();
    return;
  }
  auto st = (*cl)->GetStatus();
  if (!st.ok()) {
    row->error = st.status().ToString();
    return;
  }
  row->up = true;
  row->status = *st;
  if (st->height() == 0) return;
  auto b = (*cl)->GetBlock(st->height());
  if (!b.ok()) return;
  auto hd = ledger::DecodeHeader(b->header());
  if (hd.ok()) row->head_timestamp = hd->timestamp;
}

// The hash of the node's block at `h` (its head hash when it stands there).
void ReadCommonHash(NodeRow* row, uint64_t h) {
  if (h == 0) {
    row->common_note = "no block yet";
    return;
  }
  if (row->status.height() == h) {
    row->common_hash = row->status.head_hash();
    return;
  }
  auto cl = ConnectOne(row->address);
  if (!cl.ok()) {
    row->common_note = cl.status().ToString();
    return;
  }
  auto b = (*cl)->GetBlock(h);
  if (!b.ok()) {
    // A light node or one installed from a checkpoint holds no body there: not a fork.
    row->common_note = b.status().ToString();
    return;
  }
  row->common_hash = ledger::HeaderHash(b->header());
}

// The validators (id, address) of the set in force on the first node that answered: from its
// Validators listing (the set whose digest its status names), else from --genesis.
std::vector<std::pair<std::string, std::string>> SetInForce(const std::vector<NodeRow>& rows) {
  for (const NodeRow& r : rows) {
    if (!r.up) continue;
    auto cl = ConnectOne(r.address);
    if (!cl.ok()) continue;
    auto listing = (*cl)->Validators();
    if (!listing.ok()) continue;
    for (const auto& set : listing->sets()) {
      if (set.digest() != r.status.validator_set_digest()) continue;
      std::vector<std::pair<std::string, std::string>> out;
      for (const auto& v : set.validators()) out.emplace_back(v.id(), v.address());
      return out;
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  const std::string gpath = absl::GetFlag(FLAGS_genesis);
  if (gpath.empty()) return out;
  auto g = ledger::LoadGenesis(gpath);
  if (!g.ok()) {
    std::fprintf(stderr, "ledgerctl status --all: %s\n", g.status().ToString().c_str());
    return out;
  }
  for (const auto& v : g->validators) out.emplace_back(v.id, v.address);
  return out;
}

constexpr int kExitUnreachable = 1;
constexpr int kExitFork = 3;

StatusOr<int> CmdStatusAll(const Ctx& c) {
  std::vector<NodeRow> rows;
  for (const std::string& a : SplitFlagList(absl::GetFlag(FLAGS_node))) {
    bool seen = false;
    for (const NodeRow& r : rows) seen = seen || r.address == a;
    if (!seen) rows.push_back(NodeRow{a});
  }
  if (rows.empty()) return InvalidArgumentError("--node is empty");
  ForEachParallel(rows.size(), [&rows](size_t i) { Probe(&rows[i]); });
  // Validators of the set in force not named by --node (by address, or by the id a node
  // answered with): asked as well, so a dead one shows.
  const size_t given = rows.size();
  for (const auto& [id, addr] : SetInForce(rows)) {
    bool seen = false;
    for (NodeRow& r : rows) {
      if (r.address == addr || (r.up && r.status.node_id() == id)) {
        if (r.expected_id.empty()) r.expected_id = id;
        seen = true;
      }
    }
    if (!seen) {
      NodeRow r{addr};
      r.expected_id = id;
      rows.push_back(std::move(r));
    }
  }
  ForEachParallel(rows.size() - given, [&rows, given](size_t i) { Probe(&rows[given + i]); });
  ClusterSummary sum = Summarize(rows);
  ForEachParallel(rows.size(), [&rows, &sum](size_t i) {
    if (rows[i].up) ReadCommonHash(&rows[i], sum.common_height);
  });
  sum = Summarize(rows);
  const uint64_t now = NowMs();
  if (c.json) {
    PrintJson(StatusTableJson(rows, sum, now));
  } else {
    std::fputs(FormatStatusTable(rows, sum, now).c_str(), stdout);
  }
  if (sum.fork) return kExitFork;
  return sum.unreachable > 0 ? kExitUnreachable : 0;
}

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

void Emit(const Ctx& c, const JsonValue& json, const std::string& text) {
  if (c.json) {
    std::printf("%s\n", WriteJson(json).c_str());
  } else {
    std::printf("%s\n", text.c_str());
  }
  std::fflush(stdout);
}

void EmitRate(const Ctx& c, const RateWindow& rates, uint64_t height) {
  auto r = rates.Get();
  if (!r) return;
  JsonValue o = JsonValue::Object();
  o.Set("type", JsonValue::String("rate"));
  o.Set("height", JsonValue::Int(height));
  // Counts over the window, not rates: the JSON writer takes integers only (PROTOCOL.md 1).
  o.Set("blocks", JsonValue::Int(static_cast<uint64_t>(r->blocks_per_s * r->seconds + 0.5)));
  o.Set("records", JsonValue::Int(static_cast<uint64_t>(r->records_per_s * r->seconds + 0.5)));
  o.Set("window_ms", JsonValue::Int(static_cast<uint64_t>(r->seconds * 1000 + 0.5)));
  Emit(c, o, FormatRateLine(*r, height));
}

// At most this many blocks are printed per poll; a node catching up thousands at once gets
// one "skipped" line instead of a flood.
constexpr uint64_t kMaxBlocksPerPoll = 50;
constexpr uint64_t kRateEveryMs = 5000;

StatusOr<int> CmdWatch(const Ctx& c) {
  const std::vector<std::string> addrs = SplitFlagList(absl::GetFlag(FLAGS_node));
  client::ClientOptions o;
  o.timeout_ms = ReadDeadlineMs();
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("ledgerctl"));
  PL_ASSIGN_OR_RETURN(auto cl, client::LedgerClient::Create(addrs, o));
  const std::optional<uint64_t> count = absl::GetFlag(FLAGS_count);
  const uint64_t seconds = absl::GetFlag(FLAGS_seconds);
  const uint64_t interval = std::max<uint64_t>(absl::GetFlag(FLAGS_interval_ms), 10);
  PL_ASSIGN_OR_RETURN(v1::NodeStatus st, cl->GetStatus());
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  {
    JsonValue j = JsonValue::Object();
    j.Set("type", JsonValue::String("start"));
    j.Set("node", JsonValue::String(st.node_id()));
    j.Set("height", JsonValue::Int(st.height()));
    j.Set("view", JsonValue::Int(st.view()));
    Emit(c, j,
         "watching " + st.node_id() + " (" + st.role() + "): height " +
             std::to_string(st.height()) + ", view " + std::to_string(st.view()));
  }
  RateWindow rates;
  const uint64_t start = SteadyMs();
  uint64_t last_rate = start;
  uint64_t last_h = st.height();  // the last block printed (or skipped)
  uint64_t head = st.height();    // the node's height at its last answer
  uint64_t printed = 0;
  bool unreachable = false;
  rates.Add(start, st.height(), st.records());
  auto done = [&] {
    return g_stop.load() || (count && printed >= *count) ||
           (seconds > 0 && SteadyMs() - start >= seconds * 1000);
  };
  while (!done()) {
    // Sleep in short slices so SIGINT or --seconds end the watch promptly.
    const uint64_t wake = SteadyMs() + interval;
    while (!done() && SteadyMs() < wake) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (done()) break;
    auto s = cl->GetStatus();
    const uint64_t now = SteadyMs();
    if (!s.ok()) {
      if (!unreachable) {
        JsonValue j = JsonValue::Object();
        j.Set("type", JsonValue::String("unreachable"));
        j.Set("error", JsonValue::String(s.status().ToString()));
        Emit(c, j, "unreachable: " + s.status().ToString());
      }
      unreachable = true;
      continue;
    }
    if (unreachable) {
      JsonValue j = JsonValue::Object();
      j.Set("type", JsonValue::String("reachable"));
      j.Set("node", JsonValue::String(s->node_id()));
      Emit(c, j, "answering again: " + s->node_id() + " at height " + std::to_string(s->height()));
      unreachable = false;
    }
    rates.Add(now, s->height(), s->records());
    head = s->height();
    if (s->height() < last_h) {
      JsonValue j = JsonValue::Object();
      j.Set("type", JsonValue::String("height_back"));
      j.Set("from", JsonValue::Int(last_h));
      j.Set("to", JsonValue::Int(s->height()));
      Emit(c, j,
           "height went back from " + std::to_string(last_h) + " to " +
               std::to_string(s->height()) + " (another node, or a node on another store)");
      last_h = s->height();
    }
    if (s->height() > last_h) {
      uint64_t from = last_h + 1;
      if (s->height() - last_h > kMaxBlocksPerPoll) {
        from = s->height() - kMaxBlocksPerPoll + 1;
        JsonValue j = JsonValue::Object();
        j.Set("type", JsonValue::String("skipped"));
        j.Set("blocks", JsonValue::Int(from - last_h - 1));
        Emit(c, j, "... " + std::to_string(from - last_h - 1) + " block(s) not shown");
        last_h = from - 1;
      }
      for (uint64_t h = from; h <= s->height() && !(count && printed >= *count); ++h) {
        JsonValue j = JsonValue::Object();
        j.Set("type", JsonValue::String("block"));
        j.Set("height", JsonValue::Int(h));
        auto b = cl->GetBlock(h);
        StatusOr<ledger::BlockHeader> hd =
            b.ok() ? ledger::DecodeHeader(b->header()) : StatusOr<ledger::BlockHeader>(b.status());
        if (!hd.ok()) {
          j.Set("error", JsonValue::String(hd.status().ToString()));
          Emit(c, j, "height " + std::to_string(h) + "  (" + hd.status().ToString() + ")");
        } else {
          const uint64_t wall = NowMs();
          const uint64_t age = wall > hd->timestamp ? wall - hd->timestamp : 0;
          j.Set("records", JsonValue::Int(hd->record_count));
          j.Set("proposer", JsonValue::String(hd->proposer));
          j.Set("view", JsonValue::Int(hd->view));
          j.Set("timestamp", JsonValue::Int(hd->timestamp));
          j.Set("age_ms", JsonValue::Int(age));
          Emit(c, j, FormatBlockLine(h, hd->record_count, hd->proposer, hd->view, age));
        }
        ++printed;
        last_h = h;  // --count may stop below the node's height: the rate line says where
      }
    }
    // Read the clock again: printing the blocks may have taken a while.
    if (SteadyMs() - last_rate >= kRateEveryMs) {
      EmitRate(c, rates, head);
      last_rate = SteadyMs();
    }
  }
  // A last rate line, so a short watch (--count, --seconds) still reports one.
  EmitRate(c, rates, head);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return 0;
}

}  // namespace

StatusOr<int> RunStatusAll(const Ctx& c) { return CmdStatusAll(c); }

CommandGroup MonitorCommands() {
  std::vector<std::string> flags = {"count", "seconds", "interval_ms"};
  flags.insert(flags.end(), kNodeFlags.begin(), kNodeFlags.end());
  return {"watching (status --all is under queries)",
          {{"watch", "[--count=N] [--seconds=S] [--interval_ms=MS]",
            "follows commits on a node live: a line per new block (height, records, proposer,\n"
            "view, age) and every 5 s a rate line (blocks/s, records/s over the last 10 s);\n"
            "stops on SIGINT, after N blocks or S seconds. --timeout_ms: 2000 unless given",
            flags, CmdWatch}}};
}

}  // namespace provledger::tools
