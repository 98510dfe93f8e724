// A firmware manifest (PROTOCOL.md section 8): what a vendor signs, the ledger records as a
// kind 3 record, the bridge publishes retained on devices/{device}/update/code and a device
// checks before it installs. Also the install report's JSON (the device's answer).
//
// Thread rules: pure functions over values; safe from any thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_FIRMWARE_MANIFEST_H_
#define PROVLEDGER_DEVICE_PROTOCOL_FIRMWARE_MANIFEST_H_

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/status.h"
#include "device_protocol/device_message.h"
#include "ledger/record.h"

namespace provledger::device_protocol {

// Longest "location" accepted (a URL or a topic); above it the manifest is `malformed`.
constexpr size_t kMaxFirmwareLocationBytes = 2048;

struct FirmwareManifest {
  std::string vendor;   // a name (section 2)
  std::string model;    // a name
  std::string version;  // semver 2.0.0
  uint64_t counter = 0;
  uint64_t size = 0;     // image bytes
  Bytes sha256;          // 32 raw bytes: SHA-256 of the image
  std::string location;  // where the image is: a URL or a topic; non-empty, no NUL
  Bytes sig;             // 64 raw bytes: the vendor key's signature over FirmwareDigest
};

// SHA256("pl/v1/firmware" || str0(vendor) || str0(model) || str0(version) || u64be(counter) ||
// u64be(size) || image_sha256 (32) || str0(location)), section 8. `sig` is not covered.
// Fields are used as they are: validate first (a NUL in a string would make it ambiguous).
Bytes FirmwareDigest(const FirmwareManifest& m);

// OK when every field obeys section 8 (names, semver, counter and size at most 2^53-1,
// sha256 32 bytes, location non-empty without NUL and at most kMaxFirmwareLocationBytes,
// sig 64 bytes). kInvalidArgument naming the first field at fault. Does not check `sig`.
Status ValidateFirmwareManifest(const FirmwareManifest& m);

// Parses a manifest with section 1's JSON rules (common/json: one object, no repeated key,
// integers digits only, lowercase hex of exact size) and section 8's shape: "v" 1, "vendor",
// "model", "version", "counter", "size", "sha256", "location", "sig", all required, then
// ValidateFirmwareManifest. Unknown members are ignored. kInvalidArgument (=> `malformed`)
// naming the member at fault; the message quotes no payload text. Does not check `sig`.
StatusOr<FirmwareManifest> ParseFirmwareManifest(ByteView payload);

// The manifest as one compact JSON object, "v":1 first, then the members in section 8's
// order. ParseFirmwareManifest(FirmwareManifestJson(m)) gives m back for a valid m.
std::string FirmwareManifestJson(const FirmwareManifest& m);

// OK when `m` is valid and `sig` is `vendor_pubkey`'s signature over FirmwareDigest(m).
// kInvalidArgument for an invalid manifest or a malformed key; kUnauthenticated when the
// signature does not verify.
Status VerifyFirmwareManifest(const FirmwareManifest& m, ByteView vendor_pubkey);

// Fills m.sig with `vendor_key`'s signature over FirmwareDigest(m) (deterministic, RFC 6979).
// kInvalidArgument when the other fields are not valid.
Status SignFirmwareManifest(const PrivateKey& vendor_key, FirmwareManifest* m);

// The kind 3 record body of a manifest, and back: the same fields, field for field.
ledger::FirmwareRecord ToFirmwareRecord(const FirmwareManifest& m);
FirmwareManifest FromFirmwareRecord(const ledger::FirmwareRecord& r);

// The install report (section 8) as one compact JSON object: "v":1, vendor, model, version,
// counter, result ("installed" or "refused"), reason. ParseInstallReport reads it back.
std::string InstallReportJson(const InstallReport& report);

}  // namespace provledger::device_protocol

#endif  // PROVLEDGER_DEVICE_PROTOCOL_FIRMWARE_MANIFEST_H_
