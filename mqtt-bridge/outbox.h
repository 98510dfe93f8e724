// Outbox: readings the bridge accepted and the ledger has not yet confirmed, on disk
// (RocksDB), with each device's replay window, the write-policy state of each device and
// item, each device's integrity state (appraised counts per boot, status), and the highest Intake
// key the chunk takes care of, all written in one synced batch per verified chunk (Append): a
// message is either above the watermark (still to verify after a crash) or fully taken care of.
// After a crash, a ledger outage or a broker restart every entry is submitted again; the ledger
// answers a resent record as a duplicate, so nothing is lost or written twice. When the ledger is
// slower than the broker the outbox grows on disk, not in memory.
//
// On disk a chunk's entries are one value (their records and, for each, the Intake key of the
// message holding its payload, or the payload itself when it has none there). The payload is
// written durably once, in the intake; the chunk's intake messages are released (Intake::Release)
// only once every entry of the chunk is removed and the chunk deleted (a chunk not yet complete
// has its removed entries written as one bitmap per Remove call). So a chunk on disk whose first
// referred intake message is gone was settled (its deletion, not synced, was lost while the
// intake's release, written with the next synced intake write, was not): Open deletes it.
// Layout 2 (this one) is marked in the store; a store of layout 1 (one value per entry, the
// payload inside) is rewritten into chunks by Open.
//
// Thread rules: all methods are thread-safe (RocksDB is; counters are atomics). Writes
// take one mutex, so RocksDB never merges the batches of several threads into one write
// group: that merging synchronises inside the uninstrumented library, where ThreadSanitizer
// cannot see it, and it reported merges of the verify thread's and submit workers' batches
// as races. The cost: a removal that completes a chunk may wait for an append's fsync.
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
#include "mqtt-bridge/intake.h"

namespace rocksdb {
class DB;
}

namespace provledger::bridge {

struct OutboxEntry {
  uint64_t key = 0;  // position in the outbox, assigned by Append
  Bytes record;      // record bytes (PROTOCOL.md 6.1)
  Bytes payload;     // the device's payload, submitted beside the record
  // The Intake message whose payload `payload` is (stored there, not again in the outbox);
  // 0: none, the outbox stores the payload.
  uint64_t intake_key = 0;
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
  // Opens or creates the outbox at `path`, rewriting a store of layout 1. `intake` (may be
  // null: entries then always carry their payloads) must outlive the outbox; it is where
  // entries' payloads are read from, and released to once their chunk is settled. Opening
  // deletes settled chunks and, from the intake, the messages no chunk refers to up to the
  // watermark (Intake::DropExcept), so call it before the intake's writer starts. With
  // `payloads_in_intake` false every entry is stored with its payload (an intake not synced
  // before the PUBACK may lose a message in a power loss that the outbox must not need).
  // kInternal/kDataLoss on RocksDB errors, kFailedPrecondition for a layout it does not know.
  static StatusOr<std::unique_ptr<Outbox>> Open(const std::string& path, Intake* intake = nullptr,
                                                bool payloads_in_intake = false);
  ~Outbox();

  // Appends batch->entries as one chunk (their keys are assigned and written back), writes the
  // replay windows, policy states and intake watermark, all in one synced batch. An entry with
  // an intake_key refers to that message's payload (when the outbox was opened with
  // payloads_in_intake), which stays in the intake until the chunk is settled; the intake
  // messages of a chunk without entries are released at once. On success the entries' record
  // and payload bytes are moved into the outbox (the caller keeps their keys and count). On
  // error nothing is written (kResourceExhausted when the disk is full, kInternal otherwise).
  Status Append(OutboxBatch* batch);
  // Up to `max` entries with key > after, in key order.
  StatusOr<std::vector<OutboxEntry>> Read(uint64_t after, size_t max) const;
  // Removes confirmed entries; a chunk whose entries are all removed is deleted (not synced: a
  // lost removal only causes a harmless resend) and its intake messages released. Keys not
  // in the outbox are ignored.
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
  // A chunk's place in the outbox, in memory for every chunk on disk.
  struct Chunk {
    uint32_t count = 0;         // entries: keys first .. first + count - 1
    uint32_t left = 0;          // not yet removed
    uint64_t intake_from = 0;   // the intake messages it holds on to: [from, to];
    uint64_t intake_to = 0;     // 0, 0: none
    std::vector<bool> removed;  // by key - first
  };
  // Read from mem_ when it holds every entry above `after`; false: read from disk.
  bool ReadMem(uint64_t after, size_t max, std::vector<OutboxEntry>* out) const;
  // Rewrites the entries of layout 1 into chunks (at Open).
  Status Migrate();
  // Loads the chunks on disk into chunks_; deletes those found settled (at Open).
  Status LoadChunks();
  bool Removed(uint64_t key) const;  // caller holds mem_mu_

  std::unique_ptr<rocksdb::DB> db_;
  Intake* intake_ = nullptr;
  bool payloads_in_intake_ = false;
  uint64_t watermark_ = 0;  // guarded by write_mu_: the highest intake_upto written
  std::mutex write_mu_;     // held across every write to db_ (see the thread rules)
  mutable std::mutex mem_mu_;
  std::map<uint64_t, Chunk> chunks_;  // guarded by mem_mu_, by first key
  // guarded by mem_mu_: entries with keys >= mem_from_ not yet removed are all in mem_.
  std::map<uint64_t, OutboxEntry> mem_;
  uint64_t mem_from_ = 0;  // guarded by mem_mu_; 0: nothing cached yet (set at Open)
  size_t mem_bytes_ = 0;   // guarded by mem_mu_
  std::atomic<uint64_t> next_key_{1};
  std::atomic<uint64_t> size_{0};
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_OUTBOX_H_
