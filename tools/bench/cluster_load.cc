// cluster_load: drives a running cluster with gateway-signed batches and prints committed
// records/s and commit latency (submit -> answer) percentiles.
//
//   cluster_load --nodes=H:P[,H:P...] --genesis=FILE --gateway=ID --gateway_key=FILE
//                --device=ID [--threads=8] [--batch=500] [--seconds=10] [--rate=0]
//                [--warmup_s=1] [--timeout_ms=30000] [--payload_min=256] [--payload_max=256]
//                [--json]
//
// K threads each submit batches of B readings (reading-shaped JSON payloads of
// payload_min..payload_max bytes, 256 by default, distinct per seq, sent with the batch so the
// nodes store them; MAC auth: no device signature) one at a time, thread k first to node k mod N
// (failover to the others). With
// --rate (records/s offered, all threads together) a thread sends its next batch on a fixed
// schedule, or at once when it is late (late sends are counted); --rate=0 sends as fast as
// the answers come. Batches sent during the warm-up are not counted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "client/gateway_batch.h"
#include "client/ledger_client.h"
#include "client/transport_security.h"
#include "common/command_line.h"
#include "common/ecdsa.h"
#include "common/json.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/genesis.h"
#include "ledger/record.h"

ABSL_FLAG(std::string, nodes, "", "validators H:P[,H:P...]; thread k starts at node k mod N");
ABSL_FLAG(std::string, genesis, "", "genesis FILE (chain id)");
ABSL_FLAG(std::string, gateway, "", "registered gateway id the batches are signed as");
ABSL_FLAG(std::string, gateway_key, "", "its private key FILE");
ABSL_FLAG(std::string, device, "", "registered device id of the readings");
ABSL_FLAG(uint64_t, threads, 8, "submitting threads");
ABSL_FLAG(uint64_t, batch, 500, "readings a batch");
ABSL_FLAG(uint64_t, seconds, 10, "measured run time");
ABSL_FLAG(uint64_t, rate, 0, "records/s offered, all threads together; 0 = as fast as answered");
ABSL_FLAG(uint64_t, warmup_s, 1, "seconds before counting");
ABSL_FLAG(uint64_t, timeout_ms, 30000, "deadline of each submit");
ABSL_FLAG(uint64_t, payload_min, 256, "smallest payload, bytes (>= 32)");
ABSL_FLAG(uint64_t, payload_max, 256,
          "largest payload, bytes (sizes spread over min..max by a hash of the seq)");
ABSL_FLAG(bool, json, false, "one JSON line instead of text");

