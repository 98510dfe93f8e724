// Session keys (PROTOCOL.md section 4): agrees them with devices and finds them again to
// check MACs.
//
// SessionKeyStore keeps, per device, the current session and the one it replaced (for
// the grace period), and the key-request nonces seen within twice the clock window. It
// does no I/O: the clock is passed in and randomness is injected. Sessions live in memory
// only (a restart forgets them; devices then get `no_session` and agree again).
//
// Thread rules: not thread-safe. Owned by the bridge's verify thread (through
// ReadingVerifier); other threads post to it.
#ifndef PROVLEDGER_MQTT_BRIDGE_SESSION_KEY_STORE_H_
#define PROVLEDGER_MQTT_BRIDGE_SESSION_KEY_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/status.h"
#include "device_protocol/answers.h"
#include "device_protocol/error_codes.h"
#include "device_protocol/key_digests.h"

namespace provledger {
namespace bridge {

struct SessionKeyOptions {
  // |device ts - bridge clock| above this is `stale`. Nonces are kept twice as long.
  uint64_t clock_window_ms = 300000;
  // expires = agreement time + lifetime. Longer means fewer key exchanges, and a leaked
  // session key useful for longer.
  uint64_t session_lifetime_ms = 86400000;
  // How long MACs under a replaced session are still accepted (never past its expires).
  uint64_t grace_ms = 10000;
  // kInvalidArgument unless clock_window_ms > 0 and session_lifetime_ms > 0.
  Status Validate() const;
};

// A key request refused: what to answer on key/fail (or unauth).
struct KeyRefusal {
  device_protocol::DeviceError error = device_protocol::DeviceError::kInternal;
  std::string reason;  // for people; holds no key or secret
  // The request's nonce (16 raw bytes) when it was parsable.
  std::optional<Bytes> nonce;
  // ErrorJson of the above.
  std::string answer_json;
};

// A key agreed: the reply to send on key/success.
struct KeyAgreed {
  device_protocol::KeyReply reply;
  std::string answer_json;  // device_protocol::KeyReplyJson(reply)
};

class SessionKeyStore {
 public:
  // `gateway_id` is this bridge's registered gateway id (a valid name) and `gateway_key`
  // its static key, which signs key replies. `options` must be valid.
  SessionKeyStore(std::string gateway_id, PrivateKey gateway_key, SessionKeyOptions options);

  // Handles a key request published by `device` (a valid name, from the topic) with JSON
  // `payload`. `device_pubkey` is the device's registered static key, nullopt when it is
  // not registered. Checks, in section 3's order: malformed (JSON, "v", "device" unlike
  // the topic's, eph/nonce/ts/sig format), unregistered, bad_auth (sig), stale (ts vs
  // now_ms), replay (nonce seen from this device). Then draws the bridge ephemeral secret
  // (random(32), drawn again if not a valid scalar) and then the bridge nonce (random(16)),
  // derives the session, makes it the device's current one (the old one enters its grace
  // period), and returns the signed reply with expires = now_ms + lifetime. A refusal
  // changes nothing; kInternal refusal if randomness or signing fails.
  std::variant<KeyAgreed, KeyRefusal> HandleKeyRequest(const std::string& device,
                                                       std::string_view payload,
                                                       const std::optional<Bytes>& device_pubkey,
                                                       uint64_t now_ms,
                                                       const device_protocol::RandomSource& random);

  // The 32-byte session key of `device` named `kid` (8 bytes), when it is the current
  // session and now_ms < its expires, or the replaced one within its grace period (now_ms
  // < replacement time + grace, and < its expires). kNotFound (=> `no_session`) otherwise.
  StatusOr<Bytes> Lookup(const std::string& device, ByteView kid, uint64_t now_ms) const;

  // Installs a session another bridge of the same share group agreed with `device` at
  // agreed_ms (PROTOCOL.md 4, "Several bridges"), as if agreed here: it becomes current and
  // the old one enters its grace period. Ignored when already known, expired, or older than
  // the current session.
  void InstallShared(const std::string& device, const Bytes& kid, Bytes key, uint64_t expires,
                     uint64_t agreed_ms, uint64_t now_ms);

  // Forgets sessions expired (and grace periods ended) at now_ms, and nonces older than
  // twice the clock window. Optional housekeeping; lookups are exact without it.
  void Prune(uint64_t now_ms);

  // Number of devices with any state (for metrics and tests).
  size_t device_count() const { return devices_.size(); }

  const SessionKeyOptions& options() const { return options_; }

 private:
  struct Session {
    Bytes kid;
    Bytes key;
    uint64_t expires = 0;
    uint64_t valid_until = 0;  // min(expires, replaced + grace) once replaced
  };
  struct DeviceState {
    std::optional<Session> current;
    std::optional<Session> previous;
    std::map<Bytes, uint64_t> nonces;  // nonce -> bridge time first seen
    uint64_t current_agreed = 0;       // when `current` was agreed (shared sessions)
  };
  void Replace(const std::string& device, const Bytes& kid, Bytes key, uint64_t expires,
               uint64_t now_ms);
  void PruneDevice(DeviceState* state, uint64_t now_ms) const;

  std::string gateway_id_;
  PrivateKey gateway_key_;
  SessionKeyOptions options_;
  std::map<std::string, DeviceState> devices_;
};

}  // namespace bridge
}  // namespace provledger

#endif  // PROVLEDGER_MQTT_BRIDGE_SESSION_KEY_STORE_H_
