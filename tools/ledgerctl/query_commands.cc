// ledgerctl queries against a running node: status, block, record, history, devices and
// gateways.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "common/log.h"
#include "ledger/block_header.h"
#include "ledger/record.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(uint64_t, from, 0, "history: from this ts, ms (0: the first)");
ABSL_FLAG(uint64_t, to, 0, "history: up to this ts, ms (0: the last)");
ABSL_FLAG(uint64_t, limit, 100, "history: records a page");
ABSL_FLAG(bool, all, false,
          "history: page through everything, not just the first page; status: every node of "
          "--node and of the validator set in force, side by side");

namespace provledger::tools {
namespace {

JsonValue IdArray(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  JsonValue a = JsonValue::Array();
  for (const auto& id : ids) a.Push(JsonValue::String(id));
  return a;
}

std::string JoinIds(const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
  return out;
}

Status CmdStatus(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::NodeStatus s, cl->GetStatus());
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("chain_id", JsonValue::String(s.chain_id()));
    o.Set("node_id", JsonValue::String(s.node_id()));
    o.Set("height", JsonValue::Int(s.height()));
    o.Set("head_hash", JsonValue::String(HexEncode(s.head_hash())));
    o.Set("view", JsonValue::Int(s.view()));
    o.Set("primary", JsonValue::String(s.primary()));
    o.Set("validators", JsonValue::Int(s.validators()));
    o.Set("records", JsonValue::Int(s.records()));
    o.Set("mode", JsonValue::String(s.mode()));
    o.Set("role", JsonValue::String(s.role()));
    o.Set("pending_batches", JsonValue::Int(s.pending_batches()));
    o.Set("gateways", JsonValue::Int(s.gateways()));
    o.Set("devices", JsonValue::Int(s.devices()));
    o.Set("view_changing", JsonValue::Bool(s.view_changing()));
    o.Set("peers_in_view", JsonValue::Int(s.peers_in_view()));
    o.Set("peers_elsewhere", JsonValue::Int(s.peers_elsewhere()));
    o.Set("alone_in_view", JsonValue::Bool(s.alone_in_view()));
    o.Set("pruned_below", JsonValue::Int(s.pruned_below()));
    o.Set("prune_bytes_before", JsonValue::Int(s.prune_bytes_before()));
    o.Set("prune_bytes_after", JsonValue::Int(s.prune_bytes_after()));
    o.Set("epoch", JsonValue::Int(s.epoch()));
    o.Set("validator_ids", IdArray(s.validator_ids()));
    o.Set("pending_change_height", JsonValue::Int(s.pending_change_height()));
    o.Set("pending_change_end", JsonValue::Int(s.pending_change_end()));
    o.Set("pending_validator_ids", IdArray(s.pending_validator_ids()));
    o.Set("validator_set_digest", JsonValue::String(HexEncode(s.validator_set_digest())));
    PrintJson(o);
  } else {
    std::printf(
        "chain      %s\nnode       %s (%s)\nheight     %llu\nhead       %s\nview       %llu "
        "(primary %s of %u validators)\nrecords    %llu\nregistry   %llu gateway(s), %llu "
        "device(s)\npending    %llu batch(es)\n",
        s.chain_id().c_str(), s.node_id().c_str(), s.mode().c_str(),
        static_cast<unsigned long long>(s.height()), HexEncode(s.head_hash()).c_str(),
        static_cast<unsigned long long>(s.view()), s.primary().c_str(), s.validators(),
        static_cast<unsigned long long>(s.records()), static_cast<unsigned long long>(s.gateways()),
        static_cast<unsigned long long>(s.devices()),
        static_cast<unsigned long long>(s.pending_batches()));
    if (s.pruned_below() > 1 || s.prune_bytes_before() > 0) {
      std::printf("pruned     bodies below height %llu; last prune %llu -> %llu bytes on disk\n",
                  static_cast<unsigned long long>(s.pruned_below()),
                  static_cast<unsigned long long>(s.prune_bytes_before()),
                  static_cast<unsigned long long>(s.prune_bytes_after()));
    }
    if (s.validators() > 1) {
      std::printf(
          "in view    %u of %u other validator(s) heard here, %u in another view%s%s\n",
          s.peers_in_view(), s.validators() - 1, s.peers_elsewhere(),
          s.view_changing() ? "; changing view" : "",
          s.alone_in_view() ? "; ALONE IN VIEW: in no quorum, following by state transfer" : "");
    }
    std::printf("role       %s\nepoch      %llu (set of %d: %s)\n", s.role().c_str(),
                static_cast<unsigned long long>(s.epoch()), s.validator_ids_size(),
                JoinIds(s.validator_ids()).c_str());
    if (s.pending_change_height() != 0) {
      std::printf("change     committed at %llu: set of %d (%s) in force above %llu\n",
                  static_cast<unsigned long long>(s.pending_change_height()),
                  s.pending_validator_ids_size(), JoinIds(s.pending_validator_ids()).c_str(),
                  static_cast<unsigned long long>(s.pending_change_end()));
    }
  }
  return OkStatus();
}

