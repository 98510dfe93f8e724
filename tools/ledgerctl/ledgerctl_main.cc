// ledgerctl: keys, genesis, registry, queries, proofs and chain verification.
// Run `ledgerctl help` for the commands. Human-readable output by default, --json for tools.
#include <sys/stat.h>

#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "client/ledger_client.h"
#include "common/ecdsa.h"
#include "common/flags.h"
#include "common/json.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/certificate.h"
#include "ledger/genesis.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/proof_json.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "ledger/store/block_store.h"

namespace provledger::tools {
namespace {

namespace v1 = provledger::v1;

const char kHelp[] =
    "ledgerctl: operate and query a provledger chain\n"
    "\n"
    "keys and genesis\n"
    "  keygen --out=FILE [--force]              new secp256k1 key (mode 0600); prints its public "
    "key\n"
    "  pubkey --key=FILE                        prints the public key of a key file\n"
    "  genesis --chain_id=ID --validator=ID:KEYFILE_OR_PUBHEX:HOST:PORT [--validator=...]\n"
    "          --admin=KEYFILE_OR_PUBHEX [--created=MS] --out=FILE\n"
    "queries (--node=HOST:PORT[,HOST:PORT...], default 127.0.0.1:7000)\n"
    "  status                                   chain id, height, head, view, counts\n"
    "  block [HEIGHT]                           a block (default: the head)\n"
    "  record ID | --device=D --seq=N           a record, decoded, with its payload if kept\n"
    "  history --device=D [--item=I] [--from=MS] [--to=MS] [--limit=N] [--all]\n"
    "  prove ID [--genesis=FILE] [--payload=FILE] [--device_pubkey=HEX]\n"
    "                                           proof of a record; verified locally when\n"
    "                                           --genesis is given (exit 3 if it fails)\n"
    "  verify-proof --genesis=FILE --proof=FILE [--payload=FILE] [--device_pubkey=HEX]\n"
    "  verify --payload=FILE (ID | --device=D --seq=N) --genesis=FILE [--device_pubkey=K]\n"
    "                                           a payload file against the ledger (exit 3 if not)\n"
    "  prove-all --ids_file=FILE --genesis=FILE   fetch and verify the proof of every record id\n"
    "                                           in FILE (one a line); prints 'N verified, M\n"
    "                                           failed', exit 3 if any failed\n"
    "  devices [ID] | gateways [ID]             registry listings\n"
    "registry (admin-signed; --genesis for the chain id)\n"
    "  register-gateway --id=ID --pubkey=HEX|--key=FILE --admin_key=FILE --genesis=FILE\n"
    "  register-device --id=ID --pubkey=HEX|--key=FILE [--vendor=V --model=M] --admin_key=FILE\n"
    "                  --genesis=FILE\n"
    "  revoke-device --id=ID --admin_key=FILE --genesis=FILE\n"
    "chain\n"
    "  verify-chain --data_dir=DIR --genesis=FILE   recompute every hash, root and certificate\n"
    "                                           of a stopped node's store; names the first bad "
    "height\n"
    "  verify-chain --node=ADDR --genesis=FILE  the same over gRPC against a running node\n"
    "tests and demos\n"
    "  submit --gateway=ID --gateway_key=FILE --device=ID --device_key=FILE [--item=I]\n"
    "         [--count=N] [--payload=TEXT] [--seq=FIRST] [--ts=MS] [--genesis=FILE]\n"
    "                                           signed readings (auth 2) in one gateway batch;\n"
    "                                           prints each record's outcome, exits non-zero\n"
    "                                           when any is refused\n"
    "\n"
    "every command takes --json for machine-readable output\n";

struct Ctx {
  Flags flags;
  bool json = false;
};

void PrintJson(const JsonValue& v) { std::printf("%s\n", WriteJsonPretty(v).c_str()); }

StatusOr<std::unique_ptr<client::LedgerClient>> Connect(const Ctx& c) {
  std::vector<std::string> addrs;
  std::string list = c.flags.Get("node", "127.0.0.1:7000");
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) addrs.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  client::ClientOptions o;
  auto t = c.flags.GetUint("timeout_ms", 30000);
  if (!t.ok()) return t.status();
  o.timeout_ms = static_cast<uint32_t>(*t);
  return client::LedgerClient::Create(addrs, o);
}

// A public key given as 66 hex digits, or read from a key file.
StatusOr<Bytes> PubkeyArg(const std::string& arg) {
  if (arg.size() == 66) {
    auto k = HexDecodeFixed(arg, kPublicKeySize);
    if (k.ok()) {
      PL_RETURN_IF_ERROR(ValidatePublicKey(*k));
      return k;
    }
  }
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(arg));
  return key.PublicKey();
}

