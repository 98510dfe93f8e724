// The verification header of a device message (PROTOCOL.md section 5): MQTT v5 user
// properties pl-seq, pl-ts and pl-kid + pl-mac or pl-sig, and the digest D they cover.
// Readings, integrity reports and install reports all carry it. Also the install report's
// payload (section 8), the one device payload whose shape the bridge checks.
//
// Thread rules: pure functions; safe from any thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_DEVICE_MESSAGE_H_
#define PROVLEDGER_DEVICE_PROTOCOL_DEVICE_MESSAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "ledger/record.h"

namespace provledger {
namespace device_protocol {

// MQTT v5 user properties, name then value, in the order received.
using UserProperties = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t kMaxSeq = (1ull << 53) - 1;  // pl-seq in 1 .. kMaxSeq
constexpr uint64_t kMaxTs = (1ull << 53) - 1;   // pl-ts in 0 .. kMaxTs
constexpr size_t kKidSize = 8;
constexpr size_t kMacSize = 32;
constexpr size_t kDeviceSigSize = 64;  // compact r || s

enum class AuthMode {
  kMac = 1,        // pl-kid + pl-mac; record auth 1
  kSignature = 2,  // pl-sig; record auth 2
};

struct DeviceHeader {
  uint64_t seq = 0;
  uint64_t ts = 0;
  AuthMode mode = AuthMode::kMac;
  Bytes kid;  // 8 raw bytes, kMac only
  Bytes mac;  // 32 raw bytes, kMac only
  Bytes sig;  // 64 raw bytes, kSignature only
};

// Parses the header with section 5's exact rules: the five pl- names in lower case, each
// at most once; pl-seq and pl-ts present; either pl-kid with pl-mac, or pl-sig alone;
// decimals of ASCII digits without sign, space or leading zero (seq 1..2^53-1, ts
// 0..2^53-1); lowercase hex of exact size. Other property names are ignored, except that a
// case variant of one of the five (e.g. "PL-SEQ") is refused. kInvalidArgument (=>
// `malformed`) with a reason that quotes no value longer than a name.
StatusOr<DeviceHeader> ParseDeviceHeader(const UserProperties& props);

// The message's seq when it has exactly one pl-seq property and its value is valid, even
// if the rest of the header is malformed (error answers carry it when parsable).
std::optional<uint64_t> FindParsableSeq(const UserProperties& props);

// Parses a decimal of section 5: ASCII digits, no sign, space or leading zero ("0" itself
// is allowed), value in [min, max]. kInvalidArgument otherwise.
StatusOr<uint64_t> ParseStrictDecimal(std::string_view text, uint64_t min, uint64_t max);

// A firmware install report (PROTOCOL.md section 8), as published on
// devices/{device}/update/status.
struct InstallReport {
  std::string vendor;   // a name (section 2)
  std::string model;    // a name
  std::string version;  // semver 2.0.0
  uint64_t counter = 0;
  bool installed = false;  // "result": "installed" (true) or "refused" (false)
  std::string reason;
};

// Parses an install report with section 1's JSON rules (common/json: one object, no
// byte-order mark, no repeated key, integers digits only) and section 8's shape: "v" the
// integer 1; "vendor" and "model" names; "version" a semver 2.0.0 string; "counter" an
// integer; "result" "installed" or "refused"; "reason" a string. Every one of these seven
// members is required; members with other names are ignored (section 1: unknown keys are
// ignored). kInvalidArgument (=> `malformed`) naming the first member at fault; its
// message quotes no payload text.
StatusOr<InstallReport> ParseInstallReport(ByteView payload);

// True when `text` is a semantic version 2.0.0: MAJOR.MINOR.PATCH, numbers without a
// leading zero, then optionally -PRERELEASE (dot-separated [0-9A-Za-z-]+, numeric ones
// without a leading zero) and +BUILD (dot-separated [0-9A-Za-z-]+).
bool IsSemver(std::string_view text);

// D = SHA256("pl/v1/data" || str0(device) || str0(item) || u64be(seq) || u64be(ts) ||
// payload_hash), `payload_hash` being SHA256(payload) (32 bytes). The one definition lives in
// ledger/record.h (verifiers rebuild D from records); re-exported here for devices and the bridge.
using ::provledger::ledger::DataDigest;

}  // namespace device_protocol
}  // namespace provledger

#endif  // PROVLEDGER_DEVICE_PROTOCOL_DEVICE_MESSAGE_H_
