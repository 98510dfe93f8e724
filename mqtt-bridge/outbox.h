// Outbox: readings the bridge accepted and the ledger has not yet confirmed, on disk
// (RocksDB), with each device's replay window written in the same synced batch. After a
// crash, a ledger outage or a broker restart everything in it is submitted again; the
// ledger answers a resent record as a duplicate, so nothing is lost or written twice.
// When the ledger is slower than the broker the outbox grows on disk, not in memory.
//
// Thread rules: all methods are thread-safe (RocksDB is; counters are atomics).
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

class Outbox {
 public:
  // Opens or creates the outbox at `path`. kInternal/kDataLoss on RocksDB errors.
  static StatusOr<std::unique_ptr<Outbox>> Open(const std::string& path);
  ~Outbox();

  // Appends `entries` (their keys are assigned and written back) and the replay windows
  // in one synced batch. On error nothing is written (kResourceExhausted when the disk is
  // full, kInternal otherwise).
  Status Append(std::vector<OutboxEntry>* entries,
                const std::vector<std::pair<std::string, Bytes>>& replay_windows);
  // Up to `max` entries with key > after, in key order.
  StatusOr<std::vector<OutboxEntry>> Read(uint64_t after, size_t max) const;
  // Removes confirmed entries (not synced: a lost removal only causes a harmless resend).
  Status Remove(const std::vector<uint64_t>& keys);
  // Every persisted replay window, by device.
  StatusOr<std::map<std::string, Bytes>> ReplayWindows() const;

  uint64_t size() const { return size_.load(); }

 private:
  Outbox() = default;
  std::unique_ptr<rocksdb::DB> db_;
  // One write at a time: RocksDB merges concurrent write batches inside its own (for us
  // uninstrumented) code, which ThreadSanitizer reports as races in our callers.
  std::mutex write_mu_;
  std::atomic<uint64_t> next_key_{1};
  std::atomic<uint64_t> size_{0};
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_OUTBOX_H_
