#include "ledger/record.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/merkle/tree_hasher.h"

namespace provledger::ledger {
namespace {

constexpr ByteView kRecordTag = "pl/v1/record";
constexpr ByteView kDataTag = "pl/v1/data";
constexpr size_t kHashSize = 32;
constexpr size_t kSigSize = 64;

Status Invalid(const std::string& field, const std::string& why) {
  return InvalidArgumentError("record " + field + ": " + why);
}

Status CheckName(const std::string& field, const std::string& value) {
  if (!IsValidName(value)) {
    return Invalid(field, "'" + value + "' is not a valid name ([A-Za-z0-9_.-]{1,64})");
  }
  return OkStatus();
}

Status CheckSize(const std::string& field, const Bytes& value, size_t size) {
  if (value.size() != size) {
    return Invalid(field, std::to_string(value.size()) + " bytes, not " + std::to_string(size));
  }
  return OkStatus();
}

// auth and device_sig, shared by kinds 1 and 2.
Status CheckAuth(uint8_t auth, const Bytes& device_sig) {
  if (auth == kAuthMac) {
    if (!device_sig.empty()) return Invalid("device_sig", "present with auth 1 (MAC)");
    return OkStatus();
  }
  if (auth == kAuthSignature) return CheckSize("device_sig", device_sig, kSigSize);
  return Invalid("auth", std::to_string(auth) + " is neither 1 (MAC) nor 2 (signature)");
}

bool AllZero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](char c) { return c == '\0'; });
}

Status ValidateReading(const ReadingRecord& r) {
  PL_RETURN_IF_ERROR(CheckName("device", r.device));
  PL_RETURN_IF_ERROR(CheckName("item", r.item));
  if (r.item[0] == '_' && r.item != kUpdateItem && r.item != kAccountItem) {
    return Invalid("item",
                   "'" + r.item + "' is reserved (only _update and _account may be a reading)");
  }
  PL_RETURN_IF_ERROR(CheckSize("payload_hash", r.payload_hash, kHashSize));
  PL_RETURN_IF_ERROR(CheckAuth(r.auth, r.device_sig));
  PL_RETURN_IF_ERROR(CheckName("gateway", r.gateway));
  if (r.integrity > kIntegrityUntrusted) {
    return Invalid("integrity", std::to_string(r.integrity) + " is not 0, 1 or 2");
  }
  PL_RETURN_IF_ERROR(CheckSize("attestation", r.attestation, kHashSize));
  const bool zero = AllZero(r.attestation);
  if (r.integrity == kIntegrityUnknown && !zero) {
    return Invalid("attestation", "must be all zero when integrity is unknown");
  }
  if (r.integrity != kIntegrityUnknown && zero) {
    return Invalid("attestation", "all zero with integrity " + std::to_string(r.integrity));
  }
  return OkStatus();
}

Status ValidateAttestation(const AttestationRecord& a) {
  PL_RETURN_IF_ERROR(CheckName("device", a.device));
  PL_RETURN_IF_ERROR(CheckSize("report_hash", a.report_hash, kHashSize));
  PL_RETURN_IF_ERROR(CheckAuth(a.auth, a.device_sig));
  PL_RETURN_IF_ERROR(CheckName("gateway", a.gateway));
  if (a.verdict != kVerdictTrusted && a.verdict != kVerdictUntrusted) {
    return Invalid("verdict", std::to_string(a.verdict) + " is neither 1 nor 2");
  }
  if (a.failures.size() > UINT32_MAX) return Invalid("failures", "more than 2^32-1 entries");
  return OkStatus();
}

Status ValidateFirmware(const FirmwareRecord& f) {
  PL_RETURN_IF_ERROR(CheckName("vendor", f.vendor));
  PL_RETURN_IF_ERROR(CheckName("model", f.model));
  if (f.version.find('\0') != std::string::npos) return Invalid("version", "contains NUL");
  PL_RETURN_IF_ERROR(CheckSize("image_sha256", f.image_sha256, kHashSize));
  if (f.location.find('\0') != std::string::npos) return Invalid("location", "contains NUL");
  PL_RETURN_IF_ERROR(CheckSize("vendor_sig", f.vendor_sig, kSigSize));
  return OkStatus();
}

