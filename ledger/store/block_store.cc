#include "ledger/store/block_store.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_set>

#include "common/sha256.h"
#include "ledger/chain_check.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"
#include "ledger/registry.h"

namespace provledger::ledger {

namespace {

// Column family order; index into cfs_. device_item (device, item, seq -> id) was written by
// format 1 and read by nothing; format 2 leaves it empty (kept so that RocksDB opens stores of
// either format: every column family on disk must be named at open).
enum Cf {
  kDefault = 0,
  kHeaders,
  kBodies,
  kCerts,
  kRecordIndex,
  kDeviceSeq,
  kDeviceItem,
  kTimeIndex,
  kPayloads,
  kRegistry,
  kMeta,
  kCfCount
};
const char* const kCfNames[kCfCount] = {"default",      "headers",    "bodies",      "certs",
                                        "record_index", "device_seq", "device_item", "time_index",
                                        "payloads",     "registry",   "meta"};

rocksdb::Slice S(ByteView v) { return rocksdb::Slice(v.data(), v.size()); }

// RocksDB counts into a thread-local perf context by default (kEnableCount), which costs a
// TLS lookup of its shared library in every memtable insert and read; nothing here reads the
// counters. The level is per thread: each of the store's calls that reach RocksDB on a busy
// thread (the writer, the consensus thread's lookups) turns it off once for its thread.
void NoPerfCounters() {
  static thread_local bool off = false;
  if (off) return;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  off = true;
}

Bytes HeightKey(uint64_t h) {
  Bytes k;
  AppendU64(&k, h);
  return k;
}

Bytes DeviceSeqKey(const std::string& device, uint64_t seq) {
  Bytes k;
  AppendLp(&k, device);
  AppendU64(&k, seq);
  return k;
}

// payloads key (format 2): (height, index in block) -> payload. Keys of one block are
// adjacent and ascending, so a block's payloads are cheap memtable inserts (no search from the
// top of the skiplist, as random record ids needed), one range per block for Prune, and one
// scan for ReadBlock(with_payloads).
Bytes PayloadKey(uint64_t height, uint32_t index) {
  Bytes k;
  k.reserve(12);
  AppendU64(&k, height);
  AppendU32(&k, index);
  return k;
}
constexpr size_t kPayloadKeySize = 12;
constexpr size_t kRecordIdSize = 32;  // format 1 payload keys: the record id

// payloads key (format 3) of a block's packed payloads: u64be(height), which sorts before the
// block's (height, index) keys, so that the block's payloads stay one key range. The value
// holds every payload of the block below min_blob_size, one memtable entry a block instead of
// one a record: u32be(count) || count x (u32be(index) || lp(payload)), indexes ascending.
// Payloads at or above min_blob_size keep their own (height, index) key (a blob file each).
constexpr size_t kPackedKeySize = 8;

uint32_t U32At(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

// Calls fn(index, payload) for each entry of a packed payload value, in order, until fn
// answers false. kDataLoss when the value is malformed or names an index >= `records`.
Status ForEachPacked(ByteView v, size_t records,
                     const std::function<bool(uint32_t, ByteView)>& fn) {
  const auto bad = [] { return DataLossError("packed payloads are malformed"); };
  if (v.size() < 4) return bad();
  const uint32_t count = U32At(v.data());
  size_t pos = 4;
  int64_t last = -1;
  for (uint32_t j = 0; j < count; ++j) {
    if (v.size() - pos < 8) return bad();
    const uint32_t index = U32At(v.data() + pos);
    const uint32_t len = U32At(v.data() + pos + 4);
    pos += 8;
    if (static_cast<int64_t>(index) <= last || index >= records || v.size() - pos < len) {
      return bad();
    }
    last = index;
    if (!fn(index, ByteView(v.data() + pos, len))) return OkStatus();
    pos += len;
  }
  if (pos != v.size()) return bad();
  return OkStatus();
}

// The store's layout version, in meta "format_version" (u32be). 1: stores written before the
// key existed (payloads by record id, device_item filled); Open migrates them. 2: every
// payload under its own (height, index) key; 3 reads those as they are (a format 2 store
// only gets the new version at Open) and writes a block's small payloads packed.
constexpr char kFormatKey[] = "format_version";
constexpr uint32_t kFormatVersion = 3;

// The lp(device) prefix of device_seq and time_index keys: RocksDB keeps one memtable insert
// hint per device, so each device's ascending seq and ts keys go in next to the previous
// one even when the readings of many devices interleave in a block.
class DevicePrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "provledger.DevicePrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), 4 + Len(key));
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() >= 4 && 4 + Len(key) <= key.size();
  }

 private:
  static size_t Len(const rocksdb::Slice& key) {
    const auto* p = reinterpret_cast<const unsigned char*>(key.data());
    return (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | size_t{p[3]};
  }
};

// time_index key: (device, ts, id) -> (item, seq, height).
Bytes TimeKey(const std::string& device, uint64_t ts, ByteView id) {
  Bytes k;
  AppendLp(&k, device);
  AppendU64(&k, ts);
  k.append(id.data(), id.size());
  return k;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return OkStatus();
  if (s.IsNotFound()) return NotFoundError(what + ": not found");
  if (s.IsCorruption()) return DataLossError(what + ": " + s.ToString());
  if (s.IsNoSpace()) return ResourceExhaustedError(what + ": disk full: " + s.ToString());
  return InternalError(what + ": " + s.ToString());
}

// Present, absent, or the read's error.
StatusOr<bool> Found(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return true;
  if (s.IsNotFound()) return false;
  return FromRocks(s, what);
}

// Calls `row` for each row of column family `cf` whose key starts with `prefix`, in key
// order, from `from` on (from the prefix when `from` is empty); stops, OK, when `row` answers
// false. Returns `row`'s first error, else the scan's (`what` names it).
Status ScanRows(rocksdb::DB* db, const rocksdb::ReadOptions& ro, rocksdb::ColumnFamilyHandle* cf,
                rocksdb::Slice prefix, rocksdb::Slice from, const std::string& what,
                const std::function<StatusOr<bool>(const rocksdb::Slice& key,
                                                   const rocksdb::Slice& value)>& row) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->Seek(from.empty() ? prefix : from); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    PL_ASSIGN_OR_RETURN(bool more, row(it->key(), it->value()));
    if (!more) return OkStatus();
  }
  return FromRocks(it->status(), what);
}

// Meta key of the first-record index: (device, item) -> u64be(height of the block holding
// the first record of that device and item on the chain).
Bytes FirstItemKey(const std::string& device, const std::string& item) {
  Bytes k = "first/";
  AppendLp(&k, device);
  AppendLp(&k, item);
  return k;
}
constexpr char kFirstIndexMarker[] = "first_index_v1";  // set once the index covers the chain
constexpr char kFirstPrefix[] = "first/";
// Meta keys of a checkpoint state install: staged and not finished; the base height.
constexpr char kStateInstallMarker[] = "state_install";
constexpr char kStateBaseKey[] = "state_base";
// Meta keys: per-record index entries of blocks below these heights were dropped by Prune.
constexpr char kIndexPrunedKey[] = "index_pruned_below";
constexpr char kHistoryPrunedKey[] = "history_pruned_below";
// Meta key of the index chain (ledger/state_digest.h): u64be(height) ‖ index(height) (32) ‖
// u64be(index rows), written in each block's batch.
constexpr char kIndexChainKey[] = "state_index_chain";

Bytes EncodeIndexChain(const IndexChainHead& c) {
  Bytes v;
  AppendU64(&v, c.height);
  v += c.digest;
  AppendU64(&v, c.rows);
  return v;
}

StatusOr<IndexChainHead> DecodeIndexChain(ByteView v) {
  ByteReader r(v);
  IndexChainHead c;
  if (!r.ReadU64(&c.height).ok() || !r.ReadFixed(32, &c.digest).ok() || !r.ReadU64(&c.rows).ok() ||
      !r.done()) {
    return DataLossError(std::string("store metadata '") + kIndexChainKey + "' is malformed");
  }
  return c;
}

// Where a state table's rows live: a column family and a key prefix.
struct StateSource {
  int cf;
  const char* prefix;
};
StateSource SourceOf(uint8_t table) {
  switch (static_cast<StateTable>(table)) {
    case StateTable::kRegistry:
      return {kRegistry, ""};
    case StateTable::kRecordIndex:
      return {kRecordIndex, ""};
    case StateTable::kDeviceSeq:
      return {kDeviceSeq, ""};
    case StateTable::kFirstItem:
    default:
      return {kMeta, kFirstPrefix};
  }
}

