// Shared fixtures for the bridge tests: PROTOCOL.md Appendix A.1-A.3 values, fake
// directories, a scripted random source and helpers that build device messages.
#ifndef PROVLEDGER_TESTS_BRIDGE_BRIDGE_TEST_UTIL_H_
#define PROVLEDGER_TESTS_BRIDGE_BRIDGE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/sha256.h"
#include "device_protocol/device_message.h"
#include "mqtt-bridge/device_directory.h"
#include "mqtt-bridge/session_key_store.h"
#include "tests/device_protocol/appendix_a.h"

namespace provledger {
namespace bridge {
namespace testing {

// PROTOCOL.md Appendix A.1-A.3 (tests/device_protocol/appendix_a.h).
using ::provledger::appendix_a::kAgreedAt;
using ::provledger::appendix_a::kBridgeEphPub;
using ::provledger::appendix_a::kBridgeEphSecret;
using ::provledger::appendix_a::kBridgeNonce;
using ::provledger::appendix_a::kD;
using ::provledger::appendix_a::kDeviceEphPub;
using ::provledger::appendix_a::kDeviceEphSecret;
using ::provledger::appendix_a::kDeviceNonce;
using ::provledger::appendix_a::kDevicePub;
using ::provledger::appendix_a::kDeviceSecret;
using ::provledger::appendix_a::kExpires;
using ::provledger::appendix_a::kGatewayPub;
using ::provledger::appendix_a::kGatewaySecret;
using ::provledger::appendix_a::kItem;
using ::provledger::appendix_a::kKeyReplyDigest;
using ::provledger::appendix_a::kKeyReplySig;
using ::provledger::appendix_a::kKeyRequestDigest;
using ::provledger::appendix_a::kKeyRequestSig;
using ::provledger::appendix_a::kKid;
using ::provledger::appendix_a::kMac;
using ::provledger::appendix_a::kPayload;
using ::provledger::appendix_a::kPayloadHash;
using ::provledger::appendix_a::kReadingTs;
using ::provledger::appendix_a::kRequestTs;
using ::provledger::appendix_a::kSessionKey;
using ::provledger::appendix_a::kShared;
using ::provledger::appendix_a::kSig;
using ::provledger::appendix_a::Unhex;

inline PrivateKey Key(std::string_view secret_hex) { return *PrivateKey::FromHex(secret_hex); }

// Hands out scripted chunks, in order; an unexpected size or an empty script fails the test.
class ScriptedRandom {
 public:
  void Push(Bytes chunk) { chunks_.push_back(std::move(chunk)); }
  device_protocol::RandomSource AsSource() {
    return [this](size_t n) -> Bytes {
      if (chunks_.empty()) {
        ADD_FAILURE() << "random source exhausted";
        return Bytes();
      }
      Bytes b = chunks_.front();
      chunks_.pop_front();
      EXPECT_EQ(b.size(), n);
      return b;
    };
  }
  size_t left() const { return chunks_.size(); }

 private:
  std::deque<Bytes> chunks_;
};

// The bridge side of A.2: its ephemeral secret, then its nonce.
inline void PushA2BridgeRandomness(ScriptedRandom* r) {
  r->Push(Unhex(kBridgeEphSecret));
  r->Push(Unhex(kBridgeNonce));
}

class FakeDeviceDirectory : public DeviceDirectory {
 public:
  void Add(const std::string& device, Bytes pubkey) { keys_[device] = std::move(pubkey); }
  std::optional<Bytes> PublicKey(const std::string& device) const override {
    auto it = keys_.find(device);
    if (it == keys_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, Bytes> keys_;
};

class FakeIntegrityDirectory : public IntegrityDirectory {
 public:
  void Set(const std::string& device, IntegrityState state) { states_[device] = state; }
  IntegrityState State(const std::string& device) const override {
    auto it = states_.find(device);
    return it == states_.end() ? IntegrityState{} : it->second;
  }

 private:
  std::map<std::string, IntegrityState> states_;
};

// A signed key request JSON as a device makes it (section 4).
inline std::string KeyRequestJson(const std::string& device, const PrivateKey& device_key,
                                  const Bytes& eph, const Bytes& nonce, uint64_t ts) {
  Bytes sig = *device_key.Sign(device_protocol::KeyRequestDigest(device, eph, nonce, ts));
  return "{\"v\":1,\"device\":\"" + device + "\",\"eph\":\"" + HexEncode(eph) + "\",\"nonce\":\"" +
         HexEncode(nonce) + "\",\"ts\":" + std::to_string(ts) + ",\"sig\":\"" + HexEncode(sig) +
         "\"}";
}

// The A.2 key request.
inline std::string A2KeyRequest() {
  return KeyRequestJson("dev-1", Key(kDeviceSecret), Unhex(kDeviceEphPub), Unhex(kDeviceNonce),
                        kRequestTs);
}

// User properties of a MACed message.
inline device_protocol::UserProperties MacProps(const std::string& device, const std::string& item,
                                                uint64_t seq, uint64_t ts, ByteView payload,
                                                ByteView session_key, ByteView kid) {
  Bytes d = device_protocol::DataDigest(device, item, seq, ts, Sha256(payload));
  return {{"pl-seq", std::to_string(seq)},
          {"pl-ts", std::to_string(ts)},
          {"pl-kid", HexEncode(kid)},
          {"pl-mac", HexEncode(HmacSha256(session_key, d))}};
}

// User properties of a signed message.
inline device_protocol::UserProperties SigProps(const std::string& device, const std::string& item,
                                                uint64_t seq, uint64_t ts, ByteView payload,
                                                const PrivateKey& key) {
  Bytes d = device_protocol::DataDigest(device, item, seq, ts, Sha256(payload));
  return {{"pl-seq", std::to_string(seq)},
          {"pl-ts", std::to_string(ts)},
          {"pl-sig", HexEncode(*key.Sign(d))}};
}

}  // namespace testing
}  // namespace bridge
}  // namespace provledger

#endif  // PROVLEDGER_TESTS_BRIDGE_BRIDGE_TEST_UTIL_H_
