// What a test seam binary (tests/integration:*_seam.cc) reads from its environment: the test
// sets PL_TEST_* variables on the process it starts.
//
// Thread rules: reads the environment; call before threads that may setenv (none do here).
#ifndef PROVLEDGER_TESTS_INTEGRATION_SEAM_ENV_H_
#define PROVLEDGER_TESTS_INTEGRATION_SEAM_ENV_H_

#include <cstdint>
#include <cstdlib>

namespace provledger {

// The positive integer `name` holds; `fallback` when it is unset, 0 or not a number.
inline uint64_t PositiveFromEnv(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  const uint64_t n = v != nullptr ? std::strtoull(v, nullptr, 10) : 0;
  return n > 0 ? n : fallback;
}

}  // namespace provledger

#endif  // PROVLEDGER_TESTS_INTEGRATION_SEAM_ENV_H_
