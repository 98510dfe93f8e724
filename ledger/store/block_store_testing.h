// Test-only access to a BlockStore: writes the damage a bad disk would, behind the store's
// checks, so tests can show what the store and the node do with it. Linked only by testonly
// targets (tests/ and the corrupt_block test tool).
//
// Thread rules: like a BlockStore write (one writer at a time).
#ifndef PROVLEDGER_LEDGER_STORE_BLOCK_STORE_TESTING_H_
#define PROVLEDGER_LEDGER_STORE_BLOCK_STORE_TESTING_H_

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/status.h"
#include "ledger/store/block_store.h"

namespace provledger::ledger {

class BlockStoreTesting {
 public:
  // Overwrites the stored body of block `height` with `body` as is (synced), unchecked.
  static Status CorruptBody(BlockStore& store, uint64_t height, ByteView body);
  // Deletes the (device, seq) index entry of `device` and `seq` (synced), as if the store had
  // never seen that record: its checkpoint state then differs from every other node's.
  static Status DropSeqIndex(BlockStore& store, const std::string& device, uint64_t seq);
  // Rewrites the store as format 1 wrote it (synced): payloads keyed by record id, a
  // device_item row (device, item, seq -> id) per device record, no "format_version".
  static Status RewriteAsFormat1(BlockStore& store);
  // Rewrites the store as format 2 wrote it (synced): every payload under its own (height,
  // index) key, none packed, "format_version" 2.
  static Status RewriteAsFormat2(BlockStore& store);
  // Rows in column family `cf` (an exact scan); -1 if the store has no such family.
  static int64_t CountRows(const BlockStore& store, const std::string& cf);
};

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_STORE_BLOCK_STORE_TESTING_H_
