// IntegrityTracker: what the bridge knows of each device's integrity (PROTOCOL.md section 7):
// per device and boot how many measurement entries it has appraised, and the device's
// current status with the attestation record that set it. The ReadingVerifier reads the
// status (IntegrityDirectory) for every message it accepts; the pipeline records each
// appraisal, and writes Dirty() to the Outbox in the same synced batch as the attestation
// record and the report's replay window, so a bridge restart (Restore) forgets nothing and
// never counts an appraisal whose record was not stored.
//
// A device keeps the counts of its last kMaxBoots boots (a report of an older boot starts
// from 0 again: its entries were appraised long ago or are lost).
//
// Thread rules: not thread-safe; owned by the bridge's verify thread (like the verifier).
#ifndef PROVLEDGER_MQTT_BRIDGE_INTEGRITY_STATE_H_
#define PROVLEDGER_MQTT_BRIDGE_INTEGRITY_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "mqtt-bridge/device_directory.h"

namespace provledger::bridge {

struct DeviceIntegrity {
  IntegrityStatus status = IntegrityStatus::kUnknown;
  Bytes attestation;  // record id (32) of the attestation that set `status`; empty: unknown
  uint64_t seq = 0;   // that attestation's seq
  std::vector<std::pair<std::string, uint64_t>> boots;  // boot id -> appraised, newest last
};

class IntegrityTracker final : public IntegrityDirectory {
 public:
  static constexpr size_t kMaxBoots = 8;

  IntegrityState State(const std::string& device) const override;
  // The entries of `boot` appraised so far for `device` (0 for a boot not seen).
  uint64_t AppraisedCount(const std::string& device, const std::string& boot) const;
  // The device's record, nullptr before its first appraisal.
  const DeviceIntegrity* Find(const std::string& device) const;

  // Records an appraisal: `boot`'s count becomes `count`, the status `status` set by the
  // attestation `attestation` (32 bytes) of seq `seq`. Pending until Commit or Rollback.
  void Record(const std::string& device, const std::string& boot, uint64_t count,
              IntegrityStatus status, const Bytes& attestation, uint64_t seq);
  // The (key, value) pairs the recorded appraisals leave, for OutboxBatch::integrity_states.
  std::vector<std::pair<Bytes, Bytes>> Dirty() const;
  // The pending appraisals are stored (Commit) or were not (Rollback: the state before them).
  void Commit();
  void Rollback();

  // Installs a persisted state (at start-up, from Outbox::IntegrityStates). kDataLoss when
  // the value does not decode.
  Status Restore(const Bytes& key, const Bytes& value);
  size_t size() const { return devices_.size(); }

  static Bytes Encode(const DeviceIntegrity& d);
  static StatusOr<DeviceIntegrity> Decode(ByteView value);

 private:
  std::map<std::string, DeviceIntegrity> devices_;
  // Devices changed since the last Commit/Rollback, with their state before (nullopt: none).
  std::map<std::string, std::optional<DeviceIntegrity>> before_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_INTEGRITY_STATE_H_