// Reads lp(x) into *out, naming `field` on failure. Any length that fits the bytes is taken;
// the field's own rules are checked afterwards by ValidateRecord.
Status ReadLpField(ByteReader* r, const char* field, std::string* out) {
  Status s = r->ReadLp(out, r->remaining());
  if (!s.ok()) return Invalid(field, s.message());
  return OkStatus();
}

Status ReadU8Field(ByteReader* r, const char* field, uint8_t* out) {
  Status s = r->ReadU8(out);
  if (!s.ok()) return Invalid(field, s.message());
  return OkStatus();
}

Status ReadU32Field(ByteReader* r, const char* field, uint32_t* out) {
  Status s = r->ReadU32(out);
  if (!s.ok()) return Invalid(field, s.message());
  return OkStatus();
}

Status ReadU64Field(ByteReader* r, const char* field, uint64_t* out) {
  Status s = r->ReadU64(out);
  if (!s.ok()) return Invalid(field, s.message());
  return OkStatus();
}

Status ReadFixedField(ByteReader* r, const char* field, size_t n, Bytes* out) {
  Status s = r->ReadFixed(n, out);
  if (!s.ok()) return Invalid(field, s.message());
  return OkStatus();
}

// auth, then device_sig when auth is 2. An auth out of range is refused here, before the
// layout of what follows is guessed.
Status ReadAuth(ByteReader* r, uint8_t* auth, Bytes* device_sig) {
  PL_RETURN_IF_ERROR(ReadU8Field(r, "auth", auth));
  if (*auth == kAuthSignature) return ReadFixedField(r, "device_sig", kSigSize, device_sig);
  if (*auth != kAuthMac) {
    return Invalid("auth", std::to_string(*auth) + " is neither 1 (MAC) nor 2 (signature)");
  }
  return OkStatus();
}

Status DecodeReading(ByteReader* r, ReadingRecord* out) {
  PL_RETURN_IF_ERROR(ReadLpField(r, "device", &out->device));
  PL_RETURN_IF_ERROR(ReadLpField(r, "item", &out->item));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "seq", &out->seq));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "ts", &out->ts));
  PL_RETURN_IF_ERROR(ReadFixedField(r, "payload_hash", kHashSize, &out->payload_hash));
  PL_RETURN_IF_ERROR(ReadAuth(r, &out->auth, &out->device_sig));
  PL_RETURN_IF_ERROR(ReadLpField(r, "gateway", &out->gateway));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "received", &out->received));
  PL_RETURN_IF_ERROR(ReadU8Field(r, "integrity", &out->integrity));
  return ReadFixedField(r, "attestation", kHashSize, &out->attestation);
}

Status DecodeAttestation(ByteReader* r, AttestationRecord* out) {
  PL_RETURN_IF_ERROR(ReadLpField(r, "device", &out->device));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "seq", &out->seq));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "ts", &out->ts));
  PL_RETURN_IF_ERROR(ReadFixedField(r, "report_hash", kHashSize, &out->report_hash));
  PL_RETURN_IF_ERROR(ReadAuth(r, &out->auth, &out->device_sig));
  PL_RETURN_IF_ERROR(ReadLpField(r, "gateway", &out->gateway));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "received", &out->received));
  PL_RETURN_IF_ERROR(ReadU8Field(r, "verdict", &out->verdict));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "policy_version", &out->policy_version));
  uint32_t count = 0;
  PL_RETURN_IF_ERROR(ReadU32Field(r, "failure count", &count));
  // Each entry takes at least 8 bytes: refuse a count the bytes cannot hold before reserving.
  if (count > r->remaining() / 8) {
    return Invalid("failure count", std::to_string(count) + " entries cannot fit in " +
                                        std::to_string(r->remaining()) + " bytes");
  }
  out->failures.resize(count);
  for (AttestationFailure& f : out->failures) {
    PL_RETURN_IF_ERROR(ReadLpField(r, "failure path", &f.path));
    PL_RETURN_IF_ERROR(ReadLpField(r, "failure hash", &f.hash));
  }
  return OkStatus();
}

