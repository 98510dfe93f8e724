// Ledger records (PROTOCOL.md 6.1): their byte encoding, strict decoding, record ids, and the
// data digest D (section 5) that devices sign.
//
//   record = "pl/v1/record" || u8(kind) || body
//
// Records are kept and hashed as made: encode once, then store, hash and serve those bytes.
// Thread rules: pure functions and plain structs, safe from any thread.
#ifndef PROVLEDGER_LEDGER_RECORD_H_
#define PROVLEDGER_LEDGER_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::ledger {

enum class RecordKind : uint8_t {
  kReading = 1,      // a reading, an install report (item "_update") or an account ("_account")
  kAttestation = 2,  // an integrity report and its appraisal (item "_integrity" in D)
  kFirmware = 3,     // a firmware manifest (section 8)
  kRegistry = 4,     // an admin-signed registry transaction
};

// auth: how the device vouched for the message.
constexpr uint8_t kAuthMac = 1;
constexpr uint8_t kAuthSignature = 2;
// integrity: the device's status when the bridge accepted a reading.
constexpr uint8_t kIntegrityUnknown = 0;
constexpr uint8_t kIntegrityTrusted = 1;
constexpr uint8_t kIntegrityUntrusted = 2;
// verdict of an attestation.
constexpr uint8_t kVerdictTrusted = 1;
constexpr uint8_t kVerdictUntrusted = 2;

// Reserved data items (section 2): the stand-ins in D for reports.
constexpr std::string_view kIntegrityItem = "_integrity";
constexpr std::string_view kUpdateItem = "_update";
// A device's account of what it sent (docs/ACCOUNTS.md): recorded as a kind 1 record.
constexpr std::string_view kAccountItem = "_account";

// Kind 1.
struct ReadingRecord {
  std::string device;
  std::string item;  // a valid name; of the reserved ones only "_update" and "_account"
  uint64_t seq = 0;
  uint64_t ts = 0;
  Bytes payload_hash;  // 32 bytes, SHA256(payload)
  uint8_t auth = kAuthMac;
  Bytes device_sig;  // 64 bytes when auth == kAuthSignature, else empty
  std::string gateway;
  uint64_t received = 0;
  uint8_t integrity = kIntegrityUnknown;
  Bytes attestation = Bytes(32, '\0');  // record id; all zero exactly when integrity unknown
};

// One failing entry of an integrity report, as the report wrote it.
struct AttestationFailure {
  std::string path;
  std::string hash;
};

// Kind 2.
struct AttestationRecord {
  std::string device;
  uint64_t seq = 0;
  uint64_t ts = 0;
  Bytes report_hash;  // 32 bytes, SHA256(report payload)
  uint8_t auth = kAuthMac;
  Bytes device_sig;  // 64 bytes when auth == kAuthSignature, else empty
  std::string gateway;
  uint64_t received = 0;
  uint8_t verdict = kVerdictTrusted;
  uint64_t policy_version = 0;
  std::vector<AttestationFailure> failures;  // in report order
};

// Kind 3.
struct FirmwareRecord {
  std::string vendor;
  std::string model;
  std::string version;  // no NUL (it is str0 in the manifest digest)
  uint64_t counter = 0;
  uint64_t size = 0;
  Bytes image_sha256;    // 32 bytes
  std::string location;  // no NUL
  Bytes vendor_sig;      // 64 bytes
};

// Kind 4.
struct RegistryRecord {
  Bytes tx;  // the project's registry transaction bytes, opaque here
};

// A decoded record: `kind` says which one body member is meaningful; the others stay default.
struct Record {
  RecordKind kind = RecordKind::kReading;
  ReadingRecord reading;
  AttestationRecord attestation;
  FirmwareRecord firmware;
  RegistryRecord registry;
};

// The fields indexes and checks read of a record, whatever its kind: the one place that says
// which body field is the device, the seq or the payload hash.
//   kind 1: device, item, seq, ts, gateway; payload_hash = payload_hash
//   kind 2: device, item "_integrity", seq, ts, gateway; payload_hash = report_hash
//   kind 3: payload_hash = image_sha256 (the firmware image); nothing else
//   kind 4: nothing (payload_hash empty)
struct RecordFields {
  RecordKind kind = RecordKind::kReading;
  bool from_device = false;  // kinds 1 and 2: device, item, seq, ts and gateway are set
  std::string device;
  std::string item;
  uint64_t seq = 0;
  uint64_t ts = 0;
  std::string gateway;
  Bytes payload_hash;  // 32 bytes for kinds 1-3; empty for kind 4
};

// The RecordFields of a decoded `record` (see the table above).
RecordFields FieldsOf(const Record& record);

// DecodeRecord then FieldsOf; DecodeRecord's error for bytes it refuses.
StatusOr<RecordFields> DecodeRecordFields(ByteView record_bytes);

// True when `name` matches [A-Za-z0-9_.-]{1,64} (section 2: ids, vendors, models, items).
bool IsValidName(std::string_view name);

// OK when `record` obeys 6.1 (what DecodeRecord checks beyond the layout): known kind, enums
// in range, names valid, fixed sizes right, attestation zero iff integrity unknown.
// kInvalidArgument naming the first field that fails.
Status ValidateRecord(const Record& record);

// The record bytes of `record`'s kind and body. Does not validate: call ValidateRecord first
// for untrusted input (an invalid record encodes to bytes DecodeRecord refuses).
Bytes EncodeRecord(const Record& record);

// Strict inverse of EncodeRecord: kInvalidArgument for a wrong tag, an unknown kind, a field
// past the end, trailing bytes, or anything ValidateRecord refuses.
StatusOr<Record> DecodeRecord(ByteView record_bytes);

// Record id = SHA256(0x00 || record_bytes), the RFC 6962 leaf hash (32 bytes).
Bytes RecordId(ByteView record_bytes);

// D = SHA256("pl/v1/data" || str0(device) || str0(item) || u64be(seq) || u64be(ts) ||
// payload_hash), section 5. Names must not contain NUL (valid names never do).
Bytes DataDigest(std::string_view device, std::string_view item, uint64_t seq, uint64_t ts,
                 ByteView payload_hash);

// D rebuilt from a kind 1 record (its item) or kind 2 record (item "_integrity"), with
// payload_hash / report_hash in place of SHA256(payload). kInvalidArgument for kinds 3 and 4.
StatusOr<Bytes> RecordDataDigest(const Record& record);

// OK when the kind 1 or 2 `record` carries auth 2 and its device_sig is `device_pubkey`'s
// signature over RecordDataDigest(record). kFailedPrecondition for a MACed record (nothing to
// check); kInvalidArgument for kinds 3 and 4 or a malformed key; kUnauthenticated if the
// signature does not verify.
Status VerifyDeviceSignature(const Record& record, ByteView device_pubkey);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_RECORD_H_
