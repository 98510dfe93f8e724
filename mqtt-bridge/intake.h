// Intake: the messages the bridge took from the broker and has not yet verified, on disk in
// their own RocksDB (<data_dir>/intake). The consumer thread puts each batch it received here
// in one write (PutBatch) before it sends their PUBACKs (common/mqtt_consumer.h), so a crash
// in between loses nothing: the broker sends them again. (With --mqtt_consumer=library the
// MQTT client has queued the PUBACK before the callback's Put, and a crash in between loses
// the message: docs/RELIABILITY.md finding 7.)
//
// A message is taken care of once the verify thread has written what became of it to the
// Outbox (whose batch records the highest intake key it covers, Outbox::IntakeWatermark) or
// has answered it; MarkDone() then lets the next Put() delete it. After a crash, Pending()
// above the outbox's watermark is what the last run took in and never verified.
//
// Thread rules: Put() and PutBatch() from one thread only (the consumer): a single writer, so
// RocksDB never merges the batches of several threads (that merging synchronises inside the
// uninstrumented library, which ThreadSanitizer reports as races). Open() and Pending() before
// that thread starts; MarkDone() and pending() from any thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_INTAKE_H_
#define PROVLEDGER_MQTT_BRIDGE_INTAKE_H_

#include <atomic>
#include <memory>
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

  // Writes `message` and, in the same batch, deletes the messages MarkDone() released;
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
  // Messages with keys <= `upto` are taken care of (monotonic: a lower value is ignored).
  // Keys Put() hands out afterwards are above `upto`.
  void MarkDone(uint64_t upto);
  // Messages put and not yet marked done.
  uint64_t pending() const;

 private:
  Intake() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::atomic<uint64_t> next_key_{1};
  std::atomic<uint64_t> done_upto_{0};  // MarkDone's highest key
  uint64_t deleted_upto_ = 0;           // writer only: keys <= this are deleted
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_INTAKE_H_
