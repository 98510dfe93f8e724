// Outbox: the bridge's durable state, in one RocksDB:
//  - the intake: messages taken from the broker and not yet verified, each written (synced)
//    before the MQTT callback returns, i.e. before Paho sends the PUBACK;
//  - the entries: readings the bridge accepted and the ledger has not yet confirmed;
//  - each device's replay window and the write-policy state of each device and item.
// One chunk's entries, windows and policy states are written in one synced batch that also
// removes the chunk's intake messages, so a message is either waiting in the intake or
// fully taken care of. After a crash, a ledger outage or a broker restart the intake is
// verified again and every entry submitted again; the ledger answers a resent record as a
// duplicate, so nothing is lost or written twice. When the ledger is slower than the broker
// the outbox grows on disk, not in memory.
//
// Thread rules: all methods are thread-safe (RocksDB is; counters are atomics). Writes
// take one mutex, so RocksDB never merges the batches of several threads into one write
// group: that merging synchronises inside the uninstrumented library, where ThreadSanitizer
// cannot see it, and reported every merge as a race once the MQTT callback, the verify
// thread and the submit workers all wrote. The cost: a write may wait for another's fsync.
#ifndef PROVLEDGER_MQTT_BRIDGE_OUTBOX_H_
#define PROVLEDGER_MQTT_BRIDGE_OUTBOX_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace rocksdb {
class DB;
}

namespace provledger::bridge {

struct OutboxEntry {
  uint64_t key = 0;  // position in the outbox, assigned by Append
  Bytes record;      // record bytes (PROTOCOL.md 6.1)
  Bytes payload;     // the device's payload, submitted beside the record
};

// One chunk's writes (see Outbox::Append).
struct OutboxBatch {
  std::vector<OutboxEntry> entries;  // keys are assigned and written back by Append
  std::vector<std::pair<std::string, Bytes>> replay_windows;  // device -> window
  std::vector<std::pair<Bytes, Bytes>> policy_states;         // PolicyFilter::Dirty()
  std::vector<uint64_t> intake_done;                          // intake keys taken care of
};

class Outbox {
 public:
  // Opens or creates the outbox at `path`. kInternal/kDataLoss on RocksDB errors.
  static StatusOr<std::unique_ptr<Outbox>> Open(const std::string& path);
  ~Outbox();

  // Writes a received message to the intake and returns its intake key, > 0. `sync`: the
  // write is on disk when this returns (survives a power loss); otherwise it is in the WAL
  // (survives the process dying) and on disk with the next synced write. kResourceExhausted
  // when the disk is full, kInternal otherwise (nothing written).
  StatusOr<uint64_t> Intake(ByteView message, bool sync = true);
  // Every intake message still waiting, in key order (at start-up).
  StatusOr<std::vector<std::pair<uint64_t, Bytes>>> PendingIntake() const;
  // Removes intake messages without other writes (synced), e.g. after Append failed and
  // their senders were answered `internal`.
  Status DropIntake(const std::vector<uint64_t>& keys);

  // Appends batch->entries (their keys are assigned and written back), writes the replay
  // windows and policy states and removes the intake messages of batch->intake_done, all in
  // one synced batch. On error nothing is written (kResourceExhausted when the disk is
  // full, kInternal otherwise).
  Status Append(OutboxBatch* batch);
  // Up to `max` entries with key > after, in key order.
  StatusOr<std::vector<OutboxEntry>> Read(uint64_t after, size_t max) const;
  // Removes confirmed entries (not synced: a lost removal only causes a harmless resend).
  Status Remove(const std::vector<uint64_t>& keys);
  // Every persisted replay window, by device.
  StatusOr<std::map<std::string, Bytes>> ReplayWindows() const;
  // Every persisted write-policy state, by its PolicyFilter key.
  StatusOr<std::map<Bytes, Bytes>> PolicyStates() const;

  uint64_t size() const { return size_.load(); }
  uint64_t intake_size() const { return intake_size_.load(); }

 private:
  Outbox() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::mutex write_mu_;  // held across every write to db_ (see the thread rules)
  std::atomic<uint64_t> next_key_{1};
  std::atomic<uint64_t> size_{0};
  std::atomic<uint64_t> next_intake_{1};
  std::atomic<uint64_t> intake_size_{0};
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_OUTBOX_H_
