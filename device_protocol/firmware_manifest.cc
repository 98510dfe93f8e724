#include "device_protocol/firmware_manifest.h"

#include <string>
#include <utility>

#include "common/json.h"
#include "common/sha256.h"

namespace provledger::device_protocol {
namespace {

constexpr ByteView kFirmwareTag = "pl/v1/firmware";
constexpr uint64_t kMaxInt = JsonValue::kMaxInt;

Status Invalid(const std::string& why) { return InvalidArgumentError("firmware manifest: " + why); }

Status Member(const char* key, const std::string& what) {
  return Invalid(std::string("\"") + key + "\" missing or not " + what);
}

}  // namespace

Bytes FirmwareDigest(const FirmwareManifest& m) {
  Bytes msg(kFirmwareTag);
  AppendStr0(&msg, m.vendor);
  AppendStr0(&msg, m.model);
  AppendStr0(&msg, m.version);
  AppendU64(&msg, m.counter);
  AppendU64(&msg, m.size);
  msg += m.sha256;
  AppendStr0(&msg, m.location);
  return Sha256(msg);
}

Status ValidateFirmwareManifest(const FirmwareManifest& m) {
  if (!ledger::IsValidName(m.vendor)) return Invalid("vendor is not a name");
  if (!ledger::IsValidName(m.model)) return Invalid("model is not a name");
  if (!IsSemver(m.version)) return Invalid("version is not a semver");
  if (m.counter > kMaxInt) return Invalid("counter is above 2^53-1");
  if (m.size > kMaxInt) return Invalid("size is above 2^53-1");
  if (m.sha256.size() != kSha256Size) return Invalid("sha256 is not 32 bytes");
  if (m.location.empty()) return Invalid("location is empty");
  if (m.location.size() > kMaxFirmwareLocationBytes) {
    return Invalid("location is longer than " + std::to_string(kMaxFirmwareLocationBytes) +
                   " bytes");
  }
  if (m.location.find('\0') != std::string::npos) return Invalid("location contains NUL");
  if (m.sig.size() != kSignatureSize) return Invalid("sig is not 64 bytes");
  return OkStatus();
}

StatusOr<FirmwareManifest> ParseFirmwareManifest(ByteView payload) {
  auto doc = ParseJson(payload);
  if (!doc.ok()) return Invalid(doc.status().message());
  if (!doc->is_object()) return Invalid("not a JSON object");
  auto v = doc->GetInt("v");
  if (!v.ok()) return Member("v", "an integer");
  if (*v != 1) return Invalid("\"v\" is not 1");
  FirmwareManifest m;
  auto name = [&](const char* key, std::string* out) -> Status {
    auto s = doc->GetString(key);
    if (!s.ok() || !ledger::IsValidName(*s)) return Member(key, "a name");
    *out = std::move(s).value();
    return OkStatus();
  };
  auto hex = [&](const char* key, size_t size, Bytes* out) -> Status {
    auto s = doc->GetString(key);
    if (!s.ok()) return Member(key, "a string");
    auto b = HexDecodeFixed(*s, size);
    if (!b.ok()) {
      return Invalid(std::string("\"") + key + "\" is not " + std::to_string(2 * size) +
                     " lowercase hex digits");
    }
    *out = std::move(b).value();
    return OkStatus();
  };
  PL_RETURN_IF_ERROR(name("vendor", &m.vendor));
  PL_RETURN_IF_ERROR(name("model", &m.model));
  auto version = doc->GetString("version");
  if (!version.ok() || !IsSemver(*version)) return Member("version", "a semver");
  m.version = std::move(version).value();
  auto counter = doc->GetInt("counter");
  if (!counter.ok()) return Member("counter", "an integer");
  m.counter = *counter;
  auto size = doc->GetInt("size");
  if (!size.ok()) return Member("size", "an integer");
  m.size = *size;
  PL_RETURN_IF_ERROR(hex("sha256", kSha256Size, &m.sha256));
  auto location = doc->GetString("location");
  if (!location.ok()) return Member("location", "a string");
  m.location = std::move(location).value();
  PL_RETURN_IF_ERROR(hex("sig", kSignatureSize, &m.sig));
  PL_RETURN_IF_ERROR(ValidateFirmwareManifest(m));
  return m;
}

std::string FirmwareManifestJson(const FirmwareManifest& m) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("vendor", JsonValue::String(m.vendor));
  o.Set("model", JsonValue::String(m.model));
  o.Set("version", JsonValue::String(m.version));
  o.Set("counter", JsonValue::Int(m.counter));
  o.Set("size", JsonValue::Int(m.size));
  o.Set("sha256", JsonValue::String(HexEncode(m.sha256)));
  o.Set("location", JsonValue::String(m.location));
  o.Set("sig", JsonValue::String(HexEncode(m.sig)));
  return WriteJson(o);
}

Status VerifyFirmwareManifest(const FirmwareManifest& m, ByteView vendor_pubkey) {
  PL_RETURN_IF_ERROR(ValidateFirmwareManifest(m));
  Status s = VerifySignature(vendor_pubkey, FirmwareDigest(m), m.sig);
  if (!s.ok()) return s.Annotate("firmware manifest signature of vendor '" + m.vendor + "'");
  return OkStatus();
}

Status SignFirmwareManifest(const PrivateKey& vendor_key, FirmwareManifest* m) {
  m->sig = Bytes(kSignatureSize, '\0');  // a placeholder, so that validation passes
  PL_RETURN_IF_ERROR(ValidateFirmwareManifest(*m));
  PL_ASSIGN_OR_RETURN(m->sig, vendor_key.Sign(FirmwareDigest(*m)));
  return OkStatus();
}

ledger::FirmwareRecord ToFirmwareRecord(const FirmwareManifest& m) {
  ledger::FirmwareRecord r;
  r.vendor = m.vendor;
  r.model = m.model;
  r.version = m.version;
  r.counter = m.counter;
  r.size = m.size;
  r.image_sha256 = m.sha256;
  r.location = m.location;
  r.vendor_sig = m.sig;
  return r;
}

FirmwareManifest FromFirmwareRecord(const ledger::FirmwareRecord& r) {
  FirmwareManifest m;
  m.vendor = r.vendor;
  m.model = r.model;
  m.version = r.version;
  m.counter = r.counter;
  m.size = r.size;
  m.sha256 = r.image_sha256;
  m.location = r.location;
  m.sig = r.vendor_sig;
  return m;
}

std::string InstallReportJson(const InstallReport& report) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("vendor", JsonValue::String(report.vendor));
  o.Set("model", JsonValue::String(report.model));
  o.Set("version", JsonValue::String(report.version));
  o.Set("counter", JsonValue::Int(report.counter));
  o.Set("result", JsonValue::String(report.installed ? "installed" : "refused"));
  o.Set("reason", JsonValue::String(report.reason));
  return WriteJson(o);
}

}  // namespace provledger::device_protocol
