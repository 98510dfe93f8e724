// FUZZ_CHECK(cond): an invariant a fuzz target asserts. On failure it prints the condition and
// aborts, which libFuzzer reports as a crash and saves the input (NDEBUG does not remove it).
#ifndef PROVLEDGER_TESTS_FUZZ_FUZZ_CHECK_H_
#define PROVLEDGER_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

#endif  // PROVLEDGER_TESTS_FUZZ_FUZZ_CHECK_H_