Status DecodeFirmware(ByteReader* r, FirmwareRecord* out) {
  PL_RETURN_IF_ERROR(ReadLpField(r, "vendor", &out->vendor));
  PL_RETURN_IF_ERROR(ReadLpField(r, "model", &out->model));
  PL_RETURN_IF_ERROR(ReadLpField(r, "version", &out->version));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "counter", &out->counter));
  PL_RETURN_IF_ERROR(ReadU64Field(r, "size", &out->size));
  PL_RETURN_IF_ERROR(ReadFixedField(r, "image_sha256", kHashSize, &out->image_sha256));
  PL_RETURN_IF_ERROR(ReadLpField(r, "location", &out->location));
  return ReadFixedField(r, "vendor_sig", kSigSize, &out->vendor_sig);
}

}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status ValidateRecord(const Record& record) {
  switch (record.kind) {
    case RecordKind::kReading:
      return ValidateReading(record.reading);
    case RecordKind::kAttestation:
      return ValidateAttestation(record.attestation);
    case RecordKind::kFirmware:
      return ValidateFirmware(record.firmware);
    case RecordKind::kRegistry:
      return OkStatus();
    default:
      return Invalid("kind", std::to_string(static_cast<int>(record.kind)) + " is unknown");
  }
}

Bytes EncodeRecord(const Record& record) {
  Bytes out(kRecordTag);
  AppendU8(&out, static_cast<uint8_t>(record.kind));
  switch (record.kind) {
    case RecordKind::kReading: {
      const ReadingRecord& r = record.reading;
      AppendLp(&out, r.device);
      AppendLp(&out, r.item);
      AppendU64(&out, r.seq);
      AppendU64(&out, r.ts);
      out += r.payload_hash;
      AppendU8(&out, r.auth);
      if (r.auth == kAuthSignature) out += r.device_sig;
      AppendLp(&out, r.gateway);
      AppendU64(&out, r.received);
      AppendU8(&out, r.integrity);
      out += r.attestation;
      break;
    }
    case RecordKind::kAttestation: {
      const AttestationRecord& a = record.attestation;
      AppendLp(&out, a.device);
      AppendU64(&out, a.seq);
      AppendU64(&out, a.ts);
      out += a.report_hash;
      AppendU8(&out, a.auth);
      if (a.auth == kAuthSignature) out += a.device_sig;
      AppendLp(&out, a.gateway);
      AppendU64(&out, a.received);
      AppendU8(&out, a.verdict);
      AppendU64(&out, a.policy_version);
      AppendU32(&out, static_cast<uint32_t>(a.failures.size()));
      for (const AttestationFailure& f : a.failures) {
        AppendLp(&out, f.path);
        AppendLp(&out, f.hash);
      }
      break;
    }
    case RecordKind::kFirmware: {
      const FirmwareRecord& f = record.firmware;
      AppendLp(&out, f.vendor);
      AppendLp(&out, f.model);
      AppendLp(&out, f.version);
      AppendU64(&out, f.counter);
      AppendU64(&out, f.size);
      out += f.image_sha256;
      AppendLp(&out, f.location);
      out += f.vendor_sig;
      break;
    }
    case RecordKind::kRegistry:
      AppendLp(&out, record.registry.tx);
      break;
    default:
      break;  // An unknown kind encodes as its tag and kind only; DecodeRecord refuses it.
  }
  return out;
}

