#include "ledger/proof_json.h"

#include "ledger/block_header.h"

namespace provledger::ledger {

StatusOr<JsonValue> ProofToJson(const Genesis& genesis, const provledger::v1::Proof& proof) {
  return ProofToJson(ValidatorSet::FromGenesis(genesis), proof);
}

StatusOr<JsonValue> ProofToJson(const ValidatorSet& set, const provledger::v1::Proof& proof) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("chain_id", JsonValue::String(proof.chain_id()));
  o.Set("record_id", JsonValue::String(HexEncode(proof.record_id())));
  o.Set("record", JsonValue::String(HexEncode(proof.record())));
  o.Set("height", JsonValue::Int(proof.height()));
  o.Set("leaf_index", JsonValue::Int(proof.leaf_index()));
  o.Set("tree_size", JsonValue::Int(proof.tree_size()));
  JsonValue path = JsonValue::Array();
  for (const auto& h : proof.audit_path()) path.Push(JsonValue::String(HexEncode(h)));
  o.Set("audit_path", std::move(path));
  o.Set("header", JsonValue::String(HexEncode(proof.header())));
  o.Set("header_hash", JsonValue::String(HexEncode(HeaderHash(proof.header()))));
  JsonValue cert = JsonValue::Object();
  cert.Set("view", JsonValue::Int(proof.certificate().view()));
  cert.Set("digest", JsonValue::String(HexEncode(proof.certificate().digest())));
  JsonValue sigs = JsonValue::Array();
  for (const auto& s : proof.certificate().signatures()) {
    if (s.validator() >= set.n()) {
      return InvalidArgumentError("certificate signer index " + std::to_string(s.validator()) +
                                  " is outside the validator set at height " +
                                  std::to_string(proof.height()));
    }
    const Validator& v = set.members()[s.validator()];
    JsonValue e = JsonValue::Object();
    e.Set("validator", JsonValue::String(v.id));
    e.Set("pubkey", JsonValue::String(HexEncode(v.pubkey)));
    e.Set("sig", JsonValue::String(HexEncode(s.signature())));
    sigs.Push(std::move(e));
  }
  cert.Set("signatures", std::move(sigs));
  o.Set("certificate", std::move(cert));
  return o;
}

}  // namespace provledger::ledger
