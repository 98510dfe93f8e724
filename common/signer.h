// Signer: whatever holds a device's static key and signs 32-byte digests with it, so that
// protocol code (key requests, pl-sig headers) does not care whether the private key is in
// memory (LocalSigner) or inside a PKCS#11 token (common/pkcs11_signer.h).
//
// PROTOCOL.md section 1: a signature is 64-byte compact r||s with low S over a 32-byte digest
// used as is. LocalSigner's signatures are deterministic (RFC 6979); a token's use its own
// nonces, so they differ from call to call but verify the same (docs/TOKENS.md).
//
// Thread rules: Sign and public_key may be called from any thread on a const Signer (each
// implementation documents how it serializes its own state).
#ifndef PROVLEDGER_COMMON_SIGNER_H_
#define PROVLEDGER_COMMON_SIGNER_H_

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/status.h"

namespace provledger {

class Signer {
 public:
  virtual ~Signer() = default;
  // The 64-byte compact low-S signature over `digest32`, which verifies with public_key().
  // kInvalidArgument if `digest32` is not 32 bytes; other errors are the implementation's.
  virtual StatusOr<Bytes> Sign(ByteView digest32) const = 0;
  // The 33-byte compressed public key.
  virtual const Bytes& public_key() const = 0;
};

// A key held in memory: PrivateKey::Sign (RFC 6979, deterministic).
class LocalSigner final : public Signer {
 public:
  explicit LocalSigner(PrivateKey key);
  StatusOr<Bytes> Sign(ByteView digest32) const override;
  const Bytes& public_key() const override { return public_key_; }

 private:
  PrivateKey key_;
  Bytes public_key_;
};

// The protocol's form of a signature made by another ECDSA implementation (a token): the
// raw 64-byte r||s with S made low (s -> n - s when s > (n-1)/2), then checked with
// VerifySignature against `pubkey` and `digest32`, so that a faulty signer never passes a
// bad signature on silently. kInvalidArgument if `raw_rs` is not 64 bytes; kInternal when r
// or s is out of range or the signature does not verify.
StatusOr<Bytes> NormalizeSignature(ByteView pubkey, ByteView digest32, ByteView raw_rs);

// The 33-byte compressed form of a 65-byte uncompressed SEC1 point (04 || x || y).
// kInvalidArgument for any other size or prefix, or a point not on secp256k1.
StatusOr<Bytes> CompressPublicKey(ByteView uncompressed);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_SIGNER_H_
