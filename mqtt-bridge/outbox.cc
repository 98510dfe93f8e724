#include "mqtt-bridge/outbox.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "common/log.h"
#include "common/mqtt_client.h"
#include "mqtt-bridge/local_db.h"

namespace provledger::bridge {

namespace {

constexpr char kEntryPrefix = 'o';  // layout 1: one entry per value (Migrate)
constexpr char kChunkPrefix = 'c';
constexpr char kRemovedPrefix = 'x';  // + a chunk's first key: its removed entries, a bitmap
constexpr char kReplayPrefix = 'r';
constexpr char kPolicyPrefix = 'p';
constexpr char kIntegrityPrefix = 'i';
constexpr char kWatermarkKey[] = "w";
constexpr char kLayoutKey[] = "v";
constexpr uint32_t kLayout = 2;
constexpr size_t kMigrateChunk = 1000;  // layout-1 entries per chunk and synced write

Bytes NumberedKey(char prefix, uint64_t k) {
  Bytes out(1, prefix);
  AppendU64(&out, k);
  return out;
}
Bytes ChunkKey(uint64_t k) { return NumberedKey(kChunkPrefix, k); }
Bytes RemovedKey(uint64_t k) { return NumberedKey(kRemovedPrefix, k); }

Bytes Bitmap(const std::vector<bool>& bits) {
  Bytes out((bits.size() + 7) / 8, '\0');
  for (size_t i = 0; i < bits.size(); ++i) {
    if (bits[i]) out[i / 8] = static_cast<char>(out[i / 8] | (1 << (i % 8)));
  }
  return out;
}

bool IsNumbered(const rocksdb::Slice& key, char prefix) {
  return key.size() == 9 && key[0] == prefix;
}
uint64_t NumberOf(const rocksdb::Slice& key) {
  ByteReader r(ByteView(key.data() + 1, 8));
  uint64_t k = 0;
  (void)r.ReadU64(&k);
  return k;
}

// A chunk's value: intake_from u64, intake_to u64, count u32, then per entry its intake key
// (u64, 0: none), its record (length-prefixed) and, without an intake key, its payload.
struct ChunkHeader {
  uint64_t intake_from = 0, intake_to = 0;
  uint32_t count = 0;
};

Status ReadChunkHeader(ByteReader* r, ChunkHeader* h) {
  if (!r->ReadU64(&h->intake_from).ok() || !r->ReadU64(&h->intake_to).ok() ||
      !r->ReadU32(&h->count).ok()) {
    return DataLossError("outbox chunk is malformed");
  }
  return OkStatus();
}

// The next entry of a chunk; `payload` is null to skip the inline payload's bytes.
Status ReadChunkEntry(ByteReader* r, uint64_t* intake_key, Bytes* record, Bytes* payload) {
  Bytes skipped;
  if (!r->ReadU64(intake_key).ok() || !r->ReadLp(record, 1 << 24).ok() ||
      (*intake_key == 0 && !r->ReadLp(payload ? payload : &skipped, 1 << 28).ok())) {
    return DataLossError("outbox chunk entry is malformed");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Outbox>> Outbox::Open(const std::string& path, Intake* intake,
                                               bool payloads_in_intake) {
  PL_ASSIGN_OR_RETURN(auto db, OpenLocalDb(path, "outbox"));
  std::unique_ptr<Outbox> o(new Outbox());
  o->db_ = std::move(db);
  o->intake_ = intake;
  o->payloads_in_intake_ = payloads_in_intake && intake != nullptr;
  std::string layout;
  rocksdb::Status ls = o->db_->Get(rocksdb::ReadOptions(), kLayoutKey, &layout);
  if (ls.ok()) {
    ByteReader r(layout);
    uint32_t v = 0;
    if (!r.ReadU32(&v).ok() || !r.done() || v != kLayout) {
      return FailedPreconditionError("outbox " + path + " has a layout this bridge does not know");
    }
  } else if (!ls.IsNotFound()) {
    PL_RETURN_IF_ERROR(FromRocks(ls, "outbox layout"));
  }
  PL_ASSIGN_OR_RETURN(o->watermark_, o->IntakeWatermark());
  PL_RETURN_IF_ERROR(o->LoadChunks());
  PL_RETURN_IF_ERROR(o->Migrate());
  if (!ls.ok()) {
    Bytes v;
    AppendU32(&v, kLayout);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    PL_RETURN_IF_ERROR(FromRocks(o->db_->Put(wo, kLayoutKey, v), "outbox layout"));
  }
  if (intake != nullptr) {
    std::vector<std::pair<uint64_t, uint64_t>> keep;
    for (const auto& [first, c] : o->chunks_) {
      if (c.intake_to > 0) keep.emplace_back(c.intake_from, c.intake_to);
    }
    PL_RETURN_IF_ERROR(intake->DropExcept(o->watermark_, std::move(keep)));
  }
  o->mem_from_ = o->next_key_;  // what this run appends is cached; earlier entries are on disk
  return o;
}

Status Outbox::LoadChunks() {
  rocksdb::WriteBatch settled;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(&kChunkPrefix, 1));
       it->Valid() && IsNumbered(it->key(), kChunkPrefix); it->Next()) {
    const uint64_t first = NumberOf(it->key());
    ByteReader r(ByteView(it->value().data(), it->value().size()));
    ChunkHeader h;
    PL_RETURN_IF_ERROR(ReadChunkHeader(&r, &h));
    uint64_t first_ref = 0;
    for (uint32_t i = 0; i < h.count && first_ref == 0; ++i) {
      Bytes record;
      PL_RETURN_IF_ERROR(ReadChunkEntry(&r, &first_ref, &record, nullptr));
    }
    next_key_ = std::max<uint64_t>(next_key_.load(), first + h.count);
    if (first_ref != 0 && intake_ != nullptr) {
      // Its intake messages are released only after every entry was removed and the chunk
      // deleted; that deletion is not synced and was lost.
      auto m = intake_->Get(first_ref);
      if (m.status().code() == StatusCode::kNotFound) {
        settled.Delete(it->key());
        settled.Delete(RemovedKey(first));
        continue;
      }
      PL_RETURN_IF_ERROR(m.status());
    }
    Chunk c;
    c.count = c.left = h.count;
    c.intake_from = h.intake_from;
    c.intake_to = h.intake_to;
    c.removed.assign(h.count, false);
    std::string bits;
    rocksdb::Status bs = db_->Get(rocksdb::ReadOptions(), RemovedKey(first), &bits);
    if (!bs.IsNotFound()) PL_RETURN_IF_ERROR(FromRocks(bs, "outbox removed entries"));
    for (uint32_t i = 0; bs.ok() && i < h.count && i / 8 < bits.size(); ++i) {
      if ((static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1) {
        c.removed[i] = true;
        --c.left;
      }
    }
    size_ += c.left;
    chunks_.emplace(first, std::move(c));
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "scan outbox"));
  if (settled.Count() == 0) return OkStatus();
  LogInfo("outbox_settled_dropped").Kv("chunks", settled.Count() / 2);
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &settled), "outbox drop settled");
}