// RocksDB's diagnostic LOG file in the store folder, written with plain write(2). RocksDB's
// own logger asserts (aborting the process) when it writes again after a failed write, as on
// a full disk; here a line that cannot be written is dropped, so a full disk is reported
// through the Status of the write that failed and the node can stop cleanly. Past
// kMaxInfoLogBytes the file is renamed LOG.old and a new one started, so the two stay under
// twice that (a light node's prunes log a flush and compactions each: unbounded, the LOG
// outgrew its whole chain data).
constexpr size_t kMaxInfoLogBytes = 512 * 1024;
class InfoLogFile final : public rocksdb::Logger {
 public:
  explicit InfoLogFile(const std::string& dir)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), path_(dir + "/LOG") {
    Rotate();
  }
  ~InfoLogFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[4096];
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    ::gmtime_r(&ts.tv_sec, &t);
    int n =
        std::snprintf(line, sizeof(line), "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ", t.tm_year + 1900,
                      t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000);
    if (n < 0) return;
    va_list copy;
    va_copy(copy, ap);
    const int m = std::vsnprintf(line + n, sizeof(line) - n - 1, format, copy);
    va_end(copy);
    if (m < 0) return;
    size_t len = std::min(sizeof(line) - 2, static_cast<size_t>(n) + static_cast<size_t>(m));
    line[len++] = '\n';
    std::lock_guard<std::mutex> lock(mu_);  // RocksDB logs from several threads
    if (written_ + len > kMaxInfoLogBytes) Rotate();
    if (fd_ < 0) return;
    // One line per write; a failed write drops the line.
    if (::write(fd_, line, len) > 0) written_ += len;
  }

 private:
  void Rotate() {
    if (fd_ >= 0) ::close(fd_);
    (void)::rename(path_.c_str(), (path_ + ".old").c_str());
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
    written_ = 0;
  }

  const std::string path_;
  std::mutex mu_;
  int fd_ = -1;
  size_t written_ = 0;
};

}  // namespace

Status StoreOptions::Validate() const {
  if (path.empty()) return InvalidArgumentError("store path is empty");
  return OkStatus();
}

IndexFields IndexFieldsOf(RecordFields f) {
  IndexFields out;
  out.from_device = f.from_device;
  if (!f.from_device) return out;
  out.device = std::move(f.device);
  out.item = std::move(f.item);
  out.seq = f.seq;
  out.ts = f.ts;
  return out;
}

Bytes EncodeBody(const std::vector<Bytes>& records) {
  Bytes out;
  size_t total = 4;
  for (const auto& r : records) total += 4 + r.size();
  out.reserve(total);
  AppendU32(&out, static_cast<uint32_t>(records.size()));
  for (const auto& r : records) AppendLp(&out, r);
  return out;
}

StatusOr<std::vector<Bytes>> DecodeBody(ByteView body) {
  ByteReader r(body);
  uint32_t n = 0;
  if (!r.ReadU32(&n).ok()) return DataLossError("block body truncated");
  if (n > body.size() / 4) return DataLossError("block body record count too large");
  std::vector<Bytes> records(n);
  for (auto& rec : records) {
    if (!r.ReadLp(&rec, body.size()).ok()) return DataLossError("block body truncated");
  }
  if (!r.done()) return DataLossError("block body has trailing bytes");
  return records;
}

StatusOr<std::unique_ptr<BlockStore>> BlockStore::Open(const StoreOptions& options,
                                                       const std::string& chain_id) {
  PL_RETURN_IF_ERROR(options.Validate());
  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  db_opts.paranoid_checks = true;
  db_opts.max_background_jobs = 2;
  ::mkdir(options.path.c_str(), 0700);  // for the LOG file; RocksDB creates it otherwise
  db_opts.info_log = std::make_shared<InfoLogFile>(options.path);
  // Every WAL write is synced: only a torn last record (never acknowledged) may be cut at
  // recovery; corruption anywhere else is an error, not silently truncated history.
  db_opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kCfCount; ++i) {
    rocksdb::ColumnFamilyOptions cf_opts;
    if (i == kRecordIndex || i == kDeviceSeq || i == kTimeIndex) {
      // Keys or values are record ids (hashes), the rest small numbers: compressing their table
      // files costs flush and compaction time and saves almost nothing.
      cf_opts.compression = rocksdb::kNoCompression;
    }
    if (i == kRecordIndex || i == kDeviceSeq) {
      // Every new record is looked up here first and is almost never found: bloom filters
      // (in table files and in the memtable) answer those misses without reading blocks.
      rocksdb::BlockBasedTableOptions table;
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
      cf_opts.memtable_prefix_bloom_size_ratio = 0.05;
      cf_opts.memtable_whole_key_filtering = true;
    }
    if (i == kDeviceSeq || i == kTimeIndex) {
      cf_opts.memtable_insert_with_hint_prefix_extractor = std::make_shared<DevicePrefix>();
    }
    if (i == kPayloads) {
      cf_opts.enable_blob_files = true;
      cf_opts.min_blob_size = options.min_blob_size;
      // Only a light store deletes payloads (Prune); its compactions then rewrite the live
      // blobs of every blob file so that files holding only pruned payloads are dropped.
      cf_opts.enable_blob_garbage_collection = options.light;
      if (options.light) cf_opts.blob_garbage_collection_age_cutoff = 1.0;
    }
    descs.emplace_back(kCfNames[i], cf_opts);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_opts, options.path, descs, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "open store " + options.path);

  std::unique_ptr<BlockStore> store(new BlockStore());  // private constructor
  store->db_.reset(raw);
  store->cfs_ = handles;
  store->sync_ = options.sync;
  store->chain_id_ = chain_id;
  store->light_ = options.light;
  store->path_ = options.path;
  store->state_interval_ = options.state_interval;
  store->min_blob_size_ = options.min_blob_size;

  auto stored_chain = store->GetMeta("chain_id");
  if (stored_chain.ok()) {
    if (*stored_chain != chain_id) {
      return FailedPreconditionError("store " + options.path + " holds chain '" + *stored_chain +
                                     "', not '" + chain_id + "'");
    }
  } else if (stored_chain.status().code() == StatusCode::kNotFound) {
    Bytes v;
    AppendU32(&v, kFormatVersion);
    PL_RETURN_IF_ERROR(store->PutMetaBatch({{"chain_id", chain_id}, {kFormatKey, v}}, {}, true));
  } else {
    return stored_chain.status();
  }
  uint32_t format = 1;  // a store without the key predates it
  auto stored_format = store->GetMeta(kFormatKey);
  if (stored_format.ok()) {
    ByteReader r(*stored_format);
    if (!r.ReadU32(&format).ok() || !r.done() || format == 0) {
      return DataLossError("store metadata '" + std::string(kFormatKey) + "' is malformed");
    }
  } else if (stored_format.status().code() != StatusCode::kNotFound) {
    return stored_format.status();
  }
  if (format > kFormatVersion) {
    return UnimplementedError("store " + options.path + " has format version " +
                              std::to_string(format) + "; this build reads versions up to " +
                              std::to_string(kFormatVersion));
  }
  PL_RETURN_IF_ERROR(store->LoadHead(options.open_damaged_head));
  auto staged = store->GetMeta(kStateInstallMarker);
  if (staged.ok() && store->height() == 0) {
    // A state install that never finished: start again from an empty store.
    PL_RETURN_IF_ERROR(store->DiscardStaged(/*headers=*/true));
  } else if (!staged.ok() && staged.status().code() != StatusCode::kNotFound) {
    return staged.status();
  }
  auto base = store->GetMeta(kStateBaseKey);
  if (base.ok()) {
    ByteReader r(*base);
    uint64_t b = 0;
    if (!r.ReadU64(&b).ok() || !r.done() || b == 0) {
      return DataLossError("store metadata 'state_base' is malformed");
    }
    std::lock_guard<std::mutex> lock(store->mu_);
    store->state_base_ = b;
    store->pruned_below_ = b;
  } else if (base.status().code() != StatusCode::kNotFound) {
    return base.status();
  }
  auto pruned = store->GetMeta("pruned_below");
  if (pruned.ok()) {
    ByteReader r(*pruned);
    uint64_t below = 0;
    if (!r.ReadU64(&below).ok() || !r.done() || below == 0) {
      return DataLossError("store metadata 'pruned_below' is malformed");
    }
    if (!options.light) {
      return FailedPreconditionError("store " + options.path + " was pruned below height " +
                                     std::to_string(below) +
                                     " by a light node; it cannot be opened as a full node");
    }
    std::lock_guard<std::mutex> lock(store->mu_);
    store->pruned_below_ = std::max(store->pruned_below_, below);
  } else if (pruned.status().code() != StatusCode::kNotFound) {
    return pruned.status();
  }
  for (const auto& [key, field] :
       {std::pair<const char*, uint64_t*>{kIndexPrunedKey, &store->index_pruned_below_},
        {kHistoryPrunedKey, &store->history_pruned_below_}}) {
    auto v = store->GetMeta(key);
    if (v.status().code() == StatusCode::kNotFound) continue;
    if (!v.ok()) return v.status();
    ByteReader r(*v);
    uint64_t below = 0;
    if (!r.ReadU64(&below).ok() || !r.done() || below == 0) {
      return DataLossError(std::string("store metadata '") + key + "' is malformed");
    }
    std::lock_guard<std::mutex> lock(store->mu_);
    *field = below;
  }
  PL_RETURN_IF_ERROR(store->BackfillFirstIndex());
  if (format < 2) {
    PL_RETURN_IF_ERROR(store->MigrateFromFormat1());
  } else if (format < kFormatVersion) {
    // Format 2's per-record payload keys are read as they are: only the version changes, so
    // that a build of format 2 refuses the packed payloads written from now on.
    Bytes v;
    AppendU32(&v, kFormatVersion);
    PL_RETURN_IF_ERROR(store->PutMeta(kFormatKey, v));
  }
  if (format < kFormatVersion) store->migrated_from_ = format;
  PL_RETURN_IF_ERROR(store->LoadIndexChain());
  store->MaybePinState();
  return store;
}

