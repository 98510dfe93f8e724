// json_bench: common/json parse and write speed on the documents the ledger reads.
//
//   bazel run -c opt //tools/bench:json_bench
//
// Documents: the PROTOCOL.md Appendix A.5 genesis file (651 bytes); about 1 MB of
// reading-shaped objects (a device message per element: integers, short strings, a hex
// payload); about 1 MB of strings with escapes and multi-byte UTF-8. For each: parse
// MB/s and documents/s, then WriteJson MB/s of the parsed value. One thread; each figure is
// the best of 5 runs of at least 0.3 s of this thread's CPU time (so that other processes on
// a loaded machine count less).
//
// With --count, parses each document a fixed number of times (genesis 10,000, the others 10)
// and prints nothing: for an instruction count that load does not change,
//   valgrind --tool=callgrind --toggle-collect='provledger::ParseJson*' json_bench --count \
//       [genesis|readings|strings]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/clock.h"
#include "common/json.h"

namespace provledger::bench {
namespace {

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
double Secs(double since) { return ThreadCpuSeconds() - since; }

volatile size_t g_sink;  // keeps results alive

constexpr char kGenesis[] = R"({"chain_id": "pl-test", "created": 1700000000000,
 "validators": [
  {"id": "v0", "pubkey": "023056ef9c50822a7d9c2bb084898e26c71dcdcee794a05e773588c1d239692551", "address": "127.0.0.1:7000"},
  {"id": "v1", "pubkey": "026ce74acd66895dce56f3aa80ad3ebfea8329636ef33d578e12ee9ef9b4bb762b", "address": "127.0.0.1:7001"},
  {"id": "v2", "pubkey": "0320059b4a8d36e056c618cd61f6e3c8efdc8038fc5f5e605fd5c52d8e57a72811", "address": "127.0.0.1:7002"},
  {"id": "v3", "pubkey": "0274b5ab75a853bbd1caad346b06057c9eb17d85b68b094728dd0060e031f6715a", "address": "127.0.0.1:7003"}],
 "admins": ["02889519fe2b1d38b5fee0c5dd005e9809729951dce11b5d847cc98624577dd1bc"]}
)";

std::string Readings(size_t min_bytes) {
  std::string s = "[";
  for (uint64_t i = 0; s.size() < min_bytes; ++i) {
    if (i > 0) s += ",\n";
    s += R"({"v":1,"device":"dev-)" + std::to_string(i % 97) + R"(","item":"climate","seq":)" +
         std::to_string(i + 1) + R"(,"ts":)" + std::to_string(1700000000000 + 1000 * i) +
         R"(,"payload":"7b2274223a32312e357d0a000102030405060708090a0b0c0d0e0f",)" +
         R"("ok":true,"tags":["a","b"],"extra":null})";
  }
  return s + "]";
}

std::string Strings(size_t min_bytes) {
  std::string s = "[";
  for (uint64_t i = 0; s.size() < min_bytes; ++i) {
    if (i > 0) s += ",";
    s += R"("line \")" + std::to_string(i) +
         R"(\"\n\tcaf\u00e9 \ud83d\ude00 )"
         "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
         R"( /path\/x")";
  }
  return s + "]";
}

void Count(const std::string& doc) {
  const int n = doc.size() < 10000 ? 10000 : 10;
  for (int i = 0; i < n; ++i) g_sink = ParseJson(doc)->items().size();
}

void Bench(const char* name, const std::string& doc) {
  StatusOr<JsonValue> first = ParseJson(doc);
  if (!first.ok()) {
    std::fprintf(stderr, "json_bench: %s: %s\n", name, first.status().ToString().c_str());
    std::exit(1);
  }
  const int batch = doc.size() < 10000 ? 1000 : 1;
  double best_parse = 0, best_write = 0;
  for (int run = 0; run < 5; ++run) {
    size_t n = 0;
    double t0 = ThreadCpuSeconds();
    while (Secs(t0) < 0.3) {
      for (int i = 0; i < batch; ++i) g_sink = ParseJson(doc)->items().size();
      n += batch;
    }
    best_parse = std::max(best_parse, n / Secs(t0));
    n = 0;
    t0 = ThreadCpuSeconds();
    while (Secs(t0) < 0.3) {
      for (int i = 0; i < batch; ++i) g_sink = WriteJson(*first).size();
      n += batch;
    }
    best_write = std::max(best_write, n / Secs(t0));
  }
  std::printf("%-9s bytes=%-8zu parse %8.1f MB/s %10.0f docs/s   write %8.1f MB/s\n", name,
              doc.size(), best_parse * doc.size() / 1e6, best_parse, best_write * doc.size() / 1e6);
}

}  // namespace
}  // namespace provledger::bench

int main(int argc, char** argv) {
  using namespace provledger::bench;
  if (argc > 1 && std::string(argv[1]) == "--count") {
    const std::string only = argc > 2 ? argv[2] : "";
    if (only.empty() || only == "genesis") Count(kGenesis);
    if (only.empty() || only == "readings") Count(Readings(1 << 20));
    if (only.empty() || only == "strings") Count(Strings(1 << 20));
    return 0;
  }
  std::printf("# json_bench (one thread, best of 5)\n");
  Bench("genesis", kGenesis);
  Bench("readings", Readings(1 << 20));
  Bench("strings", Strings(1 << 20));
  return 0;
}
