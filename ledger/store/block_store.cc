#include "ledger/store/block_store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <set>
#include <unordered_set>

#include "common/sha256.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"

namespace provledger::ledger {

namespace {

// Column family order; index into cfs_.
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

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return OkStatus();
  if (s.IsNotFound()) return NotFoundError(what + ": not found");
  if (s.IsCorruption()) return DataLossError(what + ": " + s.ToString());
  if (s.IsNoSpace()) return ResourceExhaustedError(what + ": disk full: " + s.ToString());
  return InternalError(what + ": " + s.ToString());
}

// The fields of a record the indexes need.
// Meta key of the first-record index: (device, item) -> u64be(height of the block holding
// the first record of that device and item on the chain).
Bytes FirstItemKey(const std::string& device, const std::string& item) {
  Bytes k = "first/";
  AppendLp(&k, device);
  AppendLp(&k, item);
  return k;
}
constexpr char kFirstIndexMarker[] = "first_index_v1";  // set once the index covers the chain

struct IndexFields {
  bool indexed = false;  // kinds 1 and 2
  std::string device;
  std::string item;
  uint64_t seq = 0;
  uint64_t ts = 0;
};

StatusOr<IndexFields> FieldsOf(ByteView record) {
  PL_ASSIGN_OR_RETURN(Record r, DecodeRecord(record));
  IndexFields f;
  if (r.kind == RecordKind::kReading) {
    f.indexed = true;
    f.device = r.reading.device;
    f.item = r.reading.item;
    f.seq = r.reading.seq;
    f.ts = r.reading.ts;
  } else if (r.kind == RecordKind::kAttestation) {
    f.indexed = true;
    f.device = r.attestation.device;
    f.item = "_integrity";
    f.seq = r.attestation.seq;
    f.ts = r.attestation.ts;
  }
  return f;
}

}  // namespace

Status StoreOptions::Validate() const {
  if (path.empty()) return InvalidArgumentError("store path is empty");
  return OkStatus();
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
  // Every WAL write is synced: only a torn last record (never acknowledged) may be cut at
  // recovery; corruption anywhere else is an error, not silently truncated history.
  db_opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kCfCount; ++i) {
    rocksdb::ColumnFamilyOptions cf_opts;
    if (i == kRecordIndex || i == kDeviceSeq) {
      // Every new record is looked up here first and is almost never found: bloom filters
      // (in table files and in the memtable) answer those misses without reading blocks.
      rocksdb::BlockBasedTableOptions table;
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
      cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
      cf_opts.memtable_prefix_bloom_size_ratio = 0.05;
      cf_opts.memtable_whole_key_filtering = true;
    }
    if (i == kPayloads) {
      cf_opts.enable_blob_files = true;
      cf_opts.min_blob_size = options.min_blob_size;
      cf_opts.enable_blob_garbage_collection = false;  // payloads are never deleted
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

  auto stored_chain = store->GetMeta("chain_id");
  if (stored_chain.ok()) {
    if (*stored_chain != chain_id) {
      return FailedPreconditionError("store " + options.path + " holds chain '" + *stored_chain +
                                     "', not '" + chain_id + "'");
    }
  } else if (stored_chain.status().code() == StatusCode::kNotFound) {
    PL_RETURN_IF_ERROR(store->PutMeta("chain_id", chain_id));
  } else {
    return stored_chain.status();
  }
  PL_RETURN_IF_ERROR(store->LoadHead());
  PL_RETURN_IF_ERROR(store->BackfillFirstIndex());
  return store;
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
      PL_ASSIGN_OR_RETURN(IndexFields f, FieldsOf(r));
      if (!f.indexed) continue;
      Bytes key = FirstItemKey(f.device, f.item);
      if (!seen.insert(key).second) continue;
      Bytes v;
      AppendU64(&v, h);
      batch.Put(cfs_[kMeta], S(key), S(v));
    }
  }
  batch.Put(cfs_[kMeta], kFirstIndexMarker, "1");
  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  return FromRocks(db_->Write(wo, &batch), "first-record index");
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
  if (db_) {
    // Flush so a clean stop leaves everything in checksummed table files.
    rocksdb::FlushOptions fo;
    fo.wait = true;
    db_->Flush(fo, cfs_);
    for (auto* h : cfs_) db_->DestroyColumnFamilyHandle(h);
    cfs_.clear();
    db_->Close();
  }
}

