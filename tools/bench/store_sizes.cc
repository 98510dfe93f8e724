// store_sizes: where a chain store's disk goes, per RocksDB column family. Opens the store
// read-only (the node must be stopped, or the figures are those of its last flush) and prints,
// per column family: keys, key and value bytes (an exact scan), SST bytes and blob file bytes
// on disk (RocksDB's properties), and the estimate of live data.
//
//   store_sizes --store=DATA_DIR/chain [--json]
//
// A figure for benchmarks (ops/bench_followers.sh), not a check: it never writes the store.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "common/json.h"
#include "rocksdb/db.h"

ABSL_FLAG(std::string, store, "", "the store folder (a node's DATA_DIR/chain)");
ABSL_FLAG(bool, json, false, "one JSON object instead of a table");

namespace provledger::bench {
namespace {

struct CfSize {
  std::string name;
  uint64_t keys = 0, key_bytes = 0, value_bytes = 0, sst_bytes = 0, blob_bytes = 0,
           live_estimate = 0;
};

uint64_t IntProperty(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& name) {
  uint64_t v = 0;
  return db->GetIntProperty(cf, name, &v) ? v : 0;
}

Status Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  if (cl.help) {
    std::fputs("usage: store_sizes --store=DIR [--json]\n", stdout);
    PrintFlagHelp(stdout, {"store", "json"});
    return OkStatus();
  }
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  PL_ASSIGN_OR_RETURN(std::string path, Require(FLAGS_store));
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
  if (!s.ok()) return InternalError("list column families of " + path + ": " + s.ToString());
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (const auto& n : names) descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, descs, &handles, &raw);
  if (!s.ok()) return InternalError("open " + path + " read-only: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);

  std::vector<CfSize> sizes;
  for (size_t i = 0; i < handles.size(); ++i) {
    CfSize c;
    c.name = names[i];
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++c.keys;
      c.key_bytes += it->key().size();
      c.value_bytes += it->value().size();
    }
    if (!it->status().ok()) return InternalError("scan " + c.name + ": " + it->status().ToString());
    c.sst_bytes = IntProperty(db.get(), handles[i], "rocksdb.total-sst-files-size");
    c.blob_bytes = IntProperty(db.get(), handles[i], "rocksdb.total-blob-file-size");
    c.live_estimate = IntProperty(db.get(), handles[i], "rocksdb.estimate-live-data-size");
    sizes.push_back(c);
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);

  if (absl::GetFlag(FLAGS_json)) {
    JsonValue o = JsonValue::Object();
    for (const auto& c : sizes) {
      JsonValue v = JsonValue::Object();
      v.Set("keys", JsonValue::Int(c.keys));
      v.Set("key_bytes", JsonValue::Int(c.key_bytes));
      v.Set("value_bytes", JsonValue::Int(c.value_bytes));
      v.Set("sst_bytes", JsonValue::Int(c.sst_bytes));
      v.Set("blob_bytes", JsonValue::Int(c.blob_bytes));
      v.Set("live_estimate", JsonValue::Int(c.live_estimate));
      o.Set(c.name, std::move(v));
    }
    std::printf("%s\n", WriteJson(o).c_str());
  } else {
    std::printf("%-14s %10s %12s %12s %12s %12s %12s\n", "column family", "keys", "key bytes",
                "value bytes", "sst bytes", "blob bytes", "live est.");
    for (const auto& c : sizes) {
      std::printf("%-14s %10llu %12llu %12llu %12llu %12llu %12llu\n", c.name.c_str(),
                  static_cast<unsigned long long>(c.keys),
                  static_cast<unsigned long long>(c.key_bytes),
                  static_cast<unsigned long long>(c.value_bytes),
                  static_cast<unsigned long long>(c.sst_bytes),
                  static_cast<unsigned long long>(c.blob_bytes),
                  static_cast<unsigned long long>(c.live_estimate));
    }
  }
  return OkStatus();
}

}  // namespace
}  // namespace provledger::bench

int main(int argc, char** argv) {
  provledger::Status s = provledger::bench::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "store_sizes: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
