#include "device_protocol/integrity_report.h"

#include <utility>

#include "common/json.h"

namespace provledger::device_protocol {

namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

Status Malformed(const std::string& what) {
  return InvalidArgumentError("integrity report: " + what);
}

StatusOr<MeasurementEntry> ParseEntry(const JsonValue& e, size_t index) {
  const std::string at = "entries[" + std::to_string(index) + "]";
  if (!e.is_object()) return Malformed(at + " is not an object");
  MeasurementEntry m;
  auto pcr = e.GetInt("pcr");
  if (!pcr.ok()) return Malformed(at + " \"pcr\" missing or not an integer");
  m.pcr = *pcr;
  auto templ = e.GetString("template");
  if (!templ.ok() ||
      (*templ != kTemplateImaNg && *templ != kTemplateImaSig && *templ != kTemplateFile)) {
    return Malformed(at + " \"template\" missing or not ima-ng, ima-sig or file");
  }
  m.templ = std::move(templ).value();
  auto hash = e.GetString("hash");
  if (!hash.ok() || !IsMeasurementHash(*hash)) {
    return Malformed(at + " \"hash\" missing or not <algorithm>:<lowercase hex>");
  }
  m.hash = std::move(hash).value();
  auto path = e.GetString("path");
  if (!path.ok() || path->empty() || path->size() > kMaxMeasuredPathBytes) {
    return Malformed(at + " \"path\" missing, empty or longer than " +
                     std::to_string(kMaxMeasuredPathBytes) + " bytes");
  }
  m.path = std::move(path).value();
  return m;
}

}  // namespace

bool IsBootId(std::string_view text) {
  static constexpr size_t kGroups[] = {8, 4, 4, 4, 12};
  size_t pos = 0;
  for (size_t g = 0; g < 5; ++g) {
    if (g > 0) {
      if (pos >= text.size() || text[pos] != '-') return false;
      ++pos;
    }
    for (size_t i = 0; i < kGroups[g]; ++i, ++pos) {
      if (pos >= text.size() || !IsLowerHex(text[pos])) return false;
    }
  }
  return pos == text.size();
}

bool IsMeasurementHash(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 16) return false;
  for (size_t i = 0; i < colon; ++i) {
    const char c = text[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  const std::string_view hex = text.substr(colon + 1);
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 128) return false;
  for (char c : hex) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

StatusOr<IntegrityReport> ParseIntegrityReport(ByteView payload) {
  auto doc = ParseJson(payload);
  if (!doc.ok()) return Malformed(doc.status().message());
  if (!doc->is_object()) return Malformed("not a JSON object");
  auto v = doc->GetInt("v");
  if (!v.ok()) return Malformed("\"v\" missing or not an integer");
  if (*v != 1) return Malformed("\"v\" is not 1");
  IntegrityReport r;
  auto boot = doc->GetString("boot");
  if (!boot.ok() || !IsBootId(*boot)) return Malformed("\"boot\" missing or not a lowercase UUID");
  r.boot = std::move(boot).value();
  auto from = doc->GetInt("from");
  if (!from.ok()) return Malformed("\"from\" missing or not an integer");
  r.from = *from;
  auto entries = doc->GetArray("entries");
  if (!entries.ok()) return Malformed("\"entries\" missing or not an array");
  const std::vector<JsonValue>& items = (*entries)->items();
  if (items.size() > kMaxReportEntries) {
    return Malformed("more than " + std::to_string(kMaxReportEntries) + " entries");
  }
  if (r.from + items.size() > JsonValue::kMaxInt) return Malformed("\"from\" out of range");
  r.entries.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    PL_ASSIGN_OR_RETURN(MeasurementEntry m, ParseEntry(items[i], i));
    r.entries.push_back(std::move(m));
  }
  return r;
}

std::string IntegrityReportJson(const IntegrityReport& report) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("boot", JsonValue::String(report.boot));
  o.Set("from", JsonValue::Int(report.from));
  JsonValue entries = JsonValue::Array();
  for (const MeasurementEntry& m : report.entries) {
    JsonValue e = JsonValue::Object();
    e.Set("pcr", JsonValue::Int(m.pcr));
    e.Set("template", JsonValue::String(m.templ));
    e.Set("hash", JsonValue::String(m.hash));
    e.Set("path", JsonValue::String(m.path));
    entries.Push(std::move(e));
  }
  o.Set("entries", std::move(entries));
  return WriteJson(o);
}

}  // namespace provledger::device_protocol
