#include "node/firmware_index.h"

#include <algorithm>
#include <tuple>

#include "ledger/record.h"

namespace provledger::node {
namespace {

constexpr char kPrefix[] = "fw/";
constexpr size_t kIdSize = 32;

uint64_t ReadU64(ByteView b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

}  // namespace

void AddFirmwareRows(const std::vector<Bytes>& records, uint64_t height,
                     std::vector<std::pair<Bytes, Bytes>>* puts) {
  for (const Bytes& bytes : records) {
    auto rec = ledger::DecodeRecord(bytes);
    if (!rec.ok() || rec->kind != ledger::RecordKind::kFirmware) continue;
    const ledger::FirmwareRecord& f = rec->firmware;
    Bytes key = FirmwareRowPrefix(f.vendor, f.model);
    AppendU64(&key, f.counter);
    key += ledger::RecordId(bytes);
    Bytes value;
    AppendU64(&value, height);
    value += bytes;
    puts->emplace_back(std::move(key), std::move(value));
  }
}

Bytes FirmwareRowPrefix(const std::string& vendor, const std::string& model) {
  Bytes p = kPrefix;
  if (vendor.empty()) return p;
  p += vendor + "/";
  if (model.empty()) return p;
  return p + model + "/";
}

StatusOr<FirmwareRow> ParseFirmwareRow(ByteView key, ByteView value) {
  auto bad = [&](const std::string& why) {
    return DataLossError("firmware index row " + HexEncode(key.substr(0, 64)) + ": " + why);
  };
  const ByteView prefix = kPrefix;
  if (key.substr(0, prefix.size()) != prefix) return bad("not under fw/");
  ByteView rest = key.substr(prefix.size());
  const size_t slash1 = rest.find('/');
  if (slash1 == ByteView::npos) return bad("no vendor");
  const size_t slash2 = rest.find('/', slash1 + 1);
  if (slash2 == ByteView::npos || rest.size() != slash2 + 1 + 8 + kIdSize) return bad("layout");
  if (value.size() < 8) return bad("value shorter than a height");
  FirmwareRow row;
  row.vendor = std::string(rest.substr(0, slash1));
  row.model = std::string(rest.substr(slash1 + 1, slash2 - slash1 - 1));
  row.counter = ReadU64(rest.substr(slash2 + 1, 8));
  row.record_id = Bytes(rest.substr(slash2 + 9));
  row.height = ReadU64(value);
  row.record = Bytes(value.substr(8));
  if (ledger::RecordId(row.record) != row.record_id) return bad("record does not hash to its id");
  return row;
}

std::vector<FirmwareRow> OrderFirmwareRows(std::vector<FirmwareRow> rows, bool latest_only) {
  std::sort(rows.begin(), rows.end(), [](const FirmwareRow& a, const FirmwareRow& b) {
    return std::tie(a.vendor, a.model, b.counter, b.height, a.record_id) <
           std::tie(b.vendor, b.model, a.counter, a.height, b.record_id);
  });
  if (!latest_only) return rows;
  std::vector<FirmwareRow> out;
  for (FirmwareRow& r : rows) {
    if (!out.empty() && out.back().vendor == r.vendor && out.back().model == r.model) continue;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace provledger::node
