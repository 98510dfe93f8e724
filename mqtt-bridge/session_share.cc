#include "mqtt-bridge/session_share.h"

#include <openssl/evp.h>

#include <memory>

#include "common/ecdsa.h"
#include "common/sha256.h"

namespace provledger::bridge {

namespace {

constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
// Domain tag of the derived key; prefix-free with PROTOCOL.md's tags.
constexpr char kShareInfo[] = "pl/v1/bridge-share";

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* U(ByteView v) { return reinterpret_cast<const unsigned char*>(v.data()); }

}  // namespace

SessionShare::SessionShare(ByteView secret, std::string group)
    : prefix_("_pl/bridges/" + group + "/sessions/") {
  Bytes info = kShareInfo;
  AppendStr0(&info, group);
  auto k = HkdfSha256(secret, "", info, 32);
  key_ = k.ok() ? *k : Bytes(32, '\0');
}

std::string SessionShare::Filter() const { return prefix_ + "+"; }
std::string SessionShare::Topic(const std::string& device) const { return prefix_ + device; }
bool SessionShare::Owns(const std::string& topic) const { return topic.rfind(prefix_, 0) == 0; }

Bytes SessionShare::Seal(const SharedSession& s) const {
  Bytes plain;
  AppendLp(&plain, s.device);
  plain += s.kid;
  plain += s.key;
  AppendU64(&plain, s.expires);
  AppendU64(&plain, s.agreed_ms);
  const Bytes nonce = RandomBytes(kNonceSize);
  const std::string aad = Topic(s.device);
  Bytes out = nonce;
  out.resize(kNonceSize + plain.size() + kTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + kNonceSize);
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key_), U(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &len, U(plain), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), dst + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          out.data() + kNonceSize + plain.size()) != 1) {
    return Bytes();  // never published: Open refuses an empty payload
  }
  return out;
}

StatusOr<SharedSession> SessionShare::Open(const std::string& topic, ByteView payload) const {
  if (!Owns(topic) || payload.size() < kNonceSize + kTagSize) {
    return UnauthenticatedError("not a session of this share group");
  }
  const ByteView nonce = payload.substr(0, kNonceSize);
  const ByteView body = payload.substr(kNonceSize, payload.size() - kNonceSize - kTagSize);
  Bytes tag(payload.substr(payload.size() - kTagSize));
  Bytes plain(body.size(), '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  auto* dst = reinterpret_cast<unsigned char*>(plain.data());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key_), U(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(topic), static_cast<int>(topic.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), dst, &len, U(body), static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), dst + len, &len) != 1) {
    return UnauthenticatedError("shared session does not open under this group's secret");
  }
  SharedSession s;
  ByteReader r(plain);
  if (!r.ReadLp(&s.device, 64).ok() || !r.ReadFixed(8, &s.kid).ok() ||
      !r.ReadFixed(32, &s.key).ok() || !r.ReadU64(&s.expires).ok() ||
      !r.ReadU64(&s.agreed_ms).ok() || !r.done()) {
    return InvalidArgumentError("shared session is malformed");
  }
  if (topic != Topic(s.device)) return InvalidArgumentError("shared session names another device");
  return s;
}

}  // namespace provledger::bridge
