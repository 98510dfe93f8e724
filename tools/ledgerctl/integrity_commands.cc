// ledgerctl policy + integrity: runtime policies on the ledger (import from Keylime's
// runtime-policy JSON, bind to a device or a model, list) and a device's attestation
// history. docs/INTEGRITY.md describes the commands and the policy format.
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "common/ecdsa.h"
#include "common/file_io.h"
#include "common/key_file.h"
#include "common/log.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "tools/ledgerctl/ctl_common.h"
#include "tools/ledgerctl/keylime_policy.h"

ABSL_FLAG(std::string, name, "", "policy: the runtime policy's name");
ABSL_FLAG(std::string, file, "", "policy import: Keylime runtime-policy JSON FILE ('-': stdin)");
// Not --version: Abseil reserves that name for its own usage flag.
ABSL_FLAG(std::optional<uint64_t>, policy_version, std::nullopt,
          "policy import: the version (default: the registered one + 1, or 1)");
ABSL_DECLARE_FLAG(std::string, model);

namespace provledger::tools {

namespace {

// What `policy import --json` adds to the committed record's id and height.
JsonValue PolicySummary(const v1::RegistryOp& op) {
  JsonValue o = JsonValue::Object();
  if (op.has_register_policy()) {
    o.Set("name", JsonValue::String(op.register_policy().policy().name()));
    o.Set("version", JsonValue::Int(op.register_policy().policy().version()));
    o.Set("paths", JsonValue::Int(op.register_policy().policy().digests_size()));
    o.Set("excludes", JsonValue::Int(op.register_policy().policy().excludes_size()));
  }
  return o;
}

Status CmdPolicyImport(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string name, Require(FLAGS_name));
  PL_ASSIGN_OR_RETURN(std::string file, Require(FLAGS_file));
  Bytes json;
  if (file == "-") {
    char buf[65536];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) json.append(buf, n);
  } else {
    PL_ASSIGN_OR_RETURN(json, ReadFile(file));
  }
  uint64_t version = 0;
  if (absl::GetFlag(FLAGS_policy_version)) {
    version = *absl::GetFlag(FLAGS_policy_version);
  } else {
    PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
    auto cur = cl->Policies(name, /*summary=*/true);
    if (cur.ok() && cur->policies_size() == 1) {
      version = cur->policies(0).version() + 1;
    } else if (!cur.ok() && cur.status().code() != StatusCode::kNotFound) {
      return cur.status().Annotate("reading the registered version of " + name);
    } else {
      version = 1;
    }
  }
  std::vector<std::string> ignored;
  PL_ASSIGN_OR_RETURN(v1::RuntimePolicy p, RuntimePolicyFromKeylime(json, name, version, &ignored));
  for (const auto& k : ignored) {
    std::fprintf(stderr,
                 "note: Keylime's \"%s\" is not applied by provledger (docs/INTEGRITY.md)\n",
                 k.c_str());
  }
  v1::RegistryOp op;
  *op.mutable_register_policy()->mutable_policy() = p;
  return SubmitAdminOp(c, op,
                       "policy " + name + " version " + std::to_string(version) + " registered (" +
                           std::to_string(p.digests_size()) + " paths, " +
                           std::to_string(p.excludes_size()) + " excludes)",
                       PolicySummary(op));
}

Status CmdPolicyBind(const Ctx& c) {
  const std::string name = absl::GetFlag(FLAGS_name);  // empty: unbind
  const std::string device = absl::GetFlag(FLAGS_device);
  const std::string model = absl::GetFlag(FLAGS_model);
  if (device.empty() == model.empty())
    return InvalidArgumentError("policy bind needs exactly one of --device and --model");
  v1::RegistryOp op;
  auto* b = op.mutable_bind_policy();
  b->set_policy(name);
  b->set_device(device);
  b->set_model(model);
  const std::string target = device.empty() ? "model " + model : "device " + device;
  return SubmitAdminOp(
      c, op, name.empty() ? target + " unbound" : "policy " + name + " bound to " + target);
}

Status CmdPolicyList(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(v1::PolicyListing l, cl->Policies(absl::GetFlag(FLAGS_name), false));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    JsonValue ps = JsonValue::Array();
    for (const auto& p : l.policies()) {
      JsonValue x = JsonValue::Object();
      x.Set("name", JsonValue::String(p.name()));
      x.Set("version", JsonValue::Int(p.version()));
      x.Set("height", JsonValue::Int(p.registered_height()));
      x.Set("paths", JsonValue::Int(p.digests_size()));
      JsonValue ex = JsonValue::Array();
      for (const auto& e : p.excludes()) ex.Push(JsonValue::String(e));
      x.Set("excludes", std::move(ex));
      ps.Push(std::move(x));
    }
    o.Set("policies", std::move(ps));
    JsonValue bs = JsonValue::Array();
    for (const auto& b : l.bindings()) {
      JsonValue x = JsonValue::Object();
      x.Set("policy", JsonValue::String(b.policy()));
      if (!b.device().empty()) x.Set("device", JsonValue::String(b.device()));
      if (!b.model().empty()) x.Set("model", JsonValue::String(b.model()));
      x.Set("height", JsonValue::Int(b.height()));
      bs.Push(std::move(x));
    }
    o.Set("bindings", std::move(bs));
    o.Set("height", JsonValue::Int(l.height()));
    PrintJson(o);
    return OkStatus();
  }
  std::printf("%-24s %8s %8s %8s %8s\n", "POLICY", "VERSION", "HEIGHT", "PATHS", "EXCLUDES");
  for (const auto& p : l.policies()) {
    std::printf("%-24s %8llu %8llu %8d %8d\n", p.name().c_str(),
                static_cast<unsigned long long>(p.version()),
                static_cast<unsigned long long>(p.registered_height()), p.digests_size(),
                p.excludes_size());
  }
  std::printf("\n%-24s %-8s %-24s %8s\n", "BOUND", "TO", "POLICY", "HEIGHT");
  for (const auto& b : l.bindings()) {
    std::printf("%-24s %-8s %-24s %8llu\n", (b.device().empty() ? b.model() : b.device()).c_str(),
                b.device().empty() ? "model" : "device", b.policy().c_str(),
                static_cast<unsigned long long>(b.height()));
  }
  return OkStatus();
}