StatusOr<Bytes> RecordIdArg(const Ctx& c) {
  if (c.flags.positional().size() < 2) return InvalidArgumentError("give a record id (64 hex)");
  auto id = HexDecodeFixed(c.flags.positional()[1], 32);
  if (!id.ok()) return id.status().Annotate("record id");
  return id;
}

JsonValue RecordToJson(const ledger::Record& r) {
  JsonValue o = JsonValue::Object();
  o.Set("kind", JsonValue::Int(static_cast<uint64_t>(r.kind)));
  switch (r.kind) {
    case ledger::RecordKind::kReading: {
      const auto& x = r.reading;
      o.Set("type", JsonValue::String("reading"));
      o.Set("device", JsonValue::String(x.device));
      o.Set("item", JsonValue::String(x.item));
      o.Set("seq", JsonValue::Int(x.seq));
      o.Set("ts", JsonValue::Int(x.ts));
      o.Set("payload_hash", JsonValue::String(HexEncode(x.payload_hash)));
      o.Set("auth", JsonValue::String(x.auth == ledger::kAuthSignature ? "signature" : "mac"));
      o.Set("gateway", JsonValue::String(x.gateway));
      o.Set("received", JsonValue::Int(x.received));
      o.Set("integrity", JsonValue::Int(x.integrity));
      break;
    }
    case ledger::RecordKind::kAttestation: {
      const auto& x = r.attestation;
      o.Set("type", JsonValue::String("attestation"));
      o.Set("device", JsonValue::String(x.device));
      o.Set("seq", JsonValue::Int(x.seq));
      o.Set("ts", JsonValue::Int(x.ts));
      o.Set("verdict",
            JsonValue::String(x.verdict == ledger::kVerdictTrusted ? "trusted" : "untrusted"));
      o.Set("gateway", JsonValue::String(x.gateway));
      break;
    }
    case ledger::RecordKind::kFirmware:
      o.Set("type", JsonValue::String("firmware"));
      o.Set("vendor", JsonValue::String(r.firmware.vendor));
      o.Set("model", JsonValue::String(r.firmware.model));
      o.Set("version", JsonValue::String(r.firmware.version));
      break;
    case ledger::RecordKind::kRegistry:
      o.Set("type", JsonValue::String("registry"));
      o.Set("tx_bytes", JsonValue::Int(r.registry.tx.size()));
      break;
  }
  return o;
}

Status CmdKeygen(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string out, c.flags.Require("out"));
  PrivateKey key = PrivateKey::Generate();
  PL_RETURN_IF_ERROR(WriteKeyFile(out, key, c.flags.GetBool("force")));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("file", JsonValue::String(out));
    o.Set("pubkey", JsonValue::String(HexEncode(key.PublicKey())));
    PrintJson(o);
  } else {
    std::printf("wrote %s (mode 0600)\npubkey %s\n", out.c_str(),
                HexEncode(key.PublicKey()).c_str());
  }
  return OkStatus();
}

Status CmdPubkey(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string path, c.flags.Require("key"));
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(path));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("file", JsonValue::String(path));
    o.Set("pubkey", JsonValue::String(HexEncode(key.PublicKey())));
    PrintJson(o);
  } else {
    std::printf("%s\n", HexEncode(key.PublicKey()).c_str());
  }
  return OkStatus();
}

