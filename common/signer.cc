#include "common/signer.h"

#include <secp256k1.h>

#include <utility>

namespace provledger {
namespace {

const unsigned char* U8(ByteView b) { return reinterpret_cast<const unsigned char*>(b.data()); }

}  // namespace

LocalSigner::LocalSigner(PrivateKey key) : key_(std::move(key)), public_key_(key_.PublicKey()) {}

StatusOr<Bytes> LocalSigner::Sign(ByteView digest32) const { return key_.Sign(digest32); }

StatusOr<Bytes> NormalizeSignature(ByteView pubkey, ByteView digest32, ByteView raw_rs) {
  if (raw_rs.size() != kSignatureSize) {
    return InvalidArgumentError("signature of " + std::to_string(raw_rs.size()) +
                                " bytes, want 64 (r||s)");
  }
  secp256k1_ecdsa_signature sig;
  // Parsing and normalizing use no precomputed tables: the static context suffices.
  if (secp256k1_ecdsa_signature_parse_compact(secp256k1_context_static, &sig, U8(raw_rs)) != 1) {
    return InternalError("signer returned r or s out of range");
  }
  secp256k1_ecdsa_signature_normalize(secp256k1_context_static, &sig, &sig);
  unsigned char out[kSignatureSize];
  secp256k1_ecdsa_signature_serialize_compact(secp256k1_context_static, out, &sig);
  Bytes normalized(reinterpret_cast<const char*>(out), sizeof out);
  Status verified = VerifySignature(pubkey, digest32, normalized);
  if (!verified.ok()) {
    return InternalError("signer returned a signature that does not verify with its public key: " +
                         verified.message());
  }
  return normalized;
}

StatusOr<Bytes> CompressPublicKey(ByteView uncompressed) {
  if (uncompressed.size() != 65 || static_cast<unsigned char>(uncompressed[0]) != 0x04) {
    return InvalidArgumentError("not a 65-byte uncompressed point (04 || x || y)");
  }
  secp256k1_pubkey point;
  if (secp256k1_ec_pubkey_parse(secp256k1_context_static, &point, U8(uncompressed),
                                uncompressed.size()) != 1) {
    return InvalidArgumentError("point is not on secp256k1");
  }
  unsigned char out[kPublicKeySize];
  size_t len = sizeof out;
  secp256k1_ec_pubkey_serialize(secp256k1_context_static, out, &len, &point,
                                SECP256K1_EC_COMPRESSED);
  return Bytes(reinterpret_cast<const char*>(out), len);
}

}  // namespace provledger