Status BlockStore::MigrateFromFormat1() {
  // Payloads move from record-id keys to (height, index) keys; the device_item rows go. Each
  // step is idempotent (a moved payload's old key is gone, a deleted row stays deleted), and
  // the version is written last: a migration cut short runs again at the next open.
  rocksdb::WriteBatch batch;
  auto move_payload = [&](const rocksdb::Slice& k, const rocksdb::Slice& value) -> StatusOr<bool> {
    if (k.size() == kPayloadKeySize) return true;  // already moved
    if (k.size() != kRecordIdSize) {
      return DataLossError("payload key of " + std::to_string(k.size()) +
                           " bytes in a format 1 "
                           "store");
    }
    const ByteView id(k.data(), k.size());
    auto loc = FindRecord(id);
    if (!loc.ok()) {
      return loc.status().code() == StatusCode::kNotFound
                 ? DataLossError("payload of record " + ShortHex(id) + " which is not on the chain")
                 : loc.status();
    }
    batch.Put(cfs_[kPayloads], S(PayloadKey(loc->height, loc->index)), value);
    batch.Delete(cfs_[kPayloads], k);
    if (batch.Count() >= 2000) {
      PL_RETURN_IF_ERROR(Write(false, &batch, "migrate payloads"));
      batch.Clear();
    }
    return true;
  };
  PL_RETURN_IF_ERROR(ScanRows(db_.get(), rocksdb::ReadOptions(), cfs_[kPayloads], "", "",
                              "migrate payloads", move_payload));
  PL_RETURN_IF_ERROR(
      ScanRows(db_.get(), rocksdb::ReadOptions(), cfs_[kDeviceItem], "", "", "migrate device_item",
               [&](const rocksdb::Slice& k, const rocksdb::Slice&) -> StatusOr<bool> {
                 batch.Delete(cfs_[kDeviceItem], k);
                 if (batch.Count() >= 2000) {
                   PL_RETURN_IF_ERROR(Write(false, &batch, "migrate device_item"));
                   batch.Clear();
                 }
                 return true;
               }));
  Bytes v;
  AppendU32(&v, kFormatVersion);
  batch.Put(cfs_[kMeta], kFormatKey, S(v));
  PL_RETURN_IF_ERROR(Write(true, &batch, "migrate store format"));
  // The old keys' disk is reclaimed now rather than at some later compaction.
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (int cf : {kPayloads, kDeviceItem}) {
    PL_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, cfs_[cf], nullptr, nullptr),
                                 std::string("compact ") + kCfNames[cf]));
  }
  return OkStatus();
}

Status BlockStore::BackfillFirstIndex() {
  auto marker = GetMeta(kFirstIndexMarker);
  if (marker.ok()) return OkStatus();
  if (marker.status().code() != StatusCode::kNotFound) return marker.status();
  // A store written before the index existed: derive it once from the blocks.
  rocksdb::WriteBatch batch;
  std::set<Bytes> seen;
  for (uint64_t h = 1; h <= height(); ++h) {
    PL_ASSIGN_OR_RETURN(StoredBlock b, ReadBlockUnchecked(h, false));
    for (const auto& r : b.records) {
      PL_ASSIGN_OR_RETURN(RecordFields f, DecodeRecordFields(r));
      if (!f.from_device) continue;
      Bytes key = FirstItemKey(f.device, f.item);
      if (!seen.insert(key).second) continue;
      Bytes v;
      AppendU64(&v, h);
      batch.Put(cfs_[kMeta], S(key), S(v));
    }
  }
  batch.Put(cfs_[kMeta], kFirstIndexMarker, "1");
  return Write(sync_, &batch, "first-record index");
}

StatusOr<uint64_t> BlockStore::FirstItemHeight(const std::string& device,
                                               const std::string& item) const {
  std::string v;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], S(FirstItemKey(device, item)), &v);
  if (s.IsNotFound()) {
    return NotFoundError("no record of device " + device + " item " + item + " on the chain");
  }
  PL_RETURN_IF_ERROR(FromRocks(s, "first-record index"));
  ByteReader r(v);
  uint64_t h = 0;
  if (!r.ReadU64(&h).ok() || !r.done()) return DataLossError("first-record index entry is corrupt");
  return h;
}

BlockStore::~BlockStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pinned_.clear();  // releases the snapshots while the DB is open
  }
  if (db_) {
    // Flush so a clean stop leaves everything in checksummed table files; after a failed
    // write, flushing would write through RocksDB's failed log writer (an assertion, or more
    // errors on a full disk): the synced WAL holds every write that succeeded.
    if (write_status().ok()) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      (void)db_->Flush(fo, cfs_);
    }
    for (auto* h : cfs_) db_->DestroyColumnFamilyHandle(h);
    cfs_.clear();
    db_->Close();
  }
}

Status BlockStore::LoadHead(bool open_damaged_head) {
  auto head = GetMeta("head");
  if (head.status().code() == StatusCode::kNotFound) {
    std::lock_guard<std::mutex> lock(mu_);
    height_ = 0;
    head_hash_ = Bytes(32, '\0');
    record_count_ = 0;
    return OkStatus();
  }
  if (!head.ok()) return head.status();
  ByteReader r(*head);
  uint64_t h = 0, count = 0;
  Bytes hash;
  if (!r.ReadU64(&h).ok() || !r.ReadFixed(32, &hash).ok() || !r.ReadU64(&count).ok() || !r.done()) {
    return DataLossError("store metadata 'head' is malformed");
  }
  // The head block must check out: a torn or flipped head is reported at open.
  auto block = ReadBlockUnchecked(h, false);
  Status checked =
      block.ok() ? CheckBlock(*block, h) : block.status().Annotate("block " + std::to_string(h));
  if (checked.ok() && block->header_hash != hash) {
    checked =
        DataLossError("block " + std::to_string(h) + ": header hash differs from the head record");
  }
  if (!checked.ok() && (!open_damaged_head || checked.code() != StatusCode::kDataLoss)) {
    return checked;
  }
  std::lock_guard<std::mutex> lock(mu_);
  damaged_head_ = checked.ok() ? 0 : h;
  height_ = h;
  head_hash_ = hash;
  record_count_ = count;
  return OkStatus();
}

uint64_t BlockStore::height() const {
  std::lock_guard<std::mutex> lock(mu_);
  return height_;
}

Bytes BlockStore::head_hash() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_hash_;
}

uint64_t BlockStore::record_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return record_count_;
}

Status BlockStore::CheckToWrite(const BlockToAppend& block, const ChainLink& at,
                                BlockHeader* header, std::vector<Bytes>* leaves,
                                Bytes* header_hash) const {
  if (!block.payloads.empty() && block.payloads.size() != block.records.size()) {
    return InvalidArgumentError("payloads must be empty or one per record");
  }
  if (!block.fields.empty() && block.fields.size() != block.records.size()) {
    return InvalidArgumentError("index fields must be empty or one per record");
  }
  leaves->clear();
  leaves->reserve(block.records.size());
  for (const auto& rec : block.records) leaves->push_back(RecordId(rec));
  CheckedHeader checked;
  Status s = CheckCertifiedBlock(at, block.header_bytes, leaves, block.certificate,
                                 /*genesis=*/nullptr, &checked);
  *header = std::move(checked.header);
  *header_hash = std::move(checked.header_hash);
  if (s.code() == StatusCode::kFailedPrecondition) {
    return FailedPreconditionError("block " + std::to_string(at.height) + ": " + s.message());
  }
  return s;
}

