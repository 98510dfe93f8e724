// Seams to the ledger's registry state, implemented outside this package (the ledger
// client keeps a snapshot) and by fakes in tests.
//
// Thread rules: implementations are called from the bridge's verify thread only, and must
// not block on I/O (answer from memory).
#ifndef PROVLEDGER_MQTT_BRIDGE_DEVICE_DIRECTORY_H_
#define PROVLEDGER_MQTT_BRIDGE_DEVICE_DIRECTORY_H_

#include <optional>
#include <string>

#include "common/bytes.h"

namespace provledger {
namespace bridge {

// Which devices are registered on the ledger, with their static public keys.
class DeviceDirectory {
 public:
  virtual ~DeviceDirectory() = default;
  // The device's 33-byte compressed static public key, or nullopt when `device` is not
  // registered (=> `unregistered`).
  virtual std::optional<Bytes> PublicKey(const std::string& device) const = 0;
};

// A device's integrity status (PROTOCOL.md section 7); the values are the record's.
enum class IntegrityStatus { kUnknown = 0, kTrusted = 1, kUntrusted = 2 };

struct IntegrityState {
  IntegrityStatus status = IntegrityStatus::kUnknown;
  // Record id (32 bytes) of the attestation that set the status; empty when unknown.
  Bytes attestation;
};

// Each device's latest integrity verdict.
class IntegrityDirectory {
 public:
  virtual ~IntegrityDirectory() = default;
  // The device's current state; {kUnknown, ""} before its first verdict.
  virtual IntegrityState State(const std::string& device) const = 0;
};

}  // namespace bridge
}  // namespace provledger

#endif  // PROVLEDGER_MQTT_BRIDGE_DEVICE_DIRECTORY_H_
