// Fuzzes the daemons' --config=FILE reader (common/command_line.h MergeJsonConfig) and the
// flag values it hands to Abseil: a file is refused with a Status or yields flags that are
// all registered, in the file's order, and setting them never crashes.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "tests/fuzz/fuzz_check.h"

// A string, an integer and a bool flag, as the node and the bridge define theirs.
ABSL_FLAG(std::string, listen, "127.0.0.1:7000", "a string flag");
ABSL_FLAG(uint64_t, batch_max, 100, "an integer flag");
ABSL_FLAG(bool, fsync, true, "a bool flag");
ABSL_FLAG(double, loss, 0.5, "a double flag");

namespace {
// The file each input is written to: in the test's temporary folder, removed at exit.
const std::string& ConfigPath() {
  static const std::string* path = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    auto* p = new std::string(std::string(tmp != nullptr ? tmp : "/tmp") + "/pl-config-fuzz-" +
                              std::to_string(getpid()) + ".json");
    std::atexit([] { std::remove(ConfigPath().c_str()); });
    return p;
  }();
  return *path;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = ConfigPath();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    FUZZ_CHECK(out.good());
  }
  provledger::CommandLine cl;
  cl.flags.push_back({"listen", "0.0.0.0:1"});
  auto merged = provledger::MergeJsonConfig(path, &cl);
  if (!merged.ok()) {
    FUZZ_CHECK(cl.flags.size() == 1);  // unchanged on error
    return 0;
  }
  FUZZ_CHECK(!cl.flags.empty() && cl.flags.back().name == "listen");
  (void)provledger::ApplyCommandLine("config_fuzzer", cl);
  return 0;
}