Status BlockStore::AddIndexes(uint64_t height, const std::vector<Bytes>& records,
                              const std::vector<Bytes>& leaves,
                              const std::vector<IndexFields>& given,
                              const std::vector<std::optional<Bytes>>& payloads, bool fresh,
                              rocksdb::WriteBatch* batch, RowsDigester* added,
                              std::vector<Bytes>* first_written) const {
  NoPerfCounters();
  const size_t n = records.size();
  std::vector<IndexFields> decoded;
  if (given.empty()) {
    decoded.resize(n);
    for (size_t i = 0; i < n; ++i) {
      PL_ASSIGN_OR_RETURN(RecordFields f, DecodeRecordFields(records[i]));
      decoded[i] = IndexFieldsOf(std::move(f));
    }
  }
#ifndef NDEBUG
  for (size_t i = 0; i < given.size() && i < n; ++i) {
    StatusOr<RecordFields> f = DecodeRecordFields(records[i]);
    if (!f.ok() || !(IndexFieldsOf(*f) == given[i])) {
      return InternalError("the index fields given for record " + std::to_string(i) +
                           " are not its own");
    }
  }
#endif
  const std::vector<IndexFields>& fields = given.empty() ? decoded : given;
  std::vector<Bytes> seq_keys(n);  // empty for records not from a device
  std::unordered_set<ByteView> seen_ids, seen_seq_keys;
  seen_ids.reserve(n);
  seen_seq_keys.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Bytes& id = leaves[i];
    if (!seen_ids.insert(id).second) {
      return AlreadyExistsError("record " + ShortHex(id) + " twice in block");
    }
    const IndexFields& f = fields[i];
    if (!f.from_device) continue;
    seq_keys[i] = DeviceSeqKey(f.device, f.seq);
    if (!seen_seq_keys.insert(seq_keys[i]).second) {
      return AlreadyExistsError("device " + f.device + " seq " + std::to_string(f.seq) +
                                " twice in block");
    }
  }
  // Each index's keys in key order: for the batched lookups (sorted input) and for the puts.
  // RocksDB inserts a batch in order, and a memtable insert next to the previous one of the
  // same column family skips most of the skiplist search that a random record id costs from
  // the top.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return leaves[a] < leaves[b]; });
  std::vector<size_t> dev;  // the device records, by (device, seq)
  dev.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (fields[i].from_device) dev.push_back(i);
  }
  std::sort(dev.begin(), dev.end(), [&](size_t a, size_t b) { return seq_keys[a] < seq_keys[b]; });
  if (fresh && n > 0) {
    // One batched lookup per index for the whole block (RocksDB takes its read state once)
    // instead of a Get per record and index.
    std::vector<rocksdb::Slice> keys;
    keys.reserve(n);
    for (size_t i : order) keys.push_back(S(leaves[i]));
    std::vector<rocksdb::PinnableSlice> values(n);
    std::vector<rocksdb::Status> st(n);
    db_->MultiGet(rocksdb::ReadOptions(), cfs_[kRecordIndex], keys.size(), keys.data(),
                  values.data(), st.data(), /*sorted_input=*/true);
    for (size_t j = 0; j < keys.size(); ++j) {
      PL_ASSIGN_OR_RETURN(bool stored, Found(st[j], "record index"));
      if (stored) {
        return AlreadyExistsError("record " + ShortHex(leaves[order[j]]) +
                                  " is already on the chain");
      }
    }
    keys.clear();
    for (size_t i : dev) keys.push_back(S(seq_keys[i]));
    for (auto& v : values) v.Reset();
    if (!keys.empty()) {
      db_->MultiGet(rocksdb::ReadOptions(), cfs_[kDeviceSeq], keys.size(), keys.data(),
                    values.data(), st.data(), /*sorted_input=*/true);
    }
    for (size_t j = 0; j < keys.size(); ++j) {
      PL_ASSIGN_OR_RETURN(bool stored, Found(st[j], "device index"));
      if (stored) {
        const IndexFields& f = fields[dev[j]];
        return AlreadyExistsError("device " + f.device + " seq " + std::to_string(f.seq) +
                                  " is already on the chain");
      }
    }
  }
  Bytes loc;
  for (size_t i : order) {
    loc.clear();
    AppendU64(&loc, height);
    AppendU32(&loc, static_cast<uint32_t>(i));
    batch->Put(cfs_[kRecordIndex], S(leaves[i]), S(loc));
    if (added) added->Add(static_cast<uint8_t>(StateTable::kRecordIndex), leaves[i], loc);
  }
  for (size_t i : dev) {
    batch->Put(cfs_[kDeviceSeq], S(seq_keys[i]), S(leaves[i]));
    if (added) added->Add(static_cast<uint8_t>(StateTable::kDeviceSeq), seq_keys[i], leaves[i]);
  }
  std::vector<std::pair<Bytes, size_t>> time_keys;
  time_keys.reserve(dev.size());
  for (size_t i : dev)
    time_keys.emplace_back(TimeKey(fields[i].device, fields[i].ts, leaves[i]), i);
  std::sort(time_keys.begin(), time_keys.end());
  Bytes time_val;
  for (const auto& [key, i] : time_keys) {
    time_val.clear();
    AppendLp(&time_val, fields[i].item);
    AppendU64(&time_val, fields[i].seq);
    AppendU64(&time_val, height);
    batch->Put(cfs_[kTimeIndex], S(key), S(time_val));
  }
  // The first block of a device and item keeps its entry; later blocks (and a repaired block
  // that already holds it) leave it alone.
  std::unordered_set<Bytes> seen_first;
  std::vector<std::pair<Bytes, Bytes>> new_first;  // for `added`, sorted below
  for (size_t i : dev) {
    const IndexFields& f = fields[i];
    Bytes first_key = FirstItemKey(f.device, f.item);
    if (seen_first.count(first_key) != 0 || first_known_.count(first_key) != 0) continue;
    std::string existing;
    const rocksdb::Status got =
        db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], S(first_key), &existing);
    if (got.IsNotFound()) {
      Bytes v;
      AppendU64(&v, height);
      batch->Put(cfs_[kMeta], S(first_key), S(v));
      if (added) new_first.emplace_back(first_key, std::move(v));
      if (first_written) first_written->push_back(first_key);
    } else if (!got.ok()) {
      return FromRocks(got, "first-record index of " + f.device);
    } else {
      RememberFirst(first_key);
    }
    seen_first.insert(std::move(first_key));
  }
  if (added) {
    std::sort(new_first.begin(), new_first.end());
    for (const auto& [k, v] : new_first) {
      added->Add(static_cast<uint8_t>(StateTable::kFirstItem), k, v);
    }
  }
  AddPayloads(height, payloads, n, batch);
  return OkStatus();
}

void BlockStore::AddPayloads(uint64_t height, const std::vector<std::optional<Bytes>>& payloads,
                             size_t records, rocksdb::WriteBatch* batch) const {
  const size_t n = std::min(payloads.size(), records);
  // The packed value is handed to the batch in parts (entry headers and the payloads as they
  // are): the batch copies each payload once, as a Put of its own would.
  std::vector<std::array<char, 8>> heads;
  heads.reserve(n);
  std::vector<rocksdb::Slice> parts;
  parts.reserve(1 + 2 * n);
  std::array<char, 4> count{};
  parts.emplace_back(count.data(), count.size());
  const auto put_u32 = [](char* p, uint32_t v) {
    p[0] = static_cast<char>(v >> 24);
    p[1] = static_cast<char>(v >> 16);
    p[2] = static_cast<char>(v >> 8);
    p[3] = static_cast<char>(v);
  };
  for (size_t i = 0; i < n; ++i) {
    if (!payloads[i].has_value() || payloads[i]->size() >= min_blob_size_) continue;
    heads.emplace_back();
    put_u32(heads.back().data(), static_cast<uint32_t>(i));
    put_u32(heads.back().data() + 4, static_cast<uint32_t>(payloads[i]->size()));
    parts.emplace_back(heads.back().data(), 8);
    parts.push_back(S(*payloads[i]));
  }
  if (!heads.empty()) {
    put_u32(count.data(), static_cast<uint32_t>(heads.size()));
    const Bytes key = HeightKey(height);
    const rocksdb::Slice key_slice = S(key);
    batch->Put(cfs_[kPayloads], rocksdb::SliceParts(&key_slice, 1),
               rocksdb::SliceParts(parts.data(), static_cast<int>(parts.size())));
  }
  for (size_t i = 0; i < n; ++i) {  // (height, index): in order, after the packed key
    if (payloads[i].has_value() && payloads[i]->size() >= min_blob_size_) {
      batch->Put(cfs_[kPayloads], S(PayloadKey(height, static_cast<uint32_t>(i))), S(*payloads[i]));
    }
  }
}

void BlockStore::RememberFirst(const Bytes& key) const {
  if (first_known_.size() < kMaxFirstKnown) first_known_.insert(key);
}

Status BlockStore::Write(bool sync, rocksdb::WriteBatch* batch, const std::string& what) {
  NoPerfCounters();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!write_status_.ok()) return write_status_;
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  Status s = FromRocks(db_->Write(wo, batch), what);
  if (!s.ok()) {
    // A failed WAL write leaves RocksDB's log writer in an error state: writing to it again
    // trips its assertions, so nothing more is written through this store.
    std::lock_guard<std::mutex> lock(mu_);
    if (write_status_.ok()) write_status_ = s;
  }
  return s;
}

Status BlockStore::write_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return write_status_;
}

uint64_t BlockStore::damaged_head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return damaged_head_;
}

