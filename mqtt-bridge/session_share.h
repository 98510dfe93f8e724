// SessionShare: how the bridges of one share group honour each other's sessions
// (PROTOCOL.md 4, "Several bridges"). A bridge that agrees a session publishes it, sealed
// with AES-256-GCM under a key derived from the group's shared secret, retained, on
// `_pl/bridges/<group>/sessions/<device>`; every bridge of the group subscribes there and
// installs what it opens. The broker sees only ciphertext; a message that does not open
// (another secret, a forgery, another topic) is dropped. Replay state needs no sharing: the
// ledger takes one record per (device, seq), and a second copy is answered `replay`.
//
// Thread rules: Seal/Open are const and thread-safe.
#ifndef PROVLEDGER_MQTT_BRIDGE_SESSION_SHARE_H_
#define PROVLEDGER_MQTT_BRIDGE_SESSION_SHARE_H_

#include <string>

#include "common/bytes.h"

namespace provledger::bridge {

struct SharedSession {
  std::string device;
  Bytes kid;  // 8
  Bytes key;  // 32
  uint64_t expires = 0;
  uint64_t agreed_ms = 0;
};

class SessionShare {
 public:
  // `secret` is the group's 32-byte shared secret; `group` the share group name.
  SessionShare(ByteView secret, std::string group);

  // The topic filter to subscribe to, and the topic of one device's session.
  std::string Filter() const;
  std::string Topic(const std::string& device) const;
  // True when `topic` is under this group's session topics.
  bool Owns(const std::string& topic) const;

  // nonce (12) || ciphertext || tag (16), bound to the topic.
  Bytes Seal(const SharedSession& s) const;
  // kUnauthenticated when the payload does not open under our key and topic;
  // kInvalidArgument when its contents are malformed or name another device.
  StatusOr<SharedSession> Open(const std::string& topic, ByteView payload) const;

 private:
  Bytes key_;  // AES-256 key derived from the secret and the group
  std::string prefix_;
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_SESSION_SHARE_H_
