// The bridge's local RocksDB stores (outbox, intake): one way to open them and one mapping
// of RocksDB's status to ours, so both stores survive a torn WAL tail and report a full
// disk the same way.
//
// Thread rules: stateless functions; safe from any thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_LOCAL_DB_H_
#define PROVLEDGER_MQTT_BRIDGE_LOCAL_DB_H_

#include <rocksdb/db.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace provledger::bridge {

// OK for an OK status; kResourceExhausted for a full disk, kDataLoss for corruption,
// kInternal otherwise; the message starts with `what`.
Status FromRocks(const rocksdb::Status& s, const std::string& what);

// Opens (creating if missing) the store at `path` with paranoid checks, recovering up to a
// corrupted WAL tail (a record torn by a crash was never acknowledged), WAL files recycled
// (a synced write then does not rewrite the inode). Errors name `what`.
StatusOr<std::unique_ptr<rocksdb::DB>> OpenLocalDb(const std::string& path,
                                                   const std::string& what);

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_LOCAL_DB_H_