Status BlockStore::Append(const BlockToAppend& block) {
  ChainLink at;
  uint64_t count;
  {
    std::lock_guard<std::mutex> lock(mu_);
    at.height = height_ + 1;
    at.prev_hash = head_hash_;
    count = record_count_;
  }
  at.chain_id = chain_id_;
  BlockHeader header;
  std::vector<Bytes> leaves;
  Bytes header_hash;
  PL_RETURN_IF_ERROR(CheckToWrite(block, at, &header, &leaves, &header_hash));

  rocksdb::WriteBatch batch;
  RowsDigester added;
  const Bytes hk = HeightKey(header.height);
  batch.Put(cfs_[kHeaders], S(hk), S(block.header_bytes));
  batch.Put(cfs_[kBodies], S(hk), S(EncodeBody(block.records)));
  batch.Put(cfs_[kCerts], S(hk), block.certificate.SerializeAsString());
  std::vector<Bytes> first_written;
  PL_RETURN_IF_ERROR(AddIndexes(header.height, block.records, leaves, block.fields, block.payloads,
                                /*fresh=*/true, &batch, &added, &first_written));
  for (const auto& kv : block.registry_puts) batch.Put(cfs_[kRegistry], S(kv.first), S(kv.second));

  Bytes head;
  AppendU64(&head, header.height);
  head += header_hash;
  AppendU64(&head, count + block.records.size());
  batch.Put(cfs_[kMeta], "head", S(head));
  IndexChainHead chain;
  chain.height = header.height;
  chain.rows = index_chain_.rows + added.rows();
  chain.digest = IndexChainStep(index_chain_.digest, header.height, added.Finish());
  batch.Put(cfs_[kMeta], kIndexChainKey, S(EncodeIndexChain(chain)));

  PL_RETURN_IF_ERROR(Write(sync_, &batch, "append block " + std::to_string(header.height)));
  for (const Bytes& k : first_written) RememberFirst(k);
  index_chain_ = std::move(chain);
  {
    std::lock_guard<std::mutex> lock(mu_);
    height_ = header.height;
    head_hash_ = header_hash;
    record_count_ = count + block.records.size();
  }
  MaybePinState();
  return OkStatus();
}

void BlockStore::MaybePinState() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_interval_ == 0 || height_ == 0 || height_ % state_interval_ != 0) return;
  if (pinned_.count(height_) != 0) return;
  rocksdb::DB* db = db_.get();
  pinned_[height_] = std::shared_ptr<const rocksdb::Snapshot>(
      db->GetSnapshot(), [db](const rocksdb::Snapshot* s) { db->ReleaseSnapshot(s); });
  while (pinned_.size() > 2) pinned_.erase(pinned_.begin());
}

std::vector<uint64_t> BlockStore::StateHeights() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  for (const auto& kv : pinned_) out.push_back(kv.first);
  return out;
}

StatusOr<StateChunk> BlockStore::ReadState(uint64_t height, const Bytes& after, size_t max_bytes,
                                           uint8_t last_table) const {
  std::shared_ptr<const rocksdb::Snapshot> snap;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pinned_.find(height);
    if (it == pinned_.end()) {
      return NotFoundError("no state pinned at height " + std::to_string(height));
    }
    snap = it->second;
  }
  uint8_t first_table = kMinStateTable;
  Bytes start_key;
  if (!after.empty()) {
    first_table = static_cast<uint8_t>(after[0]);
    start_key = after.substr(1);
    if (first_table < kMinStateTable || first_table > kMaxStateTable) {
      return InvalidArgumentError("state cursor names no table");
    }
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.get();
  ro.verify_checksums = true;
  StateChunk out;
  size_t bytes = 0;
  max_bytes = std::max<size_t>(max_bytes, 1);
  last_table = std::min(last_table, kMaxStateTable);
  for (uint8_t t = first_table; t <= last_table; ++t) {
    const StateSource src = SourceOf(t);
    const bool resume = t == first_table && !after.empty();
    const rocksdb::Slice from = resume ? rocksdb::Slice(start_key) : rocksdb::Slice();
    PL_RETURN_IF_ERROR(
        ScanRows(db_.get(), ro, cfs_[src.cf], src.prefix, from, "state scan",
                 [&](const rocksdb::Slice& key, const rocksdb::Slice& value) -> StatusOr<bool> {
                   if (resume && key == from) return true;
                   if (bytes >= max_bytes) {
                     out.next = StateCursor(out.rows.back());
                     return false;
                   }
                   StateRow row{t, key.ToString(), value.ToString()};
                   bytes += row.key.size() + row.value.size() + 8;
                   out.rows.push_back(std::move(row));
                   return true;
                 }));
    if (!out.next.empty()) return out;
  }
  return out;
}

StatusOr<IndexChainHead> BlockStore::PinnedIndexChain(uint64_t height) const {
  std::shared_ptr<const rocksdb::Snapshot> snap;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pinned_.find(height);
    if (it == pinned_.end()) {
      return NotFoundError("no state pinned at height " + std::to_string(height));
    }
    snap = it->second;
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.get();
  std::string v;
  PL_RETURN_IF_ERROR(FromRocks(db_->Get(ro, cfs_[kMeta], kIndexChainKey, &v), "index chain"));
  PL_ASSIGN_OR_RETURN(IndexChainHead c, DecodeIndexChain(v));
  if (c.height != height) {
    return DataLossError("index chain pinned at " + std::to_string(height) + " is at height " +
                         std::to_string(c.height));
  }
  return c;
}

StatusOr<IndexChainHead> BlockStore::DeriveIndexChain(uint64_t head) const {
  IndexChainHead out;
  out.height = head;
  if (head == 0) {
    out.digest = IndexChainStart();
    return out;
  }
  StateDigester d(chain_id_, head, Bytes(32, '\0'));
  for (uint8_t t = static_cast<uint8_t>(StateTable::kRecordIndex); t <= kMaxStateTable; ++t) {
    const StateSource src = SourceOf(t);
    PL_RETURN_IF_ERROR(ScanRows(
        db_.get(), rocksdb::ReadOptions(), cfs_[src.cf], src.prefix, rocksdb::Slice(),
        "index chain scan",
        [&](const rocksdb::Slice& key, const rocksdb::Slice& value) -> StatusOr<bool> {
          PL_RETURN_IF_ERROR(
              d.Add(StateRow{t, key.ToString(), value.ToString()}).Annotate("index chain"));
          return true;
        }));
  }
  (void)d.Finish();
  out.digest = d.index_digest();
  out.rows = d.index_rows();
  return out;
}

Status BlockStore::LoadIndexChain() {
  const uint64_t head = height();
  auto v = GetMeta(kIndexChainKey);
  if (v.ok()) {
    PL_ASSIGN_OR_RETURN(index_chain_, DecodeIndexChain(*v));
    // Written in the head's own batch; behind the head only when a build without the chain
    // appended meanwhile (a downgrade and upgrade), then derived again below.
    if (index_chain_.height == head) return OkStatus();
  } else if (v.status().code() != StatusCode::kNotFound) {
    return v.status();
  }
  // A store written before the chain existed: derived once from its index rows.
  PL_ASSIGN_OR_RETURN(index_chain_, DeriveIndexChain(head));
  if (head == 0) return OkStatus();
  return PutMeta(kIndexChainKey, EncodeIndexChain(index_chain_));
}

Status BlockStore::PutStateHeaders(
    uint64_t first,
    const std::vector<std::pair<Bytes, provledger::v1::CommitCertificate>>& headers) {
  if (height() != 0)
    return FailedPreconditionError("a state is installed only into an empty store");
  rocksdb::WriteBatch batch;
  batch.Put(cfs_[kMeta], kStateInstallMarker, "1");
  for (size_t i = 0; i < headers.size(); ++i) {
    const Bytes hk = HeightKey(first + i);
    batch.Put(cfs_[kHeaders], S(hk), S(headers[i].first));
    batch.Put(cfs_[kCerts], S(hk), headers[i].second.SerializeAsString());
  }
  return Write(false, &batch, "state headers");
}

Status BlockStore::PutStateRows(const std::vector<StateRow>& rows) {
  if (height() != 0)
    return FailedPreconditionError("a state is installed only into an empty store");
  rocksdb::WriteBatch batch;
  batch.Put(cfs_[kMeta], kStateInstallMarker, "1");
  for (const StateRow& row : rows) {
    if (row.table < kMinStateTable || row.table > kMaxStateTable) {
      return InvalidArgumentError("state row of unknown table " + std::to_string(row.table));
    }
    const StateSource src = SourceOf(row.table);
    if (!rocksdb::Slice(row.key).starts_with(src.prefix)) {
      return InvalidArgumentError("first-record state row without its key prefix");
    }
    batch.Put(cfs_[src.cf], S(row.key), S(row.value));
  }
  return Write(false, &batch, "state rows");
}

Status BlockStore::DiscardStaged(bool headers) {
  if (height() != 0) return FailedPreconditionError("the store already holds a chain");
  first_known_.clear();  // staged first-record rows are dropped below
  std::vector<StateSource> sources;
  for (uint8_t t = kMinStateTable; t <= kMaxStateTable; ++t) sources.push_back(SourceOf(t));
  if (headers) {
    sources.push_back({kHeaders, ""});
    sources.push_back({kCerts, ""});
  }
  for (const StateSource& src : sources) {
    rocksdb::WriteBatch batch;
    PL_RETURN_IF_ERROR(
        ScanRows(db_.get(), rocksdb::ReadOptions(), cfs_[src.cf], src.prefix, rocksdb::Slice(),
                 "discard staged state",
                 [&](const rocksdb::Slice& key, const rocksdb::Slice&) -> StatusOr<bool> {
                   batch.Delete(cfs_[src.cf], key);
                   if (batch.Count() >= 10000) {
                     PL_RETURN_IF_ERROR(Write(false, &batch, "discard staged state"));
                     batch.Clear();
                   }
                   return true;
                 }));
    PL_RETURN_IF_ERROR(Write(false, &batch, "discard staged state"));
  }
  if (!headers) return OkStatus();
  rocksdb::WriteBatch done;
  done.Delete(cfs_[kMeta], kStateInstallMarker);
  return Write(true, &done, "discard staged state");
}

