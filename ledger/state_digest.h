// Checkpoint state: the rows a node needs to go on from height H without the blocks below it
// (the registry, the record-id and (device, seq) indexes that duplicate refusal reads, the
// first-record index), the digest over them and the digest validators sign to attest it
// (docs/CATCHUP.md). Header and certificates (PROTOCOL.md 6.3, 6.4) are unchanged: the state
// is attested beside them, never inside them.
//
//   rows digest(rows) = SHA256("pl/v2/state-rows" ‖ n × (u8(table) ‖ lp(key) ‖ lp(value))
//                              ‖ u64be(n)), rows in ascending (table, key) order
//   index chain: index(0) = 32 zero bytes,
//                index(h) = SHA256("pl/v2/state-index-step" ‖ index(h-1) ‖ u64be(h)
//                                  ‖ rows digest(index rows block h added))
//   state digest = SHA256("pl/v2/state" ‖ lp(chain_id) ‖ u64be(H) ‖ header_hash(H) (32)
//                         ‖ rows digest(registry rows) ‖ index(H))
//   attestation digest = SHA256("pl/v1/checkpoint-state" ‖ lp(chain_id) ‖ u64be(H)
//                               ‖ header_hash(H) (32) ‖ state_digest (32))
//
// The index tables (2..4) only grow, one block at a time, so the store extends index(h) as it
// appends block h and a checkpoint digests only the registry beside it. The block that added
// an index row is in the row: a record-index value's height, the record-index row of a
// (device, seq) row's record id, a first-record value. A validator signs the attestation
// digest with its validator key.
//
// Thread rules: pure functions; a digester is owned by one thread.
#ifndef PROVLEDGER_LEDGER_STATE_DIGEST_H_
#define PROVLEDGER_LEDGER_STATE_DIGEST_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/bytes.h"
#include "common/sha256.h"
#include "common/status.h"

namespace provledger::ledger {

// The tables of a checkpoint state, in digest order.
enum class StateTable : uint8_t {
  kRegistry = 1,     // every registry row (validators' schedule, gateways, devices, firmware)
  kRecordIndex = 2,  // record id -> u64be(height) ‖ u32be(index)
  kDeviceSeq = 3,    // lp(device) ‖ u64be(seq) -> record id
  kFirstItem = 4,    // "first/" ‖ lp(device) ‖ lp(item) -> u64be(height)
};
constexpr uint8_t kMinStateTable = 1;
constexpr uint8_t kMaxStateTable = 4;

struct StateRow {
  uint8_t table = 0;
  Bytes key;
  Bytes value;
};

// The cursor after `row`: u8(table) ‖ key (rows after it sort above it).
Bytes StateCursor(const StateRow& row);

// rows digest (above) of rows fed in order; the caller keeps the order (unchecked here).
class RowsDigester {
 public:
  RowsDigester();
  void Add(uint8_t table, ByteView key, ByteView value);
  uint64_t rows() const { return rows_; }
  // The digest; the digester must not be used afterwards.
  Bytes Finish();

 private:
  Sha256Hasher h_;
  uint64_t rows_ = 0;
};

// index(h) from index(h-1) and the rows digest of block h's index rows.
Bytes IndexChainStep(ByteView prev, uint64_t height, ByteView block_rows_digest);
// index(0).
Bytes IndexChainStart();

// The state digest from its parts.
Bytes StateDigest(const std::string& chain_id, uint64_t height, ByteView header_hash,
                  ByteView registry_digest, ByteView index_digest);

// The state digest of a whole row set (a joiner checking what it received, a store deriving
// its index chain once): checks order and each index row's height, groups index rows by the
// block that added them and recomputes index(1..H). Memory: one hasher per height and one
// entry per record id.
class StateDigester {
 public:
  StateDigester(const std::string& chain_id, uint64_t height, ByteView header_hash);
  ~StateDigester();
  // kInvalidArgument (nothing added) for a table out of 1..4, a row not above the last one,
  // an index value that does not decode, a height outside 1..H, or a (device, seq) row whose
  // record id has no record-index row.
  Status Add(const StateRow& row);
  uint64_t rows() const { return rows_; }
  // The state digest; the digester must not be used afterwards except for the accessors.
  Bytes Finish();
  // After Finish: index(H) and the number of index rows (tables 2..4).
  const Bytes& index_digest() const { return index_digest_; }
  uint64_t index_rows() const { return index_rows_; }

 private:
  std::string chain_id_;
  uint64_t height_;
  Bytes header_hash_;
  RowsDigester registry_;
  std::map<uint64_t, std::unique_ptr<RowsDigester>> by_height_;
  std::unordered_map<Bytes, uint64_t> record_height_;
  uint64_t rows_ = 0;
  uint64_t index_rows_ = 0;
  Bytes index_digest_;
  Bytes last_;  // cursor of the last row added; empty before the first
};

Bytes StateAttestationDigest(const std::string& chain_id, uint64_t height, ByteView header_hash,
                             ByteView state_digest);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_STATE_DIGEST_H_