namespace provledger::bench {
namespace {

namespace v1 = provledger::v1;
using Clock = std::chrono::steady_clock;

void PrintUsage() {
  std::fputs("usage: cluster_load [flags]   (--flagfile=FILE: flags from FILE)\n", stdout);
  PrintFlagHelp(
      stdout, {"nodes", "genesis", "gateway", "gateway_key", "device", "threads", "batch",
               "seconds", "rate", "warmup_s", "timeout_ms", "payload_min", "payload_max", "json"});
}

struct Config {
  std::vector<std::string> nodes;
  std::string chain_id, gateway, device;
  PrivateKey key = PrivateKey::Generate();
  uint64_t threads = 8, batch = 500, seconds = 10, rate = 0, warmup_s = 1, timeout_ms = 30000;
  uint64_t payload_min = 256, payload_max = 256;
};

struct Stats {
  std::mutex mu;
  std::vector<double> latency_ms;  // counted batches
  uint64_t committed = 0, other = 0, errors = 0, late = 0, sent = 0;
  std::string first_error;
};

// A reading-shaped JSON payload for `seq`: {"seq":..,"r":[{"k":"s7","v":12.34},..]} padded
// with more readings to a size spread over payload_min..payload_max by a hash of the seq, so
// it compresses about as a sensor's JSON does (repeated keys, varying digits). Distinct per
// seq.
Bytes ReadingPayload(const Config& c, uint64_t seq) {
  uint64_t x = seq * 0x9E3779B97F4A7C15ull + 1;  // xorshift state, never 0
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const uint64_t size = c.payload_min + next() % (c.payload_max - c.payload_min + 1);
  Bytes p = "{\"seq\":" + std::to_string(seq) + ",\"r\":[";
  while (p.size() < size) {
    const uint64_t v = next();
    p += "{\"k\":\"s" + std::to_string(v % 16) + "\",\"v\":" + std::to_string(v % 4000 / 100) +
         "." + std::to_string(v / 4000 % 90 + 10) + "},";
  }
  p.resize(size);  // cut mid-reading: a size, not valid JSON, is what is measured
  return p;
}

// One gateway batch of `n` readings with seqs from `first_seq`.
StatusOr<v1::SignedBatch> MakeBatch(const Config& c, uint64_t first_seq, uint64_t n) {
  v1::SignedBatch b;
  const uint64_t now = NowMs();
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t seq = first_seq + i;
    const Bytes payload = ReadingPayload(c, seq);
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kReading;
    auto& r = rec.reading;
    r.device = c.device;
    r.item = "load";
    r.seq = seq;
    r.ts = now;
    r.payload_hash = Sha256(payload);
    r.auth = ledger::kAuthMac;
    r.gateway = c.gateway;
    r.received = now;
    b.add_records(ledger::EncodeRecord(rec));
    b.add_payloads(payload);
  }
  PL_RETURN_IF_ERROR(client::SignGatewayBatch(c.chain_id, c.gateway, c.key, &b));
  return b;
}

void Submitter(const Config& c, uint64_t k, uint64_t seq_base, Clock::time_point start, Stats* st) {
  std::vector<std::string> order;
  for (size_t j = 0; j < c.nodes.size(); ++j) order.push_back(c.nodes[(k + j) % c.nodes.size()]);
  client::ClientOptions o;
  o.timeout_ms = static_cast<uint32_t>(c.timeout_ms);
  auto cl = client::LedgerClient::Create(order, o);
  if (!cl.ok()) return;
  const auto warm_end = start + std::chrono::seconds(c.warmup_s);
  const auto end = warm_end + std::chrono::seconds(c.seconds);
  // Per-thread interval between batches for the offered rate.
  const double interval_s =
      c.rate == 0 ? 0 : static_cast<double>(c.batch) * c.threads / static_cast<double>(c.rate);
  uint64_t seq = seq_base;
  uint64_t i = 0;
  while (true) {
    auto due = start;
    if (interval_s > 0) {
      // Spread the threads over one interval so they do not send in step.
      due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                        interval_s * (static_cast<double>(i) +
                                      static_cast<double>(k) / static_cast<double>(c.threads))));
      if (due >= end) break;
      if (Clock::now() < due) {
        std::this_thread::sleep_until(due);
      } else if (Clock::now() - due > std::chrono::milliseconds(1) && due >= warm_end) {
        std::lock_guard<std::mutex> l(st->mu);
        ++st->late;
      }
    }
    ++i;
    auto batch = MakeBatch(c, seq, c.batch);
    seq += c.batch;
    if (!batch.ok()) {
      std::lock_guard<std::mutex> l(st->mu);
      ++st->errors;
      if (st->first_error.empty()) st->first_error = batch.status().ToString();
      return;
    }
    const auto t0 = Clock::now();
    if (t0 >= end) break;
    auto resp = (*cl)->Submit(*batch);
    const auto t1 = Clock::now();
    const bool counted = t0 >= warm_end && t1 <= end + std::chrono::seconds(5);
    std::lock_guard<std::mutex> l(st->mu);
    if (!resp.ok()) {
      ++st->errors;
      if (st->first_error.empty()) st->first_error = resp.status().ToString();
      continue;
    }
    if (!counted) continue;
    ++st->sent;
    st->latency_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    for (const auto& r : resp->results()) {
      if (r.outcome() == v1::RecordResult::COMMITTED)
        ++st->committed;
      else
        ++st->other;
    }
  }
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  return v[i];
}