Status CmdGenesis(const Ctx& c, const std::vector<std::string>& validators,
                  const std::vector<std::string>& admins) {
  ledger::Genesis g;
  PL_ASSIGN_OR_RETURN(g.chain_id, c.flags.Require("chain_id"));
  PL_ASSIGN_OR_RETURN(std::string out, c.flags.Require("out"));
  PL_ASSIGN_OR_RETURN(g.created, c.flags.GetUint("created", NowMs()));
  for (const auto& v : validators) {
    // ID:KEY:HOST:PORT, KEY being a key file path or 66 hex digits.
    const size_t a = v.find(':');
    const size_t last = v.rfind(':');
    const size_t mid = a == std::string::npos ? a : v.rfind(':', last - 1);
    if (a == std::string::npos || mid == std::string::npos || mid <= a) {
      return InvalidArgumentError("--validator wants ID:KEY:HOST:PORT, got '" + v + "'");
    }
    ledger::Validator val;
    val.id = v.substr(0, a);
    PL_ASSIGN_OR_RETURN(val.pubkey, PubkeyArg(v.substr(a + 1, mid - a - 1)));
    val.address = v.substr(mid + 1);
    g.validators.push_back(val);
  }
  for (const auto& a : admins) {
    PL_ASSIGN_OR_RETURN(Bytes k, PubkeyArg(a));
    g.admins.push_back(k);
  }
  const std::string text = ledger::GenesisToJson(g);
  auto check = ledger::ParseGenesis(text);  // the same rules every node applies
  if (!check.ok()) return check.status();
  PL_RETURN_IF_ERROR(WriteFileAtomically(out, text, 0644));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("file", JsonValue::String(out));
    o.Set("chain_id", JsonValue::String(g.chain_id));
    o.Set("validators", JsonValue::Int(g.validators.size()));
    o.Set("f", JsonValue::Int(check->f()));
    o.Set("admins", JsonValue::Int(g.admins.size()));
    o.Set("genesis_hash", JsonValue::String(HexEncode(check->file_hash)));
    PrintJson(o);
  } else {
    std::printf("wrote %s: chain %s, %zu validator(s), f=%zu, %zu admin(s)\n", out.c_str(),
                g.chain_id.c_str(), g.validators.size(), check->f(), g.admins.size());
  }
  return OkStatus();
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
    o.Set("pending_batches", JsonValue::Int(s.pending_batches()));
    o.Set("gateways", JsonValue::Int(s.gateways()));
    o.Set("devices", JsonValue::Int(s.devices()));
    o.Set("view_changing", JsonValue::Bool(s.view_changing()));
    o.Set("peers_in_view", JsonValue::Int(s.peers_in_view()));
    o.Set("peers_elsewhere", JsonValue::Int(s.peers_elsewhere()));
    o.Set("alone_in_view", JsonValue::Bool(s.alone_in_view()));
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
    if (s.validators() > 1) {
      std::printf(
          "in view    %u of %u other validator(s) heard here, %u in another view%s%s\n",
          s.peers_in_view(), s.validators() - 1, s.peers_elsewhere(),
          s.view_changing() ? "; changing view" : "",
          s.alone_in_view() ? "; ALONE IN VIEW: in no quorum, following by state transfer" : "");
    }
  }
  return OkStatus();
}

