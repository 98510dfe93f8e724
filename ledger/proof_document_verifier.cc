#include "ledger/proof_document_verifier.h"

#include <set>
#include <vector>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/merkle/proof_verifier.h"

namespace provledger::ledger {

namespace {

StatusOr<Bytes> HexField(const JsonValue& obj, const std::string& key, size_t size) {
  PL_ASSIGN_OR_RETURN(std::string hex, obj.GetString(key));
  auto b = size == 0 ? HexDecode(hex) : HexDecodeFixed(hex, size);
  if (!b.ok()) return b.status().Annotate(key);
  return b;
}

}  // namespace

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
  // Step 3: record id and record.
  PL_ASSIGN_OR_RETURN(out.record_id, HexField(proof, "record_id", 32));
  PL_ASSIGN_OR_RETURN(Bytes record, HexField(proof, "record", 0));
  if (RecordId(record) != out.record_id) {
    return UnauthenticatedError("step 3: record_id is not SHA256(0x00 || record)");
  }
  auto rec = DecodeRecord(record);
  if (!rec.ok()) return rec.status().Annotate("step 3: record");
  out.record = *rec;
  // Step 4: inclusion.
  PL_ASSIGN_OR_RETURN(out.height, proof.GetInt("height"));
  PL_ASSIGN_OR_RETURN(uint64_t leaf_index, proof.GetInt("leaf_index"));
  PL_ASSIGN_OR_RETURN(uint64_t tree_size, proof.GetInt("tree_size"));
  PL_ASSIGN_OR_RETURN(const JsonValue* path_json, proof.GetArray("audit_path"));
  std::vector<Bytes> path;
  for (const auto& h : path_json->items()) {
    if (!h.is_string()) return InvalidArgumentError("step 4: audit_path entry is not a string");
    auto b = HexDecodeFixed(h.string_value(), 32);
    if (!b.ok()) return b.status().Annotate("step 4: audit_path entry");
    path.push_back(*b);
  }
  if (leaf_index >= tree_size) return OutOfRangeError("step 4: leaf_index is not below tree_size");
  auto root = RootFromInclusionProof(out.record_id, leaf_index, tree_size, path);
  if (!root.ok()) return root.status().Annotate("step 4");
  // Step 5: header.
  PL_ASSIGN_OR_RETURN(Bytes header_bytes, HexField(proof, "header", 0));
  auto header = DecodeHeader(header_bytes);
  if (!header.ok()) return header.status().Annotate("step 5: header");
  if (header->chain_id != genesis.chain_id)
    return InvalidArgumentError("step 5: header chain id differs");
  if (header->height != out.height) return InvalidArgumentError("step 5: header height differs");
  if (header->record_count != tree_size)
    return InvalidArgumentError("step 5: header record_count is not tree_size");
  if (header->root != *root) {
    return UnauthenticatedError("step 5: header root " + ShortHex(header->root) +
                                " is not the proof's root " + ShortHex(*root));
  }
  if (header->proposer != genesis.Primary(header->view).id) {
    return UnauthenticatedError("step 5: proposer is not the primary of view " +
                                std::to_string(header->view));
  }
  // Step 6.
  PL_ASSIGN_OR_RETURN(out.header_hash, HexField(proof, "header_hash", 32));
  if (HeaderHash(header_bytes) != out.header_hash)
    return UnauthenticatedError("step 6: header_hash is not SHA256(header)");
  // Step 7.
  PL_ASSIGN_OR_RETURN(const JsonValue* cert, proof.GetObject("certificate"));
  PL_ASSIGN_OR_RETURN(uint64_t view, cert->GetInt("view"));
  if (view < header->view)
    return InvalidArgumentError("step 7: certificate view below the header's");
  PL_ASSIGN_OR_RETURN(Bytes digest, HexField(*cert, "digest", 32));
  if (digest != CommitDigest(genesis.chain_id, out.height, view, out.header_hash)) {
    return UnauthenticatedError("step 7: certificate digest is not the commit digest");
  }
  // Step 8.
  PL_ASSIGN_OR_RETURN(const JsonValue* sigs, cert->GetArray("signatures"));
  std::set<std::string> seen;
  for (const auto& s : sigs->items()) {
    if (!s.is_object()) return InvalidArgumentError("step 8: signature entry is not an object");
    PL_ASSIGN_OR_RETURN(std::string vid, s.GetString("validator"));
    auto idx = genesis.IndexOf(vid);
    if (!idx) return UnauthenticatedError("step 8: '" + vid + "' is not a genesis validator");
    if (!seen.insert(vid).second)
      return UnauthenticatedError("step 8: validator " + vid + " listed twice");
    PL_ASSIGN_OR_RETURN(Bytes pubkey, HexField(s, "pubkey", 33));
    if (pubkey != genesis.validators[*idx].pubkey)
      return UnauthenticatedError("step 8: pubkey of " + vid + " is not its genesis key");
    PL_ASSIGN_OR_RETURN(Bytes sig, HexField(s, "sig", 64));
    Status vs = VerifySignature(pubkey, digest, sig);
    if (!vs.ok()) return UnauthenticatedError("step 8: signature of " + vid + ": " + vs.message());
  }
  if (seen.size() < genesis.quorum()) {
    return UnauthenticatedError("step 8: " + std::to_string(seen.size()) + " signatures, " +
                                std::to_string(genesis.quorum()) + " needed");
  }
  out.signatures = seen.size();
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
