// Checkpoint state: the rows a node needs to go on from height H without the blocks below it
// (the registry, the record-id and (device, seq) indexes that duplicate refusal reads, the
// first-record index), the digest over them and the digest validators sign to attest it
// (docs/CATCHUP.md). Header and certificates (PROTOCOL.md 6.3, 6.4) are unchanged: the state
// is attested beside them, never inside them.
//
//   state digest = SHA256("pl/v1/state" ‖ lp(chain_id) ‖ u64be(H) ‖ header_hash(H) (32)
//                         ‖ n × (u8(table) ‖ lp(key) ‖ lp(value)) ‖ u64be(n))
//   attestation digest = SHA256("pl/v1/checkpoint-state" ‖ lp(chain_id) ‖ u64be(H)
//                               ‖ header_hash(H) (32) ‖ state_digest (32))
//
// Rows are in ascending (table, key) order, keys unique; a validator signs the attestation
// digest with its validator key.
//
// Thread rules: pure functions; a StateDigester is owned by one thread.
#ifndef PROVLEDGER_LEDGER_STATE_DIGEST_H_
#define PROVLEDGER_LEDGER_STATE_DIGEST_H_

#include <cstdint>
#include <memory>
#include <string>

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

// Digests rows fed in order, and checks that order.
class StateDigester {
 public:
  StateDigester(const std::string& chain_id, uint64_t height, ByteView header_hash);
  // kInvalidArgument (nothing added) for a table out of 1..4 or a row not above the last one.
  Status Add(const StateRow& row);
  uint64_t rows() const { return rows_; }
  // The state digest; the digester must not be used afterwards.
  Bytes Finish();

 private:
  Sha256Hasher h_;
  uint64_t rows_ = 0;
  Bytes last_;  // cursor of the last row added; empty before the first
};

Bytes StateAttestationDigest(const std::string& chain_id, uint64_t height, ByteView header_hash,
                             ByteView state_digest);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_STATE_DIGEST_H_