Status CmdBlock(const Ctx& c) {
  uint64_t h = 0;
  if (c.flags.positional().size() >= 2) {
    const std::string& arg = c.flags.positional()[1];
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
  if (c.flags.Has("device")) {
    req.set_device(c.flags.Get("device"));
    PL_ASSIGN_OR_RETURN(uint64_t seq, c.flags.GetUint("seq", 0));
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
  if (c.json) {
    PrintJson(o);
  } else {
    std::printf("%s", WriteJsonPretty(o).c_str());
    if (r.has_payload())
      std::printf("\npayload (%zu bytes): %.200s\n", r.payload().size(), r.payload().c_str());
    else
      std::printf("\n");
  }
  return OkStatus();
}

Status CmdHistory(const Ctx& c) {
  v1::HistoryRequest req;
  PL_ASSIGN_OR_RETURN(std::string device, c.flags.Require("device"));
  req.set_device(device);
  req.set_item(c.flags.Get("item"));
  PL_ASSIGN_OR_RETURN(uint64_t from, c.flags.GetUint("from", 0));
  PL_ASSIGN_OR_RETURN(uint64_t to, c.flags.GetUint("to", 0));
  PL_ASSIGN_OR_RETURN(uint64_t limit, c.flags.GetUint("limit", 100));
  req.set_from_ts(from);
  req.set_to_ts(to);
  req.set_limit(static_cast<uint32_t>(limit));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  JsonValue all = JsonValue::Array();
  size_t total = 0;
  while (true) {
    PL_ASSIGN_OR_RETURN(v1::HistoryResponse resp, cl->History(req));
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
    if (!c.flags.GetBool("all")) {
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

StatusOr<std::optional<Bytes>> OptionalPayload(const Ctx& c) {
  if (!c.flags.Has("payload")) return std::optional<Bytes>();
  PL_ASSIGN_OR_RETURN(Bytes p, ReadFile(c.flags.Get("payload")));
  return std::optional<Bytes>(p);
}

StatusOr<std::optional<Bytes>> OptionalDeviceKey(const Ctx& c) {
  if (!c.flags.Has("device_pubkey")) return std::optional<Bytes>();
  PL_ASSIGN_OR_RETURN(Bytes k, PubkeyArg(c.flags.Get("device_pubkey")));
  return std::optional<Bytes>(k);
}

// Exit code 3 marks a proof that failed verification, apart from usage or network errors.
constexpr int kExitProofFailed = 3;

int ReportVerification(const Ctx& c, const StatusOr<ledger::VerifiedProof>& v) {
  if (!v.ok()) {
    std::fprintf(stderr, "PROOF REJECTED: %s\n", v.status().ToString().c_str());
    return kExitProofFailed;
  }
  if (!c.json) {
    std::fprintf(stderr,
                 "proof verified: record %s is in block %llu (header %s), final with %zu "
                 "validator signature(s)%s%s\n",
                 ShortHex(v->record_id).c_str(), static_cast<unsigned long long>(v->height),
                 ShortHex(v->header_hash).c_str(), v->signatures,
                 v->payload_checked ? "; payload matches" : "",
                 v->device_signature_checked ? "; device signature verifies" : "");
  }
  return 0;
}

StatusOr<int> ProveRecord(const Ctx& c, const Bytes& id);

StatusOr<int> CmdProve(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(Bytes id, RecordIdArg(c));
  return ProveRecord(c, id);
}

// verify: a payload file against the ledger. Finds the record (by id, or by device and seq),
// proves it with the genesis file and checks that the payload is the one recorded.
StatusOr<int> CmdVerify(const Ctx& c) {
  if (!c.flags.Has("payload")) return InvalidArgumentError("verify needs --payload=FILE");
  Bytes id;
  if (c.flags.Has("device")) {
    v1::GetRecordRequest req;
    req.set_device(c.flags.Get("device"));
    PL_ASSIGN_OR_RETURN(uint64_t seq, c.flags.GetUint("seq", 0));
    req.set_seq(seq);
    PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
    PL_ASSIGN_OR_RETURN(v1::RecordResponse r, cl->GetRecord(req));
    id = r.record_id();
  } else {
    PL_ASSIGN_OR_RETURN(id, RecordIdArg(c));
  }
  return ProveRecord(c, id);
}

StatusOr<int> ProveRecord(const Ctx& c, const Bytes& id) {
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::Proof proof, cl->GetProof(id));
  std::optional<ledger::Genesis> genesis;
  if (c.flags.Has("genesis")) {
    PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(c.flags.Get("genesis")));
    genesis = g;
  }
  // Without a genesis file the validator ids come from the certificate's indexes only.
  ledger::Genesis names;
  if (genesis) {
    names = *genesis;
  } else {
    return InvalidArgumentError(
        "prove needs --genesis=FILE (validator ids and keys, and the local check)");
  }
  PL_ASSIGN_OR_RETURN(JsonValue pj, ledger::ProofToJson(names, proof));
  if (c.json) {
    std::printf("%s\n", WriteJson(pj).c_str());
  } else {
    PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(proof.record()));
    std::printf("record %s\n%s\n", HexEncode(id).c_str(),
                WriteJsonPretty(RecordToJson(rec)).c_str());
    std::printf("block %llu, leaf %llu of %llu, audit path of %d hash(es)\n",
                static_cast<unsigned long long>(proof.height()),
                static_cast<unsigned long long>(proof.leaf_index()),
                static_cast<unsigned long long>(proof.tree_size()), proof.audit_path_size());
  }
  PL_ASSIGN_OR_RETURN(auto payload, OptionalPayload(c));
  PL_ASSIGN_OR_RETURN(auto dkey, OptionalDeviceKey(c));
  return ReportVerification(c, ledger::VerifyProofJson(*genesis, pj, payload, dkey));
}

// Proves many records at once (one 64-hex id a line; blank lines and '#' comments skipped):
// each proof is fetched and verified as `prove` does. Exit 3 if any failed.
StatusOr<int> CmdProveAll(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string ids_path, c.flags.Require("ids_file"));
  PL_ASSIGN_OR_RETURN(std::string gpath, c.flags.Require("genesis"));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(ids_path));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  uint64_t verified = 0, failed = 0;
  JsonValue failures = JsonValue::Array();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto check = [&]() -> Status {
      PL_ASSIGN_OR_RETURN(Bytes id, HexDecodeFixed(line, 32));
      PL_ASSIGN_OR_RETURN(v1::Proof proof, cl->GetProof(id));
      PL_ASSIGN_OR_RETURN(JsonValue pj, ledger::ProofToJson(g, proof));
      PL_ASSIGN_OR_RETURN(ledger::VerifiedProof v, ledger::VerifyProofJson(g, pj));
      if (v.record_id != id) return DataLossError("node answered with another record's proof");
      return OkStatus();
    };
    Status s = check();
    if (s.ok()) {
      ++verified;
      continue;
    }
    ++failed;
    std::fprintf(stderr, "FAILED %s: %s\n", line.c_str(), s.ToString().c_str());
    JsonValue o = JsonValue::Object();
    o.Set("record_id", JsonValue::String(line));
    o.Set("error", JsonValue::String(s.ToString()));
    failures.Push(std::move(o));
  }
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("verified", JsonValue::Int(verified));
    o.Set("failed", JsonValue::Int(failed));
    o.Set("failures", std::move(failures));
    PrintJson(o);
  } else {
    std::printf("%llu verified, %llu failed\n", static_cast<unsigned long long>(verified),
                static_cast<unsigned long long>(failed));
  }
  return failed > 0 ? kExitProofFailed : 0;
}

