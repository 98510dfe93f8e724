#include "ledger/store/block_store_testing.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>

#include "ledger/record.h"

namespace provledger::ledger {

Status BlockStoreTesting::CorruptBody(BlockStore& store, uint64_t height, ByteView body) {
  for (rocksdb::ColumnFamilyHandle* cf : store.cfs_) {
    if (cf->GetName() != "bodies") continue;
    Bytes key;
    AppendU64(&key, height);  // the store's height key
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = store.db_->Put(wo, cf, key, rocksdb::Slice(body.data(), body.size()));
    if (!s.ok()) return InternalError("corrupt body: " + s.ToString());
    return OkStatus();
  }
  return InternalError("store has no bodies column family");
}

Status BlockStoreTesting::DropSeqIndex(BlockStore& store, const std::string& device, uint64_t seq) {
  for (rocksdb::ColumnFamilyHandle* cf : store.cfs_) {
    if (cf->GetName() != "device_seq") continue;
    Bytes key;
    AppendLp(&key, device);  // the store's (device, seq) key
    AppendU64(&key, seq);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = store.db_->Delete(wo, cf, key);
    if (!s.ok()) return InternalError("drop seq index: " + s.ToString());
    return OkStatus();
  }
  return InternalError("store has no device_seq column family");
}

namespace {
rocksdb::ColumnFamilyHandle* Family(const std::vector<rocksdb::ColumnFamilyHandle*>& cfs,
                                    const std::string& name) {
  for (rocksdb::ColumnFamilyHandle* cf : cfs) {
    if (cf->GetName() == name) return cf;
  }
  return nullptr;
}
}  // namespace

Status BlockStoreTesting::RewriteAsFormat1(BlockStore& store) {
  rocksdb::ColumnFamilyHandle* payloads = Family(store.cfs_, "payloads");
  rocksdb::ColumnFamilyHandle* device_item = Family(store.cfs_, "device_item");
  rocksdb::ColumnFamilyHandle* meta = Family(store.cfs_, "meta");
  if (payloads == nullptr || device_item == nullptr || meta == nullptr) {
    return InternalError("store lacks a column family of format 1");
  }
  rocksdb::WriteBatch batch;
  for (uint64_t h = store.pruned_below(); h <= store.height(); ++h) {
    PL_ASSIGN_OR_RETURN(StoredBlock b, store.ReadBlock(h, /*with_payloads=*/true));
    Bytes from, to;  // the block's payload keys, packed or not: (height) .. (height, index)
    AppendU64(&from, h);
    AppendU64(&to, h + 1);
    batch.DeleteRange(payloads, from, to);
    for (size_t i = 0; i < b.records.size(); ++i) {
      const Bytes id = RecordId(b.records[i]);
      if (b.payloads[i].has_value()) batch.Put(payloads, id, *b.payloads[i]);
      PL_ASSIGN_OR_RETURN(RecordFields f, DecodeRecordFields(b.records[i]));
      if (!f.from_device) continue;
      Bytes key;
      AppendLp(&key, f.device);
      AppendLp(&key, f.item);
      AppendU64(&key, f.seq);
      batch.Put(device_item, key, id);
    }
  }
  batch.Delete(meta, "format_version");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = store.db_->Write(wo, &batch);
  if (!s.ok()) return InternalError("rewrite as format 1: " + s.ToString());
  return OkStatus();
}

Status BlockStoreTesting::RewriteAsFormat2(BlockStore& store) {
  rocksdb::ColumnFamilyHandle* payloads = Family(store.cfs_, "payloads");
  rocksdb::ColumnFamilyHandle* meta = Family(store.cfs_, "meta");
  if (payloads == nullptr || meta == nullptr) {
    return InternalError("store lacks a column family of format 2");
  }
  rocksdb::WriteBatch batch;
  for (uint64_t h = store.pruned_below(); h <= store.height(); ++h) {
    PL_ASSIGN_OR_RETURN(StoredBlock b, store.ReadBlock(h, /*with_payloads=*/true));
    Bytes from, to;
    AppendU64(&from, h);
    AppendU64(&to, h + 1);
    batch.DeleteRange(payloads, from, to);
    for (size_t i = 0; i < b.records.size(); ++i) {
      if (!b.payloads[i].has_value()) continue;
      Bytes key;  // format 2's key: (height, index)
      AppendU64(&key, h);
      AppendU32(&key, static_cast<uint32_t>(i));
      batch.Put(payloads, key, *b.payloads[i]);
    }
  }
  Bytes v;
  AppendU32(&v, 2);
  batch.Put(meta, "format_version", v);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = store.db_->Write(wo, &batch);
  if (!s.ok()) return InternalError("rewrite as format 2: " + s.ToString());
  return OkStatus();
}

int64_t BlockStoreTesting::CountRows(const BlockStore& store, const std::string& name) {
  rocksdb::ColumnFamilyHandle* cf = Family(store.cfs_, name);
  if (cf == nullptr) return -1;
  std::unique_ptr<rocksdb::Iterator> it(store.db_->NewIterator(rocksdb::ReadOptions(), cf));
  int64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return it->status().ok() ? n : -1;
}

}  // namespace provledger::ledger
