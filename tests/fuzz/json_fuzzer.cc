// Fuzzes common/json (PROTOCOL.md section 1's reader): any bytes parse or are refused with a
// Status, never a crash; an accepted document written back and read again is the same
// document (WriteJson is the inverse of ParseJson), and the pretty form reads back too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = provledger::ParseJson(text);
  if (parsed.ok()) {
    std::string compact = provledger::WriteJson(*parsed);
    auto again = provledger::ParseJson(compact);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(provledger::WriteJson(*again) == compact);
    auto pretty = provledger::ParseJson(provledger::WriteJsonPretty(*parsed));
    FUZZ_CHECK(pretty.ok());
    FUZZ_CHECK(provledger::WriteJson(*pretty) == compact);
  }
  // The number reader takes a wider grammar; it must refuse without crashing too.
  (void)provledger::ParseJsonNumberMember(text, "value");
  return 0;
}
