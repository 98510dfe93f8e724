#include "ledger/chain_check.h"

#include "ledger/certificate.h"
#include "ledger/merkle/tree_hasher.h"

namespace provledger::ledger {

Status CheckCertifiedBlock(const ChainLink& at, ByteView header_bytes,
                           const std::vector<Bytes>* record_ids,
                           const provledger::v1::CommitCertificate& certificate,
                           const Genesis* genesis, CheckedHeader* out) {
  if (genesis == nullptr) {
    return CheckCertifiedBlockWithSet(at, header_bytes, record_ids, certificate, nullptr, out);
  }
  const ValidatorSet set = ValidatorSet::FromGenesis(*genesis);
  return CheckCertifiedBlockWithSet(at, header_bytes, record_ids, certificate, &set, out);
}

Status CheckCertifiedBlockWithSet(const ChainLink& at, ByteView header_bytes,
                                  const std::vector<Bytes>* record_ids,
                                  const provledger::v1::CommitCertificate& certificate,
                                  const ValidatorSet* set, CheckedHeader* out) {
  CheckedHeader local;
  CheckedHeader& c = out != nullptr ? *out : local;
  PL_ASSIGN_OR_RETURN(c.header, DecodeHeader(header_bytes));
  c.header_hash = HeaderHash(header_bytes);
  const BlockHeader& h = c.header;
  if (h.chain_id != at.chain_id) {
    return FailedPreconditionError("header names chain '" + h.chain_id + "', not '" + at.chain_id +
                                   "'");
  }
  if (h.height != at.height) {
    return FailedPreconditionError("header names height " + std::to_string(h.height) + ", not " +
                                   std::to_string(at.height));
  }
  if (at.prev_hash.has_value() && h.prev != *at.prev_hash) {
    return FailedPreconditionError("prev hash does not match block " +
                                   std::to_string(at.height - 1));
  }
  if (record_ids != nullptr) {
    if (h.record_count != record_ids->size()) {
      return FailedPreconditionError("record_count " + std::to_string(h.record_count) + " but " +
                                     std::to_string(record_ids->size()) + " record(s)");
    }
    const Bytes root = MerkleRoot(*record_ids);
    if (root != h.root) {
      return FailedPreconditionError("merkle root mismatch (header " + ShortHex(h.root) +
                                     ", computed " + ShortHex(root) + ")");
    }
  }
  if (set != nullptr) {
    PL_RETURN_IF_ERROR(
        VerifyCertificate(*set, at.chain_id, at.height, c.header_hash, h.view, certificate));
    if (h.proposer != set->Primary(h.view).id) {
      return FailedPreconditionError("proposer " + h.proposer + " is not the primary of view " +
                                     std::to_string(h.view) + " in the set at height " +
                                     std::to_string(at.height));
    }
    return OkStatus();
  }
  if (certificate.digest() !=
      CommitDigest(at.chain_id, at.height, certificate.view(), c.header_hash)) {
    return FailedPreconditionError("certificate digest is not this block's commit digest");
  }
  return OkStatus();
}

}  // namespace provledger::ledger
