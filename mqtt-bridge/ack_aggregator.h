// AckAggregator: turns the ledger's answers to the bridge's batches into acknowledgements
// by committed block (PROTOCOL.md section 3): at most one per (device, item, block), covering
// every reading of that device and item in the block whichever batch or submit worker
// carried it, sent in height order, on `datas` for the block that holds the first record of
// the device and item on the ledger.
//
// When is a block complete? A batch's records can only commit in blocks above the highest
// height known committed when the batch first went to the ledger (its start height): the
// blocks at or below it were final before it left. So block H is complete once every batch
// still in flight started at H or above. Answers at or below their batch's start height
// (resends of records committed earlier, answered DUPLICATE) belong to old blocks and are
// returned at once.
//
// Pure: no clock, no I/O, no threads. Thread rules: not thread-safe; the bridge guards its
// one aggregator with a mutex and queues the acks it returns under that mutex, so answers
// leave in the order they are returned.
#ifndef PROVLEDGER_MQTT_BRIDGE_ACK_AGGREGATOR_H_
#define PROVLEDGER_MQTT_BRIDGE_ACK_AGGREGATOR_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"

namespace provledger::bridge {

// One reading the ledger answered as committed (or as a duplicate, with its location).
struct CommittedReading {
  std::string device;
  std::string item;
  uint64_t seq = 0;
  Bytes record_id;  // 32 bytes
  uint64_t height = 0;
  bool first_of_item = false;  // the node says block `height` holds the item's first record
  uint64_t outbox_key = 0;     // removed from the outbox once acknowledged
};

// One acknowledgement: the readings `seqs` (ascending, each once) of `device` and `item`
// committed at `height`; `record_id` is the record of the highest seq.
struct BlockAck {
  std::string device;
  std::string item;
  uint64_t height = 0;
  std::vector<uint64_t> seqs;
  Bytes record_id;
  bool datas = false;  // on `datas`: the block holds the first record of device and item
  std::vector<uint64_t> outbox_keys;
};

class AckAggregator {
 public:
  // A batch goes to the ledger for the first time (a split or a retry of it keeps its
  // token). Returns its token; its start height is the highest committed height known now.
  uint64_t BeginBatch();
  // Readings of batch `token` answered as committed. Returns the acks now complete (in
  // height order among the complete blocks; old-block answers first). An unknown token is
  // treated as a batch that started at height 0.
  std::vector<BlockAck> Add(uint64_t token, std::vector<CommittedReading> readings);
  // Batch `token` is settled (every record answered or dropped). Returns the acks now
  // complete. An unknown token is ignored.
  std::vector<BlockAck> EndBatch(uint64_t token);
  // A height known committed from elsewhere (raises the start height of later batches).
  void NoteCommitted(uint64_t height);

  uint64_t known_height() const { return known_height_; }
  size_t batches_in_flight() const { return in_flight_.size(); }
  // Readings waiting for their block to be complete.
  size_t waiting_readings() const { return waiting_; }

 private:
  using Key = std::pair<std::string, std::string>;  // device, item
  // Groups one block's readings by device and item into acks.
  static void Emit(uint64_t height, std::map<Key, std::vector<CommittedReading>> groups,
                   std::vector<BlockAck>* out);
  // Moves every complete block out of pending_ into `out`, lowest height first.
  void Flush(std::vector<BlockAck>* out);

  uint64_t next_token_ = 1;
  uint64_t known_height_ = 0;
  std::map<uint64_t, uint64_t> in_flight_;  // token -> start height
  std::multiset<uint64_t> starts_;          // start heights of the batches in flight
  std::map<uint64_t, std::map<Key, std::vector<CommittedReading>>> pending_;  // by height
  size_t waiting_ = 0;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_ACK_AGGREGATOR_H_