Status CmdBlock(const Ctx& c) {
  uint64_t h = 0;
  if (c.positional.size() >= 2) {
    const std::string& arg = c.positional[1];
    if (arg.empty() || arg.find_first_not_of("0123456789") != std::string::npos) {
      return InvalidArgumentError("height must be a number");
    }
    h = std::stoull(arg);
  }
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::Block b, cl->GetBlock(h));
  PL_ASSIGN_OR_RETURN(ledger::BlockHeader hd, ledger::DecodeHeader(b.header()));
  JsonValue o = JsonValue::Object();
  o.Set("height", JsonValue::Int(hd.height));
  o.Set("header_hash", JsonValue::String(HexEncode(ledger::HeaderHash(b.header()))));
  o.Set("prev", JsonValue::String(HexEncode(hd.prev)));
  o.Set("root", JsonValue::String(HexEncode(hd.root)));
  o.Set("record_count", JsonValue::Int(hd.record_count));
  o.Set("timestamp", JsonValue::Int(hd.timestamp));
  o.Set("view", JsonValue::Int(hd.view));
  o.Set("proposer", JsonValue::String(hd.proposer));
  o.Set("certificate_view", JsonValue::Int(b.certificate().view()));
  o.Set("certificate_signatures", JsonValue::Int(b.certificate().signatures_size()));
  // Indexes in the validator set in force at this height (ledgerctl validator list).
  JsonValue signers = JsonValue::Array();
  for (const auto& s : b.certificate().signatures()) signers.Push(JsonValue::Int(s.validator()));
  o.Set("certificate_signers", std::move(signers));
  JsonValue ids = JsonValue::Array();
  for (const auto& r : b.records()) ids.Push(JsonValue::String(HexEncode(ledger::RecordId(r))));
  o.Set("record_ids", std::move(ids));
  if (c.json) {
    PrintJson(o);
  } else {
    std::printf(
        "block %llu  hash %s\n  prev %s\n  root %s\n  %llu record(s), proposed by %s in view %llu "
        "at %llu\n  certificate: %d signature(s), view %llu\n",
        static_cast<unsigned long long>(hd.height),
        HexEncode(ledger::HeaderHash(b.header())).c_str(), HexEncode(hd.prev).c_str(),
        HexEncode(hd.root).c_str(), static_cast<unsigned long long>(hd.record_count),
        hd.proposer.c_str(), static_cast<unsigned long long>(hd.view),
        static_cast<unsigned long long>(hd.timestamp), b.certificate().signatures_size(),
        static_cast<unsigned long long>(b.certificate().view()));
    for (int i = 0; i < b.records_size() && i < 20; ++i) {
      std::printf("  [%d] %s\n", i, HexEncode(ledger::RecordId(b.records(i))).c_str());
    }
    if (b.records_size() > 20)
      std::printf("  ... %d more (use --json for all)\n", b.records_size() - 20);
  }
  return OkStatus();
}