StatusOr<int> CmdVerifyProof(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string gpath, c.flags.Require("genesis"));
  PL_ASSIGN_OR_RETURN(std::string ppath, c.flags.Require("proof"));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(ppath));
  auto pj = ParseJson(text);
  if (!pj.ok()) {
    std::fprintf(stderr, "PROOF REJECTED: %s\n", pj.status().ToString().c_str());
    return kExitProofFailed;
  }
  PL_ASSIGN_OR_RETURN(auto payload, OptionalPayload(c));
  PL_ASSIGN_OR_RETURN(auto dkey, OptionalDeviceKey(c));
  auto v = ledger::VerifyProofJson(g, *pj, payload, dkey);
  if (c.json && v.ok()) std::printf("{\"verified\":true}\n");
  return ReportVerification(c, v);
}

Status CmdListing(const Ctx& c, bool devices) {
  const std::string id = c.flags.positional().size() >= 2 ? c.flags.positional()[1] : "";
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

Status SubmitRegistryOp(const Ctx& c, v1::RegistryOp op, const std::string& what) {
  PL_ASSIGN_OR_RETURN(std::string gpath, c.flags.Require("genesis"));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  PL_ASSIGN_OR_RETURN(std::string akey, c.flags.Require("admin_key"));
  PL_ASSIGN_OR_RETURN(PrivateKey admin, ReadKeyFile(akey));
  op.set_chain_id(g.chain_id);
  op.set_nonce(NowMs());
  PL_ASSIGN_OR_RETURN(Bytes tx, ledger::SignRegistryTx(g.chain_id, op, admin.secret()));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::SubmitResponse resp, cl->SubmitRegistry(tx));
  if (resp.results_size() != 1) return InternalError("node answered with no result");
  const auto& r = resp.results(0);
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("record_id", JsonValue::String(HexEncode(r.record_id())));
    o.Set("height", JsonValue::Int(r.height()));
    PrintJson(o);
  } else {
    std::printf("%s: committed at height %llu as record %s\n", what.c_str(),
                static_cast<unsigned long long>(r.height()), HexEncode(r.record_id()).c_str());
  }
  return OkStatus();
}