Status BlockStore::LoadHead() {
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
  if (!block.ok()) return block.status().Annotate("block " + std::to_string(h));
  PL_RETURN_IF_ERROR(CheckBlock(*block, h));
  if (block->header_hash != hash) {
    return DataLossError("block " + std::to_string(h) +
                         ": header hash differs from the head record");
  }
  std::lock_guard<std::mutex> lock(mu_);
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

Status BlockStore::Append(const BlockToAppend& block) {
  PL_ASSIGN_OR_RETURN(BlockHeader header, DecodeHeader(block.header_bytes));
  uint64_t height;
  Bytes prev;
  uint64_t count;
  {
    std::lock_guard<std::mutex> lock(mu_);
    height = height_;
    prev = head_hash_;
    count = record_count_;
  }
  if (header.chain_id != chain_id_) {
    return FailedPreconditionError("block for chain '" + header.chain_id + "', store holds '" +
                                   chain_id_ + "'");
  }
  if (header.height != height + 1) {
    return FailedPreconditionError("block height " + std::to_string(header.height) +
                                   " does not follow head " + std::to_string(height));
  }
  if (header.prev != prev) {
    return FailedPreconditionError("block " + std::to_string(header.height) +
                                   ": prev hash does not match the head");
  }
  if (header.record_count != block.records.size()) {
    return FailedPreconditionError("block " + std::to_string(header.height) +
                                   ": record_count differs from the records given");
  }
  if (!block.payloads.empty() && block.payloads.size() != block.records.size()) {
    return InvalidArgumentError("payloads must be empty or one per record");
  }
  std::vector<Bytes> leaves;
  leaves.reserve(block.records.size());
  for (const auto& rec : block.records) leaves.push_back(RecordId(rec));
  const Bytes root = MerkleRoot(leaves);
  if (root != header.root) {
    return FailedPreconditionError("block " + std::to_string(header.height) +
                                   ": merkle root mismatch (header " + ShortHex(header.root) +
                                   ", computed " + ShortHex(root) + ")");
  }
  const Bytes header_hash = HeaderHash(block.header_bytes);
  if (block.certificate.digest() !=
      CommitDigest(chain_id_, header.height, block.certificate.view(), header_hash)) {
    return FailedPreconditionError("block " + std::to_string(header.height) +
                                   ": certificate digest is not this block's commit digest");
  }

  rocksdb::WriteBatch batch;
  const Bytes hk = HeightKey(header.height);
  batch.Put(cfs_[kHeaders], S(hk), S(block.header_bytes));
  batch.Put(cfs_[kBodies], S(hk), S(EncodeBody(block.records)));
  batch.Put(cfs_[kCerts], S(hk), block.certificate.SerializeAsString());

  std::unordered_set<Bytes> seen_ids, seen_seq_keys, seen_first;
  seen_ids.reserve(block.records.size());
  seen_seq_keys.reserve(block.records.size());
  for (size_t i = 0; i < block.records.size(); ++i) {
    const Bytes& id = leaves[i];
    if (!seen_ids.insert(id).second) {
      return AlreadyExistsError("record " + ShortHex(id) + " twice in block");
    }
    if (Contains(id)) {
      return AlreadyExistsError("record " + ShortHex(id) + " is already on the chain");
    }
    Bytes loc;
    AppendU64(&loc, header.height);
    AppendU32(&loc, static_cast<uint32_t>(i));
    batch.Put(cfs_[kRecordIndex], S(id), S(loc));

    PL_ASSIGN_OR_RETURN(IndexFields f, FieldsOf(block.records[i]));
    if (f.indexed) {
      const Bytes seq_key = DeviceSeqKey(f.device, f.seq);
      if (ContainsSeq(f.device, f.seq)) {
        return AlreadyExistsError("device " + f.device + " seq " + std::to_string(f.seq) +
                                  " is already on the chain");
      }
      if (!seen_seq_keys.insert(seq_key).second) {
        return AlreadyExistsError("device " + f.device + " seq " + std::to_string(f.seq) +
                                  " twice in block");
      }
      batch.Put(cfs_[kDeviceSeq], S(seq_key), S(id));
      Bytes item_key;
      AppendLp(&item_key, f.device);
      AppendLp(&item_key, f.item);
      AppendU64(&item_key, f.seq);
      batch.Put(cfs_[kDeviceItem], S(item_key), S(id));
      Bytes time_key;
      AppendLp(&time_key, f.device);
      AppendU64(&time_key, f.ts);
      time_key += id;
      Bytes time_val;
      AppendLp(&time_val, f.item);
      AppendU64(&time_val, f.seq);
      AppendU64(&time_val, header.height);
      batch.Put(cfs_[kTimeIndex], S(time_key), S(time_val));
      Bytes first_key = FirstItemKey(f.device, f.item);
      if (seen_first.insert(first_key).second) {
        std::string ignored;
        if (db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], S(first_key), &ignored).IsNotFound()) {
          Bytes v;
          AppendU64(&v, header.height);
          batch.Put(cfs_[kMeta], S(first_key), S(v));
        }
      }
    }
    if (!block.payloads.empty() && block.payloads[i].has_value()) {
      batch.Put(cfs_[kPayloads], S(id), S(*block.payloads[i]));
    }
  }
  for (const auto& kv : block.registry_puts) batch.Put(cfs_[kRegistry], S(kv.first), S(kv.second));

  Bytes head;
  AppendU64(&head, header.height);
  head += header_hash;
  AppendU64(&head, count + block.records.size());
  batch.Put(cfs_[kMeta], "head", S(head));

  rocksdb::WriteOptions wo;
  wo.sync = sync_;
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Write(wo, &batch), "append block " + std::to_string(header.height)));
  std::lock_guard<std::mutex> lock(mu_);
  height_ = header.height;
  head_hash_ = header_hash;
  record_count_ = count + block.records.size();
  return OkStatus();
}

