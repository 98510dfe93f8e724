// SHA-256, HMAC-SHA256, HKDF-SHA256 and constant-time comparison, over OpenSSL libcrypto.
//
// Thread rules: free functions are thread-safe; a Sha256Hasher is owned by one thread.
#ifndef PROVLEDGER_COMMON_SHA256_H_
#define PROVLEDGER_COMMON_SHA256_H_

#include <memory>

#include "common/bytes.h"

namespace provledger {

constexpr size_t kSha256Size = 32;

// Returns the 32-byte SHA-256 digest of `data`.
Bytes Sha256(ByteView data);

// Incremental SHA-256 for digests built from many pieces without one big copy.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(ByteView data);
  // Returns the digest; the hasher must not be updated afterwards.
  Bytes Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// HMAC-SHA256(key, message), 32 bytes.
Bytes HmacSha256(ByteView key, ByteView message);

// HKDF-SHA256 (RFC 5869, extract then expand). kInvalidArgument if length > 255*32.
StatusOr<Bytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, size_t length);

// True when a and b are equal; time depends only on the lengths, never on the contents.
bool ConstantTimeEqual(ByteView a, ByteView b);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_SHA256_H_
