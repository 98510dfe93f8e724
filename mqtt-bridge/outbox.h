// Outbox: readings the bridge accepted and the ledger has not yet confirmed, on disk
// (RocksDB), with each device's replay window, the write-policy state of each device and
// item, each device's integrity state (appraised counts per boot, status), and the highest Intake
// key the batch takes care of, all written in one synced batch per chunk: a message is either above
// the watermark (still to verify after a crash) or fully taken care of. After a crash, a ledger
// outage or a broker restart every entry is submitted again; the ledger answers a resent record as
// a duplicate, so nothing is lost or written twice. When the ledger is slower than the broker the
// outbox grows on disk, not in memory.
//
// Thread rules: all methods are thread-safe (RocksDB is; counters are atomics). Writes
// take one mutex, so RocksDB never merges the batches of several threads into one write
// group: that merging synchronises inside the uninstrumented library, where ThreadSanitizer
// cannot see it, and it reported merges of the verify thread's and submit workers' batches
// as races. The cost: a removal may wait for an append's fsync.
//
// Entries appended by this process are also kept in memory (up to kMemBytes of records and
// payloads) until removed, so the submit workers read what the verify thread just wrote
// without a RocksDB scan; entries left by an earlier run, or beyond that budget, are read
// from disk.
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
  std::vector<std::pair<Bytes, Bytes>> integrity_states;      // IntegrityTracker::Dirty()
  uint64_t intake_upto = 0;  // > 0: every Intake key up to this is taken care of
};

class Outbox {
 public:
  // Opens or creates the outbox at `path`. kInternal/kDataLoss on RocksDB errors.
  static StatusOr<std::unique_ptr<Outbox>> Open(const std::string& path);
  ~Outbox();

  // Appends batch->entries (their keys are assigned and written back), writes the replay
  // windows, policy states and intake watermark, all in one synced batch. On success the
  // entries' record and payload bytes are moved into the outbox (the caller keeps their keys
  // and count). On error nothing is written (kResourceExhausted when the disk is full,
  // kInternal otherwise).
  Status Append(OutboxBatch* batch);
  // Up to `max` entries with key > after, in key order.
  StatusOr<std::vector<OutboxEntry>> Read(uint64_t after, size_t max) const;
  // Removes confirmed entries (not synced: a lost removal only causes a harmless resend).
  Status Remove(const std::vector<uint64_t>& keys);
  // Every persisted replay window, by device.
  StatusOr<std::map<std::string, Bytes>> ReplayWindows() const;
  // Every persisted write-policy state, by its PolicyFilter key.
  StatusOr<std::map<Bytes, Bytes>> PolicyStates() const;
  // Every persisted integrity state (appraised counts, status), by its IntegrityTracker key.
  StatusOr<std::map<Bytes, Bytes>> IntegrityStates() const;

  // The highest intake_upto written (0: none).
  StatusOr<uint64_t> IntakeWatermark() const;

  uint64_t size() const { return size_.load(); }

 private:
  Outbox() = default;
  static constexpr size_t kMemBytes = 64 << 20;
  // Read from mem_ when it holds every entry above `after`; false: read from disk.
  bool ReadMem(uint64_t after, size_t max, std::vector<OutboxEntry>* out) const;

  std::unique_ptr<rocksdb::DB> db_;
  std::mutex write_mu_;  // held across every write to db_ (see the thread rules)
  mutable std::mutex mem_mu_;
  // guarded by mem_mu_: entries with keys >= mem_from_ not yet removed are all in mem_.
  std::map<uint64_t, OutboxEntry> mem_;
  uint64_t mem_from_ = 0;  // guarded by mem_mu_; 0: nothing cached yet (set at Open)
  size_t mem_bytes_ = 0;   // guarded by mem_mu_
  std::atomic<uint64_t> next_key_{1};
  std::atomic<uint64_t> size_{0};
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_OUTBOX_H_