Status BlockStore::FinishStateInstall(uint64_t base, const BlockToAppend& block,
                                      uint64_t record_count, const IndexChainHead* index) {
  if (height() != 0)
    return FailedPreconditionError("a state is installed only into an empty store");
  if (base == 0) return InvalidArgumentError("a state base is a height >= 1");
  ChainLink at{chain_id_, base, Bytes(32, '\0')};
  if (base > 1) {
    std::string prev;
    PL_RETURN_IF_ERROR(
        FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kHeaders], S(HeightKey(base - 1)), &prev),
                  "staged header " + std::to_string(base - 1)));
    at.prev_hash = HeaderHash(prev);
  }
  BlockHeader header;
  std::vector<Bytes> leaves;
  Bytes header_hash;
  PL_RETURN_IF_ERROR(CheckToWrite(block, at, &header, &leaves, &header_hash));
  if (record_count < block.records.size()) {
    return FailedPreconditionError("state record count below the head block's");
  }
  IndexChainHead chain;
  if (index != nullptr) {
    if (index->height != base || index->digest.size() != 32) {
      return InvalidArgumentError("index chain given is not one at the state base");
    }
    chain = *index;
  } else {
    PL_ASSIGN_OR_RETURN(chain, DeriveIndexChain(base));
  }
  rocksdb::WriteBatch batch;
  batch.Put(cfs_[kMeta], kIndexChainKey, S(EncodeIndexChain(chain)));
  const Bytes hk = HeightKey(base);
  batch.Put(cfs_[kHeaders], S(hk), S(block.header_bytes));
  batch.Put(cfs_[kBodies], S(hk), S(EncodeBody(block.records)));
  batch.Put(cfs_[kCerts], S(hk), block.certificate.SerializeAsString());
  AddPayloads(base, block.payloads, leaves.size(), &batch);
  Bytes head;
  AppendU64(&head, base);
  head += header_hash;
  AppendU64(&head, record_count);
  batch.Put(cfs_[kMeta], "head", S(head));
  Bytes b;
  AppendU64(&b, base);
  batch.Put(cfs_[kMeta], kStateBaseKey, S(b));
  batch.Put(cfs_[kMeta], kFirstIndexMarker, "1");
  batch.Delete(cfs_[kMeta], kStateInstallMarker);
  PL_RETURN_IF_ERROR(Write(true, &batch, "install state at " + std::to_string(base)));
  index_chain_ = std::move(chain);
  {
    std::lock_guard<std::mutex> lock(mu_);
    height_ = base;
    head_hash_ = header_hash;
    record_count_ = record_count;
    state_base_ = base;
    pruned_below_ = std::max(pruned_below_, base);
  }
  MaybePinState();
  return OkStatus();
}

uint64_t BlockStore::state_base() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_base_;
}

StatusOr<std::pair<Bytes, provledger::v1::CommitCertificate>> BlockStore::ReadHeaderAndCertificate(
    uint64_t height) const {
  PL_ASSIGN_OR_RETURN(Bytes header, ReadHeaderBytes(height));
  std::string cert;
  PL_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), cfs_[kCerts], S(HeightKey(height)), &cert), "certificate"));
  provledger::v1::CommitCertificate c;
  if (!c.ParseFromString(cert)) {
    return DataLossError("block " + std::to_string(height) + ": certificate does not parse");
  }
  return std::make_pair(std::move(header), std::move(c));
}

Status BlockStore::RepairBlock(uint64_t height, const BlockToAppend& block) {
  const uint64_t head = this->height();
  if (height == 0 || height > head) {
    return OutOfRangeError("height " + std::to_string(height) + " is not in 1.." +
                           std::to_string(head));
  }
  const std::string where = "block " + std::to_string(height);
  auto stored = ReadBlock(height, false);
  if (stored.ok()) return AlreadyExistsError(where + ": the stored copy checks out");
  // The hash chain: the neighbours that check out must link to this copy.
  ChainLink at{chain_id_, height, std::nullopt};
  if (height == 1) {
    at.prev_hash = Bytes(32, '\0');
  } else if (auto below = ReadBlock(height - 1, false); below.ok()) {
    at.prev_hash = below->header_hash;
  }
  BlockHeader header;
  std::vector<Bytes> leaves;
  Bytes header_hash;
  PL_RETURN_IF_ERROR(CheckToWrite(block, at, &header, &leaves, &header_hash));
  if (height == head) {
    if (header_hash != head_hash()) {
      return FailedPreconditionError(where + ": header hash differs from the head record");
    }
  } else {
    auto above = ReadBlock(height + 1, false);
    if (above.ok() && above->header.prev != header_hash) {
      return FailedPreconditionError(where + ": header hash is not block " +
                                     std::to_string(height + 1) + "'s prev");
    }
  }
  rocksdb::WriteBatch batch;
  const Bytes hk = HeightKey(height);
  batch.Put(cfs_[kHeaders], S(hk), S(block.header_bytes));
  batch.Put(cfs_[kBodies], S(hk), S(EncodeBody(block.records)));
  batch.Put(cfs_[kCerts], S(hk), block.certificate.SerializeAsString());
  std::vector<std::optional<Bytes>> payloads = block.payloads;
  if (!payloads.empty()) {
    // The block's payloads are rewritten in the current form (a stored one of the other form,
    // packed or not, would read as a second one); a payload the copy lacks is kept from here
    // when it still matches its record.
    for (size_t i = 0; i < payloads.size() && i < block.records.size(); ++i) {
      if (payloads[i]) continue;
      StatusOr<RecordFields> f = DecodeRecordFields(block.records[i]);
      if (!f.ok() || !f->from_device) continue;
      StatusOr<Bytes> kept = ReadPayloadAt(RecordLocation{height, static_cast<uint32_t>(i)},
                                           where + ": stored payload " + std::to_string(i));
      if (kept.ok() && Sha256(*kept) == f->payload_hash) payloads[i] = std::move(*kept);
    }
    const Bytes next = HeightKey(height + 1);
    batch.DeleteRange(cfs_[kPayloads], S(hk), S(next));
  }
  std::vector<Bytes> first_written;
  PL_RETURN_IF_ERROR(AddIndexes(height, block.records, leaves, block.fields, payloads,
                                /*fresh=*/false, &batch, /*added=*/nullptr, &first_written));
  PL_RETURN_IF_ERROR(Write(/*sync=*/true, &batch, "repair " + where));
  for (const Bytes& k : first_written) RememberFirst(k);
  std::lock_guard<std::mutex> lock(mu_);
  if (damaged_head_ == height) damaged_head_ = 0;
  return OkStatus();
}

namespace {
// Bytes of the store's data files under `dir` (tables, blob files, WAL, manifest), leaving
// out RocksDB's diagnostic LOG and OPTIONS files, which say nothing of the chain's size. 0
// for what cannot be read: a figure, not a check.
uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("LOG", 0) == 0 || name.rfind("OPTIONS", 0) == 0) continue;
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      const auto n = it->file_size(fec);
      if (!fec) total += n;
    }
  }
  return total;
}
}  // namespace

BlockStore::StorageBytes BlockStore::storage_bytes() const {
  StorageBytes b;
  uint64_t v = 0;
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &v)) b.sst = v;
  v = 0;
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kLiveBlobFileSize, &v)) b.blob = v;
  return b;
}

uint64_t BlockStore::pruned_below() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pruned_below_;
}

uint64_t BlockStore::index_pruned_below() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_pruned_below_;
}

uint64_t BlockStore::history_pruned_below() const {
  std::lock_guard<std::mutex> lock(mu_);
  return history_pruned_below_;
}

