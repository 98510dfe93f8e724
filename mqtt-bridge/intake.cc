#include "mqtt-bridge/intake.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "mqtt-bridge/local_db.h"

namespace provledger::bridge {

namespace {

Bytes Key(uint64_t k) {
  Bytes out;
  AppendU64(&out, k);
  return out;
}

// Deletes [from, to] (RocksDB's DeleteRange is [begin, end)).
void AddDelete(rocksdb::WriteBatch* batch, uint64_t from, uint64_t to) {
  if (from == to) {
    batch->Delete(Key(from));
  } else {
    batch->DeleteRange(Key(from), Key(to + 1));
  }
}

}  // namespace

StatusOr<std::unique_ptr<Intake>> Intake::Open(const std::string& path) {
  PL_ASSIGN_OR_RETURN(auto db, OpenLocalDb(path, "intake"));
  std::unique_ptr<Intake> in(new Intake());
  in->db_ = std::move(db);
  std::unique_ptr<rocksdb::Iterator> it(in->db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekToLast();
  if (it->Valid()) {
    ByteReader r(ByteView(it->key().data(), it->key().size()));
    uint64_t last = 0;
    if (!r.ReadU64(&last).ok() || !r.done()) return DataLossError("intake key is malformed");
    in->next_key_ = last + 1;
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "scan intake"));
  return in;
}

Intake::~Intake() {
  if (db_) db_->Close();
}

StatusOr<uint64_t> Intake::Put(ByteView message, bool sync) {
  return PutBatch({Bytes(message)}, sync);
}

std::vector<std::pair<uint64_t, uint64_t>> Intake::TakeReleased() {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  {
    std::lock_guard<std::mutex> lock(released_mu_);
    ranges.swap(released_);
  }
  if (ranges.size() < 2) return ranges;
  // Chunks settle mostly in order: neighbours become one tombstone.
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

void Intake::Requeue(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  std::lock_guard<std::mutex> lock(released_mu_);
  released_.insert(released_.end(), ranges.begin(), ranges.end());
}

StatusOr<uint64_t> Intake::PutBatch(const std::vector<Bytes>& messages, bool sync) {
  if (messages.empty()) return InvalidArgumentError("intake: an empty batch");
  const uint64_t first = next_key_.load();
  rocksdb::WriteBatch batch;
  const auto released = TakeReleased();
  for (const auto& [from, to] : released) AddDelete(&batch, from, to);
  uint64_t key = first;
  for (const Bytes& m : messages) {
    batch.Put(Key(key++), rocksdb::Slice(m.data(), m.size()));
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  Status s = FromRocks(db_->Write(wo, &batch), "intake put");
  if (!s.ok()) {
    Requeue(released);
    return s;
  }
  next_key_.store(key);
  return first;
}

Status Intake::WriteReleased() {
  const auto released = TakeReleased();
  if (released.empty()) return OkStatus();
  rocksdb::WriteBatch batch;
  for (const auto& [from, to] : released) AddDelete(&batch, from, to);
  Status s = FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "intake release");
  if (!s.ok()) Requeue(released);
  return s;
}

void Intake::Release(uint64_t from, uint64_t to) {
  if (from == 0 || from > to) return;
  std::lock_guard<std::mutex> lock(released_mu_);
  released_.emplace_back(from, to);
}

Status Intake::DropExcept(uint64_t upto, std::vector<std::pair<uint64_t, uint64_t>> keep) {
  if (upto == 0) return OkStatus();
  std::sort(keep.begin(), keep.end());
  rocksdb::WriteBatch batch;
  uint64_t from = 1;  // the next key not yet kept or deleted
  for (const auto& [a, b] : keep) {
    if (a > upto) break;
    if (a > from) AddDelete(&batch, from, a - 1);
    from = std::max(from, b + 1);
  }
  if (from <= upto) AddDelete(&batch, from, upto);
  if (batch.Count() == 0) return OkStatus();
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "intake drop settled");
}

StatusOr<std::vector<std::pair<uint64_t, Bytes>>> Intake::Pending(uint64_t after) const {
  std::vector<std::pair<uint64_t, Bytes>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(Key(after + 1)); it->Valid(); it->Next()) {
    ByteReader kr(ByteView(it->key().data(), it->key().size()));
    uint64_t k = 0;
    if (!kr.ReadU64(&k).ok() || !kr.done()) return DataLossError("intake key is malformed");
    out.emplace_back(k, it->value().ToString());
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "intake read"));
  return out;
}

StatusOr<Bytes> Intake::Get(uint64_t key) const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(key), &v);
  if (s.IsNotFound()) return NotFoundError("intake message " + std::to_string(key));
  PL_RETURN_IF_ERROR(FromRocks(s, "intake get"));
  return v;
}

void Intake::MarkDone(uint64_t upto) {
  uint64_t cur = done_upto_.load();
  while (upto > cur && !done_upto_.compare_exchange_weak(cur, upto)) {
  }
  // At start-up, from the outbox's watermark: keys above it only, even if this folder was
  // emptied (never in operation, where every key marked was issued before).
  uint64_t next = next_key_.load();
  while (next <= upto && !next_key_.compare_exchange_weak(next, upto + 1)) {
  }
}

uint64_t Intake::pending() const {
  const uint64_t last = next_key_.load() - 1;
  const uint64_t done = done_upto_.load();
  return last > done ? last - done : 0;
}

}  // namespace provledger::bridge
