// An integrity report (PROTOCOL.md section 7), as an agent publishes it on
// devices/{device}/integrity and the bridge appraises it: the boot id, the index of the
// first entry in that boot's measurement list, and the entries.
//
// Thread rules: pure functions over values; safe from any thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_INTEGRITY_REPORT_H_
#define PROVLEDGER_DEVICE_PROTOCOL_INTEGRITY_REPORT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::device_protocol {

// The templates section 7 knows: the kernel's IMA templates, and "file" for files an
// agent measures itself where the kernel has no IMA.
constexpr std::string_view kTemplateImaNg = "ima-ng";
constexpr std::string_view kTemplateImaSig = "ima-sig";
constexpr std::string_view kTemplateFile = "file";

// Bounds that keep one report's appraisal bounded; a report above them is `malformed`
// (the bridge's payload limit bounds it too).
constexpr size_t kMaxReportEntries = 100000;
constexpr size_t kMaxMeasuredPathBytes = 4096;

struct MeasurementEntry {
  uint64_t pcr = 0;   // 0 for template "file"
  std::string templ;  // "ima-ng", "ima-sig" or "file"
  std::string hash;   // "<algorithm>:<lowercase hex>", as the kernel writes it
  std::string path;
};

struct IntegrityReport {
  std::string boot;   // lowercase UUID
  uint64_t from = 0;  // index in this boot's list of entries[0]
  std::vector<MeasurementEntry> entries;
};

// True for a lowercase UUID: 8-4-4-4-12 lowercase hex digits.
bool IsBootId(std::string_view text);

// True for "<algorithm>:<hex>": algorithm [a-z0-9]{1,16}, then an even, non-zero number
// of lowercase hex digits, at most 128 (SHA-512).
bool IsMeasurementHash(std::string_view text);

// Parses a report with section 1's JSON rules and section 7's shape: "v" 1, "boot" a boot
// id, "from" an integer, "entries" an array (at most kMaxReportEntries) of objects each
// with "pcr" an integer, "template" one of the three above, "hash" a measurement hash and
// "path" a non-empty string of at most kMaxMeasuredPathBytes. Unknown keys are ignored.
// kInvalidArgument (=> `malformed`) naming the member at fault (and the entry's index);
// the message quotes no payload text.
StatusOr<IntegrityReport> ParseIntegrityReport(ByteView payload);

// The report as one compact JSON object with "v":1, members in section 7's order. The
// inverse of ParseIntegrityReport for any report it accepts.
std::string IntegrityReportJson(const IntegrityReport& report);

}  // namespace provledger::device_protocol

#endif  // PROVLEDGER_DEVICE_PROTOCOL_INTEGRITY_REPORT_H_