StatusOr<PruneResult> BlockStore::Prune(uint64_t below, PrunedIndexes indexes) {
  if (!light_) return FailedPreconditionError("only a light store prunes block bodies");
  PruneResult res;
  res.from = pruned_below();
  below = std::min(below, height());  // the head block is always kept
  if (below <= res.from) {
    res.to = res.from - 1;
    return res;
  }
  res.to = below - 1;
  // Both figures are taken with every memtable flushed, so the WAL does not count twice.
  PL_RETURN_IF_ERROR(FlushAll());
  res.bytes_before = DirBytes(path_);
  rocksdb::WriteBatch batch;
  // Bodies and payloads are keyed by height: one range each. The index entries have no
  // range (hashes and device names): those to drop are found from the bodies.
  for (uint64_t h = res.from; indexes != PrunedIndexes::kKeep && h < below; ++h) {
    std::string body;
    PL_RETURN_IF_ERROR(
        FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kBodies], S(HeightKey(h)), &body),
                  "block " + std::to_string(h) + " body"));
    auto records = DecodeBody(body);
    if (!records.ok()) return records.status().Annotate("block " + std::to_string(h));
    for (const auto& r : *records) {
      const Bytes id = RecordId(r);
      if (indexes == PrunedIndexes::kAll) {
        batch.Delete(cfs_[kRecordIndex], S(id));
        ++res.index_entries_deleted;
      }
      auto f = DecodeRecordFields(r);
      if (!f.ok()) return f.status().Annotate("block " + std::to_string(h));
      if (!f->from_device) continue;
      if (indexes == PrunedIndexes::kAll) {
        batch.Delete(cfs_[kDeviceSeq], S(DeviceSeqKey(f->device, f->seq)));
        ++res.index_entries_deleted;
      }
      batch.Delete(cfs_[kTimeIndex], S(TimeKey(f->device, f->ts, id)));
      ++res.index_entries_deleted;
    }
  }
  const Bytes from_key = HeightKey(res.from), to_key = HeightKey(below);
  batch.DeleteRange(cfs_[kBodies], S(from_key), S(to_key));
  batch.DeleteRange(cfs_[kPayloads], S(from_key), S(to_key));
  Bytes mark;
  AppendU64(&mark, below);
  batch.Put(cfs_[kMeta], "pruned_below", S(mark));
  if (indexes != PrunedIndexes::kKeep) batch.Put(cfs_[kMeta], kHistoryPrunedKey, S(mark));
  if (indexes == PrunedIndexes::kAll) batch.Put(cfs_[kMeta], kIndexPrunedKey, S(mark));
  PL_RETURN_IF_ERROR(Write(true, &batch, "prune"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    pruned_below_ = below;
    if (indexes != PrunedIndexes::kKeep) history_pruned_below_ = below;
    if (indexes == PrunedIndexes::kAll) index_pruned_below_ = below;
  }
  // Reclaim the space now: flush and compact the pruned range of bodies and payloads.
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  const rocksdb::Slice lo = S(from_key), hi = S(to_key);
  PL_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, cfs_[kBodies], &lo, &hi), "compact bodies"));
  PL_RETURN_IF_ERROR(
      FromRocks(db_->CompactRange(co, cfs_[kPayloads], &lo, &hi), "compact payloads"));
  // The index entries deleted are spread over every key range: whole column families.
  std::vector<int> touched;
  if (indexes != PrunedIndexes::kKeep) touched = {kTimeIndex};
  if (indexes == PrunedIndexes::kAll) {
    touched.push_back(kRecordIndex);
    touched.push_back(kDeviceSeq);
  }
  for (int cf : touched) {
    PL_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, cfs_[cf], nullptr, nullptr),
                                 std::string("compact ") + kCfNames[cf]));
  }
  PL_RETURN_IF_ERROR(FlushAll());
  res.bytes_after = DirBytes(path_);
  return res;
}

Status BlockStore::FlushAll() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, cfs_), "flush");
}

StatusOr<StoredBlock> BlockStore::ReadBlockUnchecked(uint64_t height, bool with_payloads) const {
  if (height < pruned_below()) {
    return FailedPreconditionError("block " + std::to_string(height) +
                                   " pruned on this light node (bodies kept from height " +
                                   std::to_string(pruned_below()) + "); ask a full node");
  }
  StoredBlock b;
  const Bytes hk = HeightKey(height);
  std::string body, cert;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  const std::string where = "block " + std::to_string(height);
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Get(ro, cfs_[kHeaders], S(hk), &b.header_bytes), where + " header"));
  PL_RETURN_IF_ERROR(FromRocks(db_->Get(ro, cfs_[kBodies], S(hk), &body), where + " body"));
  PL_RETURN_IF_ERROR(FromRocks(db_->Get(ro, cfs_[kCerts], S(hk), &cert), where + " certificate"));
  auto header = DecodeHeader(b.header_bytes);
  if (!header.ok())
    return DataLossError(where + ": stored header does not decode: " + header.status().message());
  b.header = *header;
  b.header_hash = HeaderHash(b.header_bytes);
  auto records = DecodeBody(body);
  if (!records.ok()) return records.status().Annotate(where);
  b.records = std::move(*records);
  if (!b.certificate.ParseFromString(cert))
    return DataLossError(where + ": certificate does not parse");
  if (with_payloads) {
    // The block's payload keys are one range: (height, 0) .. (height, count-1).
    b.payloads.resize(b.records.size());
    rocksdb::ReadOptions pro;
    pro.verify_checksums = true;
    const Bytes end = HeightKey(height + 1);
    const rocksdb::Slice upper = S(end);
    pro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(pro, cfs_[kPayloads]));
    bool twice = false;
    for (it->Seek(S(hk)); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k.size() == kPackedKeySize && k == S(hk)) {
        const ByteView v(it->value().data(), it->value().size());
        Status st = ForEachPacked(v, b.records.size(), [&](uint32_t index, ByteView p) {
          twice = twice || b.payloads[index].has_value();
          b.payloads[index] = Bytes(p);
          return true;
        });
        if (!st.ok()) return st.Annotate(where);
        continue;
      }
      ByteReader kr(ByteView(k.data(), k.size()));
      uint64_t kh = 0;
      uint32_t index = 0;
      if (!kr.ReadU64(&kh).ok() || !kr.ReadU32(&index).ok() || !kr.done() || kh != height ||
          index >= b.records.size()) {
        return DataLossError(where + ": payload key does not name a record of the block");
      }
      twice = twice || b.payloads[index].has_value();
      b.payloads[index] = it->value().ToString();
    }
    if (twice) return DataLossError(where + ": a record's payload is stored twice");
    PL_RETURN_IF_ERROR(FromRocks(it->status(), where + " payloads"));
  }
  return b;
}

Status BlockStore::CheckBlock(const StoredBlock& b, uint64_t height) const {
  return CheckStored(b, ChainLink{chain_id_, height, std::nullopt}, /*set=*/nullptr);
}

Status BlockStore::CheckStored(const StoredBlock& b, const ChainLink& at,
                               const ValidatorSet* set) const {
  std::vector<Bytes> leaves;
  leaves.reserve(b.records.size());
  for (const auto& r : b.records) leaves.push_back(RecordId(r));
  Status s = CheckCertifiedBlockWithSet(at, b.header_bytes, &leaves, b.certificate, set, nullptr);
  if (!s.ok()) return DataLossError("block " + std::to_string(at.height) + ": " + s.message());
  return OkStatus();
}

StatusOr<StoredBlock> BlockStore::ReadBlock(uint64_t height, bool with_payloads) const {
  const uint64_t head = this->height();
  if (height == 0 || height > head) {
    return OutOfRangeError("height " + std::to_string(height) + " is not in 1.." +
                           std::to_string(head));
  }
  PL_ASSIGN_OR_RETURN(StoredBlock b, ReadBlockUnchecked(height, with_payloads));
  PL_RETURN_IF_ERROR(CheckBlock(b, height));
  return b;
}

StatusOr<Bytes> BlockStore::ReadHeaderBytes(uint64_t height) const {
  if (height == 0 || height > this->height())
    return OutOfRangeError("height " + std::to_string(height) + " past the head");
  std::string v;
  PL_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), cfs_[kHeaders], S(HeightKey(height)), &v), "header"));
  return v;
}

StatusOr<StoredBlock> BlockStore::ReadCertifiedHeader(uint64_t height) const {
  if (height == 0 || height > this->height()) {
    return OutOfRangeError("height " + std::to_string(height) + " is not in 1.." +
                           std::to_string(this->height()));
  }
  StoredBlock b;
  std::string cert;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  const std::string where = "block " + std::to_string(height);
  PL_RETURN_IF_ERROR(FromRocks(db_->Get(ro, cfs_[kHeaders], S(HeightKey(height)), &b.header_bytes),
                               where + " header"));
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Get(ro, cfs_[kCerts], S(HeightKey(height)), &cert), where + " certificate"));
  if (!b.certificate.ParseFromString(cert))
    return DataLossError(where + ": certificate does not parse");
  CheckedHeader checked;
  Status s = CheckCertifiedBlock(ChainLink{chain_id_, height, std::nullopt}, b.header_bytes,
                                 nullptr, b.certificate, /*genesis=*/nullptr, &checked);
  if (!s.ok()) return DataLossError(where + ": " + s.message());
  b.header = checked.header;
  b.header_hash = checked.header_hash;
  return b;
}

StatusOr<RecordLocation> BlockStore::FindRecord(ByteView record_id) const {
  NoPerfCounters();
  std::string v;
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kRecordIndex], S(record_id), &v),
                "record " + ShortHex(record_id)));
  ByteReader r(v);
  RecordLocation loc;
  if (!r.ReadU64(&loc.height).ok() || !r.ReadU32(&loc.index).ok()) {
    return DataLossError("record index entry of " + ShortHex(record_id) + " is malformed");
  }
  return loc;
}

StatusOr<Bytes> BlockStore::FindBySeq(const std::string& device, uint64_t seq) const {
  NoPerfCounters();
  std::string v;
  PL_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), cfs_[kDeviceSeq], S(DeviceSeqKey(device, seq)), &v),
      "device " + device + " seq " + std::to_string(seq)));
  return v;
}