StatusOr<Bytes> KeyOrPubkey(const Ctx& c) {
  if (c.flags.Has("pubkey")) return PubkeyArg(c.flags.Get("pubkey"));
  PL_ASSIGN_OR_RETURN(std::string k, c.flags.Require("key"));
  return PubkeyArg(k);
}

Status CmdRegisterGateway(const Ctx& c) {
  v1::RegistryOp op;
  PL_ASSIGN_OR_RETURN(std::string id, c.flags.Require("id"));
  PL_ASSIGN_OR_RETURN(Bytes pk, KeyOrPubkey(c));
  op.mutable_register_gateway()->set_id(id);
  op.mutable_register_gateway()->set_pubkey(pk);
  return SubmitRegistryOp(c, op, "gateway " + id + " registered");
}

Status CmdRegisterDevice(const Ctx& c) {
  v1::RegistryOp op;
  PL_ASSIGN_OR_RETURN(std::string id, c.flags.Require("id"));
  PL_ASSIGN_OR_RETURN(Bytes pk, KeyOrPubkey(c));
  auto* d = op.mutable_register_device();
  d->set_id(id);
  d->set_pubkey(pk);
  d->set_vendor(c.flags.Get("vendor"));
  d->set_model(c.flags.Get("model"));
  return SubmitRegistryOp(c, op, "device " + id + " registered");
}

