#include "ledger/certificate.h"

#include <set>

#include "common/ecdsa.h"
#include "ledger/block_header.h"

namespace provledger::ledger {

Status VerifyCertificate(const Genesis& genesis, uint64_t height, ByteView header_hash,
                         uint64_t header_view, const provledger::v1::CommitCertificate& cert) {
  if (cert.view() < header_view) {
    return InvalidArgumentError("certificate view " + std::to_string(cert.view()) +
                                " is below the header's view " + std::to_string(header_view));
  }
  const Bytes digest = CommitDigest(genesis.chain_id, height, cert.view(), Bytes(header_hash));
  if (cert.digest() != digest) {
    return UnauthenticatedError("certificate digest is not the commit digest of block " +
                                std::to_string(height));
  }
  std::set<uint32_t> signers;
  for (const auto& s : cert.signatures()) {
    if (s.validator() >= genesis.n()) {
      return UnauthenticatedError("certificate signer " + std::to_string(s.validator()) +
                                  " is not a genesis validator");
    }
    if (!signers.insert(s.validator()).second) {
      return UnauthenticatedError("validator " + genesis.validators[s.validator()].id +
                                  " signs the certificate twice");
    }
    Status v = VerifySignature(genesis.validators[s.validator()].pubkey, digest, s.signature());
    if (!v.ok()) {
      return UnauthenticatedError("signature of validator " + genesis.validators[s.validator()].id +
                                  ": " + v.message());
    }
  }
  if (signers.size() < genesis.quorum()) {
    return UnauthenticatedError("certificate holds " + std::to_string(signers.size()) +
                                " signatures, " + std::to_string(genesis.quorum()) + " needed");
  }
  return OkStatus();
}

}  // namespace provledger::ledger