StatusOr<bool> BlockStore::Contains(ByteView record_id) const {
  NoPerfCounters();
  std::string v;
  return Found(db_->Get(rocksdb::ReadOptions(), cfs_[kRecordIndex], S(record_id), &v),
               "record index");
}

StatusOr<bool> BlockStore::ContainsSeq(const std::string& device, uint64_t seq) const {
  NoPerfCounters();
  std::string v;
  return Found(db_->Get(rocksdb::ReadOptions(), cfs_[kDeviceSeq], S(DeviceSeqKey(device, seq)), &v),
               "device index");
}

StatusOr<Bytes> BlockStore::ReadPayload(ByteView record_id) const {
  StatusOr<RecordLocation> loc = FindRecord(record_id);
  if (!loc.ok()) {
    if (loc.status().code() != StatusCode::kNotFound) return loc.status();
    return NotFoundError("payload of " + ShortHex(record_id) + ": not found");
  }
  return ReadPayloadAt(*loc, "payload of " + ShortHex(record_id));
}

StatusOr<Bytes> BlockStore::ReadPayloadAt(const RecordLocation& loc,
                                          const std::string& what) const {
  std::string v;
  rocksdb::Status got =
      db_->Get(rocksdb::ReadOptions(), cfs_[kPayloads], S(PayloadKey(loc.height, loc.index)), &v);
  if (!got.IsNotFound()) {
    PL_RETURN_IF_ERROR(FromRocks(got, what));
    return v;
  }
  // Below min_blob_size: in the block's packed value, if kept at all.
  rocksdb::PinnableSlice packed;
  rocksdb::Status pg =
      db_->Get(rocksdb::ReadOptions(), cfs_[kPayloads], S(HeightKey(loc.height)), &packed);
  if (pg.IsNotFound()) return NotFoundError(what + ": not found");
  PL_RETURN_IF_ERROR(FromRocks(pg, what));
  std::optional<Bytes> found;
  PL_RETURN_IF_ERROR(ForEachPacked(ByteView(packed.data(), packed.size()),
                                   std::numeric_limits<uint32_t>::max(),
                                   [&](uint32_t index, ByteView p) {
                                     if (index < loc.index) return true;
                                     if (index == loc.index) found = Bytes(p);
                                     return false;
                                   })
                         .Annotate(what));
  if (!found) return NotFoundError(what + ": not found");
  return *found;
}

Status BlockStore::History(const std::string& device, const std::string& item, uint64_t from_ts,
                           uint64_t to_ts, uint32_t limit, const Bytes& after,
                           std::vector<HistoryItem>* out, Bytes* next_cursor) const {
  const Bytes cursor = after;  // a copy: callers may pass one variable as after and next_cursor
  out->clear();
  next_cursor->clear();
  if (limit == 0) return InvalidArgumentError("history limit must be at least 1");
  Bytes prefix;
  AppendLp(&prefix, device);
  Bytes start = prefix;
  AppendU64(&start, from_ts);
  if (!cursor.empty()) {
    if (cursor.compare(0, prefix.size(), prefix) != 0)
      return InvalidArgumentError("page token is not for this device");
    start = cursor + '\0';  // the first key strictly after the cursor
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kTimeIndex]));
  for (it->Seek(S(start)); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (!k.starts_with(S(prefix))) break;
    ByteReader kr(ByteView(k.data() + prefix.size(), k.size() - prefix.size()));
    HistoryItem h;
    if (!kr.ReadU64(&h.ts).ok() || !kr.ReadFixed(32, &h.record_id).ok()) {
      return DataLossError("time index key is malformed");
    }
    if (to_ts != 0 && h.ts > to_ts) break;
    ByteReader vr(ByteView(it->value().data(), it->value().size()));
    if (!vr.ReadLp(&h.item).ok() || !vr.ReadU64(&h.seq).ok() || !vr.ReadU64(&h.height).ok()) {
      return DataLossError("time index value is malformed");
    }
    if (!item.empty() && h.item != item) continue;
    if (out->size() == limit) {
      // One more matching entry exists: the cursor is the last key returned.
      Bytes last = prefix;
      AppendU64(&last, out->back().ts);
      last += out->back().record_id;
      *next_cursor = last;
      break;
    }
    out->push_back(std::move(h));
  }
  return FromRocks(it->status(), "history scan");
}

StatusOr<std::vector<std::pair<Bytes, Bytes>>> BlockStore::RegistryScan(const Bytes& prefix) const {
  std::vector<std::pair<Bytes, Bytes>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kRegistry]));
  for (it->Seek(S(prefix)); it->Valid() && it->key().starts_with(S(prefix)); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  // Valid() is false at the end and on a read error alike: only status() tells them apart.
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "registry scan"));
  return out;
}

StatusOr<Bytes> BlockStore::RegistryGet(const Bytes& key) const {
  NoPerfCounters();
  std::string v;
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kRegistry], S(key), &v), "registry key"));
  return v;
}

StatusOr<Bytes> BlockStore::GetMeta(const std::string& key) const {
  NoPerfCounters();
  std::string v;
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], key, &v), "meta " + key));
  return v;
}

Status BlockStore::PutMeta(const std::string& key, ByteView value) {
  rocksdb::WriteBatch batch;
  batch.Put(cfs_[kMeta], key, S(value));
  return Write(/*sync=*/true, &batch, "meta " + key);
}

Status BlockStore::PutMetaBatch(const std::vector<std::pair<std::string, Bytes>>& puts,
                                const std::vector<std::string>& deletes, bool sync) {
  rocksdb::WriteBatch batch;
  for (const auto& [k, v] : puts) batch.Put(cfs_[kMeta], k, S(v));
  for (const auto& k : deletes) batch.Delete(cfs_[kMeta], k);
  return Write(sync, &batch, "meta batch");
}

StatusOr<std::vector<std::pair<std::string, Bytes>>> BlockStore::MetaScan(
    const std::string& prefix) const {
  std::vector<std::pair<std::string, Bytes>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kMeta]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  PL_RETURN_IF_ERROR(FromRocks(it->status(), "meta scan"));
  return out;
}

Status BlockStore::VerifyChain(const Genesis* genesis,
                               const std::function<void(uint64_t)>& progress) const {
  const uint64_t head = height();
  // The set certifying each block: for pruned blocks (no bodies) the schedule the registry
  // rows record; from the first kept body on, derived from the chain itself, block by block,
  // and compared with the rows at the end.
  std::optional<ValidatorSchedule> stored, derived;
  if (genesis != nullptr) {
    PL_ASSIGN_OR_RETURN(auto rows, RegistryScan(kValidatorSetRowPrefix));
    PL_ASSIGN_OR_RETURN(auto snap, RegistrySnapshot::FromRows(rows, genesis));
    stored = *snap->schedule();
    derived = stored->CommittedBelow(pruned_below());
  }
  Bytes prev(32, '\0');
  for (uint64_t h = 1; h <= head; ++h) {
    const ValidatorSet* set = derived ? &derived->SetAt(h) : nullptr;
    if (h < pruned_below()) {  // header and certificate only: the body is gone
      std::string header, cert;
      PL_RETURN_IF_ERROR(FromRocks(
          db_->Get(rocksdb::ReadOptions(), cfs_[kHeaders], S(HeightKey(h)), &header), "header"));
      PL_RETURN_IF_ERROR(FromRocks(
          db_->Get(rocksdb::ReadOptions(), cfs_[kCerts], S(HeightKey(h)), &cert), "certificate"));
      provledger::v1::CommitCertificate c;
      if (!c.ParseFromString(cert))
        return DataLossError("block " + std::to_string(h) + ": certificate does not parse");
      Status s = CheckCertifiedBlockWithSet(ChainLink{chain_id_, h, prev}, header, nullptr, c, set,
                                            nullptr);
      if (!s.ok()) return DataLossError("block " + std::to_string(h) + ": " + s.message());
      prev = HeaderHash(header);
      if (progress && h % 1000 == 0) progress(h);
      continue;
    }
    auto b = ReadBlockUnchecked(h, false);
    if (!b.ok()) return DataLossError("block " + std::to_string(h) + ": " + b.status().message());
    PL_RETURN_IF_ERROR(CheckStored(*b, ChainLink{chain_id_, h, prev}, set));
    if (derived) {
      std::vector<Record> registry_records;
      for (const auto& r : b->records) {
        auto rec = DecodeRecord(r);
        if (rec.ok() && rec->kind == RecordKind::kRegistry) registry_records.push_back(*rec);
      }
      if (!registry_records.empty())
        derived = ScheduleAfterBlock(*genesis, *derived, h, registry_records);
    }
    prev = b->header_hash;
    if (progress && h % 1000 == 0) progress(h);
  }
  if (prev != head_hash())
    return DataLossError("head hash does not match block " + std::to_string(head));
  if (derived && !derived->SameChanges(*stored)) {
    return DataLossError("the validator changes in the registry rows are not those of the chain");
  }
  return OkStatus();
}

}  // namespace provledger::ledger
