#include "device_protocol/device_message.h"

#include <array>

#include "common/json.h"

namespace provledger {
namespace device_protocol {
namespace {

constexpr std::array<std::string_view, 5> kNames = {"pl-seq", "pl-ts", "pl-kid", "pl-mac",
                                                    "pl-sig"};
enum Slot { kSeq = 0, kTs, kKid, kMac, kSig };

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The slot of `name` ignoring ASCII case, or -1.
int SlotOfCaseless(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (name.size() != kNames[i].size()) continue;
    bool same = true;
    for (size_t j = 0; j < name.size() && same; ++j) same = AsciiLower(name[j]) == kNames[i][j];
    if (same) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

StatusOr<uint64_t> ParseStrictDecimal(std::string_view text, uint64_t min, uint64_t max) {
  if (text.empty()) return InvalidArgumentError("empty decimal");
  if (text.size() > 1 && text[0] == '0') return InvalidArgumentError("leading zero");
  if (text.size() > 20) return InvalidArgumentError("decimal too long");
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return InvalidArgumentError("not ASCII digits only");
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (d > max) return InvalidArgumentError("out of range");
    if (v > (max - d) / 10) return InvalidArgumentError("out of range");
    v = v * 10 + d;
  }
  if (v < min || v > max) return InvalidArgumentError("out of range");
  return v;
}

StatusOr<DeviceHeader> ParseDeviceHeader(const UserProperties& props) {
  std::array<const std::string*, 5> found{};
  for (const auto& [name, value] : props) {
    int slot = SlotOfCaseless(name);
    if (slot < 0) continue;  // another property: ignored
    if (name != kNames[slot]) {
      return InvalidArgumentError("property " + std::string(kNames[slot]) +
                                  ": name not in lower case");
    }
    if (found[slot] != nullptr) {
      return InvalidArgumentError("property " + name + ": repeated");
    }
    found[slot] = &value;
  }
  if (found[kSeq] == nullptr) return InvalidArgumentError("pl-seq: missing");
  if (found[kTs] == nullptr) return InvalidArgumentError("pl-ts: missing");
  const bool mac_mode = found[kKid] != nullptr || found[kMac] != nullptr;
  const bool sig_mode = found[kSig] != nullptr;
  if (mac_mode && sig_mode) {
    return InvalidArgumentError("both authentication modes (pl-kid/pl-mac and pl-sig)");
  }
  if (!mac_mode && !sig_mode) {
    return InvalidArgumentError("no authentication mode (pl-kid with pl-mac, or pl-sig)");
  }
  if (mac_mode && (found[kKid] == nullptr || found[kMac] == nullptr)) {
    return InvalidArgumentError(found[kKid] == nullptr ? "pl-mac without pl-kid"
                                                       : "pl-kid without pl-mac");
  }

  DeviceHeader header;
  StatusOr<uint64_t> seq = ParseStrictDecimal(*found[kSeq], 1, kMaxSeq);
  if (!seq.ok()) return seq.status().Annotate("pl-seq");
  header.seq = *seq;
  StatusOr<uint64_t> ts = ParseStrictDecimal(*found[kTs], 0, kMaxTs);
  if (!ts.ok()) return ts.status().Annotate("pl-ts");
  header.ts = *ts;
  if (mac_mode) {
    header.mode = AuthMode::kMac;
    StatusOr<Bytes> kid = HexDecodeFixed(*found[kKid], kKidSize);
    if (!kid.ok()) return InvalidArgumentError("pl-kid: not 16 lowercase hex digits");
    StatusOr<Bytes> mac = HexDecodeFixed(*found[kMac], kMacSize);
    if (!mac.ok()) return InvalidArgumentError("pl-mac: not 64 lowercase hex digits");
    header.kid = std::move(kid).value();
    header.mac = std::move(mac).value();
  } else {
    header.mode = AuthMode::kSignature;
    StatusOr<Bytes> sig = HexDecodeFixed(*found[kSig], kDeviceSigSize);
    if (!sig.ok()) return InvalidArgumentError("pl-sig: not 128 lowercase hex digits");
    header.sig = std::move(sig).value();
  }
  return header;
}

std::optional<uint64_t> FindParsableSeq(const UserProperties& props) {
  const std::string* value = nullptr;
  for (const auto& [name, v] : props) {
    if (SlotOfCaseless(name) != kSeq) continue;
    if (name != kNames[kSeq] || value != nullptr) return std::nullopt;
    value = &v;
  }
  if (value == nullptr) return std::nullopt;
  StatusOr<uint64_t> seq = ParseStrictDecimal(*value, 1, kMaxSeq);
  if (!seq.ok()) return std::nullopt;
  return *seq;
}

namespace {

bool IsAlnumOrHyphen(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}
bool IsDigitChar(char c) { return c >= '0' && c <= '9'; }

bool IsNumericPart(std::string_view p) {
  if (p.empty()) return false;
  for (char c : p) {
    if (!IsDigitChar(c)) return false;
  }
  return p.size() == 1 || p[0] != '0';
}

// Dot-separated non-empty identifiers of [0-9A-Za-z-]; numeric ones without a leading zero
// when `numeric_rule`.
bool IsIdentifierList(std::string_view s, bool numeric_rule) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view id =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (id.empty()) return false;
    bool all_digits = true;
    for (char c : id) {
      if (!IsAlnumOrHyphen(c)) return false;
      all_digits = all_digits && IsDigitChar(c);
    }
    if (numeric_rule && all_digits && !IsNumericPart(id)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

bool IsSemver(std::string_view text) {
  std::string_view core = text, pre, build;
  const size_t plus = core.find('+');
  if (plus != std::string_view::npos) {
    build = core.substr(plus + 1);
    core = core.substr(0, plus);
    if (!IsIdentifierList(build, /*numeric_rule=*/false)) return false;
  }
  const size_t minus = core.find('-');
  if (minus != std::string_view::npos) {
    pre = core.substr(minus + 1);
    core = core.substr(0, minus);
    if (!IsIdentifierList(pre, /*numeric_rule=*/true)) return false;
  }
  size_t parts = 0, start = 0;
  while (true) {
    const size_t dot = core.find('.', start);
    const std::string_view p =
        core.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!IsNumericPart(p)) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 3;
}

StatusOr<InstallReport> ParseInstallReport(ByteView payload) {
  auto doc = ParseJson(payload);
  if (!doc.ok()) return InvalidArgumentError("install report: " + doc.status().message());
  if (!doc->is_object()) return InvalidArgumentError("install report: not a JSON object");
  auto v = doc->GetInt("v");
  if (!v.ok()) return InvalidArgumentError("install report: \"v\" missing or not an integer");
  if (*v != 1) return InvalidArgumentError("install report: \"v\" is not 1");
  InstallReport r;
  auto name = [&](const char* key, std::string* out) -> Status {
    auto s = doc->GetString(key);
    if (!s.ok() || !ledger::IsValidName(*s)) {
      return InvalidArgumentError(std::string("install report: \"") + key +
                                  "\" missing or not a name");
    }
    *out = std::move(s).value();
    return OkStatus();
  };
  PL_RETURN_IF_ERROR(name("vendor", &r.vendor));
  PL_RETURN_IF_ERROR(name("model", &r.model));
  auto version = doc->GetString("version");
  if (!version.ok() || !IsSemver(*version)) {
    return InvalidArgumentError("install report: \"version\" missing or not a semver");
  }
  r.version = std::move(version).value();
  auto counter = doc->GetInt("counter");
  if (!counter.ok()) {
    return InvalidArgumentError("install report: \"counter\" missing or not an integer");
  }
  r.counter = *counter;
  auto result = doc->GetString("result");
  if (!result.ok() || (*result != "installed" && *result != "refused")) {
    return InvalidArgumentError(
        "install report: \"result\" missing or not \"installed\" or \"refused\"");
  }
  r.installed = *result == "installed";
  auto reason = doc->GetString("reason");
  if (!reason.ok()) {
    return InvalidArgumentError("install report: \"reason\" missing or not a string");
  }
  r.reason = std::move(reason).value();
  return r;
}

}  // namespace device_protocol
}  // namespace provledger
