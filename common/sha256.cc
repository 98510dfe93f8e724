#include "common/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/sha.h>

#include <cstdlib>

namespace provledger {

Bytes Sha256(ByteView data) {
  Bytes out(kSha256Size, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// SHA256_CTX is deprecated in OpenSSL 3 but is the fastest path for many small updates;
// EVP_MD_CTX gives the same digests through the provider interface.
struct Sha256Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
};

namespace {
// SHA-256 fetched from the default provider once: EVP_sha256() makes every EVP_DigestInit_ex
// look the algorithm up again under libcrypto's global read lock, which cost more than
// hashing a record (a hasher is made per record id and per Merkle node).
const EVP_MD* FetchedSha256() {
  static const EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    if (m == nullptr) std::abort();  // no default provider: libcrypto is unusable
    return m;
  }();
  return md;
}
}  // namespace

Sha256Hasher::Sha256Hasher() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, FetchedSha256(), nullptr) != 1) {
    std::abort();  // out of memory in libcrypto: nothing sensible left to do
  }
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(ctx_->md); }

void Sha256Hasher::Update(ByteView data) { EVP_DigestUpdate(ctx_->md, data.data(), data.size()); }

Bytes Sha256Hasher::Finish() {
  Bytes out(kSha256Size, '\0');
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

Bytes HmacSha256(ByteView key, ByteView message) {
  Bytes out(kSha256Size, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

StatusOr<Bytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, size_t length) {
  if (length == 0 || length > 255 * kSha256Size) {
    return InvalidArgumentError("hkdf: output length out of range");
  }
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  if (ctx == nullptr) return InternalError("hkdf: cannot allocate context");
  Bytes out(length, '\0');
  size_t out_len = length;
  auto u = [](ByteView v) { return reinterpret_cast<const unsigned char*>(v.data()); };
  const bool ok = EVP_PKEY_derive_init(ctx) == 1 &&
                  EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1 &&
                  EVP_PKEY_CTX_set1_hkdf_salt(ctx, u(salt), static_cast<int>(salt.size())) == 1 &&
                  EVP_PKEY_CTX_set1_hkdf_key(ctx, u(ikm), static_cast<int>(ikm.size())) == 1 &&
                  EVP_PKEY_CTX_add1_hkdf_info(ctx, u(info), static_cast<int>(info.size())) == 1 &&
                  EVP_PKEY_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), &out_len) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok || out_len != length) return InternalError("hkdf: libcrypto derive failed");
  return out;
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace provledger
