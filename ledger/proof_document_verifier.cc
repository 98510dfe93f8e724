#include "ledger/proof_document_verifier.h"

#include <set>
#include <vector>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/merkle/proof_verifier.h"
#include "ledger/registry.h"
#include "ledger/validator_epoch.h"

namespace provledger::ledger {

namespace {

StatusOr<Bytes> HexField(const JsonValue& obj, const std::string& key, size_t size) {
  PL_ASSIGN_OR_RETURN(std::string hex, obj.GetString(key));
  auto b = size == 0 ? HexDecode(hex) : HexDecodeFixed(hex, size);
  if (!b.ok()) return b.status().Annotate(key);
  return b;
}

// Steps 3-8 of one 6.6 object against `set`, the validator set in force at its height.
// Fills out's record, record_id, height, header_hash and signatures. `where` prefixes errors.
Status VerifyRecordProof(const std::string& chain_id, const ValidatorSet& set,
                         const JsonValue& proof, const std::string& where, VerifiedProof* out) {
  if (!proof.is_object()) return InvalidArgumentError(where + "proof is not a JSON object");
  // Step 3: record id and record.
  PL_ASSIGN_OR_RETURN(out->record_id, HexField(proof, "record_id", 32));
  PL_ASSIGN_OR_RETURN(Bytes record, HexField(proof, "record", 0));
  if (RecordId(record) != out->record_id) {
    return UnauthenticatedError(where + "step 3: record_id is not SHA256(0x00 || record)");
  }
  auto rec = DecodeRecord(record);
  if (!rec.ok()) return rec.status().Annotate(where + "step 3: record");
  out->record = *rec;
  // Step 4: inclusion.
  PL_ASSIGN_OR_RETURN(out->height, proof.GetInt("height"));
  PL_ASSIGN_OR_RETURN(uint64_t leaf_index, proof.GetInt("leaf_index"));
  PL_ASSIGN_OR_RETURN(uint64_t tree_size, proof.GetInt("tree_size"));
  PL_ASSIGN_OR_RETURN(const JsonValue* path_json, proof.GetArray("audit_path"));
  std::vector<Bytes> path;
  for (const auto& h : path_json->items()) {
    if (!h.is_string())
      return InvalidArgumentError(where + "step 4: audit_path entry is not a string");
    auto b = HexDecodeFixed(h.string_value(), 32);
    if (!b.ok()) return b.status().Annotate(where + "step 4: audit_path entry");
    path.push_back(*b);
  }
  if (leaf_index >= tree_size)
    return OutOfRangeError(where + "step 4: leaf_index is not below tree_size");
  auto root = RootFromInclusionProof(out->record_id, leaf_index, tree_size, path);
  if (!root.ok()) return root.status().Annotate(where + "step 4");
  // Step 5: header.
  PL_ASSIGN_OR_RETURN(Bytes header_bytes, HexField(proof, "header", 0));
  auto header = DecodeHeader(header_bytes);
  if (!header.ok()) return header.status().Annotate(where + "step 5: header");
  if (header->chain_id != chain_id)
    return InvalidArgumentError(where + "step 5: header chain id differs");
  if (header->height != out->height)
    return InvalidArgumentError(where + "step 5: header height differs");
  if (header->record_count != tree_size)
    return InvalidArgumentError(where + "step 5: header record_count is not tree_size");
  if (header->root != *root) {
    return UnauthenticatedError(where + "step 5: header root " + ShortHex(header->root) +
                                " is not the proof's root " + ShortHex(*root));
  }
  if (header->proposer != set.Primary(header->view).id) {
    return UnauthenticatedError(where + "step 5: proposer is not the primary of view " +
                                std::to_string(header->view));
  }
  // Step 6.
  PL_ASSIGN_OR_RETURN(out->header_hash, HexField(proof, "header_hash", 32));
  if (HeaderHash(header_bytes) != out->header_hash)
    return UnauthenticatedError(where + "step 6: header_hash is not SHA256(header)");
  // Step 7.
  PL_ASSIGN_OR_RETURN(const JsonValue* cert, proof.GetObject("certificate"));
  PL_ASSIGN_OR_RETURN(uint64_t view, cert->GetInt("view"));
  if (view < header->view)
    return InvalidArgumentError(where + "step 7: certificate view below the header's");
  PL_ASSIGN_OR_RETURN(Bytes digest, HexField(*cert, "digest", 32));
  if (digest != CommitDigest(chain_id, out->height, view, out->header_hash)) {
    return UnauthenticatedError(where + "step 7: certificate digest is not the commit digest");
  }
  // Step 8: signatures of distinct members of the set in force at the height.
  PL_ASSIGN_OR_RETURN(const JsonValue* sigs, cert->GetArray("signatures"));
  std::set<std::string> seen;
  for (const auto& s : sigs->items()) {
    if (!s.is_object())
      return InvalidArgumentError(where + "step 8: signature entry is not an object");
    PL_ASSIGN_OR_RETURN(std::string vid, s.GetString("validator"));
    auto idx = set.IndexOf(vid);
    if (!idx) {
      return UnauthenticatedError(where + "step 8: '" + vid +
                                  "' is not a validator of the set in force at height " +
                                  std::to_string(out->height));
    }
    if (!seen.insert(vid).second)
      return UnauthenticatedError(where + "step 8: validator " + vid + " listed twice");
    PL_ASSIGN_OR_RETURN(Bytes pubkey, HexField(s, "pubkey", 33));
    if (pubkey != set.members()[*idx].pubkey) {
      return UnauthenticatedError(where + "step 8: pubkey of " + vid +
                                  " is not its key in the set in force");
    }
    PL_ASSIGN_OR_RETURN(Bytes sig, HexField(s, "sig", 64));
    Status vs = VerifySignature(pubkey, digest, sig);
    if (!vs.ok())
      return UnauthenticatedError(where + "step 8: signature of " + vid + ": " + vs.message());
  }
  if (seen.size() < set.quorum()) {
    return UnauthenticatedError(where + "step 8: " + std::to_string(seen.size()) + " signatures, " +
                                std::to_string(set.quorum()) + " needed");
  }
  out->signatures = seen.size();
  return OkStatus();
}

}  // namespace

StatusOr<ValidatorSchedule> WalkValidatorChanges(const Genesis& genesis, const JsonValue& proof,
                                                 uint64_t height) {
  ValidatorSchedule schedule(genesis);
  if (!proof.is_object() || proof.Find("validator_changes") == nullptr) return schedule;
  PL_ASSIGN_OR_RETURN(const JsonValue* changes, proof.GetArray("validator_changes"));
  uint64_t last = 0;
  for (size_t i = 0; i < changes->items().size(); ++i) {
    const std::string where = "validator_changes[" + std::to_string(i) + "]: ";
    const JsonValue& c = changes->items()[i];
    if (!c.is_object()) return InvalidArgumentError(where + "not a JSON object");
    PL_ASSIGN_OR_RETURN(uint64_t h, c.GetInt("height"));
    if (h < last) return InvalidArgumentError(where + "changes are not in height order");
    last = h;
    if (EpochEndFor(h) >= height) {
      return InvalidArgumentError(where + "the change committed at " + std::to_string(h) +
                                  " is in force only above " + std::to_string(EpochEndFor(h)) +
                                  ", not at height " + std::to_string(height));
    }
    VerifiedProof v;
    PL_RETURN_IF_ERROR(VerifyRecordProof(genesis.chain_id, schedule.SetAt(h), c, where, &v));
    if (v.record.kind != RecordKind::kRegistry)
      return InvalidArgumentError(where + "the record is not a registry record (kind 4)");
    auto op = VerifyRegistryTx(genesis, v.record.registry.tx);
    if (!op.ok()) return op.status().Annotate(where + "registry transaction");
    if (op->op_case() != provledger::v1::RegistryOp::kSetValidators)
      return InvalidArgumentError(where + "the registry op is not a validator-set change");
    Status base = schedule.CheckChange(op->set_validators());
    if (!base.ok()) {
      return UnauthenticatedError(where + base.message() +
                                  " (a change before it is missing, or it was ignored)");
    }
    PL_ASSIGN_OR_RETURN(ValidatorSet set,
                        ValidatorSet::FromEntries(op->set_validators().validators()));
    schedule = schedule.WithChange(std::make_shared<const ValidatorSet>(std::move(set)), h);
  }
  return schedule;
}

StatusOr<VerifiedProof> VerifyProofJson(const Genesis& genesis, const JsonValue& proof,
                                        const std::optional<Bytes>& payload,
                                        const std::optional<Bytes>& device_pubkey) {
  VerifiedProof out;
  if (!proof.is_object()) return InvalidArgumentError("proof is not a JSON object");
  // Step 1 (the genesis file) is done by ParseGenesis. Step 2:
  PL_ASSIGN_OR_RETURN(uint64_t v, proof.GetInt("v"));
  if (v != 1) return InvalidArgumentError("step 2: proof version is not 1");
  PL_ASSIGN_OR_RETURN(std::string chain_id, proof.GetString("chain_id"));
  if (chain_id != genesis.chain_id) {
    return InvalidArgumentError("step 2: proof is for chain '" + chain_id + "', genesis is '" +
                                genesis.chain_id + "'");
  }
  // docs/VALIDATOR_SET.md: the set in force at the record's height, from genesis through the
  // recorded changes (the genesis set when the proof carries none).
  PL_ASSIGN_OR_RETURN(uint64_t height, proof.GetInt("height"));
  PL_ASSIGN_OR_RETURN(ValidatorSchedule schedule, WalkValidatorChanges(genesis, proof, height));
  PL_RETURN_IF_ERROR(VerifyRecordProof(genesis.chain_id, schedule.SetAt(height), proof, "", &out));
  out.validator_changes = schedule.changes().size();
  // Step 9 (optional).
  if (payload) {
    const RecordFields f = FieldsOf(out.record);
    if (f.payload_hash.empty())
      return InvalidArgumentError("step 9: a registry record has no payload");
    const Bytes& expected = f.payload_hash;
    if (Sha256(*payload) != expected)
      return UnauthenticatedError("step 9: payload does not hash to the record's payload_hash");
    out.payload_checked = true;
  }
  if (device_pubkey) {
    Status ds = VerifyDeviceSignature(out.record, *device_pubkey);
    if (!ds.ok()) return ds.Annotate("step 9: device signature");
    out.device_signature_checked = true;
  }
  return out;
}

}  // namespace provledger::ledger
