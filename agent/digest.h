// Digests the agent computes through OpenSSL EVP: the file-data hashes it measures (SHA-256,
// or SM3 as the seed paper uses) and the IMA template hashes it checks (SHA-1, SHA-256).
//
// Thread rules: free functions are thread-safe; a Digester is owned by one thread.
#ifndef PROVLEDGER_AGENT_DIGEST_H_
#define PROVLEDGER_AGENT_DIGEST_H_

#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::agent {

// An algorithm by the kernel's name for it ("sha1", "sha256", "sm3", ...), as it appears
// before the ':' of an IMA file-data hash. Only those OpenSSL offers are usable.
class Digester {
 public:
  // kInvalidArgument for a name OpenSSL does not know (or one this build lacks, e.g. SM3).
  static StatusOr<std::unique_ptr<Digester>> Create(std::string_view algorithm);
  ~Digester();
  Digester(const Digester&) = delete;
  Digester& operator=(const Digester&) = delete;

  void Update(ByteView data);
  // The digest of everything updated since Create or the last Finish; then starts afresh.
  Bytes Finish();
  size_t size() const;

 private:
  struct Ctx;
  explicit Digester(std::unique_ptr<Ctx> ctx);
  std::unique_ptr<Ctx> ctx_;
};

// The digest of `data` under `algorithm`; errors as Digester::Create.
StatusOr<Bytes> Digest(std::string_view algorithm, ByteView data);

// The digest size of a kernel hash algorithm name, 0 when unknown to this table (the
// algorithms of the kernel's hash_algo_name[] that OpenSSL also knows).
size_t KnownDigestSize(std::string_view algorithm);

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_DIGEST_H_