StatusOr<StoredBlock> BlockStore::ReadBlockUnchecked(uint64_t height, bool with_payloads) const {
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
    b.payloads.resize(b.records.size());
    for (size_t i = 0; i < b.records.size(); ++i) {
      auto p = ReadPayload(RecordId(b.records[i]));
      if (p.ok()) b.payloads[i] = std::move(*p);
    }
  }
  return b;
}

Status BlockStore::CheckBlock(const StoredBlock& b, uint64_t height) const {
  const std::string where = "block " + std::to_string(height);
  if (b.header.height != height)
    return DataLossError(where + ": header names height " + std::to_string(b.header.height));
  if (b.header.chain_id != chain_id_) return DataLossError(where + ": header names another chain");
  if (b.header.record_count != b.records.size()) {
    return DataLossError(where + ": record_count " + std::to_string(b.header.record_count) +
                         " but body holds " + std::to_string(b.records.size()));
  }
  std::vector<Bytes> leaves;
  leaves.reserve(b.records.size());
  for (const auto& r : b.records) leaves.push_back(RecordId(r));
  const Bytes root = MerkleRoot(leaves);
  if (root != b.header.root) {
    return DataLossError(where + ": merkle root mismatch (stored " + ShortHex(b.header.root) +
                         ", computed " + ShortHex(root) + ")");
  }
  const Bytes digest = CommitDigest(chain_id_, height, b.certificate.view(), b.header_hash);
  if (digest != b.certificate.digest()) {
    return DataLossError(where + ": certificate digest does not match the header hash");
  }
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

StatusOr<RecordLocation> BlockStore::FindRecord(ByteView record_id) const {
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
  std::string v;
  PL_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), cfs_[kDeviceSeq], S(DeviceSeqKey(device, seq)), &v),
      "device " + device + " seq " + std::to_string(seq)));
  return v;
}

