#include "mqtt-bridge/session_key_store.h"

#include <algorithm>
#include <utility>

#include "common/json.h"
#include "common/sha256.h"

namespace provledger {
namespace bridge {
namespace {

constexpr int kMaxScalarDraws = 8;

uint64_t AbsDiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

// The fields of a key request, raw bytes of the stated sizes.
struct KeyRequest {
  Bytes eph;    // 33
  Bytes nonce;  // 16
  uint64_t ts = 0;
  Bytes sig;  // 64
};

// Parses the request JSON; `nonce` is filled as soon as the "nonce" member is parsable,
// even when another member is malformed.
Status ParseKeyRequest(const std::string& device, std::string_view payload, KeyRequest* req,
                       std::optional<Bytes>* nonce) {
  StatusOr<JsonValue> parsed = ParseJson(payload);
  if (!parsed.ok()) return InvalidArgumentError("key request: not strict JSON");
  const JsonValue& o = *parsed;
  if (!o.is_object()) return InvalidArgumentError("key request: not a JSON object");
  if (const JsonValue* n = o.Find("nonce"); n != nullptr && n->is_string()) {
    StatusOr<Bytes> raw = HexDecodeFixed(n->string_value(), device_protocol::kNonceSize);
    if (raw.ok()) *nonce = *raw;
  }
  StatusOr<uint64_t> v = o.GetInt("v");
  if (!v.ok() || *v != 1) return InvalidArgumentError("key request: \"v\" is not 1");
  StatusOr<std::string> dev = o.GetString("device");
  if (!dev.ok()) return InvalidArgumentError("key request: \"device\" missing or not a string");
  if (*dev != device) return InvalidArgumentError("key request: \"device\" unlike the topic's");
  StatusOr<std::string> eph_hex = o.GetString("eph");
  if (!eph_hex.ok()) return InvalidArgumentError("key request: \"eph\" missing");
  StatusOr<Bytes> eph = HexDecodeFixed(*eph_hex, kPublicKeySize);
  if (!eph.ok() || !ValidatePublicKey(*eph).ok()) {
    return InvalidArgumentError("key request: \"eph\" is not a compressed public key");
  }
  if (!nonce->has_value()) {
    return InvalidArgumentError("key request: \"nonce\" missing or not 32 lowercase hex");
  }
  StatusOr<uint64_t> ts = o.GetInt("ts");
  if (!ts.ok()) return InvalidArgumentError("key request: \"ts\" missing or not an integer");
  StatusOr<std::string> sig_hex = o.GetString("sig");
  if (!sig_hex.ok()) return InvalidArgumentError("key request: \"sig\" missing");
  StatusOr<Bytes> sig = HexDecodeFixed(*sig_hex, kSignatureSize);
  if (!sig.ok()) return InvalidArgumentError("key request: \"sig\" is not 128 lowercase hex");
  req->eph = std::move(eph).value();
  req->nonce = **nonce;
  req->ts = *ts;
  req->sig = std::move(sig).value();
  return OkStatus();
}

KeyRefusal MakeRefusal(device_protocol::DeviceError error, std::string reason,
                       std::optional<Bytes> nonce) {
  KeyRefusal r;
  r.error = error;
  r.reason = std::move(reason);
  r.nonce = std::move(nonce);
  r.answer_json = device_protocol::ErrorJson(error, r.reason, std::nullopt, std::nullopt, r.nonce);
  return r;
}

}  // namespace

Status SessionKeyOptions::Validate() const {
  if (clock_window_ms == 0) return InvalidArgumentError("clock_window_ms: must be > 0");
  if (session_lifetime_ms == 0) return InvalidArgumentError("session_lifetime_ms: must be > 0");
  return OkStatus();
}

SessionKeyStore::SessionKeyStore(std::string gateway_id, PrivateKey gateway_key,
                                 SessionKeyOptions options)
    : gateway_id_(std::move(gateway_id)), gateway_key_(std::move(gateway_key)), options_(options) {}

std::variant<KeyAgreed, KeyRefusal> SessionKeyStore::HandleKeyRequest(
    const std::string& device, std::string_view payload, const std::optional<Bytes>& device_pubkey,
    uint64_t now_ms, const device_protocol::RandomSource& random) {
  KeyRequest req;
  std::optional<Bytes> nonce;
  if (Status s = ParseKeyRequest(device, payload, &req, &nonce); !s.ok()) {
    return MakeRefusal(device_protocol::DeviceError::kMalformed, s.message(), nonce);
  }
  if (!device_pubkey.has_value()) {
    return MakeRefusal(device_protocol::DeviceError::kUnregistered, "device is not registered",
                       nonce);
  }
  Bytes request_digest = device_protocol::KeyRequestDigest(device, req.eph, req.nonce, req.ts);
  if (!VerifySignature(*device_pubkey, request_digest, req.sig).ok()) {
    return MakeRefusal(device_protocol::DeviceError::kBadAuth,
                       "key request signature does not verify", nonce);
  }
  if (AbsDiff(req.ts, now_ms) > options_.clock_window_ms) {
    return MakeRefusal(device_protocol::DeviceError::kStale,
                       "key request ts outside the clock window", nonce);
  }
  auto it = devices_.find(device);
  if (it != devices_.end()) {
    PruneDevice(&it->second, now_ms);
    if (it->second.nonces.count(req.nonce) != 0) {
      return MakeRefusal(device_protocol::DeviceError::kReplay, "key request nonce seen before",
                         nonce);
    }
  }

  // The bridge's side: ephemeral key first, then nonce (tests inject both in this order).
  std::optional<PrivateKey> eph_key;
  for (int i = 0; i < kMaxScalarDraws && !eph_key; ++i) {
    Bytes secret = random ? random(kSecretKeySize) : Bytes();
    if (secret.size() != kSecretKeySize) break;
    StatusOr<PrivateKey> k = PrivateKey::FromBytes(secret);
    if (k.ok()) eph_key.emplace(std::move(k).value());
  }
  if (!eph_key)
    return MakeRefusal(device_protocol::DeviceError::kInternal, "no ephemeral key drawn", nonce);
  Bytes bridge_nonce = random(device_protocol::kNonceSize);
  if (bridge_nonce.size() != device_protocol::kNonceSize) {
    return MakeRefusal(device_protocol::DeviceError::kInternal, "no nonce drawn", nonce);
  }
  StatusOr<Bytes> shared = Ecdh(*eph_key, req.eph);
  if (!shared.ok())
    return MakeRefusal(device_protocol::DeviceError::kInternal, "ECDH failed", nonce);
  StatusOr<Bytes> session_key =
      device_protocol::DeriveSessionKey(*shared, req.nonce, bridge_nonce, device);
  if (!session_key.ok())
    return MakeRefusal(device_protocol::DeviceError::kInternal, "HKDF failed", nonce);

  KeyAgreed agreed;
  device_protocol::KeyReply& reply = agreed.reply;
  reply.gateway = gateway_id_;
  reply.eph = eph_key->PublicKey();
  reply.nonce = bridge_nonce;
  reply.kid = device_protocol::SessionKid(*session_key);
  reply.expires = now_ms + options_.session_lifetime_ms;
  StatusOr<Bytes> sig = gateway_key_.Sign(device_protocol::KeyReplyDigest(
      device, gateway_id_, req.eph, reply.eph, reply.nonce, reply.kid, reply.expires));
  if (!sig.ok())
    return MakeRefusal(device_protocol::DeviceError::kInternal, "signing the key reply failed",
                       nonce);
  reply.sig = std::move(sig).value();
  agreed.answer_json = device_protocol::KeyReplyJson(reply);

  devices_[device].nonces.emplace(req.nonce, now_ms);
  Replace(device, reply.kid, std::move(session_key).value(), reply.expires, now_ms);
  devices_[device].current_agreed = now_ms;
  return agreed;
}

void SessionKeyStore::Replace(const std::string& device, const Bytes& kid, Bytes key,
                              uint64_t expires, uint64_t now_ms) {
  DeviceState& state = devices_[device];
  if (state.current) {
    Session old = std::move(*state.current);
    old.valid_until = std::min(old.expires, now_ms + options_.grace_ms);
    state.previous = std::move(old);
  }
  Session fresh;
  fresh.kid = kid;
  fresh.key = std::move(key);
  fresh.expires = expires;
  fresh.valid_until = expires;
  state.current = std::move(fresh);
}

void SessionKeyStore::InstallShared(const std::string& device, const Bytes& kid, Bytes key,
                                    uint64_t expires, uint64_t agreed_ms, uint64_t now_ms) {
  if (now_ms >= expires) return;
  auto it = devices_.find(device);
  if (it != devices_.end()) {
    const DeviceState& st = it->second;
    if (st.current && st.current->kid == kid) return;  // ours, echoed back
    if (st.previous && st.previous->kid == kid) return;
    // An older agreement than the current one must not displace it.
    if (st.current && st.current_agreed > agreed_ms) return;
  }
  Replace(device, kid, std::move(key), expires, now_ms);
  devices_[device].current_agreed = agreed_ms;
}

StatusOr<Bytes> SessionKeyStore::Lookup(const std::string& device, ByteView kid,
                                        uint64_t now_ms) const {
  auto it = devices_.find(device);
  if (it == devices_.end()) return NotFoundError("no session agreed");
  const DeviceState& state = it->second;
  for (const std::optional<Session>* s : {&state.current, &state.previous}) {
    if (s->has_value() && (*s)->kid == kid) {
      if (now_ms < (*s)->valid_until) return (*s)->key;
      return NotFoundError("session " + HexEncode(kid) + " expired or replaced");
    }
  }
  return NotFoundError("kid " + HexEncode(kid) + " is not a current session");
}

void SessionKeyStore::PruneDevice(DeviceState* state, uint64_t now_ms) const {
  const uint64_t keep = 2 * options_.clock_window_ms;
  for (auto it = state->nonces.begin(); it != state->nonces.end();) {
    if (now_ms > it->second && now_ms - it->second > keep) {
      it = state->nonces.erase(it);
    } else {
      ++it;
    }
  }
  if (state->previous && now_ms >= state->previous->valid_until) state->previous.reset();
  if (state->current && now_ms >= state->current->valid_until) state->current.reset();
}

void SessionKeyStore::Prune(uint64_t now_ms) {
  for (auto it = devices_.begin(); it != devices_.end();) {
    PruneDevice(&it->second, now_ms);
    const DeviceState& s = it->second;
    if (!s.current && !s.previous && s.nonces.empty()) {
      it = devices_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace bridge
}  // namespace provledger
