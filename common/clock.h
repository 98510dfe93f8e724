// SteadyMs: milliseconds on a monotonic clock, for deadlines, timeouts and rate limits. It
// never jumps when the wall clock is set (NTP, an operator), so a deadline computed from it
// neither fires early nor never. Its zero is arbitrary (boot): compare two readings, never
// show one. Wall-clock time (log timestamps, block timestamps) stays NowMs() in log.h.
//
// Thread rules: pure functions; any thread.
#ifndef PROVLEDGER_COMMON_CLOCK_H_
#define PROVLEDGER_COMMON_CLOCK_H_

#include <time.h>

#include <chrono>
#include <cstdint>

namespace provledger {

inline uint64_t SteadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// The calling thread's CPU time in seconds (CLOCK_THREAD_CPUTIME_ID), for benchmarks that
// must not count time the machine gave to other work.
inline double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_CLOCK_H_
