#include "ledger/state_digest.h"

namespace provledger::ledger {

Bytes StateCursor(const StateRow& row) {
  Bytes c;
  AppendU8(&c, row.table);
  c += row.key;
  return c;
}

RowsDigester::RowsDigester() { h_.Update("pl/v2/state-rows"); }

void RowsDigester::Add(uint8_t table, ByteView key, ByteView value) {
  Bytes enc;
  enc.reserve(9 + key.size() + value.size());
  AppendU8(&enc, table);
  AppendLp(&enc, key);
  AppendLp(&enc, value);
  h_.Update(enc);
  ++rows_;
}

Bytes RowsDigester::Finish() {
  Bytes tail;
  AppendU64(&tail, rows_);
  h_.Update(tail);
  return h_.Finish();
}

Bytes IndexChainStep(ByteView prev, uint64_t height, ByteView block_rows_digest) {
  Bytes m = "pl/v2/state-index-step";
  m.append(prev.data(), prev.size());
  AppendU64(&m, height);
  m.append(block_rows_digest.data(), block_rows_digest.size());
  return Sha256(m);
}

Bytes IndexChainStart() { return Bytes(32, '\0'); }

Bytes StateDigest(const std::string& chain_id, uint64_t height, ByteView header_hash,
                  ByteView registry_digest, ByteView index_digest) {
  Bytes m = "pl/v2/state";
  AppendLp(&m, chain_id);
  AppendU64(&m, height);
  m.append(header_hash.data(), header_hash.size());
  m.append(registry_digest.data(), registry_digest.size());
  m.append(index_digest.data(), index_digest.size());
  return Sha256(m);
}

StateDigester::StateDigester(const std::string& chain_id, uint64_t height, ByteView header_hash)
    : chain_id_(chain_id), height_(height), header_hash_(header_hash.data(), header_hash.size()) {}

StateDigester::~StateDigester() = default;

Status StateDigester::Add(const StateRow& row) {
  if (row.table < kMinStateTable || row.table > kMaxStateTable) {
    return InvalidArgumentError("state row of unknown table " + std::to_string(row.table));
  }
  Bytes cursor = StateCursor(row);
  // Cursors compare as (table, key): one table byte, then the key's bytes.
  if (!last_.empty() && cursor <= last_) {
    return InvalidArgumentError("state rows out of order at row " + std::to_string(rows_));
  }
  const auto table = static_cast<StateTable>(row.table);
  uint64_t h = 0;
  if (table == StateTable::kRecordIndex || table == StateTable::kFirstItem) {
    ByteReader r(row.value);
    uint32_t index = 0;
    if (!r.ReadU64(&h).ok() || (table == StateTable::kRecordIndex && !r.ReadU32(&index).ok()) ||
        !r.done()) {
      return InvalidArgumentError("state index row " + std::to_string(rows_) +
                                  " has a malformed value");
    }
  } else if (table == StateTable::kDeviceSeq) {
    auto it = record_height_.find(row.value);
    if (it == record_height_.end()) {
      return InvalidArgumentError("state (device, seq) row " + std::to_string(rows_) +
                                  " names a record without a record-index row");
    }
    h = it->second;
  }
  if (table != StateTable::kRegistry) {
    if (h == 0 || h > height_) {
      return InvalidArgumentError("state index row " + std::to_string(rows_) + " of height " +
                                  std::to_string(h) + " outside 1.." + std::to_string(height_));
    }
    if (table == StateTable::kRecordIndex) record_height_.emplace(row.key, h);
    auto& d = by_height_[h];
    if (!d) d = std::make_unique<RowsDigester>();
    d->Add(row.table, row.key, row.value);
    ++index_rows_;
  } else {
    registry_.Add(row.table, row.key, row.value);
  }
  last_ = std::move(cursor);
  ++rows_;
  return OkStatus();
}

Bytes StateDigester::Finish() {
  Bytes index = IndexChainStart();
  for (uint64_t h = 1; h <= height_; ++h) {
    auto it = by_height_.find(h);
    const Bytes rows = it == by_height_.end() ? RowsDigester().Finish() : it->second->Finish();
    index = IndexChainStep(index, h, rows);
  }
  by_height_.clear();
  record_height_.clear();
  index_digest_ = index;
  return StateDigest(chain_id_, height_, header_hash_, registry_.Finish(), index);
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
