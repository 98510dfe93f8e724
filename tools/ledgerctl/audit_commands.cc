// ledgerctl verify-chain: every hash, root and certificate of a chain, recomputed from a
// stopped node's store (--data_dir) or fetched from a running node (--node).
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "ledger/chain_check.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "ledger/store/block_store.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(std::string, data_dir, "", "verify-chain: a stopped node's data DIR (else --node)");

namespace provledger::tools {
namespace {

// verify-chain against a running node: every block fetched, its header decoded, linked to the
// previous one, its root recomputed from its records and its certificate checked against the
// genesis validators. Trusts nothing the node says about itself.
StatusOr<int> VerifyChainRemote(const Ctx& c, const ledger::Genesis& g) {
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::NodeStatus st, cl->GetStatus());
  if (st.chain_id() != g.chain_id) {
    return FailedPreconditionError("node serves chain '" + st.chain_id() + "', genesis is '" +
                                   g.chain_id + "'");
  }
  const uint64_t head = st.height();
  if (!c.json)
    std::fprintf(stderr, "verifying %llu block(s) from %s ...\n",
                 static_cast<unsigned long long>(head), cl->addresses()[0].c_str());
  Bytes prev(32, '\0');
  uint64_t records = 0;
  Status bad;
  uint64_t h = 1;
  // The set for each block comes from the chain itself (docs/VALIDATOR_SET.md): the
  // schedule after the blocks below it, never from what the node says.
  ledger::ValidatorSchedule schedule(g);
  for (; h <= head && bad.ok(); ++h) {
    auto b = cl->GetBlock(h);
    if (!b.ok()) {
      bad = b.status();
      break;
    }
    std::vector<Bytes> ids;
    for (const auto& r : b->records()) ids.push_back(ledger::RecordId(r));
    ledger::CheckedHeader checked;
    bad = ledger::CheckCertifiedBlockWithSet(ledger::ChainLink{g.chain_id, h, prev}, b->header(),
                                             &ids, b->certificate(), &schedule.SetAt(h), &checked);
    if (!bad.ok()) break;
    std::vector<ledger::Record> registry_records;
    for (const auto& r : b->records()) {
      auto rec = ledger::DecodeRecord(r);
      if (rec.ok() && rec->kind == ledger::RecordKind::kRegistry) registry_records.push_back(*rec);
    }
    if (!registry_records.empty())
      schedule = ledger::ScheduleAfterBlock(g, schedule, h, registry_records);
    const Bytes& hash = checked.header_hash;
    prev = hash;
    records += ids.size();
    if (!c.json && h % 1000 == 0) {
      std::fprintf(stderr, "  ... %llu/%llu\n", static_cast<unsigned long long>(h),
                   static_cast<unsigned long long>(head));
    }
  }
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("ok", JsonValue::Bool(bad.ok()));
    o.Set("height", JsonValue::Int(head));
    if (!bad.ok())
      o.Set("error", JsonValue::String("block " + std::to_string(h) + ": " + bad.message()));
    PrintJson(o);
  }
  if (!bad.ok()) {
    std::fprintf(stderr, "CHAIN BAD: block %llu: %s\n", static_cast<unsigned long long>(h),
                 bad.ToString().c_str());
    return 3;
  }
  if (!c.json) {
    std::printf("chain OK: %llu block(s), %llu record(s), head %s, every certificate valid\n",
                static_cast<unsigned long long>(head), static_cast<unsigned long long>(records),
                HexEncode(prev).c_str());
  }
  return 0;
}

StatusOr<int> CmdVerifyChain(const Ctx& c) {
  if (absl::GetFlag(FLAGS_data_dir).empty()) {
    PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
    PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
    return VerifyChainRemote(c, g);
  }
  PL_ASSIGN_OR_RETURN(std::string dir, Require(FLAGS_data_dir));
  PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  ledger::StoreOptions so;
  so.path = dir + "/chain";
  struct stat st;
  if (::stat(so.path.c_str(), &st) != 0) return NotFoundError("no chain store at " + so.path);
  auto store = ledger::BlockStore::Open(so, g.chain_id);
  if (!store.ok() && store.status().code() == StatusCode::kFailedPrecondition &&
      store.status().message().find("light node") != std::string::npos) {
    // A light node's store: its pruned blocks are checked by header and certificate.
    so.light = true;
    store = ledger::BlockStore::Open(so, g.chain_id);
  }
  if (!store.ok()) {
    std::fprintf(stderr, "CHAIN BAD: %s\n", store.status().ToString().c_str());
    return 3;
  }
  const uint64_t head = (*store)->height();
  if (!c.json)
    std::fprintf(stderr, "verifying %llu block(s) in %s ...\n",
                 static_cast<unsigned long long>(head), dir.c_str());
  Status s = (*store)->VerifyChain(&g, [&](uint64_t h) {
    if (!c.json)
      std::fprintf(stderr, "  ... %llu/%llu\n", static_cast<unsigned long long>(h),
                   static_cast<unsigned long long>(head));
  });
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("ok", JsonValue::Bool(s.ok()));
    o.Set("height", JsonValue::Int(head));
    if (!s.ok()) o.Set("error", JsonValue::String(s.message()));
    PrintJson(o);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "CHAIN BAD: %s\n", s.ToString().c_str());
    return 3;
  }
  if (!c.json)
    std::printf("chain OK: %llu block(s), %llu record(s), head %s\n",
                static_cast<unsigned long long>(head),
                static_cast<unsigned long long>((*store)->record_count()),
                HexEncode((*store)->head_hash()).c_str());
  return 0;
}

}  // namespace

CommandGroup AuditCommands() {
  std::vector<std::string> flags = {"data_dir", "genesis"};
  flags.insert(flags.end(), kNodeFlags.begin(), kNodeFlags.end());
  return {"chain",
          {{"verify-chain", "--data_dir=DIR --genesis=FILE | --node=ADDR --genesis=FILE",
            "recompute every hash, root and certificate of a stopped node's store, or the same\n"
            "over gRPC against a running node; names the first bad height (exit 3)",
            flags, CmdVerifyChain}}};
}

}  // namespace provledger::tools
