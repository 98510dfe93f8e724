#include "mqtt-bridge/outbox.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "mqtt-bridge/local_db.h"

namespace provledger::bridge {

namespace {

constexpr char kEntryPrefix = 'o';
constexpr char kReplayPrefix = 'r';
constexpr char kPolicyPrefix = 'p';
constexpr char kIntegrityPrefix = 'i';
constexpr char kWatermarkKey[] = "w";

Bytes NumberedKey(char prefix, uint64_t k) {
  Bytes out(1, prefix);
  AppendU64(&out, k);
  return out;
}
Bytes EntryKey(uint64_t k) { return NumberedKey(kEntryPrefix, k); }

// Counts the numbered keys under `prefix` and returns the last one (0 when none).
Status ScanNumbered(rocksdb::DB* db, char prefix, uint64_t* count, uint64_t* last) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  *count = 0;
  *last = 0;
  for (it->Seek(rocksdb::Slice(&prefix, 1));
       it->Valid() && it->key().size() == 9 && it->key()[0] == prefix; it->Next()) {
    ++*count;
    ByteReader r(ByteView(it->key().data() + 1, 8));
    uint64_t k = 0;
    (void)r.ReadU64(&k);
    *last = k;
  }
  return it->status().ok() ? OkStatus() : InternalError("scan outbox: " + it->status().ToString());
}

}  // namespace

StatusOr<std::unique_ptr<Outbox>> Outbox::Open(const std::string& path) {
  PL_ASSIGN_OR_RETURN(auto db, OpenLocalDb(path, "outbox"));
  std::unique_ptr<Outbox> o(new Outbox());
  o->db_ = std::move(db);
  // Count what is waiting and continue numbering after the last entry.
  uint64_t count = 0, last = 0;
  PL_RETURN_IF_ERROR(ScanNumbered(o->db_.get(), kEntryPrefix, &count, &last));
  o->size_ = count;
  o->next_key_ = last + 1;
  o->mem_from_ = last + 1;  // what this run appends is cached; earlier entries are on disk
  return o;
}

Outbox::~Outbox() {
  if (db_) db_->Close();
}

Status Outbox::Append(OutboxBatch* b) {
  rocksdb::WriteBatch batch;
  const uint64_t first = next_key_.fetch_add(b->entries.size());
  for (size_t i = 0; i < b->entries.size(); ++i) {
    auto& e = b->entries[i];
    e.key = first + i;
    Bytes v;
    AppendLp(&v, e.record);
    AppendLp(&v, e.payload);
    batch.Put(EntryKey(e.key), v);
  }
  for (const auto& [device, window] : b->replay_windows) {
    batch.Put(std::string(1, kReplayPrefix) + device, window);
  }
  for (const auto& [key, state] : b->policy_states) {
    batch.Put(std::string(1, kPolicyPrefix) + key, state);
  }
  for (const auto& [key, state] : b->integrity_states) {
    batch.Put(std::string(1, kIntegrityPrefix) + key, state);
  }
  if (b->intake_upto > 0) {
    Bytes w;
    AppendU64(&w, b->intake_upto);
    batch.Put(kWatermarkKey, w);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    PL_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "outbox append"));
    // Cached before size_ grows, so a reader that sees the entries counted finds them.
    std::lock_guard<std::mutex> mlock(mem_mu_);
    for (auto& e : b->entries) {
      const size_t bytes = e.record.size() + e.payload.size();
      if (mem_from_ <= e.key && mem_bytes_ + bytes <= kMemBytes) {
        mem_bytes_ += bytes;
        OutboxEntry& m = mem_[e.key];
        m.key = e.key;
        m.record = std::move(e.record);
        m.payload = std::move(e.payload);
      } else if (mem_from_ <= e.key) {
        // Over budget: from here on the cache holds nothing older than what comes next.
        mem_.clear();
        mem_bytes_ = 0;
        mem_from_ = b->entries.back().key + 1;
        break;
      }
    }
    size_.fetch_add(b->entries.size());
  }
  return OkStatus();
}

bool Outbox::ReadMem(uint64_t after, size_t max, std::vector<OutboxEntry>* out) const {
  std::lock_guard<std::mutex> lock(mem_mu_);
  if (after + 1 < mem_from_) return false;
  for (auto it = mem_.upper_bound(after); it != mem_.end() && out->size() < max; ++it) {
    out->push_back(it->second);
  }
  return true;
}

StatusOr<std::vector<OutboxEntry>> Outbox::Read(uint64_t after, size_t max) const {
  std::vector<OutboxEntry> out;
  if (ReadMem(after, max, &out)) return out;
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
  std::lock_guard<std::mutex> lock(write_mu_);
  PL_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "outbox remove"));
  {
    std::lock_guard<std::mutex> mlock(mem_mu_);
    for (uint64_t k : keys) {
      auto it = mem_.find(k);
      if (it == mem_.end()) continue;
      mem_bytes_ -= it->second.record.size() + it->second.payload.size();
      mem_.erase(it);
    }
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

namespace {
StatusOr<std::map<Bytes, Bytes>> ScanPrefixed(rocksdb::DB* db, char prefix, const char* what) {
  std::map<Bytes, Bytes> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(&prefix, 1));
       it->Valid() && !it->key().empty() && it->key()[0] == prefix; it->Next()) {
    out[it->key().ToString().substr(1)] = it->value().ToString();
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), what));
  return out;
}
}  // namespace

StatusOr<std::map<Bytes, Bytes>> Outbox::PolicyStates() const {
  return ScanPrefixed(db_.get(), kPolicyPrefix, "outbox policy states");
}

StatusOr<std::map<Bytes, Bytes>> Outbox::IntegrityStates() const {
  return ScanPrefixed(db_.get(), kIntegrityPrefix, "outbox integrity states");
}

StatusOr<uint64_t> Outbox::IntakeWatermark() const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kWatermarkKey, &v);
  if (s.IsNotFound()) return uint64_t{0};
  PL_RETURN_IF_ERROR(FromRocks(s, "outbox intake watermark"));
  ByteReader r(v);
  uint64_t w = 0;
  if (!r.ReadU64(&w).ok() || !r.done()) return DataLossError("outbox intake watermark");
  return w;
}

}  // namespace provledger::bridge
