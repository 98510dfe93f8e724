// Intake: the messages the bridge took from the broker, on disk in their own RocksDB
// (<data_dir>/intake), from before their PUBACK until the ledger has confirmed what became of
// them. The consumer thread puts each batch it received here in one write (PutBatch) before it
// sends their PUBACKs (common/mqtt_consumer.h), so a crash in between loses nothing: the broker
// sends them again. (With --mqtt_consumer=library the MQTT client has queued the PUBACK before
// the callback's Put, and a crash in between loses the message: docs/RELIABILITY.md finding 7.)
//
// A message is verified once the verify thread has written what became of it to the Outbox
// (whose chunk records the highest intake key it covers, Outbox::IntakeWatermark) or has
// answered it; MarkDone() records that. An accepted reading's payload is not copied into the
// outbox: its outbox entry refers to the message here (OutboxEntry::intake_key), so a chunk's
// messages stay until the outbox releases them (Release(), once every reading of the chunk is
// settled, or at once for a chunk that made no record); the next Put() deletes them. After a
// crash, Pending() above the outbox's watermark is what the last run took in and never
// verified.
//
// Thread rules: Put() and PutBatch() from one thread only (the consumer): a single writer, so
// RocksDB never merges the batches of several threads (that merging synchronises inside the
// uninstrumented library, which ThreadSanitizer reports as races). Open(), Pending(),
// DropExcept() before that thread starts, WriteReleased() after it stopped; Get(), MarkDone(),
// Release() and pending() from any thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_INTAKE_H_
#define PROVLEDGER_MQTT_BRIDGE_INTAKE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace rocksdb {
class DB;
}

namespace provledger::bridge {

class Intake {
 public:
  // Opens or creates the intake at `path`. kInternal/kDataLoss on RocksDB errors.
  static StatusOr<std::unique_ptr<Intake>> Open(const std::string& path);
  ~Intake();

  // Writes `message` and, in the same batch, deletes the messages Release() released;
  // returns the message's key (> 0, increasing). `sync`: on disk when this returns (survives
  // a power loss); otherwise in RocksDB's WAL only (survives the process dying). On error
  // nothing is written: kResourceExhausted when the disk is full, kInternal otherwise.
  StatusOr<uint64_t> Put(ByteView message, bool sync);
  // Writes every message of `messages` (non-empty) in one batch, as Put writes one (one
  // sync for all of them); returns the key of the first, the others following it in order
  // (first, first + 1, ...). On error nothing is written, as Put.
  StatusOr<uint64_t> PutBatch(const std::vector<Bytes>& messages, bool sync);
  // The messages with a key above `after`, in key order.
  StatusOr<std::vector<std::pair<uint64_t, Bytes>>> Pending(uint64_t after) const;
  // The message stored under `key`; kNotFound when there is none (released or never put).
  StatusOr<Bytes> Get(uint64_t key) const;
  // Messages with keys <= `upto` are verified (monotonic: a lower value is ignored). Keys
  // Put() hands out afterwards are above `upto`. Deletes nothing (Release does).
  void MarkDone(uint64_t upto);
  // The messages with keys in [from, to] may be deleted: the next Put(), PutBatch() or
  // WriteReleased() deletes them (not synced: a lost deletion leaves garbage that the next
  // start's DropExcept() deletes).
  void Release(uint64_t from, uint64_t to);
  // Writes the deletions Release() queued, now (at stop, once the consumer has stopped).
  Status WriteReleased();
  // At start: deletes every message with a key <= `upto` outside the ranges of `keep`
  // ([from, to], the outbox's chunks that still refer to messages here). Those were
  // verified and settled, their deletion lost in a crash.
  Status DropExcept(uint64_t upto, std::vector<std::pair<uint64_t, uint64_t>> keep);
  // Messages put and not yet marked done.
  uint64_t pending() const;

 private:
  Intake() = default;
  // Takes the ranges Release() queued, merged where they touch.
  std::vector<std::pair<uint64_t, uint64_t>> TakeReleased();
  void Requeue(const std::vector<std::pair<uint64_t, uint64_t>>& ranges);

  std::unique_ptr<rocksdb::DB> db_;
  std::atomic<uint64_t> next_key_{1};
  std::atomic<uint64_t> done_upto_{0};  // MarkDone's highest key
  std::mutex released_mu_;
  std::vector<std::pair<uint64_t, uint64_t>> released_;  // guarded by released_mu_
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_INTAKE_H_
