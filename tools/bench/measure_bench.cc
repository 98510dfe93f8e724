// measure_bench: how fast the agent measures a file (agent/file_measurer.h HashFile: open,
// 64 KiB reads, EVP digest, hex) against the digest alone over the same bytes already in
// memory (EVP, one call: the `openssl speed -evp sha256` ceiling), in the same run.
//
//   bazel run -c opt //tools/bench:measure_bench -- [--runs=1000] [--algorithm=sha256|sm3]
//
// Files of the seed paper's sizes (149,128 B like sudo, 964,220 B like bash, 2,271,600 B
// like Xorg), random bytes, in a temporary folder (page cache warm after the first run,
// as for binaries a device runs). Each run hashes the file, then the in-memory copy,
// alternately, so both see the same machine load. Figures use this thread's CPU time
// (user + system: the reads count), which other processes on a loaded machine disturb
// less than wall time; wall-time means are printed beside. ratio = in-memory time / file
// time, i.e. the file measurement's throughput as a fraction of the ceiling's.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "agent/digest.h"
#include "agent/file_measurer.h"
#include "common/clock.h"
#include "common/command_line.h"
#include "common/ecdsa.h"
#include "common/file_io.h"

ABSL_FLAG(uint64_t, runs, 1000, "runs per file size");
ABSL_FLAG(std::string, algorithm, "sha256", "sha256 or sm3");
ABSL_FLAG(std::string, dir, "", "folder for the test files (default: a new one in /tmp)");

namespace provledger::bench {
namespace {

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
double WallNow() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

volatile size_t g_sink;

int Main(int argc, char** argv) {
  StatusOr<CommandLine> cl = SplitCommandLine(argc, argv, 1);
  if (!cl.ok() || cl->help) {
    std::fprintf(cl.ok() ? stdout : stderr, "usage: measure_bench [--runs=N] [--algorithm=A]\n");
    PrintFlagHelp(stdout, {"runs", "algorithm", "dir"});
    return cl.ok() ? 0 : 2;
  }
  if (Status s = ApplyCommandLine(argv[0], *cl); !s.ok()) {
    std::fprintf(stderr, "measure_bench: %s\n", s.ToString().c_str());
    return 2;
  }
  const uint64_t runs = absl::GetFlag(FLAGS_runs);
  const std::string alg = absl::GetFlag(FLAGS_algorithm);
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    std::string tmpl = "/tmp/measure_bench.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return 1;
    dir = tmpl;
  }
  StatusOr<std::unique_ptr<agent::Digester>> mem = agent::Digester::Create(alg);
  if (!mem.ok()) {
    std::fprintf(stderr, "measure_bench: %s\n", mem.status().ToString().c_str());
    return 2;
  }
  std::printf("{\"algorithm\":\"%s\",\"runs\":%llu,\"clock\":\"thread_cpu\"}\n", alg.c_str(),
              static_cast<unsigned long long>(runs));
  for (size_t size : {size_t{149128}, size_t{964220}, size_t{2271600}}) {
    const std::string path = dir + "/file-" + std::to_string(size);
    const Bytes data = RandomBytes(size);
    if (!WriteFileAtomically(path, data, 0600).ok()) return 1;
    std::vector<double> file_cpu, mem_cpu;
    double file_wall = 0, mem_wall = 0;
    for (uint64_t r = 0; r < runs; ++r) {
      double w = WallNow(), c = ThreadCpuSeconds();
      StatusOr<std::string> h = agent::HashFile(path, alg);
      file_cpu.push_back(ThreadCpuSeconds() - c);
      file_wall += WallNow() - w;
      if (!h.ok()) return 1;
      g_sink = h->size();
      w = WallNow();
      c = ThreadCpuSeconds();
      (*mem)->Update(data);
      g_sink = (*mem)->Finish().size();
      mem_cpu.push_back(ThreadCpuSeconds() - c);
      mem_wall += WallNow() - w;
    }
    double fsum = 0, msum = 0;
    for (double x : file_cpu) fsum += x;
    for (double x : mem_cpu) msum += x;
    const double n = static_cast<double>(runs);
    const double mb = static_cast<double>(size) / 1e6;
    std::printf(
        "{\"size\":%zu,\"file_us_mean\":%.1f,\"file_us_p50\":%.1f,\"file_us_p99\":%.1f,"
        "\"memory_us_mean\":%.1f,\"file_mb_s\":%.1f,\"memory_mb_s\":%.1f,\"ratio\":%.3f,"
        "\"ratio_p50\":%.3f,\"file_wall_us_mean\":%.1f,\"memory_wall_us_mean\":%.1f}\n",
        size, fsum / n * 1e6, Percentile(file_cpu, 0.5) * 1e6, Percentile(file_cpu, 0.99) * 1e6,
        msum / n * 1e6, mb / (fsum / n), mb / (msum / n), msum / fsum,
        Percentile(mem_cpu, 0.5) / Percentile(file_cpu, 0.5), file_wall / n * 1e6,
        mem_wall / n * 1e6);
    std::fflush(stdout);
    ::unlink(path.c_str());
  }
  if (absl::GetFlag(FLAGS_dir).empty()) ::rmdir(dir.c_str());
  return 0;
}

}  // namespace
}  // namespace provledger::bench

int main(int argc, char** argv) { return provledger::bench::Main(argc, argv); }