Status CmdRecord(const Ctx& c) {
  v1::GetRecordRequest req;
  if (!absl::GetFlag(FLAGS_device).empty()) {
    req.set_device(absl::GetFlag(FLAGS_device));
    uint64_t seq = absl::GetFlag(FLAGS_seq).value_or(0);
    req.set_seq(seq);
  } else {
    PL_ASSIGN_OR_RETURN(Bytes id, RecordIdArg(c));
    req.set_record_id(id);
  }
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::RecordResponse r, cl->GetRecord(req));
  PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(r.record()));
  JsonValue o = RecordToJson(rec);
  o.Set("record_id", JsonValue::String(HexEncode(r.record_id())));
  o.Set("height", JsonValue::Int(r.height()));
  o.Set("index", JsonValue::Int(r.index()));
  o.Set("record", JsonValue::String(HexEncode(r.record())));
  if (r.has_payload()) o.Set("payload_hex", JsonValue::String(HexEncode(r.payload())));
  if (!r.fetched_from().empty()) o.Set("fetched_from", JsonValue::String(r.fetched_from()));
  if (c.json) {
    PrintJson(o);
  } else {
    std::printf("%s", WriteJsonPretty(o).c_str());
    if (r.has_payload())
      std::printf("\npayload (%zu bytes): %.200s\n", r.payload().size(), r.payload().c_str());
    else
      std::printf("\n");
    if (!r.fetched_from().empty()) {
      std::printf(
          "light node: block body pruned here; record fetched from full node %s and proven "
          "against this node's header and certificate; payload not kept here\n",
          r.fetched_from().c_str());
    }
  }
  return OkStatus();
}

Status CmdHistory(const Ctx& c) {
  v1::HistoryRequest req;
  PL_ASSIGN_OR_RETURN(std::string device, Require(FLAGS_device));
  req.set_device(device);
  req.set_item(absl::GetFlag(FLAGS_item));
  uint64_t from = absl::GetFlag(FLAGS_from);
  uint64_t to = absl::GetFlag(FLAGS_to);
  uint64_t limit = absl::GetFlag(FLAGS_limit);
  req.set_from_ts(from);
  req.set_to_ts(to);
  req.set_limit(static_cast<uint32_t>(limit));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  JsonValue all = JsonValue::Array();
  size_t total = 0;
  std::string forwarded;  // the full node a light node forwarded the first page to
  while (true) {
    PL_ASSIGN_OR_RETURN(v1::HistoryResponse resp, cl->History(req));
    if (forwarded.empty() && !resp.fetched_from().empty()) {
      forwarded = resp.fetched_from();
      std::fprintf(stderr,
                   "light node: history forwarded to full node %s; entries of pruned blocks "
                   "proven against this node's headers, the others checked against its index\n",
                   forwarded.c_str());
    }
    for (const auto& e : resp.entries()) {
      ++total;
      if (c.json) {
        JsonValue o = JsonValue::Object();
        o.Set("record_id", JsonValue::String(HexEncode(e.record_id())));
        o.Set("item", JsonValue::String(e.item()));
        o.Set("seq", JsonValue::Int(e.seq()));
        o.Set("ts", JsonValue::Int(e.ts()));
        o.Set("height", JsonValue::Int(e.height()));
        all.Push(std::move(o));
      } else {
        std::printf("%llu  %-16s seq %-8llu height %-6llu %s\n",
                    static_cast<unsigned long long>(e.ts()), e.item().c_str(),
                    static_cast<unsigned long long>(e.seq()),
                    static_cast<unsigned long long>(e.height()), HexEncode(e.record_id()).c_str());
      }
    }
    if (resp.next_page_token().empty()) break;
    if (!absl::GetFlag(FLAGS_all)) {
      if (!c.json) std::printf("... more: add --all to page through everything\n");
      break;
    }
    req.set_page_token(resp.next_page_token());
  }
  if (c.json)
    PrintJson(all);
  else
    std::printf("%zu record(s)\n", total);
  return OkStatus();
}