Status Outbox::Migrate() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(rocksdb::Slice(&kEntryPrefix, 1));
  while (it->Valid() && IsNumbered(it->key(), kEntryPrefix)) {
    rocksdb::WriteBatch batch;
    Bytes v;
    AppendU64(&v, 0);
    AppendU64(&v, 0);
    uint32_t n = 0;
    Bytes entries;
    for (; it->Valid() && IsNumbered(it->key(), kEntryPrefix) && n < kMigrateChunk; it->Next()) {
      ByteReader vr(ByteView(it->value().data(), it->value().size()));
      Bytes record, payload;
      if (!vr.ReadLp(&record, 1 << 24).ok() || !vr.ReadLp(&payload, 1 << 26).ok() || !vr.done()) {
        return DataLossError("outbox entry (layout 1) is malformed");
      }
      AppendU64(&entries, 0);
      AppendLp(&entries, record);
      AppendLp(&entries, payload);
      batch.Delete(it->key());
      ++n;
    }
    PL_RETURN_IF_ERROR(FromRocks(it->status(), "scan outbox (layout 1)"));
    AppendU32(&v, n);
    v += entries;
    const uint64_t first = next_key_.load();
    batch.Put(ChunkKey(first), v);
    rocksdb::WriteOptions wo;
    wo.sync = true;  // the old entries' deletion goes with the chunk that holds them now
    PL_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "outbox migrate"));
    Chunk c;
    c.count = c.left = n;
    c.removed.assign(n, false);
    chunks_.emplace(first, std::move(c));
    size_ += n;
    next_key_ = first + n;
  }
  return FromRocks(it->status(), "scan outbox (layout 1)");
}