StatusOr<Record> DecodeRecord(ByteView record_bytes) {
  ByteReader r(record_bytes);
  if (!r.ExpectLiteral(kRecordTag).ok()) {
    return InvalidArgumentError("record: does not start with \"pl/v1/record\"");
  }
  uint8_t kind = 0;
  PL_RETURN_IF_ERROR(ReadU8Field(&r, "kind", &kind));
  Record rec;
  rec.kind = static_cast<RecordKind>(kind);
  switch (rec.kind) {
    case RecordKind::kReading:
      PL_RETURN_IF_ERROR(DecodeReading(&r, &rec.reading));
      break;
    case RecordKind::kAttestation:
      PL_RETURN_IF_ERROR(DecodeAttestation(&r, &rec.attestation));
      break;
    case RecordKind::kFirmware:
      PL_RETURN_IF_ERROR(DecodeFirmware(&r, &rec.firmware));
      break;
    case RecordKind::kRegistry:
      PL_RETURN_IF_ERROR(ReadLpField(&r, "tx", &rec.registry.tx));
      break;
    default:
      return Invalid("kind", std::to_string(kind) + " is unknown");
  }
  if (!r.done()) {
    return Invalid("bytes", std::to_string(r.remaining()) + " trailing bytes after the body");
  }
  PL_RETURN_IF_ERROR(ValidateRecord(rec));
  return rec;
}

Bytes RecordId(ByteView record_bytes) { return LeafHash(record_bytes); }

Bytes DataDigest(std::string_view device, std::string_view item, uint64_t seq, uint64_t ts,
                 ByteView payload_hash) {
  Bytes msg(kDataTag);
  AppendStr0(&msg, device);
  AppendStr0(&msg, item);
  AppendU64(&msg, seq);
  AppendU64(&msg, ts);
  msg += payload_hash;
  return Sha256(msg);
}

StatusOr<Bytes> RecordDataDigest(const Record& record) {
  switch (record.kind) {
    case RecordKind::kReading: {
      const ReadingRecord& r = record.reading;
      return DataDigest(r.device, r.item, r.seq, r.ts, r.payload_hash);
    }
    case RecordKind::kAttestation: {
      const AttestationRecord& a = record.attestation;
      return DataDigest(a.device, kIntegrityItem, a.seq, a.ts, a.report_hash);
    }
    default:
      return InvalidArgumentError("record kind " + std::to_string(static_cast<int>(record.kind)) +
                                  " has no data digest (only kinds 1 and 2)");
  }
}

RecordFields FieldsOf(const Record& record) {
  RecordFields f;
  f.kind = record.kind;
  switch (record.kind) {
    case RecordKind::kReading: {
      const ReadingRecord& r = record.reading;
      f.from_device = true;
      f.device = r.device;
      f.item = r.item;
      f.seq = r.seq;
      f.ts = r.ts;
      f.gateway = r.gateway;
      f.payload_hash = r.payload_hash;
      break;
    }
    case RecordKind::kAttestation: {
      const AttestationRecord& a = record.attestation;
      f.from_device = true;
      f.device = a.device;
      f.item = std::string(kIntegrityItem);
      f.seq = a.seq;
      f.ts = a.ts;
      f.gateway = a.gateway;
      f.payload_hash = a.report_hash;
      break;
    }
    case RecordKind::kFirmware:
      f.payload_hash = record.firmware.image_sha256;
      break;
    default:
      break;
  }
  return f;
}

StatusOr<RecordFields> DecodeRecordFields(ByteView record_bytes) {
  PL_ASSIGN_OR_RETURN(Record r, DecodeRecord(record_bytes));
  return FieldsOf(r);
}

Status VerifyDeviceSignature(const Record& record, ByteView device_pubkey) {
  PL_ASSIGN_OR_RETURN(Bytes digest, RecordDataDigest(record));
  const bool reading = record.kind == RecordKind::kReading;
  const uint8_t auth = reading ? record.reading.auth : record.attestation.auth;
  const Bytes& sig = reading ? record.reading.device_sig : record.attestation.device_sig;
  const std::string& device = reading ? record.reading.device : record.attestation.device;
  if (auth != kAuthSignature) {
    return FailedPreconditionError("record of device '" + device +
                                   "' is MACed (auth 1): no device signature to check");
  }
  Status s = VerifySignature(device_pubkey, digest, sig);
  if (!s.ok()) return s.Annotate("device signature of '" + device + "'");
  return OkStatus();
}

}  // namespace provledger::ledger
