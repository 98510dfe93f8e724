// Fuzzes the agent's IMA measurement list parser (agent/ima_log.h): ParseImaList never fails
// and accounts for what it read; every line ParseImaLine accepts formats back to a line that
// parses to the same entry; an entry ParseImaList keeps either is a violation or its template
// hash checks.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/ima_log.h"
#include "tests/fuzz/fuzz_check.h"

namespace ag = ::provledger::agent;

namespace {
bool SameEntry(const ag::ImaEntry& x, const ag::ImaEntry& y) {
  return x.pcr == y.pcr && x.template_hash == y.template_hash && x.templ == y.templ &&
         x.hash_algorithm == y.hash_algorithm && x.file_digest == y.file_digest &&
         x.path == y.path && x.sig == y.sig;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ag::ImaChunk chunk = ag::ParseImaList(text, 1, 1000);
  FUZZ_CHECK(chunk.consumed_bytes <= text.size());
  FUZZ_CHECK(chunk.entries.size() == chunk.entry_ends.size());
  FUZZ_CHECK(chunk.entries.size() + chunk.skipped.size() <= chunk.lines);
  for (const ag::ImaEntry& e : chunk.entries) {
    FUZZ_CHECK(e.violation() || ag::CheckTemplateHash(e).ok());
  }
  // Each line on its own.
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto entry = ag::ParseImaLine(text.substr(start, end - start));
    if (entry.ok()) {
      std::string line = ag::FormatImaLine(*entry);
      auto again = ag::ParseImaLine(line);
      FUZZ_CHECK(again.ok());
      FUZZ_CHECK(SameEntry(*entry, *again));
      (void)ag::ToMeasurementEntry(*entry);
    }
    start = end + 1;
  }
  return 0;
}
