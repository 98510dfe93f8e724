// secp256k1 keys, ECDSA (compact, low-S, RFC 6979) and ECDH, over libsecp256k1.
//
// PROTOCOL.md section 1: public keys are 33-byte SEC1 compressed; signatures are 64-byte
// compact r||s with low S; the message is a 32-byte digest used as is; ECDH is SHA-256 of
// the compressed shared point (libsecp256k1's default hash).
// Thread rules: all functions are thread-safe (one shared, read-only, randomized context).
#ifndef PROVLEDGER_COMMON_ECDSA_H_
#define PROVLEDGER_COMMON_ECDSA_H_

#include "common/bytes.h"

namespace provledger {

constexpr size_t kSecretKeySize = 32;
constexpr size_t kPublicKeySize = 33;
constexpr size_t kSignatureSize = 64;

// A secp256k1 secret scalar. Never logged; the destructor wipes it.
class PrivateKey {
 public:
  // A fresh key from the OS's CSPRNG.
  static PrivateKey Generate();
  // kInvalidArgument unless `secret` is 32 bytes and a valid scalar (0 < k < n).
  static StatusOr<PrivateKey> FromBytes(ByteView secret);
  // As FromBytes, from 64 lowercase hex digits.
  static StatusOr<PrivateKey> FromHex(std::string_view hex);

  PrivateKey(const PrivateKey&) = default;
  PrivateKey& operator=(const PrivateKey&) = default;
  ~PrivateKey();

  // The 32 secret bytes (for key files only).
  const Bytes& secret() const { return secret_; }
  // The 33-byte compressed public key.
  Bytes PublicKey() const;
  // Signs a 32-byte digest: 64-byte compact low-S signature, deterministic (RFC 6979).
  // kInvalidArgument if `digest32` is not 32 bytes.
  StatusOr<Bytes> Sign(ByteView digest32) const;

 private:
  explicit PrivateKey(Bytes secret) : secret_(std::move(secret)) {}
  Bytes secret_;
};

// kInvalidArgument unless `pubkey` is a valid 33-byte compressed point (02/03 prefix).
Status ValidatePublicKey(ByteView pubkey);

// OK when `sig` (64 bytes, compact, low-S) is `pubkey`'s signature over `digest32`.
// kInvalidArgument for malformed inputs (bad sizes, key not on the curve);
// kUnauthenticated for a high-S signature or one that does not verify.
Status VerifySignature(ByteView pubkey, ByteView digest32, ByteView sig);

// ECDH: SHA-256 of the compressed shared point (32 bytes). kInvalidArgument for a bad key.
StatusOr<Bytes> Ecdh(const PrivateKey& priv, ByteView peer_pubkey);

// `n` bytes from the OS's CSPRNG (getrandom); aborts if the OS cannot provide them.
Bytes RandomBytes(size_t n);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_ECDSA_H_
