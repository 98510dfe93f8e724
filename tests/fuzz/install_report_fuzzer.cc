// Fuzzes the install report parser (PROTOCOL.md section 8, device_protocol): an accepted
// report is section 8's shape, and InstallReportJson reads back to the same report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "device_protocol/device_message.h"
#include "device_protocol/firmware_manifest.h"
#include "ledger/record.h"
#include "tests/fuzz/fuzz_check.h"

namespace dp = ::provledger::device_protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)dp::IsSemver(text);
  auto report = dp::ParseInstallReport(text);
  if (!report.ok()) return 0;
  FUZZ_CHECK(provledger::ledger::IsValidName(report->vendor));
  FUZZ_CHECK(provledger::ledger::IsValidName(report->model));
  FUZZ_CHECK(dp::IsSemver(report->version));
  std::string json = dp::InstallReportJson(*report);
  auto again = dp::ParseInstallReport(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->vendor == report->vendor && again->model == report->model &&
             again->version == report->version && again->counter == report->counter &&
             again->installed == report->installed && again->reason == report->reason);
  FUZZ_CHECK(dp::InstallReportJson(*again) == json);
  return 0;
}
