// ledger_bench: prints the foundation's speed figures (docs/BENCHMARKS.md).
//
//   bazel run -c opt //tools/bench:ledger_bench -- [--dir=/tmp/plbench] [--blocks=50]
//
// SHA-256 MB/s of our wrapper beside `openssl speed` on the same machine; Merkle root and
// proof generation (leaves/s); block-store append (records/s, 256-byte payloads, 1,000-record
// blocks, synced WAL); proof verification per second (Merkle path alone, and the whole
// PROTOCOL.md 6.7 check with a 4-validator certificate).
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "common/ecdsa.h"
#include "common/json.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/genesis.h"
#include "ledger/merkle/proof_builder.h"
#include "ledger/merkle/proof_verifier.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/proof_document_verifier.h"
#include "ledger/proof_json.h"
#include "ledger/record.h"
#include "ledger/state_digest.h"
#include "ledger/store/block_store.h"

ABSL_FLAG(std::string, dir, "/tmp/provledger-bench", "scratch DIR for the store benchmark");
ABSL_FLAG(uint64_t, blocks, 50, "blocks appended by the store benchmark");
ABSL_FLAG(uint64_t, devices, 1,
          "devices the store benchmark's readings come from, round robin (each its own seq and "
          "clock)");
ABSL_FLAG(bool, store_fields, false,
          "the store benchmark's blocks carry their records' index fields (BlockToAppend.fields, "
          "as a validator's do) instead of the store decoding each record");
ABSL_FLAG(bool, store_only, false,
          "run only the store benchmark (store_append and the proof checks), for profiles and "
          "A/B runs");

