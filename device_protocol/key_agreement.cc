#include "device_protocol/key_agreement.h"

#include <utility>

#include "common/json.h"
#include "common/sha256.h"

namespace provledger::device_protocol {

namespace {

constexpr int kMaxScalarDraws = 8;

StatusOr<Bytes> HexField(const JsonValue& doc, const std::string& key, size_t size) {
  PL_ASSIGN_OR_RETURN(std::string hex, doc.GetString(key));
  auto raw = HexDecodeFixed(hex, size);
  if (!raw.ok()) {
    return InvalidArgumentError("key reply \"" + key + "\" is not " + std::to_string(2 * size) +
                                " lowercase hex");
  }
  return *raw;
}

}  // namespace

StatusOr<KeyAgreement> KeyAgreement::Start(const std::string& device, const PrivateKey& device_key,
                                           uint64_t now_ms, const RandomSource& random) {
  return StartWith(
      device, [&device_key](ByteView d) { return device_key.Sign(d); }, now_ms, random);
}

StatusOr<KeyAgreement> KeyAgreement::Start(const std::string& device, const Signer& device_key,
                                           uint64_t now_ms, const RandomSource& random) {
  return StartWith(
      device, [&device_key](ByteView d) { return device_key.Sign(d); }, now_ms, random);
}

StatusOr<KeyAgreement> KeyAgreement::StartWith(const std::string& device, const SignFn& sign,
                                               uint64_t now_ms, const RandomSource& random) {
  std::optional<PrivateKey> eph;
  for (int i = 0; i < kMaxScalarDraws && !eph; ++i) {
    StatusOr<PrivateKey> k = PrivateKey::FromBytes(random(kSecretKeySize));
    if (k.ok()) eph.emplace(std::move(k).value());
  }
  if (!eph) return InternalError("key request: no valid ephemeral scalar drawn");
  KeyAgreement a(device, std::move(*eph));
  a.eph_public_ = a.eph_key_.PublicKey();
  a.nonce_ = random(kNonceSize);
  if (a.nonce_.size() != kNonceSize) return InternalError("key request: short nonce");
  PL_ASSIGN_OR_RETURN(Bytes sig, sign(KeyRequestDigest(device, a.eph_public_, a.nonce_, now_ms)));
  JsonValue req = JsonValue::Object();
  req.Set("v", JsonValue::Int(1));
  req.Set("device", JsonValue::String(device));
  req.Set("eph", JsonValue::String(HexEncode(a.eph_public_)));
  req.Set("nonce", JsonValue::String(HexEncode(a.nonce_)));
  req.Set("ts", JsonValue::Int(now_ms));
  req.Set("sig", JsonValue::String(HexEncode(sig)));
  a.request_json_ = WriteJson(req);
  return a;
}

StatusOr<Session> KeyAgreement::Finish(std::string_view reply_json,
                                       const GatewayTrust& trust) const {
  PL_ASSIGN_OR_RETURN(JsonValue doc, ParseJson(reply_json));
  if (!doc.is_object()) return InvalidArgumentError("key reply is not a JSON object");
  PL_ASSIGN_OR_RETURN(uint64_t v, doc.GetInt("v"));
  if (v != 1) return InvalidArgumentError("key reply \"v\" is not 1");
  Session s;
  PL_ASSIGN_OR_RETURN(s.gateway, doc.GetString("gateway"));
  PL_ASSIGN_OR_RETURN(Bytes bridge_eph, HexField(doc, "eph", kPublicKeySize));
  PL_ASSIGN_OR_RETURN(Bytes bridge_nonce, HexField(doc, "nonce", kNonceSize));
  PL_ASSIGN_OR_RETURN(s.kid, HexField(doc, "kid", 8));
  PL_ASSIGN_OR_RETURN(s.expires, doc.GetInt("expires"));
  PL_ASSIGN_OR_RETURN(Bytes sig, HexField(doc, "sig", kSignatureSize));
  if (!trust.gateway_id.empty() && s.gateway != trust.gateway_id) {
    return PermissionDeniedError("key reply from gateway '" + s.gateway + "', expected '" +
                                 trust.gateway_id + "'");
  }
  if (trust.gateway_pubkey.has_value()) {
    Bytes digest =
        KeyReplyDigest(device_, s.gateway, eph_public_, bridge_eph, bridge_nonce, s.kid, s.expires);
    Status verified = VerifySignature(*trust.gateway_pubkey, digest, sig);
    if (!verified.ok()) {
      return UnauthenticatedError("key reply signature does not verify with the gateway key: " +
                                  verified.message());
    }
  }
  auto shared = Ecdh(eph_key_, bridge_eph);
  if (!shared.ok()) return InvalidArgumentError("key reply \"eph\" is not a valid public key");
  PL_ASSIGN_OR_RETURN(s.key, DeriveSessionKey(*shared, nonce_, bridge_nonce, device_));
  if (SessionKid(s.key) != s.kid) {
    return UnauthenticatedError("key reply kid " + HexEncode(s.kid) +
                                " is not that of the derived key " + HexEncode(SessionKid(s.key)));
  }
  return s;
}

}  // namespace provledger::device_protocol
