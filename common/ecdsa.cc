#include "common/ecdsa.h"

#include <errno.h>
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <sys/random.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/sha256.h"

namespace provledger {

namespace {

const unsigned char* U8(ByteView v) { return reinterpret_cast<const unsigned char*>(v.data()); }

// Overwrites `s` in a way the compiler may not drop as a dead store.

// The one shared context: created once, randomized against side channels, then only read.
const secp256k1_context* Ctx() {
  static const secp256k1_context* const ctx = [] {
    secp256k1_context* c =
        secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
    if (c == nullptr) std::abort();
    Bytes seed = RandomBytes(32);
    if (secp256k1_context_randomize(c, U8(seed)) != 1) std::abort();
    Wipe(&seed);
    return c;
  }();
  return ctx;
}

// Parses a 33-byte compressed key; kInvalidArgument for any other form or a point off the curve.
Status ParsePublicKey(ByteView pubkey, secp256k1_pubkey* out) {
  if (pubkey.size() != kPublicKeySize) {
    return InvalidArgumentError("public key: expected 33 bytes, got " +
                                std::to_string(pubkey.size()));
  }
  if (pubkey[0] != 0x02 && pubkey[0] != 0x03) {
    return InvalidArgumentError("public key: not compressed (prefix must be 02 or 03)");
  }
  if (secp256k1_ec_pubkey_parse(Ctx(), out, U8(pubkey), pubkey.size()) != 1) {
    return InvalidArgumentError("public key: not a point on secp256k1");
  }
  return OkStatus();
}

}  // namespace

PrivateKey PrivateKey::Generate() {
  for (;;) {
    Bytes secret = RandomBytes(kSecretKeySize);
    if (secp256k1_ec_seckey_verify(Ctx(), U8(secret)) == 1) return PrivateKey(std::move(secret));
    Wipe(&secret);  // probability about 2^-128
  }
}

StatusOr<PrivateKey> PrivateKey::FromBytes(ByteView secret) {
  if (secret.size() != kSecretKeySize) {
    return InvalidArgumentError("secret key: expected 32 bytes, got " +
                                std::to_string(secret.size()));
  }
  if (secp256k1_ec_seckey_verify(Ctx(), U8(secret)) != 1) {
    return InvalidArgumentError("secret key: not a valid scalar (must be 0 < k < n)");
  }
  return PrivateKey(Bytes(secret));
}

StatusOr<PrivateKey> PrivateKey::FromHex(std::string_view hex) {
  auto decoded = HexDecodeFixed(hex, kSecretKeySize);
  if (!decoded.ok()) return decoded.status().Annotate("secret key");
  StatusOr<PrivateKey> key = FromBytes(*decoded);
  Wipe(&*decoded);
  return key;
}

PrivateKey::~PrivateKey() { Wipe(&secret_); }

Bytes PrivateKey::PublicKey() const {
  secp256k1_pubkey pub;
  // secret_ was checked in FromBytes/Generate, so this cannot fail.
  if (secp256k1_ec_pubkey_create(Ctx(), &pub, U8(secret_)) != 1) std::abort();
  Bytes out(kPublicKeySize, '\0');
  size_t len = out.size();
  secp256k1_ec_pubkey_serialize(Ctx(), reinterpret_cast<unsigned char*>(out.data()), &len, &pub,
                                SECP256K1_EC_COMPRESSED);
  return out;
}

StatusOr<Bytes> PrivateKey::Sign(ByteView digest32) const {
  if (digest32.size() != kSha256Size) {
    return InvalidArgumentError("sign: digest must be 32 bytes, got " +
                                std::to_string(digest32.size()));
  }
  secp256k1_ecdsa_signature sig;
  // nullptr nonce function: RFC 6979 with SHA-256 (libsecp256k1's default); output is low-S.
  if (secp256k1_ecdsa_sign(Ctx(), &sig, U8(digest32), U8(secret_), nullptr, nullptr) != 1) {
    return InternalError("sign: libsecp256k1 refused to sign");
  }
  Bytes out(kSignatureSize, '\0');
  secp256k1_ecdsa_signature_serialize_compact(Ctx(), reinterpret_cast<unsigned char*>(out.data()),
                                              &sig);
  return out;
}

Status ValidatePublicKey(ByteView pubkey) {
  secp256k1_pubkey parsed;
  return ParsePublicKey(pubkey, &parsed);
}

Status VerifySignature(ByteView pubkey, ByteView digest32, ByteView sig) {
  if (digest32.size() != kSha256Size) {
    return InvalidArgumentError("verify: digest must be 32 bytes, got " +
                                std::to_string(digest32.size()));
  }
  if (sig.size() != kSignatureSize) {
    return InvalidArgumentError("verify: signature must be 64 bytes, got " +
                                std::to_string(sig.size()));
  }
  secp256k1_pubkey pub;
  PL_RETURN_IF_ERROR(ParsePublicKey(pubkey, &pub));
  secp256k1_ecdsa_signature parsed;
  if (secp256k1_ecdsa_signature_parse_compact(Ctx(), &parsed, U8(sig)) != 1) {
    // Right size, but r or s is not below n: a signature that cannot verify.
    return UnauthenticatedError("verify: signature r or s out of range");
  }
  if (secp256k1_ecdsa_signature_normalize(Ctx(), nullptr, &parsed) == 1) {
    return UnauthenticatedError("verify: high-S signature refused");
  }
  if (secp256k1_ecdsa_verify(Ctx(), &parsed, U8(digest32), &pub) != 1) {
    return UnauthenticatedError("verify: signature does not verify");
  }
  return OkStatus();
}

StatusOr<Bytes> Ecdh(const PrivateKey& priv, ByteView peer_pubkey) {
  secp256k1_pubkey pub;
  PL_RETURN_IF_ERROR(ParsePublicKey(peer_pubkey, &pub).Annotate("ecdh"));
  Bytes out(kSha256Size, '\0');
  // nullptr hash function: SHA-256 of the compressed shared point (libsecp256k1's default).
  if (secp256k1_ecdh(Ctx(), reinterpret_cast<unsigned char*>(out.data()), &pub, U8(priv.secret()),
                     nullptr, nullptr) != 1) {
    return InvalidArgumentError("ecdh: libsecp256k1 refused the key pair");
  }
  return out;
}

Bytes RandomBytes(size_t n) {
  Bytes out(n, '\0');
  size_t done = 0;
  while (done < n) {
    const ssize_t got = getrandom(out.data() + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "getrandom failed: errno=%d\n", errno);
      std::abort();
    }
    done += static_cast<size_t>(got);
  }
  return out;
}

}  // namespace provledger