Outbox::~Outbox() {
  if (db_) db_->Close();
}

Status Outbox::Append(OutboxBatch* b) {
  rocksdb::WriteBatch batch;
  std::lock_guard<std::mutex> lock(write_mu_);
  const uint64_t first = next_key_.load();
  ChunkHeader h;
  if (b->intake_upto > watermark_) {
    h.intake_from = watermark_ + 1;
    h.intake_to = b->intake_upto;
  }
  bool refers = false;
  if (!b->entries.empty()) {
    size_t bytes = 20;
    for (auto& e : b->entries) {
      if (!payloads_in_intake_) e.intake_key = 0;
      refers = refers || e.intake_key != 0;
      bytes += 16 + e.record.size() + (e.intake_key == 0 ? e.payload.size() + 4 : 0);
    }
    Bytes v;
    v.reserve(bytes);
    // A chunk that refers to none of its intake messages holds on to none of them.
    AppendU64(&v, refers ? h.intake_from : 0);
    AppendU64(&v, refers ? h.intake_to : 0);
    AppendU32(&v, static_cast<uint32_t>(b->entries.size()));
    for (size_t i = 0; i < b->entries.size(); ++i) {
      auto& e = b->entries[i];
      e.key = first + i;
      AppendU64(&v, e.intake_key);
      AppendLp(&v, e.record);
      if (e.intake_key == 0) AppendLp(&v, e.payload);
    }
    batch.Put(ChunkKey(first), v);
    // Keys are reused after the outbox emptied and the bridge restarted: no removal bitmap
    // of an earlier chunk at this key may apply to this one.
    batch.Delete(RemovedKey(first));
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
  PL_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "outbox append"));
  next_key_ = first + b->entries.size();
  watermark_ = std::max(watermark_, b->intake_upto);
  {
    // Cached before size_ grows, so a reader that sees the entries counted finds them.
    std::lock_guard<std::mutex> mlock(mem_mu_);
    if (!b->entries.empty()) {
      Chunk c;
      c.count = c.left = static_cast<uint32_t>(b->entries.size());
      if (refers) {
        c.intake_from = h.intake_from;
        c.intake_to = h.intake_to;
      }
      c.removed.assign(c.count, false);
      chunks_.emplace(first, std::move(c));
    }
    for (auto& e : b->entries) {
      const size_t bytes = e.record.size() + e.payload.size();
      if (mem_from_ <= e.key && mem_bytes_ + bytes <= kMemBytes) {
        mem_bytes_ += bytes;
        OutboxEntry& m = mem_[e.key];
        m.key = e.key;
        m.intake_key = e.intake_key;
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
  // Messages no entry refers to: verified and answered, or stored with their entries.
  if (intake_ != nullptr && !refers && h.intake_to > 0) {
    intake_->Release(h.intake_from, h.intake_to);
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

bool Outbox::Removed(uint64_t key) const {
  auto it = chunks_.upper_bound(key);
  if (it == chunks_.begin()) return true;
  --it;
  const uint64_t i = key - it->first;
  return i >= it->second.count || it->second.removed[i];
}

StatusOr<std::vector<OutboxEntry>> Outbox::Read(uint64_t after, size_t max) const {
  std::vector<OutboxEntry> out;
  if (ReadMem(after, max, &out)) return out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  // The chunk holding after + 1 starts at or before it.
  it->SeekForPrev(ChunkKey(after + 1));
  if (!it->Valid() || !IsNumbered(it->key(), kChunkPrefix)) it->Seek(ChunkKey(after + 1));
  for (; it->Valid() && out.size() < max && IsNumbered(it->key(), kChunkPrefix); it->Next()) {
    const uint64_t first = NumberOf(it->key());
    ByteReader r(ByteView(it->value().data(), it->value().size()));
    ChunkHeader h;
    PL_RETURN_IF_ERROR(ReadChunkHeader(&r, &h));
    for (uint32_t i = 0; i < h.count && out.size() < max; ++i) {
      OutboxEntry e;
      e.key = first + i;
      PL_RETURN_IF_ERROR(ReadChunkEntry(&r, &e.intake_key, &e.record, &e.payload));
      if (e.key <= after) continue;
      {
        std::lock_guard<std::mutex> lock(mem_mu_);
        if (Removed(e.key)) continue;
      }
      if (e.intake_key != 0) {
        if (intake_ == nullptr) return FailedPreconditionError("outbox opened without its intake");
        auto stored = intake_->Get(e.intake_key);
        if (!stored.ok()) return stored.status().Annotate("payload of outbox entry");
        PL_ASSIGN_OR_RETURN(MqttMessage m, DecodeMessage(*stored));
        e.payload = std::move(m.payload);
      }
      out.push_back(std::move(e));
    }
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "outbox read"));
  return out;
}

Status Outbox::Remove(const std::vector<uint64_t>& keys) {
  rocksdb::WriteBatch batch;
  std::vector<std::pair<uint64_t, uint64_t>> release;
  uint64_t removed = 0;
  // Held from building the batch to writing it: batches of two removers of one chunk reach
  // RocksDB in the order they were built, so a stale bitmap never lands after the chunk's
  // deletion (and is never applied to a later chunk that reuses its key).
  std::lock_guard<std::mutex> wlock(write_mu_);
  {
    std::lock_guard<std::mutex> mlock(mem_mu_);
    std::vector<uint64_t> touched;  // chunks with entries removed here, by first key
    for (uint64_t k : keys) {
      auto it = chunks_.upper_bound(k);
      if (it == chunks_.begin()) continue;
      --it;
      Chunk& c = it->second;
      const uint64_t i = k - it->first;
      if (i >= c.count || c.removed[i]) continue;
      c.removed[i] = true;
      --c.left;
      ++removed;
      if (touched.empty() || touched.back() != it->first) touched.push_back(it->first);
      auto m = mem_.find(k);
      if (m != mem_.end()) {
        mem_bytes_ -= m->second.record.size() + m->second.payload.size();
        mem_.erase(m);
      }
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t first : touched) {
      auto it = chunks_.find(first);
      Chunk& c = it->second;
      if (c.left > 0) {
        // Written so a removed entry stays removed after a restart (one value per chunk
        // and call, not per entry).
        batch.Put(RemovedKey(first), Bitmap(c.removed));
        continue;
      }
      batch.Delete(ChunkKey(first));
      batch.Delete(RemovedKey(first));
      if (c.intake_to > 0) release.emplace_back(c.intake_from, c.intake_to);
      chunks_.erase(it);
    }
  }
  size_.fetch_sub(removed);
  if (batch.Count() == 0) return OkStatus();
  PL_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "outbox remove"));
  // After the chunk's deletion: a chunk on disk whose messages are gone was settled (Open).
  if (intake_ != nullptr) {
    for (const auto& [from, to] : release) intake_->Release(from, to);
  }
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
