// Paths for the agent's tests: runfiles and a fresh temporary folder per test.
#ifndef PROVLEDGER_TESTS_AGENT_TEST_PATHS_H_
#define PROVLEDGER_TESTS_AGENT_TEST_PATHS_H_

#include <stdlib.h>

#include <cstdlib>
#include <string>

namespace provledger::agent {

inline std::string RunfilePath(const std::string& rel) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/" + (ws != nullptr ? ws : "provledger") +
         "/" + rel;
}

inline std::string TestData(const std::string& name) {
  return RunfilePath("tests/agent/testdata/" + name);
}

// A new empty folder under TEST_TMPDIR (or /tmp).
inline std::string MakeTempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/agent.XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  return made != nullptr ? std::string(made) : std::string();
}

}  // namespace provledger::agent

#endif  // PROVLEDGER_TESTS_AGENT_TEST_PATHS_H_
