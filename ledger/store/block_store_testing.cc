#include "ledger/store/block_store_testing.h"

#include <rocksdb/db.h>

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

}  // namespace provledger::ledger
