#include "mqtt-bridge/intake.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "mqtt-bridge/local_db.h"

namespace provledger::bridge {

namespace {

Bytes Key(uint64_t k) {
  Bytes out;
  AppendU64(&out, k);
  return out;
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

StatusOr<uint64_t> Intake::PutBatch(const std::vector<Bytes>& messages, bool sync) {
  if (messages.empty()) return InvalidArgumentError("intake: an empty batch");
  const uint64_t first = next_key_.load();
  rocksdb::WriteBatch batch;
  const uint64_t done = done_upto_.load();
  if (done > deleted_upto_) {
    batch.DeleteRange(Key(deleted_upto_ + 1), Key(done + 1));  // [from, to)
  }
  uint64_t key = first;
  for (const Bytes& m : messages) {
    batch.Put(Key(key++), rocksdb::Slice(m.data(), m.size()));
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  PL_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "intake put"));
  if (done > deleted_upto_) deleted_upto_ = done;
  next_key_.store(key);
  return first;
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
