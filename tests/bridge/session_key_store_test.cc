#include "mqtt-bridge/session_key_store.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "common/ecdsa.h"
#include "tests/bridge/bridge_test_util.h"

namespace provledger {
namespace bridge {
namespace {

using namespace testing;  // NOLINT: test vectors

constexpr uint64_t kWindow = 300000;
constexpr uint64_t kGrace = 10000;

class SessionKeyStoreTest : public ::testing::Test {
 protected:
  SessionKeyStoreTest() : store_("gw-1", Key(kGatewaySecret), SessionKeyOptions{}) {}

  std::variant<KeyAgreed, KeyRefusal> Handle(const std::string& payload, uint64_t now,
                                             std::optional<Bytes> pub = Unhex(kDevicePub)) {
    return store_.HandleKeyRequest("dev-1", payload, pub, now, random_.AsSource());
  }

  // Agrees the A.2 session at kAgreedAt.
  KeyAgreed AgreeA2() {
    PushA2BridgeRandomness(&random_);
    auto result = Handle(A2KeyRequest(), kAgreedAt);
    EXPECT_TRUE(std::holds_alternative<KeyAgreed>(result));
    return std::get<KeyAgreed>(result);
  }

  // Agrees another session for dev-1 at `now`, with fresh ephemeral values from `seed`.
  KeyAgreed AgreeAnother(uint64_t now, char seed) {
    Bytes dev_eph = Key(std::string(64, seed)).PublicKey();
    Bytes dev_nonce(16, seed);
    random_.Push(Bytes(32, static_cast<char>(seed + 1)));
    random_.Push(Bytes(16, static_cast<char>(seed + 2)));
    auto result = Handle(KeyRequestJson("dev-1", Key(kDeviceSecret), dev_eph, dev_nonce, now), now);
    EXPECT_TRUE(std::holds_alternative<KeyAgreed>(result));
    return std::get<KeyAgreed>(result);
  }

  KeyRefusal Refused(const std::variant<KeyAgreed, KeyRefusal>& result) {
    EXPECT_TRUE(std::holds_alternative<KeyRefusal>(result));
    return std::holds_alternative<KeyRefusal>(result) ? std::get<KeyRefusal>(result) : KeyRefusal{};
  }

