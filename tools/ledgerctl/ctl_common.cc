#include "tools/ledgerctl/ctl_common.h"

#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "client/transport_security.h"
#include "common/ecdsa.h"
#include "common/key_file.h"
#include "common/log.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"

ABSL_FLAG(bool, json, false, "machine-readable output (every command)");
ABSL_FLAG(std::string, node, "127.0.0.1:7000",
          "node(s) to ask, HOST:PORT[,HOST:PORT...]; the next one is tried when one fails");
ABSL_FLAG(uint64_t, timeout_ms, 30000,
          "how long each request to the ledger may take, in ms: a transient failure "
          "(UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED) is retried on the "
          "--node addresses, with backoff, until then; a refusal is never retried");
ABSL_FLAG(std::string, genesis, "",
          "genesis FILE: the chain id, and the validator keys proofs are checked against");
ABSL_FLAG(std::string, out, "", "FILE to write");
ABSL_FLAG(std::string, admin_key, "", "the admin's private key FILE (an admin of the genesis)");
ABSL_FLAG(std::string, key, "", "private key FILE (as written by keygen)");
ABSL_FLAG(std::string, device, "", "device id");
ABSL_FLAG(std::optional<uint64_t>, seq, std::nullopt,
          "record: the device's seq; submit: the first reading's seq (default: clock in us)");
ABSL_FLAG(std::optional<uint64_t>, count, std::nullopt,
          "submit: readings in the batch (default 1); watch: stop after N blocks (default: "
          "never)");
ABSL_FLAG(std::string, item, "",
          "data item; history: only this item (default all); submit: default reading");
ABSL_FLAG(std::string, payload, "",
          "prove/verify/verify-proof: payload FILE to check against the record; submit: the "
          "readings' payload TEXT (default: a made-up temperature)");

namespace provledger::tools {
namespace {
constexpr uint32_t kReadAttemptMs = 10000;
}  // namespace

StatusOr<int> Done(Status s) {
  if (!s.ok()) return s;
  return 0;
}

void PrintJson(const JsonValue& v) { std::printf("%s\n", WriteJsonPretty(v).c_str()); }

StatusOr<std::unique_ptr<client::LedgerClient>> Connect(const Ctx& c) {
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("ledgerctl"));
  const std::vector<std::string> addrs = SplitFlagList(absl::GetFlag(FLAGS_node));
  client::ClientOptions o;
  const uint32_t budget = static_cast<uint32_t>(absl::GetFlag(FLAGS_timeout_ms));
  // A submission waits for its commit: it may take the whole budget. A read is answered at
  // once by a node that is up: a slow one is left sooner for the next.
  o.timeout_ms = budget;
  o.read_timeout_ms = std::min<uint32_t>(budget, kReadAttemptMs);
  o.retry.budget_ms = budget;
  o.retry.on_retry = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
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
  if (c.positional.size() < 2) return InvalidArgumentError("give a record id (64 hex)");
  auto id = HexDecodeFixed(c.positional[1], 32);
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
      o.Set("integrity_status",
            JsonValue::String(x.integrity == ledger::kIntegrityTrusted     ? "trusted"
                              : x.integrity == ledger::kIntegrityUntrusted ? "untrusted"
                                                                           : "unknown"));
      if (x.integrity != ledger::kIntegrityUnknown) {
        o.Set("attestation", JsonValue::String(HexEncode(x.attestation)));
      }
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
      o.Set("report_hash", JsonValue::String(HexEncode(x.report_hash)));
      o.Set("policy_version", JsonValue::Int(x.policy_version));
      {
        JsonValue fs = JsonValue::Array();
        for (const auto& f : x.failures) {
          JsonValue e = JsonValue::Object();
          e.Set("path", JsonValue::String(f.path));
          e.Set("hash", JsonValue::String(f.hash));
          fs.Push(std::move(e));
        }
        o.Set("failures", std::move(fs));
      }
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

Status SubmitAdminOp(const Ctx& c, provledger::v1::RegistryOp op, const std::string& what,
                     JsonValue extra) {
  PL_ASSIGN_OR_RETURN(provledger::v1::RecordResult r, SignAndSubmitAdminOp(c, std::move(op)));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("record_id", JsonValue::String(HexEncode(r.record_id())));
    o.Set("height", JsonValue::Int(r.height()));
    for (const auto& [k, v] : extra.members()) o.Set(k, v);
    PrintJson(o);
  } else {
    std::printf("%s: committed at height %llu as record %s%s\n", what.c_str(),
                static_cast<unsigned long long>(r.height()), HexEncode(r.record_id()).c_str(),
                r.outcome() == provledger::v1::RecordResult::DUPLICATE
                    ? " (already on the ledger: an earlier attempt committed it)"
                    : "");
  }
  return OkStatus();
}

StatusOr<provledger::v1::RecordResult> SignAndSubmitAdminOp(const Ctx& c,
                                                            provledger::v1::RegistryOp op) {
  PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  PL_ASSIGN_OR_RETURN(std::string akey, Require(FLAGS_admin_key));
  PL_ASSIGN_OR_RETURN(PrivateKey admin, ReadKeyFile(akey));
  op.set_chain_id(g.chain_id);
  op.set_nonce(NowMs());
  PL_ASSIGN_OR_RETURN(Bytes tx, ledger::SignRegistryTx(g.chain_id, op, admin.secret()));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(provledger::v1::SubmitResponse resp, cl->SubmitRegistry(tx));
  if (resp.results_size() != 1) return InternalError("node answered with no result");
  const provledger::v1::RecordResult& r = resp.results(0);
  if (r.outcome() == provledger::v1::RecordResult::REFUSED) {
    const StatusCode code =
        r.code() != 0 ? static_cast<StatusCode>(r.code()) : StatusCode::kInternal;
    return Status(code, "refused: " + r.reason());
  }
  return r;
}

}  // namespace provledger::tools