Status CmdRevokeDevice(const Ctx& c) {
  v1::RegistryOp op;
  PL_ASSIGN_OR_RETURN(std::string id, c.flags.Require("id"));
  op.mutable_revoke_device()->set_id(id);
  return SubmitRegistryOp(c, op, "device " + id + " revoked");
}

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
  for (; h <= head && bad.ok(); ++h) {
    auto b = cl->GetBlock(h);
    if (!b.ok()) {
      bad = b.status();
      break;
    }
    auto hd = ledger::DecodeHeader(b->header());
    if (!hd.ok()) {
      bad = hd.status();
      break;
    }
    const Bytes hash = ledger::HeaderHash(b->header());
    std::vector<Bytes> ids;
    for (const auto& r : b->records()) ids.push_back(ledger::RecordId(r));
    if (hd->height != h) {
      bad = DataLossError("header names height " + std::to_string(hd->height));
    } else if (hd->prev != prev) {
      bad = DataLossError("prev hash does not match block " + std::to_string(h - 1));
    } else if (hd->record_count != ids.size() || hd->root != ledger::MerkleRoot(ids)) {
      bad = DataLossError("merkle root or record count does not match the records");
    } else {
      bad = ledger::VerifyCertificate(g, h, hash, hd->view, b->certificate());
    }
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
  if (!c.flags.Has("data_dir")) {
    PL_ASSIGN_OR_RETURN(std::string gpath, c.flags.Require("genesis"));
    PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
    return VerifyChainRemote(c, g);
  }
  PL_ASSIGN_OR_RETURN(std::string dir, c.flags.Require("data_dir"));
  PL_ASSIGN_OR_RETURN(std::string gpath, c.flags.Require("genesis"));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  ledger::StoreOptions so;
  so.path = dir + "/chain";
  struct stat st;
  if (::stat(so.path.c_str(), &st) != 0) return NotFoundError("no chain store at " + so.path);
  auto store = ledger::BlockStore::Open(so, g.chain_id);
  if (!store.ok()) {
    std::fprintf(stderr, "CHAIN BAD: %s\n", store.status().ToString().c_str());
    return 3;
  }
  const uint64_t head = (*store)->height();
  if (!c.json)
    std::fprintf(stderr, "verifying %llu block(s) in %s ...\n",
                 static_cast<unsigned long long>(head), dir.c_str());
  Status s = (*store)->VerifyChain(
      [&](uint64_t h, const Bytes& hash, const v1::CommitCertificate& cert) {
        auto hb = (*store)->ReadHeaderBytes(h);
        if (!hb.ok()) return hb.status();
        auto hd = ledger::DecodeHeader(*hb);
        if (!hd.ok()) return hd.status();
        return ledger::VerifyCertificate(g, h, hash, hd->view, cert);
      },
      [&](uint64_t h) {
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

Status CmdSubmit(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string gw, c.flags.Require("gateway"));
  PL_ASSIGN_OR_RETURN(std::string gkey_path, c.flags.Require("gateway_key"));
  PL_ASSIGN_OR_RETURN(std::string device, c.flags.Require("device"));
  PL_ASSIGN_OR_RETURN(std::string dkey_path, c.flags.Require("device_key"));
  PL_ASSIGN_OR_RETURN(PrivateKey gkey, ReadKeyFile(gkey_path));
  PL_ASSIGN_OR_RETURN(PrivateKey dkey, ReadKeyFile(dkey_path));
  const std::string item = c.flags.Get("item", "reading");
  PL_ASSIGN_OR_RETURN(uint64_t count, c.flags.GetUint("count", 1));
  PL_ASSIGN_OR_RETURN(uint64_t first_seq, c.flags.GetUint("seq", NowMs() * 1000));
  const std::string payload_base = c.flags.Get("payload", "");
  std::string chain_id;
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  if (c.flags.Has("genesis")) {
    PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(c.flags.Get("genesis")));
    chain_id = g.chain_id;
  } else {
    PL_ASSIGN_OR_RETURN(v1::NodeStatus s, cl->GetStatus());
    chain_id = s.chain_id();
  }
  v1::SignedBatch batch;
  batch.set_gateway(gw);
  std::vector<Bytes> ids;
  PL_ASSIGN_OR_RETURN(uint64_t fixed_ts, c.flags.GetUint("ts", 0));
  for (uint64_t i = 0; i < count; ++i) {
    // A fixed --ts makes the records (and so their ids) repeatable: resending is a duplicate.
    const uint64_t ts = fixed_ts != 0 ? fixed_ts : NowMs();
    const Bytes payload =
        payload_base.empty() ? std::to_string(20.0 + (i % 100) / 10.0) : payload_base;
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kReading;
    auto& r = rec.reading;
    r.device = device;
    r.item = item;
    r.seq = first_seq + i;
    r.ts = ts;
    r.payload_hash = Sha256(payload);
    r.auth = ledger::kAuthSignature;
    PL_ASSIGN_OR_RETURN(r.device_sig,
                        dkey.Sign(ledger::DataDigest(device, item, r.seq, ts, r.payload_hash)));
    r.gateway = gw;
    r.received = fixed_ts != 0 ? fixed_ts : NowMs();
    PL_RETURN_IF_ERROR(ledger::ValidateRecord(rec));
    const Bytes bytes = ledger::EncodeRecord(rec);
    ids.push_back(ledger::RecordId(bytes));
    batch.add_records(bytes);
    batch.add_payloads(payload);
  }
  PL_ASSIGN_OR_RETURN(Bytes sig, gkey.Sign(ledger::BatchDigest(chain_id, gw, ids)));
  batch.set_signature(sig);
  PL_ASSIGN_OR_RETURN(v1::SubmitResponse resp, cl->Submit(batch));
  JsonValue arr = JsonValue::Array();
  for (const auto& r : resp.results()) {
    const char* outcome = r.outcome() == v1::RecordResult::COMMITTED   ? "committed"
                          : r.outcome() == v1::RecordResult::DUPLICATE ? "duplicate"
                          : r.outcome() == v1::RecordResult::REFUSED   ? "refused"
                                                                       : "conflict";
    const bool refused = r.outcome() == v1::RecordResult::REFUSED;
    const char* code = StatusCodeName(static_cast<StatusCode>(r.code()));
    if (c.json) {
      JsonValue o = JsonValue::Object();
      o.Set("record_id", JsonValue::String(HexEncode(r.record_id())));
      o.Set("outcome", JsonValue::String(outcome));
      o.Set("height", JsonValue::Int(r.height()));
      o.Set("index", JsonValue::Int(r.index()));
      if (refused) {
        o.Set("code", JsonValue::String(code));
        o.Set("reason", JsonValue::String(r.reason()));
      } else {
        o.Set("first_of_item", JsonValue::Bool(r.first_of_item()));
      }
      arr.Push(std::move(o));
    } else if (refused) {
      std::printf("%s refused %s: %s\n", HexEncode(r.record_id()).c_str(), code,
                  r.reason().c_str());
    } else {
      std::printf("%s %s height %llu index %u\n", HexEncode(r.record_id()).c_str(), outcome,
                  static_cast<unsigned long long>(r.height()), r.index());
    }
  }
  if (c.json) PrintJson(arr);
  // Records refused for good were not written: say so in the exit code, with the first one.
  int refused = 0;
  Status first;
  for (const auto& r : resp.results()) {
    if (r.outcome() != v1::RecordResult::REFUSED) continue;
    if (refused++ == 0) first = Status(static_cast<StatusCode>(r.code()), r.reason());
  }
  if (refused > 0) {
    return first.Annotate(std::to_string(refused) + " of " + std::to_string(resp.results_size()) +
                          " records refused");
  }
  return OkStatus();
}

// Repeatable flags (--validator, --admin) are pulled out before the generic parser.
int Main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help") {
    std::fputs(kHelp, stdout);
    return argc < 2 ? 2 : 0;
  }
  std::vector<std::string> validators, admins;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--validator=", 0) == 0)
      validators.push_back(a.substr(12));
    else if (a.rfind("--admin=", 0) == 0)
      admins.push_back(a.substr(8));
    else
      rest.push_back(argv[i]);
  }
  const std::set<std::string> known = {
      "node",       "json",    "out",           "force",   "key",         "chain_id",   "created",
      "genesis",    "device",  "seq",           "item",    "from",        "to",         "limit",
      "all",        "payload", "device_pubkey", "proof",   "id",          "pubkey",     "admin_key",
      "vendor",     "model",   "data_dir",      "gateway", "gateway_key", "device_key", "count",
      "timeout_ms", "ts",      "ids_file"};
  auto flags =
      Flags::Parse(static_cast<int>(rest.size()), rest.data(), 1, known, {"json", "force", "all"});
  if (!flags.ok()) {
    std::fprintf(stderr, "ledgerctl: %s\n(run 'ledgerctl help')\n",
                 flags.status().message().c_str());
    return 2;
  }
  Ctx c{*flags, flags->GetBool("json")};
  const std::string cmd = c.flags.positional().empty() ? "" : c.flags.positional()[0];
  auto ok = [](Status s) -> StatusOr<int> {
    if (!s.ok()) return s;
    return 0;
  };
  const std::map<std::string, std::function<StatusOr<int>()>> cmds = {
      {"keygen", [&] { return ok(CmdKeygen(c)); }},
      {"pubkey", [&] { return ok(CmdPubkey(c)); }},
      {"genesis", [&] { return ok(CmdGenesis(c, validators, admins)); }},
      {"status", [&] { return ok(CmdStatus(c)); }},
      {"block", [&] { return ok(CmdBlock(c)); }},
      {"record", [&] { return ok(CmdRecord(c)); }},
      {"history", [&] { return ok(CmdHistory(c)); }},
      {"prove", [&] { return CmdProve(c); }},
      {"verify-proof", [&] { return CmdVerifyProof(c); }},
      {"verify", [&] { return CmdVerify(c); }},
      {"prove-all", [&] { return CmdProveAll(c); }},
      {"devices", [&] { return ok(CmdListing(c, true)); }},
      {"gateways", [&] { return ok(CmdListing(c, false)); }},
      {"register-gateway", [&] { return ok(CmdRegisterGateway(c)); }},
      {"register-device", [&] { return ok(CmdRegisterDevice(c)); }},
      {"revoke-device", [&] { return ok(CmdRevokeDevice(c)); }},
      {"verify-chain", [&] { return CmdVerifyChain(c); }},
      {"submit", [&] { return ok(CmdSubmit(c)); }},
  };
  auto it = cmds.find(cmd);
  if (it == cmds.end()) {
    std::fprintf(stderr, "ledgerctl: unknown command '%s' (run 'ledgerctl help')\n", cmd.c_str());
    return 2;
  }
  StatusOr<int> rc = it->second();
  if (!rc.ok()) {
    std::fprintf(stderr, "ledgerctl %s: %s\n", cmd.c_str(), rc.status().ToString().c_str());
    return rc.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return *rc;
}

}  // namespace
}  // namespace provledger::tools

int main(int argc, char** argv) { return provledger::tools::Main(argc, argv); }