bool BlockStore::Contains(ByteView record_id) const {
  std::string v;
  return db_->Get(rocksdb::ReadOptions(), cfs_[kRecordIndex], S(record_id), &v).ok();
}

bool BlockStore::ContainsSeq(const std::string& device, uint64_t seq) const {
  std::string v;
  return db_->Get(rocksdb::ReadOptions(), cfs_[kDeviceSeq], S(DeviceSeqKey(device, seq)), &v).ok();
}

StatusOr<Bytes> BlockStore::ReadPayload(ByteView record_id) const {
  std::string v;
  PL_RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kPayloads], S(record_id), &v),
                               "payload of " + ShortHex(record_id)));
  return v;
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

std::vector<std::pair<Bytes, Bytes>> BlockStore::RegistryScan(const Bytes& prefix) const {
  std::vector<std::pair<Bytes, Bytes>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kRegistry]));
  for (it->Seek(S(prefix)); it->Valid() && it->key().starts_with(S(prefix)); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  return out;
}

StatusOr<Bytes> BlockStore::RegistryGet(const Bytes& key) const {
  std::string v;
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kRegistry], S(key), &v), "registry key"));
  return v;
}

StatusOr<Bytes> BlockStore::GetMeta(const std::string& key) const {
  std::string v;
  PL_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], key, &v), "meta " + key));
  return v;
}

Status BlockStore::PutMeta(const std::string& key, ByteView value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, cfs_[kMeta], key, S(value)), "meta " + key);
}

Status BlockStore::PutMetaBatch(const std::vector<std::pair<std::string, Bytes>>& puts,
                                const std::vector<std::string>& deletes, bool sync) {
  rocksdb::WriteBatch batch;
  for (const auto& [k, v] : puts) batch.Put(cfs_[kMeta], k, S(v));
  for (const auto& k : deletes) batch.Delete(cfs_[kMeta], k);
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, &batch), "meta batch");
}

std::vector<std::pair<std::string, Bytes>> BlockStore::MetaScan(const std::string& prefix) const {
  std::vector<std::pair<std::string, Bytes>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kMeta]));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  return out;
}

Status BlockStore::VerifyChain(
    const std::function<Status(uint64_t, const Bytes&, const provledger::v1::CommitCertificate&)>&
        check_cert,
    const std::function<void(uint64_t)>& progress) const {
  const uint64_t head = height();
  Bytes prev(32, '\0');
  for (uint64_t h = 1; h <= head; ++h) {
    auto b = ReadBlockUnchecked(h, false);
    if (!b.ok()) return DataLossError("block " + std::to_string(h) + ": " + b.status().message());
    Status s = CheckBlock(*b, h);
    if (!s.ok()) return s;
    if (b->header.prev != prev) {
      return DataLossError("block " + std::to_string(h) + ": prev hash does not match block " +
                           std::to_string(h - 1));
    }
    if (check_cert) {
      Status cs = check_cert(h, b->header_hash, b->certificate);
      if (!cs.ok())
        return DataLossError("block " + std::to_string(h) + ": certificate: " + cs.message());
    }
    prev = b->header_hash;
    if (progress && h % 1000 == 0) progress(h);
  }
  if (prev != head_hash())
    return DataLossError("head hash does not match block " + std::to_string(head));
  return OkStatus();
}

Status BlockStore::CorruptBodyForTest(uint64_t height, ByteView body) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, cfs_[kBodies], S(HeightKey(height)), S(body)), "corrupt");
}

}  // namespace provledger::ledger
