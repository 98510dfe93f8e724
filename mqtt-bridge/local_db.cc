#include "mqtt-bridge/local_db.h"

#include <rocksdb/options.h>

namespace provledger::bridge {

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return OkStatus();
  if (s.IsNoSpace()) return ResourceExhaustedError(what + ": disk full: " + s.ToString());
  if (s.IsCorruption()) return DataLossError(what + ": " + s.ToString());
  return InternalError(what + ": " + s.ToString());
}

StatusOr<std::unique_ptr<rocksdb::DB>> OpenLocalDb(const std::string& path,
                                                   const std::string& what) {
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.paranoid_checks = true;
  // Every write the bridge acknowledges on is synced. A synced write that grows the WAL
  // also writes the file's inode (its size) on each fdatasync: one more disk write per
  // reading on the intake. Recycled WAL files are overwritten in place, so fdatasync
  // writes the data alone (~20 % less CPU per sync here, docs/BENCHMARKS.md "Bridge path").
  // A small write buffer retires (and so recycles) a WAL every few thousand readings.
  // Recycling needs point-in-time recovery (RocksDB refuses it with the tolerant mode): a
  // recycled file's tail holds records of its last use, which recovery stops at; a record
  // torn by a crash ends recovery the same way, and was never acknowledged.
  opts.recycle_log_file_num = 4;
  opts.write_buffer_size = 4 << 20;
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  rocksdb::DB* raw = nullptr;
  PL_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(opts, path, &raw), "open " + what + " " + path));
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace provledger::bridge