// integrity DEVICE: every attestation of the device, oldest first.
Status CmdIntegrity(const Ctx& c) {
  if (c.positional.size() < 2) return InvalidArgumentError("integrity needs a DEVICE");
  const std::string device = c.positional[1];
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  v1::HistoryRequest req;
  req.set_device(device);
  req.set_item(std::string(ledger::kIntegrityItem));
  req.set_limit(1000);
  JsonValue list = JsonValue::Array();
  if (!c.json) {
    std::printf("%-16s %-14s %-10s %7s %8s %8s  %s\n", "SEQ", "TS", "VERDICT", "POLICY", "FAILURES",
                "HEIGHT", "RECORD");
  }
  while (true) {
    PL_ASSIGN_OR_RETURN(v1::HistoryResponse resp, cl->History(req));
    for (const auto& e : resp.entries()) {
      v1::GetRecordRequest rr;
      rr.set_record_id(e.record_id());
      PL_ASSIGN_OR_RETURN(v1::RecordResponse rec, cl->GetRecord(rr));
      PL_ASSIGN_OR_RETURN(ledger::Record r, ledger::DecodeRecord(rec.record()));
      if (r.kind != ledger::RecordKind::kAttestation) continue;
      const ledger::AttestationRecord& a = r.attestation;
      const char* verdict = a.verdict == ledger::kVerdictTrusted ? "trusted" : "untrusted";
      if (c.json) {
        JsonValue o = JsonValue::Object();
        o.Set("seq", JsonValue::Int(a.seq));
        o.Set("ts", JsonValue::Int(a.ts));
        o.Set("verdict", JsonValue::String(verdict));
        o.Set("policy_version", JsonValue::Int(a.policy_version));
        JsonValue fs = JsonValue::Array();
        for (const auto& f : a.failures) {
          JsonValue x = JsonValue::Object();
          x.Set("path", JsonValue::String(f.path));
          x.Set("hash", JsonValue::String(f.hash));
          fs.Push(std::move(x));
        }
        o.Set("failures", std::move(fs));
        o.Set("record", JsonValue::String(HexEncode(e.record_id())));
        o.Set("height", JsonValue::Int(e.height()));
        list.Push(std::move(o));
      } else {
        std::printf("%-16llu %-14llu %-10s %7llu %8zu %8llu  %s\n",
                    static_cast<unsigned long long>(a.seq), static_cast<unsigned long long>(a.ts),
                    verdict, static_cast<unsigned long long>(a.policy_version), a.failures.size(),
                    static_cast<unsigned long long>(e.height()), HexEncode(e.record_id()).c_str());
        for (const auto& f : a.failures) {
          std::printf("    failed: %s %s\n", f.path.c_str(), f.hash.c_str());
        }
      }
    }
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("device", JsonValue::String(device));
    o.Set("attestations", std::move(list));
    PrintJson(o);
  }
  return OkStatus();
}

StatusOr<int> CmdPolicy(const Ctx& c) {
  const std::string sub = c.positional.size() >= 2 ? c.positional[1] : "";
  if (sub == "import") return Done(CmdPolicyImport(c));
  if (sub == "bind") return Done(CmdPolicyBind(c));
  if (sub == "list") return Done(CmdPolicyList(c));
  return InvalidArgumentError("policy needs import, bind or list (run 'ledgerctl policy --help')");
}

}  // namespace

CommandGroup IntegrityCommands() {
  std::vector<std::string> policy = {"admin_key",      "genesis", "name", "file",
                                     "policy_version", "device",  "model"};
  policy.insert(policy.end(), kNodeFlags.begin(), kNodeFlags.end());
  return {"integrity (runtime policies are admin-signed; --genesis for the chain id)",
          {{"policy",
            "import --name=N --file=KEYLIME.json [--policy_version=V] --admin_key=FILE "
            "--genesis=FILE\n"
            "  | bind --name=N (--device=D | --model=M) --admin_key=FILE --genesis=FILE\n"
            "  | list [--name=N]",
            "import: registers a runtime policy read from Keylime's runtime-policy JSON\n"
            "  (\"digests\", \"excludes\"; FILE '-' is stdin); versions strictly increase per\n"
            "  name (default: the registered version + 1)\n"
            "bind: binds a policy to a device or a model (a device's own binding wins);\n"
            "  an empty --name unbinds\n"
            "list: the runtime policies and their bindings",
            policy, CmdPolicy},
           {"integrity", "DEVICE",
            "the device's attestation history: seq, ts, verdict, policy version,\n"
            "failing entries, record id and height",
            kNodeFlags, [](const Ctx& c) { return Done(CmdIntegrity(c)); }}}};
}

}  // namespace provledger::tools
