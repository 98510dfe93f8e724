#include "mqtt-bridge/device_message.h"

#include <array>

namespace provledger {
namespace bridge {
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

}  // namespace bridge
}  // namespace provledger
