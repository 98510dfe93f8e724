// ledgerctl submit: signed readings (auth 2) in one gateway batch, for tests and demos.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "client/gateway_batch.h"
#include "common/ecdsa.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(std::string, gateway, "", "submit: the gateway id the batch is signed as");
ABSL_FLAG(std::string, gateway_key, "", "submit: the gateway's private key FILE");
ABSL_FLAG(std::string, device_key, "", "submit: the device's private key FILE");
ABSL_FLAG(uint64_t, ts, 0,
          "submit: fixed reading time, ms (0: now); makes records repeatable: a resend is a "
          "duplicate");

namespace provledger::tools {
namespace {

Status CmdSubmit(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string gw, Require(FLAGS_gateway));
  PL_ASSIGN_OR_RETURN(std::string gkey_path, Require(FLAGS_gateway_key));
  PL_ASSIGN_OR_RETURN(std::string device, Require(FLAGS_device));
  PL_ASSIGN_OR_RETURN(std::string dkey_path, Require(FLAGS_device_key));
  PL_ASSIGN_OR_RETURN(PrivateKey gkey, ReadKeyFile(gkey_path));
  PL_ASSIGN_OR_RETURN(PrivateKey dkey, ReadKeyFile(dkey_path));
  const std::string item =
      absl::GetFlag(FLAGS_item).empty() ? "reading" : absl::GetFlag(FLAGS_item);
  uint64_t count = absl::GetFlag(FLAGS_count).value_or(1);
  uint64_t first_seq = absl::GetFlag(FLAGS_seq).value_or(NowMs() * 1000);
  const std::string payload_base = absl::GetFlag(FLAGS_payload);
  std::string chain_id;
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  if (!absl::GetFlag(FLAGS_genesis).empty()) {
    PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(absl::GetFlag(FLAGS_genesis)));
    chain_id = g.chain_id;
  } else {
    PL_ASSIGN_OR_RETURN(v1::NodeStatus s, cl->GetStatus());
    chain_id = s.chain_id();
  }
  v1::SignedBatch batch;
  uint64_t fixed_ts = absl::GetFlag(FLAGS_ts);
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
    batch.add_records(ledger::EncodeRecord(rec));
    batch.add_payloads(payload);
  }
  PL_RETURN_IF_ERROR(client::SignGatewayBatch(chain_id, gw, gkey, &batch));
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

}  // namespace

CommandGroup SubmitCommands() {
  std::vector<std::string> flags = {"gateway", "gateway_key", "device", "device_key", "item",
                                    "count",   "payload",     "seq",    "ts",         "genesis"};
  flags.insert(flags.end(), kNodeFlags.begin(), kNodeFlags.end());
  return {"tests and demos",
          {{"submit",
            "--gateway=ID --gateway_key=FILE --device=ID --device_key=FILE [--item=I]\n"
            "        [--count=N] [--payload=TEXT] [--seq=FIRST] [--ts=MS] [--genesis=FILE]",
            "signed readings (auth 2) in one batch; exits non-zero if any is refused", flags,
            [](const Ctx& c) { return Done(CmdSubmit(c)); }}}};
}

}  // namespace provledger::tools
