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
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  rocksdb::DB* raw = nullptr;
  PL_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(opts, path, &raw), "open " + what + " " + path));
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace provledger::bridge
