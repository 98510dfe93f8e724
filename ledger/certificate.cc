#include "ledger/certificate.h"

#include <set>

#include "common/ecdsa.h"
#include "ledger/block_header.h"

namespace provledger::ledger {

Status VerifyCertificate(const Genesis& genesis, uint64_t height, ByteView header_hash,
                         uint64_t header_view, const provledger::v1::CommitCertificate& cert) {
  return VerifyCertificate(ValidatorSet::FromGenesis(genesis), genesis.chain_id, height,
                           header_hash, header_view, cert);
}

Status VerifyCertificate(const ValidatorSet& set, const std::string& chain_id, uint64_t height,
                         ByteView header_hash, uint64_t header_view,
                         const provledger::v1::CommitCertificate& cert) {
  if (cert.view() < header_view) {
    return InvalidArgumentError("certificate view " + std::to_string(cert.view()) +
                                " is below the header's view " + std::to_string(header_view));
  }
  const Bytes digest = CommitDigest(chain_id, height, cert.view(), Bytes(header_hash));
  if (cert.digest() != digest) {
    return UnauthenticatedError("certificate digest is not the commit digest of block " +
                                std::to_string(height));
  }
  const auto& members = set.members();
  std::set<uint32_t> signers;
  for (const auto& s : cert.signatures()) {
    if (s.validator() >= set.n()) {
      return UnauthenticatedError("certificate signer " + std::to_string(s.validator()) +
                                  " is not a validator of the set in force at height " +
                                  std::to_string(height));
    }
    if (!signers.insert(s.validator()).second) {
      return UnauthenticatedError("validator " + members[s.validator()].id +
                                  " signs the certificate twice");
    }
    Status v = VerifySignature(members[s.validator()].pubkey, digest, s.signature());
    if (!v.ok()) {
      return UnauthenticatedError("signature of validator " + members[s.validator()].id + ": " +
                                  v.message());
    }
  }
  if (signers.size() < set.quorum()) {
    return UnauthenticatedError("certificate holds " + std::to_string(signers.size()) +
                                " signatures, " + std::to_string(set.quorum()) + " needed");
  }
  return OkStatus();
}

}  // namespace provledger::ledger
