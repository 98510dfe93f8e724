#include "agent/digest.h"

#include <openssl/evp.h>

#include <string>
#include <utility>

namespace provledger::agent {

namespace {

// OpenSSL names of the kernel's algorithm names where they differ.
const EVP_MD* LookupMd(std::string_view algorithm) {
  if (algorithm == "rmd160") return EVP_get_digestbyname("ripemd160");
  if (algorithm.empty() || algorithm.size() > 32) return nullptr;
  return EVP_get_digestbyname(std::string(algorithm).c_str());
}

}  // namespace

struct Digester::Ctx {
  const EVP_MD* md = nullptr;
  EVP_MD_CTX* ctx = nullptr;
  ~Ctx() { EVP_MD_CTX_free(ctx); }
};

Digester::Digester(std::unique_ptr<Ctx> ctx) : ctx_(std::move(ctx)) {}
Digester::~Digester() = default;

StatusOr<std::unique_ptr<Digester>> Digester::Create(std::string_view algorithm) {
  auto ctx = std::make_unique<Ctx>();
  ctx->md = LookupMd(algorithm);
  if (ctx->md == nullptr) {
    return InvalidArgumentError("hash algorithm '" + std::string(algorithm) +
                                "' is not available in this OpenSSL");
  }
  ctx->ctx = EVP_MD_CTX_new();
  if (ctx->ctx == nullptr || EVP_DigestInit_ex(ctx->ctx, ctx->md, nullptr) != 1) {
    return InternalError("EVP_DigestInit_ex failed for " + std::string(algorithm));
  }
  return std::unique_ptr<Digester>(new Digester(std::move(ctx)));
}

void Digester::Update(ByteView data) { EVP_DigestUpdate(ctx_->ctx, data.data(), data.size()); }

Bytes Digester::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->ctx, out, &len);
  EVP_DigestInit_ex(ctx_->ctx, ctx_->md, nullptr);
  return Bytes(reinterpret_cast<const char*>(out), len);
}

size_t Digester::size() const { return static_cast<size_t>(EVP_MD_get_size(ctx_->md)); }

StatusOr<Bytes> Digest(std::string_view algorithm, ByteView data) {
  PL_ASSIGN_OR_RETURN(std::unique_ptr<Digester> d, Digester::Create(algorithm));
  d->Update(data);
  return d->Finish();
}

size_t KnownDigestSize(std::string_view algorithm) {
  struct Known {
    std::string_view name;
    size_t size;
  };
  static constexpr Known kKnown[] = {
      {"md5", 16},    {"sha1", 20},   {"rmd160", 20}, {"sha224", 28},
      {"sha256", 32}, {"sha384", 48}, {"sha512", 64}, {"sm3", 32},
  };
  for (const Known& k : kKnown) {
    if (k.name == algorithm) return k.size;
  }
  return 0;
}

}  // namespace provledger::agent
