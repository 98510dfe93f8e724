#include "ledger/state_digest.h"

namespace provledger::ledger {

Bytes StateCursor(const StateRow& row) {
  Bytes c;
  AppendU8(&c, row.table);
  c += row.key;
  return c;
}

StateDigester::StateDigester(const std::string& chain_id, uint64_t height, ByteView header_hash) {
  Bytes head = "pl/v1/state";
  AppendLp(&head, chain_id);
  AppendU64(&head, height);
  head.append(header_hash.data(), header_hash.size());
  h_.Update(head);
}

Status StateDigester::Add(const StateRow& row) {
  if (row.table < kMinStateTable || row.table > kMaxStateTable) {
    return InvalidArgumentError("state row of unknown table " + std::to_string(row.table));
  }
  Bytes cursor = StateCursor(row);
  // Cursors compare as (table, key): one table byte, then the key's bytes.
  if (!last_.empty() && cursor <= last_) {
    return InvalidArgumentError("state rows out of order at row " + std::to_string(rows_));
  }
  Bytes enc;
  AppendU8(&enc, row.table);
  AppendLp(&enc, row.key);
  AppendLp(&enc, row.value);
  h_.Update(enc);
  last_ = std::move(cursor);
  ++rows_;
  return OkStatus();
}

Bytes StateDigester::Finish() {
  Bytes tail;
  AppendU64(&tail, rows_);
  h_.Update(tail);
  return h_.Finish();
}

Bytes StateAttestationDigest(const std::string& chain_id, uint64_t height, ByteView header_hash,
                             ByteView state_digest) {
  Bytes m = "pl/v1/checkpoint-state";
  AppendLp(&m, chain_id);
  AppendU64(&m, height);
  m.append(header_hash.data(), header_hash.size());
  m.append(state_digest.data(), state_digest.size());
  return Sha256(m);
}

}  // namespace provledger::ledger
