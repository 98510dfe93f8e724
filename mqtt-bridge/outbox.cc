#include "mqtt-bridge/outbox.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace provledger::bridge {

namespace {

constexpr char kEntryPrefix = 'o';
constexpr char kReplayPrefix = 'r';

Bytes EntryKey(uint64_t k) {
  Bytes out(1, kEntryPrefix);
  AppendU64(&out, k);
  return out;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return OkStatus();
  if (s.IsNoSpace()) return ResourceExhaustedError(what + ": disk full: " + s.ToString());
  if (s.IsCorruption()) return DataLossError(what + ": " + s.ToString());
  return InternalError(what + ": " + s.ToString());
}

}  // namespace

StatusOr<std::unique_ptr<Outbox>> Outbox::Open(const std::string& path) {
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.paranoid_checks = true;
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  rocksdb::DB* raw = nullptr;
  PL_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(opts, path, &raw), "open outbox " + path));
  std::unique_ptr<Outbox> o(new Outbox());
  o->db_.reset(raw);
  // Count what is waiting and continue numbering after the last entry.
  std::unique_ptr<rocksdb::Iterator> it(o->db_->NewIterator(rocksdb::ReadOptions()));
  uint64_t count = 0, last = 0;
  for (it->Seek(rocksdb::Slice(&kEntryPrefix, 1));
       it->Valid() && it->key().size() == 9 && it->key()[0] == kEntryPrefix; it->Next()) {
    ++count;
    ByteReader r(ByteView(it->key().data() + 1, 8));
    uint64_t k = 0;
    (void)r.ReadU64(&k);
    last = k;
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "scan outbox"));
  o->size_ = count;
  o->next_key_ = last + 1;
  return o;
}

Outbox::~Outbox() {
  if (db_) db_->Close();
}

Status Outbox::Append(std::vector<OutboxEntry>* entries,
                      const std::vector<std::pair<std::string, Bytes>>& replay_windows) {
  rocksdb::WriteBatch batch;
  const uint64_t first = next_key_.fetch_add(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    auto& e = (*entries)[i];
    e.key = first + i;
    Bytes v;
    AppendLp(&v, e.record);
    AppendLp(&v, e.payload);
    batch.Put(EntryKey(e.key), v);
  }
  for (const auto& [device, window] : replay_windows) {
    batch.Put(std::string(1, kReplayPrefix) + device, window);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    PL_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "outbox append"));
  }
  size_.fetch_add(entries->size());
  return OkStatus();
}

StatusOr<std::vector<OutboxEntry>> Outbox::Read(uint64_t after, size_t max) const {
  std::vector<OutboxEntry> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(EntryKey(after + 1));
       it->Valid() && out.size() < max && it->key().size() == 9 && it->key()[0] == kEntryPrefix;
       it->Next()) {
    OutboxEntry e;
    ByteReader kr(ByteView(it->key().data() + 1, 8));
    ByteReader vr(ByteView(it->value().data(), it->value().size()));
    if (!kr.ReadU64(&e.key).ok() || !vr.ReadLp(&e.record, 1 << 24).ok() ||
        !vr.ReadLp(&e.payload, 1 << 26).ok() || !vr.done()) {
      return DataLossError("outbox entry is malformed");
    }
    out.push_back(std::move(e));
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "outbox read"));
  return out;
}

Status Outbox::Remove(const std::vector<uint64_t>& keys) {
  rocksdb::WriteBatch batch;
  for (uint64_t k : keys) batch.Delete(EntryKey(k));
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    PL_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "outbox remove"));
  }
  size_.fetch_sub(keys.size());
  return OkStatus();
}

StatusOr<std::map<std::string, Bytes>> Outbox::ReplayWindows() const {
  std::map<std::string, Bytes> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(&kReplayPrefix, 1));
       it->Valid() && !it->key().empty() && it->key()[0] == kReplayPrefix; it->Next()) {
    out[it->key().ToString().substr(1)] = it->value().ToString();
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "outbox replay windows"));
  return out;
}

}  // namespace provledger::bridge
