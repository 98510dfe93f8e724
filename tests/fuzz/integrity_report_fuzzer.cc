// Fuzzes the integrity report parser (PROTOCOL.md section 7, device_protocol): a report it
// accepts is within section 7's bounds, and writing it back gives a report that parses to
// the same JSON (IntegrityReportJson is the inverse of ParseIntegrityReport).
#include <cstddef>
#include <cstdint>
#include <string>

#include "device_protocol/integrity_report.h"
#include "tests/fuzz/fuzz_check.h"

namespace dp = ::provledger::device_protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto report = dp::ParseIntegrityReport(text);
  if (!report.ok()) return 0;
  FUZZ_CHECK(dp::IsBootId(report->boot));
  FUZZ_CHECK(report->entries.size() <= dp::kMaxReportEntries);
  for (const auto& e : report->entries) {
    FUZZ_CHECK(dp::IsMeasurementHash(e.hash));
    FUZZ_CHECK(!e.path.empty() && e.path.size() <= dp::kMaxMeasuredPathBytes);
  }
  std::string json = dp::IntegrityReportJson(*report);
  auto again = dp::ParseIntegrityReport(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(dp::IntegrityReportJson(*again) == json);
  return 0;
}