Status CmdListing(const Ctx& c, bool devices) {
  const std::string id = c.positional.size() >= 2 ? c.positional[1] : "";
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::RegistryListing l, devices ? cl->Devices(id) : cl->Gateways(id));
  JsonValue arr = JsonValue::Array();
  if (devices) {
    for (const auto& d : l.devices()) {
      JsonValue o = JsonValue::Object();
      o.Set("id", JsonValue::String(d.id()));
      o.Set("pubkey", JsonValue::String(HexEncode(d.pubkey())));
      o.Set("vendor", JsonValue::String(d.vendor()));
      o.Set("model", JsonValue::String(d.model()));
      o.Set("revoked", JsonValue::Bool(d.revoked()));
      o.Set("registered_height", JsonValue::Int(d.registered_height()));
      if (!c.json) {
        std::printf("%-24s %s  height %llu%s\n", d.id().c_str(), HexEncode(d.pubkey()).c_str(),
                    static_cast<unsigned long long>(d.registered_height()),
                    d.revoked() ? "  REVOKED" : "");
      }
      arr.Push(std::move(o));
    }
  } else {
    for (const auto& g : l.gateways()) {
      JsonValue o = JsonValue::Object();
      o.Set("id", JsonValue::String(g.id()));
      o.Set("pubkey", JsonValue::String(HexEncode(g.pubkey())));
      o.Set("registered_height", JsonValue::Int(g.registered_height()));
      if (!c.json) {
        std::printf("%-24s %s  height %llu\n", g.id().c_str(), HexEncode(g.pubkey()).c_str(),
                    static_cast<unsigned long long>(g.registered_height()));
      }
      arr.Push(std::move(o));
    }
  }
  if (c.json)
    PrintJson(arr);
  else
    std::printf("%zu %s as of height %llu\n", arr.items().size(),
                devices ? "device(s)" : "gateway(s)", static_cast<unsigned long long>(l.height()));
  return OkStatus();
}

}  // namespace

CommandGroup QueryCommands() {
  auto with_node = [](std::vector<std::string> f) {
    f.insert(f.end(), kNodeFlags.begin(), kNodeFlags.end());
    return f;
  };
  return {"queries (--node=HOST:PORT[,HOST:PORT...], default 127.0.0.1:7000)",
          {{"status", "[--all [--genesis=FILE]]",
            "chain id, height, head, view, counts; with --all one row per node (--node and the\n"
            "validators of the set in force, asked in parallel; --timeout_ms 2000 unless given):\n"
            "height, lag, view, role, mode, epoch, primary, last commit, and the blocks at the\n"
            "lowest common height compared. Exit 1: a node unreachable; 3: FORK",
            with_node({"all", "genesis"}),
            [](const Ctx& c) -> StatusOr<int> {
              if (absl::GetFlag(FLAGS_all)) return RunStatusAll(c);
              return Done(CmdStatus(c));
            }},
           {"block", "[HEIGHT]", "a block (default: the head)", with_node({}),
            [](const Ctx& c) { return Done(CmdBlock(c)); }},
           {"record", "ID | --device=D --seq=N", "a record, decoded, with its payload if kept",
            with_node({"device", "seq"}), [](const Ctx& c) { return Done(CmdRecord(c)); }},
           {"history", "--device=D [--item=I] [--from=MS] [--to=MS] [--limit=N] [--all]",
            "a device's records by time, a page of them (all with --all)",
            with_node({"device", "item", "from", "to", "limit", "all"}),
            [](const Ctx& c) { return Done(CmdHistory(c)); }},
           {"devices", "[ID]", "registry listing of devices", with_node({}),
            [](const Ctx& c) { return Done(CmdListing(c, true)); }},
           {"gateways", "[ID]", "registry listing of gateways", with_node({}),
            [](const Ctx& c) { return Done(CmdListing(c, false)); }}}};
}

}  // namespace provledger::tools