namespace provledger::bench {
namespace {

using Clock = std::chrono::steady_clock;
double Secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

// CPU seconds (user + system) of the whole process, RocksDB's background threads included.
double CpuSecs() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

volatile char g_sink;  // keeps results alive

void BenchSha256() {
  for (size_t size : {64ul, 1024ul, 16384ul}) {
    Bytes buf(size, 'x');
    size_t n = 0;
    auto t0 = Clock::now();
    while (Secs(t0) < 1.0) {
      for (int i = 0; i < 256; ++i) g_sink = Sha256(buf)[0];
      n += 256;
    }
    const double s = Secs(t0);
    std::printf("sha256_wrapper  block=%-6zu %8.1f MB/s  (%.0f hashes/s)\n", size,
                n * size / s / 1e6, n / s);
  }
  // OpenSSL's own figure for the same block sizes, as the ceiling.
  FILE* p = popen("openssl speed -seconds 1 -bytes 16384 -evp sha256 2>/dev/null | tail -1", "r");
  if (p) {
    char line[512];
    while (fgets(line, sizeof line, p)) std::printf("openssl_speed   %s", line);
    pclose(p);
  }
}

std::vector<Bytes> Leaves(size_t n) {
  std::vector<Bytes> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) v.push_back(Sha256(std::to_string(i)));
  return v;
}

void BenchMerkle() {
  for (size_t n : {1000ul, 1000000ul}) {
    auto leaves = Leaves(n);
    int reps = 0;
    auto t0 = Clock::now();
    while (Secs(t0) < 1.0 || reps == 0) {
      g_sink = ledger::MerkleRoot(leaves)[0];
      ++reps;
    }
    std::printf("merkle_root     leaves=%-8zu %10.0f leaves/s\n", n, reps * n / Secs(t0));
  }
  auto leaves = Leaves(1000);
  size_t proofs = 0;
  auto t0 = Clock::now();
  while (Secs(t0) < 1.0) {
    for (uint64_t i = 0; i < 1000; ++i) g_sink = (*ledger::InclusionProof(leaves, i))[0][0];
    proofs += 1000;
  }
  std::printf("inclusion_proof tree=1000        %10.0f proofs/s (from leaf hashes)\n",
              proofs / Secs(t0));
}

struct Fixture {
  ledger::Genesis genesis;
  std::vector<PrivateKey> validator_keys;
  PrivateKey gateway = PrivateKey::Generate();
  PrivateKey device = PrivateKey::Generate();
};

Fixture MakeFixture() {
  Fixture f;
  f.genesis.chain_id = "bench";
  for (int i = 0; i < 4; ++i) {
    f.validator_keys.push_back(PrivateKey::Generate());
    f.genesis.validators.push_back(
        {"v" + std::to_string(i), f.validator_keys.back().PublicKey(), "127.0.0.1:0"});
  }
  f.genesis.admins.push_back(f.gateway.PublicKey());
  return f;
}

Bytes Reading(const Fixture& f, const std::string& device, uint64_t seq, const Bytes& payload) {
  ledger::Record rec;
  rec.kind = ledger::RecordKind::kReading;
  auto& r = rec.reading;
  r.device = device;
  r.item = "climate";
  r.seq = seq;
  r.ts = 1700000000000 + seq;
  r.payload_hash = Sha256(payload);
  r.auth = ledger::kAuthMac;
  r.gateway = "gw-1";
  r.received = r.ts + 5;
  return ledger::EncodeRecord(rec);
}

// Builds block `height` over `records`, certified by validators 0..2.
ledger::BlockToAppend MakeBlock(const Fixture& f, uint64_t height, const Bytes& prev,
                                std::vector<Bytes> records,
                                std::vector<std::optional<Bytes>> payloads) {
  std::vector<Bytes> ids;
  ids.reserve(records.size());
  for (const auto& r : records) ids.push_back(ledger::RecordId(r));
  ledger::BlockHeader h;
  h.chain_id = f.genesis.chain_id;
  h.height = height;
  h.prev = prev;
  h.root = ledger::MerkleRoot(ids);
  h.record_count = records.size();
  h.timestamp = 1700000000000 + height;
  h.view = 0;
  h.proposer = "v0";
  ledger::BlockToAppend b;
  b.header_bytes = ledger::EncodeHeader(h);
  const Bytes digest =
      ledger::CommitDigest(f.genesis.chain_id, height, 0, ledger::HeaderHash(b.header_bytes));
  b.certificate.set_view(0);
  b.certificate.set_digest(digest);
  for (uint32_t i = 0; i < 3; ++i) {
    auto* s = b.certificate.add_signatures();
    s->set_validator(i);
    s->set_signature(*f.validator_keys[i].Sign(digest));
  }
  b.records = std::move(records);
  b.payloads = std::move(payloads);
  return b;
}

Status BenchStore(const std::string& dir, uint64_t blocks, uint64_t devices, const Fixture& f) {
  std::system(("rm -rf " + dir).c_str());
  ::mkdir(dir.c_str(), 0700);
  ledger::StoreOptions so;
  so.path = dir + "/chain";
  PL_ASSIGN_OR_RETURN(auto store, ledger::BlockStore::Open(so, f.genesis.chain_id));
  const Bytes payload(256, 'p');
  // Records and certificates are made before the clock starts: this measures the store.
  std::vector<ledger::BlockToAppend> prepared;
  Bytes prev(32, '\0');
  uint64_t n = 0;
  for (uint64_t h = 1; h <= blocks; ++h) {
    std::vector<Bytes> recs;
    std::vector<std::optional<Bytes>> pays;
    for (int i = 0; i < 1000; ++i, ++n) {
      const std::string device = "dev-" + std::to_string(1 + n % devices);
      recs.push_back(Reading(f, device, 1 + n / devices, payload));
      pays.emplace_back(payload);
    }
    prepared.push_back(MakeBlock(f, h, prev, std::move(recs), std::move(pays)));
    if (absl::GetFlag(FLAGS_store_fields)) {
      for (const Bytes& r : prepared.back().records) {
        PL_ASSIGN_OR_RETURN(ledger::RecordFields rf, ledger::DecodeRecordFields(r));
        prepared.back().fields.push_back(ledger::IndexFieldsOf(std::move(rf)));
      }
    }
    prev = ledger::HeaderHash(prepared.back().header_bytes);
  }
  std::vector<double> lat;
  const double cpu0 = CpuSecs();
  auto t0 = Clock::now();
  for (const auto& b : prepared) {
    auto t1 = Clock::now();
    PL_RETURN_IF_ERROR(store->Append(b));
    lat.push_back(Secs(t1) * 1000);
  }
  const double s = Secs(t0);
  const double cpu = CpuSecs() - cpu0;
  // Closing flushes every memtable to table files: work each record costs too, only later.
  store.reset();
  const double cpu_flushed = CpuSecs() - cpu0;
  std::sort(lat.begin(), lat.end());
  std::printf(
      "store_append    blocks=%llu x 1000 records, %llu devices, 256 B payloads, synced: %.0f "
      "records/s, %.2f us CPU/record (%.2f with the flush at close), block append p50 %.2f ms "
      "p99 %.2f ms\n",
      static_cast<unsigned long long>(blocks), static_cast<unsigned long long>(devices),
      blocks * 1000 / s, cpu * 1e6 / (blocks * 1000), cpu_flushed * 1e6 / (blocks * 1000),
      lat[lat.size() / 2], lat[lat.size() * 99 / 100]);
  // A checkpoint of the whole chain (pinned at open: --blocks is a multiple of the interval):
  // what the attester digests (the registry and the store's running index chain) against a
  // digest of every row (the cost of the state digest before the index chain).
  so.state_interval = blocks;
  PL_ASSIGN_OR_RETURN(store, ledger::BlockStore::Open(so, f.genesis.chain_id));
  {
    const double c0 = CpuSecs();
    PL_ASSIGN_OR_RETURN(ledger::IndexChainHead index, store->PinnedIndexChain(blocks));
    ledger::RowsDigester registry;
    Bytes cursor;
    do {
      PL_ASSIGN_OR_RETURN(ledger::StateChunk chunk,
                          store->ReadState(blocks, cursor, 4 << 20, /*last_table=*/1));
      for (const auto& r : chunk.rows) registry.Add(r.table, r.key, r.value);
      cursor = std::move(chunk.next);
    } while (!cursor.empty());
    const uint64_t digested = registry.rows();
    g_sink = ledger::StateDigest(f.genesis.chain_id, blocks, Bytes(32, 'h'), registry.Finish(),
                                 index.digest)[0];
    const double incremental = CpuSecs() - c0;
    const double c1 = CpuSecs();
    ledger::RowsDigester all;
    cursor.clear();
    do {
      PL_ASSIGN_OR_RETURN(ledger::StateChunk chunk, store->ReadState(blocks, cursor, 4 << 20));
      for (const auto& r : chunk.rows) all.Add(r.table, r.key, r.value);
      cursor = std::move(chunk.next);
    } while (!cursor.empty());
    const uint64_t rows = all.rows();
    g_sink = all.Finish()[0];
    const double full = CpuSecs() - c1;
    // The per-block digest Append adds, alone: three index rows a record.
    const double c2 = CpuSecs();
    Bytes key(32, 'k'), value(12, 'v');
    ledger::RowsDigester block;
    for (uint64_t i = 0; i < 1000000; ++i) {
      key[0] = static_cast<char>(i);
      block.Add(2, key, value);
      block.Add(3, key.substr(0, 20), key);
      block.Add(4, key.substr(0, 30), value.substr(0, 8));
    }
    g_sink = block.Finish()[0];
    const double per_record = (CpuSecs() - c2) / 1e6;
    std::printf(
        "state_digest    checkpoint at %llu (%llu rows): index chain + registry %.2f ms CPU "
        "(%llu rows read), every row %.2f ms CPU; Append's index-rows digest %.2f us CPU/record\n",
        static_cast<unsigned long long>(blocks),
        static_cast<unsigned long long>(index.rows + digested), incremental * 1e3,
        static_cast<unsigned long long>(digested), full * 1e3, per_record * 1e6);
    (void)rows;
  }

  // Proof verification, from a stored block.
  PL_ASSIGN_OR_RETURN(ledger::StoredBlock blk, store->ReadBlock(1));
  std::vector<Bytes> ids;
  for (const auto& r : blk.records) ids.push_back(ledger::RecordId(r));
  PL_ASSIGN_OR_RETURN(auto path, ledger::InclusionProof(ids, 500));
  n = 0;
  t0 = Clock::now();
  while (Secs(t0) < 1.0) {
    for (int i = 0; i < 1000; ++i) {
      if (!ledger::VerifyInclusion(ids[500], 500, ids.size(), path, blk.header.root).ok()) {
        return InternalError("inclusion proof failed");
      }
    }
    n += 1000;
  }
  std::printf("verify_path     tree=1000        %10.0f proofs/s (Merkle path only)\n",
              n / Secs(t0));
  provledger::v1::Proof proof;
  proof.set_chain_id(f.genesis.chain_id);
  proof.set_record_id(ids[500]);
  proof.set_record(blk.records[500]);
  proof.set_height(1);
  proof.set_leaf_index(500);
  proof.set_tree_size(ids.size());
  for (const auto& p : path) proof.add_audit_path(p);
  proof.set_header(blk.header_bytes);
  *proof.mutable_certificate() = blk.certificate;
  PL_ASSIGN_OR_RETURN(JsonValue pj, ledger::ProofToJson(f.genesis, proof));
  n = 0;
  t0 = Clock::now();
  while (Secs(t0) < 1.0) {
    for (int i = 0; i < 100; ++i) {
      auto v = ledger::VerifyProofJson(f.genesis, pj);
      if (!v.ok()) return v.status();
    }
    n += 100;
  }
  std::printf("verify_proof    full 6.7, 3 sigs %10.0f proofs/s\n", n / Secs(t0));
  return OkStatus();
}

int Main(int argc, char** argv) {
  auto cl = SplitCommandLine(argc, argv, 1);
  if (cl.ok() && cl->help) {
    std::puts("usage: ledger_bench [flags]   (--flagfile=FILE: flags from FILE)");
    PrintFlagHelp(stdout, {"dir", "blocks", "devices", "store_fields", "store_only"});
    return 0;
  }
  Status applied = cl.ok() ? ApplyCommandLine(argv[0], *cl) : cl.status();
  if (!applied.ok()) {
    std::fprintf(stderr, "ledger_bench: %s\n", applied.ToString().c_str());
    return 2;
  }
  const std::string dir = absl::GetFlag(FLAGS_dir);
  const uint64_t blocks = absl::GetFlag(FLAGS_blocks);
  const uint64_t devices = absl::GetFlag(FLAGS_devices);
  if (blocks == 0 || devices == 0) {
    std::fprintf(stderr, "ledger_bench: --blocks and --devices must be positive numbers\n");
    return 2;
  }
  std::printf("# ledger_bench (one thread)\n");
  if (!absl::GetFlag(FLAGS_store_only)) {
    BenchSha256();
    BenchMerkle();
  }
  Status s = BenchStore(dir, blocks, devices, MakeFixture());
  if (!s.ok()) {
    std::fprintf(stderr, "ledger_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace provledger::bench

int main(int argc, char** argv) { return provledger::bench::Main(argc, argv); }
