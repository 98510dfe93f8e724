// Reproduces, outside the project, the ThreadSanitizer report that pbft_cluster_test and
// validator_set_test showed in ledger_node (docs/RELIABILITY.md, "Sanitizers", finding 3):
// two threads read the same data block of an uninstrumented RocksDB through its block cache.
// The first Get allocates the block (in rocksdb::UncompressBlockData) and inserts it into the
// cache under the cache shard's mutex; the second finds it there and copies the value out
// with libstdc++ (memcpy). Both the mutex and the copy are code of uninstrumented libraries:
// with `called_from_lib:librocksdb` TSan skips the mutex but still checks libstdc++'s memcpy,
// so it reports a race that RocksDB's lock orders. Built and run by rocksdb_cache_repro.sh.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

// A race in instrumented code (ours), which the TSan options must still report.
int RaceOfOurOwn() {
  int counter = 0;
  std::thread a([&counter] { ++counter; }), b([&counter] { ++counter; });
  a.join();
  b.join();
  return counter;
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--race") return RaceOfOurOwn() == 2 ? 0 : 1;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DB_DIR | --race\n", argv[0]);
    return 2;
  }
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, argv[1], &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
    return 1;
  }
  const int kKeys = 2000;
  for (int i = 0; i < kKeys; ++i) {
    raw->Put(rocksdb::WriteOptions(), "key" + std::to_string(i), std::string(200, 'a' + i % 26));
  }
  raw->Flush(rocksdb::FlushOptions());  // into a table file: Gets go through the block cache
  // Each reader reads every key: for each block one of them loads it into the cache, the
  // other (mostly) finds it there.
  auto reader = [raw] {
    std::string v;
    for (int i = 0; i < kKeys; ++i) raw->Get(rocksdb::ReadOptions(), "key" + std::to_string(i), &v);
  };
  std::thread a(reader), b(reader);
  a.join();
  b.join();
  delete raw;
  std::printf("done\n");
  return 0;
}
