// ledgerctl proofs: prove (fetch and check a record's PROTOCOL.md 6.6 proof), verify-proof (a
// saved proof, offline), verify (a payload file against the ledger), prove-all (many ids).
#include <cstdio>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "common/file_io.h"
#include "common/log.h"
#include "ledger/genesis.h"
#include "ledger/proof_document_verifier.h"
#include "ledger/proof_json.h"
#include "ledger/record.h"
#include "tools/ledgerctl/ctl_common.h"
#include "tools/ledgerctl/validator_changes.h"

ABSL_FLAG(std::string, device_pubkey, "",
          "device public KEY (66 hex or a key file): also check the device's signature");
ABSL_FLAG(std::string, proof, "", "verify-proof: the proof FILE (as prove --json prints it)");
ABSL_FLAG(std::string, ids_file, "", "prove-all: FILE of record ids, one a line ('#' comments)");

namespace provledger::tools {
namespace {

StatusOr<std::optional<Bytes>> OptionalPayload(const Ctx& c) {
  if (absl::GetFlag(FLAGS_payload).empty()) return std::optional<Bytes>();
  PL_ASSIGN_OR_RETURN(Bytes p, ReadFile(absl::GetFlag(FLAGS_payload)));
  return std::optional<Bytes>(p);
}

StatusOr<std::optional<Bytes>> OptionalDeviceKey(const Ctx& c) {
  if (absl::GetFlag(FLAGS_device_pubkey).empty()) return std::optional<Bytes>();
  PL_ASSIGN_OR_RETURN(Bytes k, PubkeyArg(absl::GetFlag(FLAGS_device_pubkey)));
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
                 "validator signature(s)%s%s%s\n",
                 ShortHex(v->record_id).c_str(), static_cast<unsigned long long>(v->height),
                 ShortHex(v->header_hash).c_str(), v->signatures,
                 v->validator_changes == 0
                     ? ""
                     : ("; set reached from genesis through " +
                        std::to_string(v->validator_changes) + " validator-set change(s)")
                           .c_str(),
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
  if (absl::GetFlag(FLAGS_payload).empty())
    return InvalidArgumentError("verify needs --payload=FILE");
  Bytes id;
  if (!absl::GetFlag(FLAGS_device).empty()) {
    v1::GetRecordRequest req;
    req.set_device(absl::GetFlag(FLAGS_device));
    uint64_t seq = absl::GetFlag(FLAGS_seq).value_or(0);
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
  if (!absl::GetFlag(FLAGS_genesis).empty()) {
    PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(absl::GetFlag(FLAGS_genesis)));
    genesis = g;
  }
  if (!genesis) {
    return InvalidArgumentError(
        "prove needs --genesis=FILE (validator ids and keys, and the local check)");
  }
  // Signer ids and keys of the set at the record's height, and the changes that led to it
  // (docs/VALIDATOR_SET.md); the local check below trusts none of it.
  PL_ASSIGN_OR_RETURN(ledger::ValidatorSchedule schedule, FetchSchedule(cl.get(), *genesis));
  ProofBuilder builder(cl.get(), &*genesis, std::move(schedule));
  PL_ASSIGN_OR_RETURN(JsonValue pj, builder.Build(proof));
  PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(proof.record()));
  if (c.json) {
    // PROTOCOL.md 6.6's keys, plus the record decoded (its integrity status and
    // attestation id for a reading) under "decoded", which verifiers ignore.
    JsonValue shown = pj;
    shown.Set("decoded", RecordToJson(rec));
    std::printf("%s\n", WriteJson(shown).c_str());
  } else {
    std::printf("record %s\n%s\n", HexEncode(id).c_str(),
                WriteJsonPretty(RecordToJson(rec)).c_str());
    std::printf("block %llu, leaf %llu of %llu, audit path of %d hash(es)\n",
                static_cast<unsigned long long>(proof.height()),
                static_cast<unsigned long long>(proof.leaf_index()),
                static_cast<unsigned long long>(proof.tree_size()), proof.audit_path_size());
    if (rec.kind == ledger::RecordKind::kReading) {
      const auto& r = rec.reading;
      const char* st = r.integrity == ledger::kIntegrityTrusted     ? "trusted"
                       : r.integrity == ledger::kIntegrityUntrusted ? "untrusted"
                                                                    : "unknown";
      std::printf("integrity %s%s%s\n", st,
                  r.integrity == ledger::kIntegrityUnknown ? "" : ", attestation ",
                  r.integrity == ledger::kIntegrityUnknown ? "" : HexEncode(r.attestation).c_str());
    }
  }
  if (!proof.fetched_from().empty()) {
    // Not part of the proof (6.6): the node's own word on where the pruned record came from.
    std::fprintf(stderr,
                 "light node: block %llu pruned there; record and audit path fetched from full "
                 "node %s and checked against the light node's header (payload not kept there)\n",
                 static_cast<unsigned long long>(proof.height()), proof.fetched_from().c_str());
  }
  PL_ASSIGN_OR_RETURN(auto payload, OptionalPayload(c));
  PL_ASSIGN_OR_RETURN(auto dkey, OptionalDeviceKey(c));
  return ReportVerification(c, ledger::VerifyProofJson(*genesis, pj, payload, dkey));
}

// Proves many records at once (one 64-hex id a line; blank lines and '#' comments skipped):
// each proof is fetched and verified as `prove` does. Exit 3 if any failed.
StatusOr<int> CmdProveAll(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string ids_path, Require(FLAGS_ids_file));
  PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(ledger::Genesis g, ledger::LoadGenesis(gpath));
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(ids_path));
  PL_ASSIGN_OR_RETURN(auto cl, Connect(c));
  PL_ASSIGN_OR_RETURN(ledger::ValidatorSchedule schedule, FetchSchedule(cl.get(), g));
  ProofBuilder builder(cl.get(), &g, std::move(schedule));
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
      PL_ASSIGN_OR_RETURN(JsonValue pj, builder.Build(proof));
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
  PL_ASSIGN_OR_RETURN(std::string gpath, Require(FLAGS_genesis));
  PL_ASSIGN_OR_RETURN(std::string ppath, Require(FLAGS_proof));
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

}  // namespace

CommandGroup ProofCommands() {
  std::vector<std::string> prove = {"genesis", "payload", "device_pubkey"};
  prove.insert(prove.end(), kNodeFlags.begin(), kNodeFlags.end());
  std::vector<std::string> verify = prove;
  verify.insert(verify.end(), {"device", "seq"});
  std::vector<std::string> prove_all = {"ids_file", "genesis"};
  prove_all.insert(prove_all.end(), kNodeFlags.begin(), kNodeFlags.end());
  return {"proofs",
          {{"prove", "ID --genesis=FILE [--payload=FILE] [--device_pubkey=HEX]",
            "proof of a record, verified locally (exit 3 if it fails)", prove, CmdProve},
           {"verify-proof",
            "--genesis=FILE --proof=FILE [--payload=FILE] [--device_pubkey=HEX]",
            "checks a saved proof offline (exit 3 if it fails)",
            {"genesis", "proof", "payload", "device_pubkey"},
            CmdVerifyProof},
           {"verify", "--payload=FILE (ID | --device=D --seq=N) --genesis=FILE [--device_pubkey=K]",
            "a payload file against the ledger (exit 3 if not)", verify, CmdVerify},
           {"prove-all", "--ids_file=FILE --genesis=FILE",
            "fetch and verify the proof of every record id in FILE (one a line); prints\n"
            "'N verified, M failed', exit 3 if any failed",
            prove_all, CmdProveAll}}};
}

}  // namespace provledger::tools