  ScriptedRandom random_;
  SessionKeyStore store_;
};

TEST(KeyDigests, ReproduceAppendixA2) {
  EXPECT_EQ(HexEncode(device_protocol::KeyRequestDigest("dev-1", Unhex(kDeviceEphPub),
                                                        Unhex(kDeviceNonce), kRequestTs)),
            kKeyRequestDigest);
  EXPECT_EQ(HexEncode(*Key(kDeviceSecret).Sign(Unhex(kKeyRequestDigest))), kKeyRequestSig);
  EXPECT_EQ(HexEncode(device_protocol::KeyReplyDigest("dev-1", "gw-1", Unhex(kDeviceEphPub),
                                                      Unhex(kBridgeEphPub), Unhex(kBridgeNonce),
                                                      Unhex(kKid), kExpires)),
            kKeyReplyDigest);
}

TEST(KeyDigests, DeriveTheSessionKeyAndKidOfAppendixA2) {
  StatusOr<Bytes> key = device_protocol::DeriveSessionKey(Unhex(kShared), Unhex(kDeviceNonce),
                                                          Unhex(kBridgeNonce), "dev-1");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(HexEncode(*key), kSessionKey);
  EXPECT_EQ(HexEncode(device_protocol::SessionKid(*key)), kKid);
}

TEST_F(SessionKeyStoreTest, AgreesTheSessionKeyOfAppendixA2) {
  EXPECT_EQ(HexEncode(*Ecdh(Key(kDeviceEphSecret), Unhex(kBridgeEphPub))), kShared);
  KeyAgreed agreed = AgreeA2();
  EXPECT_EQ(random_.left(), 0u);
  EXPECT_EQ(agreed.reply.gateway, "gw-1");
  EXPECT_EQ(HexEncode(agreed.reply.eph), kBridgeEphPub);
  EXPECT_EQ(HexEncode(agreed.reply.nonce), kBridgeNonce);
  EXPECT_EQ(HexEncode(agreed.reply.kid), kKid);
  EXPECT_EQ(agreed.reply.expires, kExpires);
  EXPECT_EQ(HexEncode(agreed.reply.sig), kKeyReplySig);
  EXPECT_TRUE(VerifySignature(Unhex(kGatewayPub), Unhex(kKeyReplyDigest), agreed.reply.sig).ok());
  EXPECT_EQ(agreed.answer_json,
            std::string("{\"v\":1,\"gateway\":\"gw-1\",\"eph\":\"") + kBridgeEphPub +
                "\",\"nonce\":\"" + kBridgeNonce + "\",\"kid\":\"" + kKid +
                "\",\"expires\":1700086400250,\"sig\":\"" + kKeyReplySig + "\"}");
  StatusOr<Bytes> key = store_.Lookup("dev-1", Unhex(kKid), kAgreedAt);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(HexEncode(*key), kSessionKey);
}

TEST_F(SessionKeyStoreTest, DrawsTheEphemeralKeyAgainWhenTheFirstDrawIsNotAScalar) {
  random_.Push(Bytes(32, '\0'));  // zero is not a valid secret key
  PushA2BridgeRandomness(&random_);
  auto result = Handle(A2KeyRequest(), kAgreedAt);
  ASSERT_TRUE(std::holds_alternative<KeyAgreed>(result));
  EXPECT_EQ(HexEncode(std::get<KeyAgreed>(result).reply.sig), kKeyReplySig);
}

TEST_F(SessionKeyStoreTest, AnswersInternalWhenRandomnessFails) {
  device_protocol::RandomSource broken = [](size_t) { return Bytes(); };
  auto result =
      store_.HandleKeyRequest("dev-1", A2KeyRequest(), Unhex(kDevicePub), kAgreedAt, broken);
  KeyRefusal r = Refused(result);
  EXPECT_EQ(r.error, device_protocol::DeviceError::kInternal);
  EXPECT_FALSE(store_.Lookup("dev-1", Unhex(kKid), kAgreedAt).ok());
  // Nothing was remembered: the same request succeeds once randomness works.
  PushA2BridgeRandomness(&random_);
  EXPECT_TRUE(std::holds_alternative<KeyAgreed>(Handle(A2KeyRequest(), kAgreedAt)));
}

TEST_F(SessionKeyStoreTest, RefusesMalformedRequestsAndEchoesAParsableNonce) {
  const std::string eph = kDeviceEphPub;
  const std::string sig = kKeyRequestSig;
  auto req = [&](const std::string& fields) { return "{" + fields + "}"; };
  const std::string good_tail = ",\"eph\":\"" + eph + "\",\"nonce\":\"" + kDeviceNonce +
                                "\",\"ts\":1700000000000,\"sig\":\"" + sig + "\"";
  struct Case {
    const char* desc;
    std::string payload;
    bool nonce_echoed;
  };
  const Case cases[] = {
      {"not JSON", "not json", false},
      {"a JSON array", "[1]", false},
      {"v is 2", req("\"v\":2,\"device\":\"dev-1\"" + good_tail), true},
      {"v missing", req("\"device\":\"dev-1\"" + good_tail), true},
      {"device unlike the topic's", req("\"v\":1,\"device\":\"dev-2\"" + good_tail), true},
      {"repeated key", req("\"v\":1,\"v\":1,\"device\":\"dev-1\"" + good_tail), false},
      {"ts negative",
       req("\"v\":1,\"device\":\"dev-1\",\"eph\":\"" + eph + "\",\"nonce\":\"" + kDeviceNonce +
           "\",\"ts\":-1,\"sig\":\"" + sig + "\""),
       false},
      {"upper-case nonce",
       req("\"v\":1,\"device\":\"dev-1\",\"eph\":\"" + eph +
           "\",\"nonce\":\"000102030405060708090A0B0C0D0E0F\",\"ts\":1,"
           "\"sig\":\"" +
           sig + "\""),
       false},
      {"eph not on the curve",
       req("\"v\":1,\"device\":\"dev-1\",\"eph\":\"04" + eph.substr(2) + "\",\"nonce\":\"" +
           kDeviceNonce + "\",\"ts\":1,\"sig\":\"" + sig + "\""),
       true},
      {"sig short",
       req("\"v\":1,\"device\":\"dev-1\",\"eph\":\"" + eph + "\",\"nonce\":\"" + kDeviceNonce +
           "\",\"ts\":1,\"sig\":\"" + sig.substr(2) + "\""),
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.desc);
    KeyRefusal r = Refused(Handle(c.payload, kAgreedAt));
    EXPECT_EQ(r.error, device_protocol::DeviceError::kMalformed);
    EXPECT_EQ(r.nonce.has_value(), c.nonce_echoed);
    EXPECT_EQ(r.answer_json.find(std::string("\"nonce\":\"") + kDeviceNonce) != std::string::npos,
              c.nonce_echoed);
  }
}

TEST_F(SessionKeyStoreTest, AnswersMalformedBeforeUnregistered) {
  EXPECT_EQ(Refused(Handle("{}", kAgreedAt, std::nullopt)).error,
            device_protocol::DeviceError::kMalformed);
  KeyRefusal r = Refused(Handle(A2KeyRequest(), kAgreedAt, std::nullopt));
  EXPECT_EQ(r.error, device_protocol::DeviceError::kUnregistered);
  EXPECT_EQ(r.answer_json, std::string("{\"v\":1,\"code\":\"unregistered\",\"reason\":\"device "
                                       "is not registered\",\"nonce\":\"") +
                               kDeviceNonce + "\"}");
}

TEST_F(SessionKeyStoreTest, RefusesASignatureByAnotherKeyAsBadAuth) {
  std::string payload = KeyRequestJson("dev-1", Key(kGatewaySecret), Unhex(kDeviceEphPub),
                                       Unhex(kDeviceNonce), kRequestTs);
  EXPECT_EQ(Refused(Handle(payload, kAgreedAt)).error, device_protocol::DeviceError::kBadAuth);
}

TEST_F(SessionKeyStoreTest, AnswersBadAuthBeforeStale) {
  std::string payload = KeyRequestJson("dev-1", Key(kGatewaySecret), Unhex(kDeviceEphPub),
                                       Unhex(kDeviceNonce), kRequestTs);
  EXPECT_EQ(Refused(Handle(payload, kRequestTs + 10 * kWindow)).error,
            device_protocol::DeviceError::kBadAuth);
}

TEST_F(SessionKeyStoreTest, RefusesATsOutsideTheClockWindowAsStale) {
  EXPECT_EQ(Refused(Handle(A2KeyRequest(), kRequestTs + kWindow + 1)).error,
            device_protocol::DeviceError::kStale);
  EXPECT_EQ(Refused(Handle(A2KeyRequest(), kRequestTs - kWindow - 1)).error,
            device_protocol::DeviceError::kStale);
  PushA2BridgeRandomness(&random_);
  EXPECT_TRUE(std::holds_alternative<KeyAgreed>(Handle(A2KeyRequest(), kRequestTs + kWindow)));
}

TEST_F(SessionKeyStoreTest, RefusesARepeatedNonceAsReplayAndKeepsTheSession) {
  AgreeA2();
  KeyRefusal r = Refused(Handle(A2KeyRequest(), kAgreedAt + 1));
  EXPECT_EQ(r.error, device_protocol::DeviceError::kReplay);
  EXPECT_EQ(r.answer_json.find(std::string("\"nonce\":\"") + kDeviceNonce) == std::string::npos,
            false);
  EXPECT_TRUE(store_.Lookup("dev-1", Unhex(kKid), kAgreedAt + 1).ok());
}

TEST_F(SessionKeyStoreTest, KeepsNoncesForTwiceTheClockWindow) {
  AgreeA2();
  // A fresh request (new ts, new eph) reusing the nonce, inside twice the window: replay.
  uint64_t t = kAgreedAt + 2 * kWindow;
  std::string again =
      KeyRequestJson("dev-1", Key(kDeviceSecret), Unhex(kBridgeEphPub), Unhex(kDeviceNonce), t);
  EXPECT_EQ(Refused(Handle(again, t)).error, device_protocol::DeviceError::kReplay);
  // Past it, the nonce is forgotten (an old request would be stale by then anyway).
  t += 1;
  again = KeyRequestJson("dev-1", Key(kDeviceSecret), Unhex(kBridgeEphPub), Unhex(kDeviceNonce), t);
  PushA2BridgeRandomness(&random_);
  EXPECT_TRUE(std::holds_alternative<KeyAgreed>(Handle(again, t)));
}

TEST_F(SessionKeyStoreTest, NoncesOfOneDeviceDoNotBlockAnother) {
  AgreeA2();
  PrivateKey dev2 = Key(std::string(64, '7'));
  std::string payload =
      KeyRequestJson("dev-2", dev2, Unhex(kDeviceEphPub), Unhex(kDeviceNonce), kRequestTs);
  PushA2BridgeRandomness(&random_);
  auto result =
      store_.HandleKeyRequest("dev-2", payload, dev2.PublicKey(), kAgreedAt, random_.AsSource());
  EXPECT_TRUE(std::holds_alternative<KeyAgreed>(result));
}

TEST_F(SessionKeyStoreTest, LookupHonoursExpiry) {
  AgreeA2();
  EXPECT_TRUE(store_.Lookup("dev-1", Unhex(kKid), kExpires - 1).ok());
  EXPECT_EQ(store_.Lookup("dev-1", Unhex(kKid), kExpires).status().code(), StatusCode::kNotFound);
}

TEST_F(SessionKeyStoreTest, LookupRefusesAnUnknownKidOrDevice) {
  AgreeA2();
  EXPECT_FALSE(store_.Lookup("dev-1", Unhex("0000000000000000"), kAgreedAt).ok());
  EXPECT_FALSE(store_.Lookup("dev-2", Unhex(kKid), kAgreedAt).ok());
}

TEST_F(SessionKeyStoreTest, AcceptsAReplacedSessionDuringTheGracePeriodOnly) {
  AgreeA2();
  const uint64_t renewed_at = kAgreedAt + 1000000;
  KeyAgreed renewed = AgreeAnother(renewed_at, '3');
  ASSERT_NE(renewed.reply.kid, Unhex(kKid));
  EXPECT_TRUE(store_.Lookup("dev-1", Unhex(kKid), renewed_at + kGrace - 1).ok());
  EXPECT_FALSE(store_.Lookup("dev-1", Unhex(kKid), renewed_at + kGrace).ok());
  EXPECT_TRUE(store_.Lookup("dev-1", renewed.reply.kid, renewed_at + kGrace).ok());
  EXPECT_EQ(renewed.reply.expires, renewed_at + 86400000);
}

TEST_F(SessionKeyStoreTest, NeverExtendsAReplacedSessionPastItsExpiry) {
  AgreeA2();
  const uint64_t renewed_at = kExpires - 4000;
  AgreeAnother(renewed_at, '3');
  EXPECT_TRUE(store_.Lookup("dev-1", Unhex(kKid), kExpires - 1).ok());
  EXPECT_FALSE(store_.Lookup("dev-1", Unhex(kKid), kExpires).ok());
}

TEST_F(SessionKeyStoreTest, ForgetsTheSessionBeforeLastAfterTwoRenewals) {
  AgreeA2();
  KeyAgreed second = AgreeAnother(kAgreedAt + 100, '3');
  AgreeAnother(kAgreedAt + 200, '5');
  EXPECT_FALSE(store_.Lookup("dev-1", Unhex(kKid), kAgreedAt + 201).ok());
  EXPECT_TRUE(store_.Lookup("dev-1", second.reply.kid, kAgreedAt + 201).ok());
}

TEST_F(SessionKeyStoreTest, PruneDropsExpiredDevices) {
  AgreeA2();
  EXPECT_EQ(store_.device_count(), 1u);
  store_.Prune(kAgreedAt + 1);
  EXPECT_EQ(store_.device_count(), 1u);
  store_.Prune(kExpires + 2 * kWindow + 1);
  EXPECT_EQ(store_.device_count(), 0u);
}

TEST(SessionKeyOptions, DefaultsMatchTheProtocol) {
  SessionKeyOptions o;
  EXPECT_EQ(o.clock_window_ms, 300000u);
  EXPECT_EQ(o.session_lifetime_ms, 86400000u);
  EXPECT_EQ(o.grace_ms, 10000u);
  EXPECT_TRUE(o.Validate().ok());
  o.clock_window_ms = 0;
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace bridge
}  // namespace provledger