Status Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  if (cl.help) {
    PrintUsage();
    return OkStatus();
  }
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("cluster_load"));
  Config c;
  PL_ASSIGN_OR_RETURN(std::string nodes, Require(FLAGS_nodes));
  c.nodes = SplitFlagList(nodes);
  if (c.nodes.empty()) return InvalidArgumentError("--nodes is empty");
  PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  c.chain_id = g.chain_id;
  PL_ASSIGN_OR_RETURN(c.gateway, Require(FLAGS_gateway));
  PL_ASSIGN_OR_RETURN(std::string kpath, Require(FLAGS_gateway_key));
  PL_ASSIGN_OR_RETURN(c.key, ReadKeyFile(kpath));
  PL_ASSIGN_OR_RETURN(c.device, Require(FLAGS_device));
  c.threads = absl::GetFlag(FLAGS_threads);
  c.batch = absl::GetFlag(FLAGS_batch);
  c.seconds = absl::GetFlag(FLAGS_seconds);
  c.rate = absl::GetFlag(FLAGS_rate);
  c.warmup_s = absl::GetFlag(FLAGS_warmup_s);
  c.timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  c.payload_min = absl::GetFlag(FLAGS_payload_min);
  c.payload_max = absl::GetFlag(FLAGS_payload_max);
  if (c.payload_min < 32 || c.payload_max < c.payload_min) {
    return InvalidArgumentError("need 32 <= --payload_min <= --payload_max");
  }
  if (c.threads == 0 || c.batch == 0 || c.seconds == 0) {
    return InvalidArgumentError("--threads, --batch and --seconds must be above 0");
  }

  // Seqs unique per run and thread: microseconds now, a wide gap per thread.
  const uint64_t seq_base = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  Stats st;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (uint64_t k = 0; k < c.threads; ++k) {
    threads.emplace_back(Submitter, std::cref(c), k, seq_base + k * 1000000000000ull, start, &st);
  }
  for (auto& t : threads) t.join();

  const double secs = static_cast<double>(c.seconds);
  const double rps = st.committed / secs;
  const double p50 = Percentile(st.latency_ms, 50), p95 = Percentile(st.latency_ms, 95),
               p99 = Percentile(st.latency_ms, 99);
  const double pmax = st.latency_ms.empty() ? 0 : st.latency_ms.back();
  if (absl::GetFlag(FLAGS_json)) {
    JsonValue o = JsonValue::Object();
    o.Set("threads", JsonValue::Int(c.threads));
    o.Set("batch", JsonValue::Int(c.batch));
    o.Set("seconds", JsonValue::Int(c.seconds));
    o.Set("offered_rate", JsonValue::Int(c.rate));
    o.Set("batches", JsonValue::Int(st.sent));
    o.Set("committed_records", JsonValue::Int(st.committed));
    o.Set("other_outcomes", JsonValue::Int(st.other));
    o.Set("errors", JsonValue::Int(st.errors));
    o.Set("late_sends", JsonValue::Int(st.late));
    o.Set("records_per_s", JsonValue::Int(static_cast<uint64_t>(rps)));
    o.Set("p50_us", JsonValue::Int(static_cast<uint64_t>(p50 * 1000)));
    o.Set("p95_us", JsonValue::Int(static_cast<uint64_t>(p95 * 1000)));
    o.Set("p99_us", JsonValue::Int(static_cast<uint64_t>(p99 * 1000)));
    o.Set("max_us", JsonValue::Int(static_cast<uint64_t>(pmax * 1000)));
    if (!st.first_error.empty()) o.Set("first_error", JsonValue::String(st.first_error));
    std::printf("%s\n", WriteJson(o).c_str());
  } else {
    std::printf(
        "batch %llu x %llu threads, offered %s: %.0f records/s committed over %.0fs (%llu "
        "batches); latency p50 %.1f ms p95 %.1f ms p99 %.1f ms max %.1f ms; %llu error(s), "
        "%llu late send(s)\n",
        static_cast<unsigned long long>(c.batch), static_cast<unsigned long long>(c.threads),
        c.rate == 0 ? "max" : (std::to_string(c.rate) + " records/s").c_str(), rps, secs,
        static_cast<unsigned long long>(st.sent), p50, p95, p99, pmax,
        static_cast<unsigned long long>(st.errors), static_cast<unsigned long long>(st.late));
    if (!st.first_error.empty()) std::printf("first error: %s\n", st.first_error.c_str());
  }
  return OkStatus();
}

}  // namespace
}  // namespace provledger::bench

int main(int argc, char** argv) {
  provledger::Status s = provledger::bench::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "cluster_load: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
