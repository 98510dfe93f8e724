#include "mqtt-bridge/reading_verifier.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "common/sha256.h"
#include "tests/bridge/bridge_test_util.h"

namespace provledger {
namespace bridge {
namespace {

// PROTOCOL.md A.4's report of record B: the smallest valid section 7 report.
const char kIntegrityReport[] =
    R"({"v":1,"boot":"6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d","from":0,"entries":[]})";

using namespace testing;  // NOLINT: test vectors

constexpr uint64_t kNow = 1700000001042;  // A.4: gw-1 received the A.3 reading then
constexpr uint64_t kWindow = 300000;

device_protocol::DeviceTopic Topic(const std::string& topic) {
  return *device_protocol::ParseDeviceTopic("devices", topic);
}
const device_protocol::DeviceTopic kClimate = Topic("devices/dev-1/data/climate");
const device_protocol::DeviceTopic kUpdateStatus = Topic("devices/dev-1/update/status");
// A section 8 install report.
const std::string kReport =
    R"({"v":1,"vendor":"acme","model":"m-1","version":"1.4.0-rc.1+b7","counter":7,)"
    R"("result":"installed","reason":"ok"})";

device_protocol::UserProperties A3MacProps() {
  return {{"pl-seq", "1"}, {"pl-ts", "1700000001000"}, {"pl-kid", kKid}, {"pl-mac", kMac}};
}
device_protocol::UserProperties A3SigProps() {
  return {{"pl-seq", "1"}, {"pl-ts", "1700000001000"}, {"pl-sig", kSig}};
}

class ReadingVerifierTest : public ::testing::Test {
 protected:
  ReadingVerifierTest()
      : sessions_("gw-1", Key(kGatewaySecret), SessionKeyOptions{}),
        verifier_(ReadingVerifierOptions{}, &devices_, &integrity_, &sessions_,
                  [this](const VerifierEvent& ev) { log_.push_back(ev); }) {
    devices_.Add("dev-1", Unhex(kDevicePub));
  }

  void AgreeA2() {
    PushA2BridgeRandomness(&random_);
    auto r = verifier_.HandleKeyRequest("dev-1", A2KeyRequest(), kAgreedAt, random_.AsSource());
    ASSERT_TRUE(std::holds_alternative<KeyAccepted>(r));
  }

  Bytes SessionKey() { return Unhex(kSessionKey); }

  // MAC props under the A.2 session for dev-1.
  device_protocol::UserProperties Mac(const std::string& item, uint64_t seq, uint64_t ts,
                                      ByteView payload) {
    return MacProps("dev-1", item, seq, ts, payload, SessionKey(), Unhex(kKid));
  }

  Accepted ExpectAccepted(const std::variant<Accepted, Refusal>& r) {
    if (auto* refusal = std::get_if<Refusal>(&r)) {
      ADD_FAILURE() << "refused: " << device_protocol::DeviceErrorCode(refusal->error) << " "
                    << refusal->reason;
      return Accepted{};
    }
    return std::get<Accepted>(r);
  }
  Refusal ExpectRefused(const std::variant<Accepted, Refusal>& r,
                        device_protocol::DeviceError error) {
    if (!std::holds_alternative<Refusal>(r)) {
      ADD_FAILURE() << "accepted, expected " << device_protocol::DeviceErrorCode(error);
      return Refusal{};
    }
    Refusal refusal = std::get<Refusal>(r);
    EXPECT_EQ(device_protocol::DeviceErrorCode(refusal.error),
              device_protocol::DeviceErrorCode(error))
        << refusal.reason;
    return refusal;
  }

  FakeDeviceDirectory devices_;
  FakeIntegrityDirectory integrity_;
  ScriptedRandom random_;
  SessionKeyStore sessions_;
  std::vector<VerifierEvent> log_;
  ReadingVerifier verifier_;
};

TEST_F(ReadingVerifierTest, AcceptsTheMacReadingOfAppendixA3) {
  AgreeA2();
  Accepted a = ExpectAccepted(verifier_.Verify(kClimate, A3MacProps(), kPayload, kNow));
  EXPECT_EQ(a.device, "dev-1");
  EXPECT_EQ(a.kind, device_protocol::TopicKind::kData);
  EXPECT_EQ(a.item, "climate");
  EXPECT_EQ(a.seq, 1u);
  EXPECT_EQ(a.ts, kReadingTs);
  EXPECT_EQ(HexEncode(a.payload_hash), kPayloadHash);
  EXPECT_EQ(a.auth, device_protocol::AuthMode::kMac);
  EXPECT_EQ(HexEncode(a.kid), kKid);
  EXPECT_EQ(HexEncode(a.mac), kMac);
  EXPECT_TRUE(a.sig.empty());
  EXPECT_EQ(a.received, kNow);
  EXPECT_EQ(a.integrity.status, IntegrityStatus::kUnknown);
  EXPECT_EQ(verifier_.accepted_count(), 1u);
  ASSERT_NE(verifier_.replay_window("dev-1"), nullptr);
  EXPECT_EQ(verifier_.replay_window("dev-1")->highest(), 1u);
}

TEST_F(ReadingVerifierTest, AcceptsTheSignedReadingOfAppendixA3WithoutASession) {
  Accepted a = ExpectAccepted(verifier_.Verify(kClimate, A3SigProps(), kPayload, kNow));
  EXPECT_EQ(a.auth, device_protocol::AuthMode::kSignature);
  EXPECT_EQ(HexEncode(a.sig), kSig);
  EXPECT_TRUE(a.kid.empty());
  EXPECT_TRUE(a.mac.empty());
  EXPECT_EQ(HexEncode(a.payload_hash), kPayloadHash);
}

TEST_F(ReadingVerifierTest, CarriesTheIntegrityStateIntoAcceptedReadings) {
  IntegrityState trusted{IntegrityStatus::kTrusted, Bytes(32, '\x5a')};
  integrity_.Set("dev-1", trusted);
  Accepted a = ExpectAccepted(verifier_.Verify(kClimate, A3SigProps(), kPayload, kNow));
  EXPECT_EQ(a.integrity.status, IntegrityStatus::kTrusted);
  EXPECT_EQ(a.integrity.attestation, trusted.attestation);
}

TEST_F(ReadingVerifierTest, VerifiesReportsWithTheirReservedItemInD) {
  AgreeA2();
  const std::string report = kIntegrityReport;
  Accepted a = ExpectAccepted(verifier_.Verify(Topic("devices/dev-1/integrity"),
                                               Mac("_integrity", 2, kNow, report), report, kNow));
  EXPECT_EQ(a.kind, device_protocol::TopicKind::kIntegrity);
  EXPECT_EQ(a.item, "_integrity");
  Accepted u = ExpectAccepted(verifier_.Verify(Topic("devices/dev-1/update/status"),
                                               Mac("_update", 3, kNow, kReport), kReport, kNow));
  EXPECT_EQ(u.item, "_update");
  // A report MACed as if it were a reading of another item does not verify.
  ExpectRefused(verifier_.Verify(Topic("devices/dev-1/integrity"), Mac("climate", 4, kNow, report),
                                 report, kNow),
                device_protocol::DeviceError::kBadAuth);
}

// --- every error code from its cause ---

TEST_F(ReadingVerifierTest, RefusesAPayloadAboveTheLimitAsTooLarge) {
  Bytes big(1048577, 'x');
  device_protocol::UserProperties props =
      SigProps("dev-1", "climate", 7, kNow, big, Key(kDeviceSecret));
  Refusal r = ExpectRefused(verifier_.Verify(kClimate, props, big, kNow),
                            device_protocol::DeviceError::kTooLarge);
  EXPECT_EQ(r.answer_topic, "devices/dev-1/data/climate/error");
  EXPECT_EQ(r.answer_json.rfind(R"({"v":1,"code":"too_large","reason":)", 0), 0u);
  EXPECT_NE(r.answer_json.find(R"("seq":7,"item":"climate"})"), std::string::npos);
}

TEST_F(ReadingVerifierTest, AcceptsAPayloadOfExactlyTheLimit) {
  Bytes limit(1048576, 'x');
  device_protocol::UserProperties props =
      SigProps("dev-1", "climate", 7, kNow, limit, Key(kDeviceSecret));
  ExpectAccepted(verifier_.Verify(kClimate, props, limit, kNow));
}

TEST_F(ReadingVerifierTest, RefusesAReadingToAReservedItemAsMalformed) {
  device_protocol::UserProperties props = SigProps("dev-1", "_x", 1, kNow, "1", Key(kDeviceSecret));
  Refusal r = ExpectRefused(verifier_.Verify(Topic("devices/dev-1/data/_x"), props, "1", kNow),
                            device_protocol::DeviceError::kMalformed);
  EXPECT_EQ(r.answer_topic, "devices/dev-1/data/_x/error");
  ExpectRefused(verifier_.Verify(Topic("devices/dev-1/data/_integrity"), props, "1", kNow),
                device_protocol::DeviceError::kMalformed);
}

TEST_F(ReadingVerifierTest, RefusesBothOrNeitherAuthenticationModeAsMalformed) {
  AgreeA2();
  device_protocol::UserProperties both = A3MacProps();
  both.emplace_back("pl-sig", kSig);
  Refusal r = ExpectRefused(verifier_.Verify(kClimate, both, kPayload, kNow),
                            device_protocol::DeviceError::kMalformed);
  EXPECT_NE(r.answer_json.find(R"("seq":1,"item":"climate")"), std::string::npos);
  device_protocol::UserProperties neither = {{"pl-seq", "1"}, {"pl-ts", "1700000001000"}};
  ExpectRefused(verifier_.Verify(kClimate, neither, kPayload, kNow),
                device_protocol::DeviceError::kMalformed);
}

TEST_F(ReadingVerifierTest, LeavesSeqOutOfTheAnswerWhenItIsNotParsable) {
  device_protocol::UserProperties props = A3SigProps();
  props[0].second = "01";
  Refusal r = ExpectRefused(verifier_.Verify(kClimate, props, kPayload, kNow),
                            device_protocol::DeviceError::kMalformed);
  EXPECT_EQ(r.answer_json.find("\"seq\""), std::string::npos);
  EXPECT_NE(r.answer_json.find(R"("item":"climate")"), std::string::npos);
}

TEST_F(ReadingVerifierTest, RefusesAnUnknownDeviceAsUnregisteredOnUnauth) {
  device_protocol::UserProperties props =
      SigProps("dev-2", "climate", 1, kNow, "1", Key(kDeviceSecret));
  Refusal r = ExpectRefused(verifier_.Verify(Topic("devices/dev-2/data/climate"), props, "1", kNow),
                            device_protocol::DeviceError::kUnregistered);
  EXPECT_EQ(r.answer_topic, "devices/dev-2/unauth");
  EXPECT_EQ(r.answer_json,
            R"({"v":1,"code":"unregistered","reason":"device is not registered","seq":1,)"
            R"("item":"climate"})");
}

TEST_F(ReadingVerifierTest, RefusesAMacWithoutASessionAsNoSessionOnForbidden) {
  Refusal r = ExpectRefused(verifier_.Verify(kClimate, A3MacProps(), kPayload, kNow),
                            device_protocol::DeviceError::kNoSession);
  EXPECT_EQ(r.answer_topic, "devices/dev-1/forbidden");
  EXPECT_NE(r.answer_json.find(R"("code":"no_session")"), std::string::npos);
}

TEST_F(ReadingVerifierTest, RefusesAMacUnderAnExpiredSessionAsNoSession) {
  AgreeA2();
  device_protocol::UserProperties props = Mac("climate", 1, kExpires, "1");
  ExpectRefused(verifier_.Verify(kClimate, props, "1", kExpires),
                device_protocol::DeviceError::kNoSession);
  ExpectAccepted(verifier_.Verify(kClimate, props, "1", kExpires - 1));
}

TEST_F(ReadingVerifierTest, RefusesAWrongMacAsBadAuth) {
  AgreeA2();
  Refusal r = ExpectRefused(verifier_.Verify(kClimate, A3MacProps(), "21.6", kNow),
                            device_protocol::DeviceError::kBadAuth);
  EXPECT_EQ(r.answer_topic, "devices/dev-1/data/climate/error");
}

TEST_F(ReadingVerifierTest, RefusesAWrongSignatureAsBadAuth) {
  ExpectRefused(verifier_.Verify(kClimate, A3SigProps(), "21.6", kNow),
                device_protocol::DeviceError::kBadAuth);
  device_protocol::UserProperties other =
      SigProps("dev-1", "climate", 1, kReadingTs, kPayload, Key(kGatewaySecret));
  ExpectRefused(verifier_.Verify(kClimate, other, kPayload, kNow),
                device_protocol::DeviceError::kBadAuth);
  device_protocol::UserProperties zero = A3SigProps();
  zero[2].second = std::string(128, 'f');  // r and s out of range
  ExpectRefused(verifier_.Verify(kClimate, zero, kPayload, kNow),
                device_protocol::DeviceError::kBadAuth);
}

TEST_F(ReadingVerifierTest, RefusesReadingsAndInstallReportsOfAnUntrustedDeviceAsQuarantined) {
  integrity_.Set("dev-1", {IntegrityStatus::kUntrusted, Bytes(32, '\x01')});
  Refusal r = ExpectRefused(verifier_.Verify(kClimate, A3SigProps(), kPayload, kNow),
                            device_protocol::DeviceError::kQuarantined);
  EXPECT_EQ(r.answer_topic, "devices/dev-1/forbidden");
  device_protocol::UserProperties update =
      SigProps("dev-1", "_update", 2, kNow, kReport, Key(kDeviceSecret));
  ExpectRefused(verifier_.Verify(Topic("devices/dev-1/update/status"), update, kReport, kNow),
                device_protocol::DeviceError::kQuarantined);
  // Its integrity reports are still served, so a trusted report can lift the quarantine.
  device_protocol::UserProperties report =
      SigProps("dev-1", "_integrity", 3, kNow, kIntegrityReport, Key(kDeviceSecret));
  ExpectAccepted(
      verifier_.Verify(Topic("devices/dev-1/integrity"), report, kIntegrityReport, kNow));
}

TEST_F(ReadingVerifierTest, RefusesAnIntegrityReportNotInSectionSevensShapeAsMalformed) {
  AgreeA2();
  for (const std::string bad :
       {std::string("{}"), std::string(R"({"v":1,"boot":"b","from":0,"entries":[]})"),
        std::string(R"({"v":1,"boot":"6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d","from":0,)"
                    R"("entries":[{"pcr":10,"template":"ima-ng","hash":"ab","path":"/x"}]})")}) {
    Refusal r = ExpectRefused(verifier_.Verify(Topic("devices/dev-1/integrity"),
                                               Mac("_integrity", 5, kNow, bad), bad, kNow),
                              device_protocol::DeviceError::kMalformed);
    EXPECT_EQ(r.answer_topic, "devices/dev-1/integrity/error");
  }
}

// docs/ACCOUNTS.md: an account is verified as a message with item "_account" in D; its
// payload must be an account covering seqs below its own; quarantine does not apply.
const std::string kAccount =
    R"({"v":1,"first":1,"last":3,"count":2,"runs":[[1,1],[3,3]],"prev":")" + std::string(64, '0') +
    R"(","head":"10f01fd6dc4629e728722b91273ff0cbb5817884f0646aaaa47edb546f952b28"})";

TEST_F(ReadingVerifierTest, AcceptsAnAccountWithItsReservedItemInD) {
  AgreeA2();
  const auto topic = Topic("devices/dev-1/account");
  EXPECT_EQ(topic.kind, device_protocol::TopicKind::kAccount);
  Accepted a =
      ExpectAccepted(verifier_.Verify(topic, Mac("_account", 4, kNow, kAccount), kAccount, kNow));
  EXPECT_EQ(a.item, "_account");
  EXPECT_EQ(a.seq, 4u);
  // MACed as a reading of another item it does not verify, nor a reading as an account.
  ExpectRefused(verifier_.Verify(topic, Mac("climate", 5, kNow, kAccount), kAccount, kNow),
                device_protocol::DeviceError::kBadAuth);
  ExpectRefused(verifier_.Verify(Topic("devices/dev-1/data/_account"),
                                 Mac("_account", 6, kNow, kAccount), kAccount, kNow),
                device_protocol::DeviceError::kMalformed);
}

TEST_F(ReadingVerifierTest, RefusesAnAccountNotInItsShapeAsMalformedOnAccountError) {
  AgreeA2();
  const auto topic = Topic("devices/dev-1/account");
  for (const std::string bad : {std::string("{}"), std::string("21.5"),
                                std::string(R"({"v":1,"first":1,"last":1,"count":2,"runs":[[1,1]],)"
                                            R"("prev":"00","head":"00"})")}) {
    Refusal r = ExpectRefused(verifier_.Verify(topic, Mac("_account", 7, kNow, bad), bad, kNow),
                              device_protocol::DeviceError::kMalformed);
    EXPECT_EQ(r.answer_topic, "devices/dev-1/account/error");
  }
  // An account must cover only seqs below its own.
  Refusal r =
      ExpectRefused(verifier_.Verify(topic, Mac("_account", 3, kNow, kAccount), kAccount, kNow),
                    device_protocol::DeviceError::kMalformed);
  EXPECT_NE(r.reason.find("last"), std::string::npos) << r.reason;
}

TEST_F(ReadingVerifierTest, AcceptsTheAccountOfAQuarantinedDevice) {
  integrity_.Set("dev-1", {IntegrityStatus::kUntrusted, Bytes(32, '\x01')});
  ExpectAccepted(verifier_.Verify(
      Topic("devices/dev-1/account"),
      SigProps("dev-1", "_account", 9, kNow, kAccount, Key(kDeviceSecret)), kAccount, kNow));
}

TEST(ReadingVerifierOptions, QuarantineCanBeTurnedOff) {
  FakeDeviceDirectory devices;
  devices.Add("dev-1", Unhex(kDevicePub));
  FakeIntegrityDirectory integrity;
  integrity.Set("dev-1", {IntegrityStatus::kUntrusted, Bytes(32, '\x01')});
  ReadingVerifierOptions options;
  options.quarantine = false;
  ReadingVerifier v(options, &devices, &integrity, nullptr);
  auto r = v.Verify(kClimate, A3SigProps(), kPayload, kNow);
  ASSERT_TRUE(std::holds_alternative<Accepted>(r));
  EXPECT_EQ(std::get<Accepted>(r).integrity.status, IntegrityStatus::kUntrusted);
}

TEST_F(ReadingVerifierTest, RefusesATsOutsideTheClockWindowAsStale) {
  for (uint64_t ts : {kNow - kWindow - 1, kNow + kWindow + 1}) {
    device_protocol::UserProperties props =
        SigProps("dev-1", "climate", 1, ts, "1", Key(kDeviceSecret));
    Refusal r = ExpectRefused(verifier_.Verify(kClimate, props, "1", kNow),
                              device_protocol::DeviceError::kStale);
    EXPECT_EQ(r.answer_topic, "devices/dev-1/data/climate/error");
  }
  EXPECT_EQ(verifier_.replay_window("dev-1"), nullptr);  // nothing refused was marked
}

TEST_F(ReadingVerifierTest, AcceptsATsExactlyAtTheClockWindow) {
  device_protocol::UserProperties early =
      SigProps("dev-1", "climate", 1, kNow - kWindow, "1", Key(kDeviceSecret));
  ExpectAccepted(verifier_.Verify(kClimate, early, "1", kNow));
  device_protocol::UserProperties late =
      SigProps("dev-1", "climate", 2, kNow + kWindow, "1", Key(kDeviceSecret));
  ExpectAccepted(verifier_.Verify(kClimate, late, "1", kNow));
}

TEST_F(ReadingVerifierTest, RefusesARedeliveredReadingAsReplay) {
  AgreeA2();
  ExpectAccepted(verifier_.Verify(kClimate, A3MacProps(), kPayload, kNow));
  Refusal r = ExpectRefused(verifier_.Verify(kClimate, A3MacProps(), kPayload, kNow + 5),
                            device_protocol::DeviceError::kReplay);
  EXPECT_EQ(r.answer_topic, "devices/dev-1/data/climate/error");
  EXPECT_NE(r.answer_json.find(R"("code":"replay")"), std::string::npos);
}

TEST_F(ReadingVerifierTest, SharesOneSequenceAcrossItemsAndReports) {
  device_protocol::UserProperties a =
      SigProps("dev-1", "climate", 5, kNow, "1", Key(kDeviceSecret));
  ExpectAccepted(verifier_.Verify(kClimate, a, "1", kNow));
  device_protocol::UserProperties b = SigProps("dev-1", "door", 5, kNow, "1", Key(kDeviceSecret));
  ExpectRefused(verifier_.Verify(Topic("devices/dev-1/data/door"), b, "1", kNow),
                device_protocol::DeviceError::kReplay);
}

TEST_F(ReadingVerifierTest, AcceptsOutOfOrderSeqsWithinTheReplayWindow) {
  for (uint64_t seq : {10u, 8u, 9u}) {
    device_protocol::UserProperties p =
        SigProps("dev-1", "climate", seq, kNow, "1", Key(kDeviceSecret));
    ExpectAccepted(verifier_.Verify(kClimate, p, "1", kNow));
  }
  device_protocol::UserProperties p =
      SigProps("dev-1", "climate", 2000, kNow, "1", Key(kDeviceSecret));
  ExpectAccepted(verifier_.Verify(kClimate, p, "1", kNow));
  p = SigProps("dev-1", "climate", 976, kNow, "1", Key(kDeviceSecret));  // 2000 - 1024
  ExpectRefused(verifier_.Verify(kClimate, p, "1", kNow), device_protocol::DeviceError::kReplay);
}

TEST_F(ReadingVerifierTest, KeepsRefusingReplaysAfterARestartFromThePersistedWindow) {
  ExpectAccepted(verifier_.Verify(kClimate, A3SigProps(), kPayload, kNow));
  Bytes persisted = verifier_.replay_window("dev-1")->Serialize();

  ReadingVerifier restarted(ReadingVerifierOptions{}, &devices_, &integrity_, &sessions_);
  StatusOr<ReplayWindow> window = ReplayWindow::Deserialize(persisted);
  ASSERT_TRUE(window.ok());
  ASSERT_TRUE(restarted.RestoreReplayWindow("dev-1", *window).ok());
  auto r = restarted.Verify(kClimate, A3SigProps(), kPayload, kNow);
  ASSERT_TRUE(std::holds_alternative<Refusal>(r));
  EXPECT_EQ(std::get<Refusal>(r).error, device_protocol::DeviceError::kReplay);
  EXPECT_FALSE(restarted.RestoreReplayWindow("dev-1", ReplayWindow(64)).ok());
}

TEST_F(ReadingVerifierTest, RefusesAKeyTopicGivenToVerifyAsInternal) {
  Refusal r = ExpectRefused(verifier_.Verify(Topic("devices/dev-1/key"), A3SigProps(), "", kNow),
                            device_protocol::DeviceError::kInternal);
  EXPECT_EQ(r.answer_topic, "devices/dev-1/key/fail");
}

// --- only the first failure is answered, in section 3's order ---

TEST_F(ReadingVerifierTest, AnswersOnlyTheFirstFailureInProtocolOrder) {
  AgreeA2();
  const uint64_t stale_ts = kNow - 10 * kWindow;
  const Bytes big(1048577, 'x');
  const std::string unknown_kid = "0000000000000000";
  device_protocol::UserProperties bad_format = {{"pl-seq", "1"}, {"pl-ts", "01"}, {"pl-sig", kSig}};
  device_protocol::UserProperties no_session = {{"pl-seq", "1"},
                                                {"pl-ts", std::to_string(stale_ts)},
                                                {"pl-kid", unknown_kid},
                                                {"pl-mac", kMac}};
  device_protocol::UserProperties bad_mac_stale = Mac("climate", 1, stale_ts, "other payload");
  ExpectAccepted(verifier_.Verify(kClimate, Mac("climate", 50, kNow, "1"), "1", kNow));
  device_protocol::UserProperties stale_replay = Mac("climate", 50, stale_ts, "1");

  // too_large before malformed (and everything else).
  ExpectRefused(verifier_.Verify(Topic("devices/nobody/data/_x"), bad_format, big, kNow),
                device_protocol::DeviceError::kTooLarge);
  // malformed before unregistered.
  ExpectRefused(verifier_.Verify(Topic("devices/nobody/data/climate"), bad_format, "1", kNow),
                device_protocol::DeviceError::kMalformed);
  // unregistered before no_session.
  ExpectRefused(verifier_.Verify(Topic("devices/nobody/data/climate"), no_session, "1", kNow),
                device_protocol::DeviceError::kUnregistered);
  // no_session before bad_auth and stale.
  ExpectRefused(verifier_.Verify(kClimate, no_session, "1", kNow),
                device_protocol::DeviceError::kNoSession);
  // bad_auth before stale.
  ExpectRefused(verifier_.Verify(kClimate, bad_mac_stale, "1", kNow),
                device_protocol::DeviceError::kBadAuth);
  // quarantined before stale.
  integrity_.Set("dev-1", {IntegrityStatus::kUntrusted, Bytes(32, '\x01')});
  ExpectRefused(verifier_.Verify(kClimate, stale_replay, "1", kNow),
                device_protocol::DeviceError::kQuarantined);
  integrity_.Set("dev-1", {});
  // stale before replay.
  ExpectRefused(verifier_.Verify(kClimate, stale_replay, "1", kNow),
                device_protocol::DeviceError::kStale);
  EXPECT_EQ(verifier_.refusal_count(device_protocol::DeviceError::kTooLarge), 1u);
  EXPECT_EQ(verifier_.refusal_count(device_protocol::DeviceError::kStale), 1u);
  EXPECT_EQ(verifier_.refusal_count(device_protocol::DeviceError::kReplay), 0u);
}

TEST_F(ReadingVerifierTest, DoesNotMarkTheSeqOfARefusedReading) {
  device_protocol::UserProperties forged =
      SigProps("dev-1", "climate", 2, kNow, "1", Key(kGatewaySecret));
  ExpectRefused(verifier_.Verify(kClimate, forged, "1", kNow),
                device_protocol::DeviceError::kBadAuth);
  device_protocol::UserProperties real =
      SigProps("dev-1", "climate", 2, kNow, "1", Key(kDeviceSecret));
  ExpectAccepted(verifier_.Verify(kClimate, real, "1", kNow));
}

TEST_F(ReadingVerifierTest, AcceptsTheOldSessionDuringGraceAfterARenewal) {
  AgreeA2();
  const uint64_t renewed_at = kAgreedAt + 5000;
  Bytes dev_eph = Key(std::string(64, '3')).PublicKey();
  random_.Push(Bytes(32, '4'));
  random_.Push(Bytes(16, '5'));
  auto r = verifier_.HandleKeyRequest(
      "dev-1", KeyRequestJson("dev-1", Key(kDeviceSecret), dev_eph, Bytes(16, '3'), renewed_at),
      renewed_at, random_.AsSource());
  ASSERT_TRUE(std::holds_alternative<KeyAccepted>(r));
  const uint64_t t1 = renewed_at + 9999, t2 = renewed_at + 10000;
  ExpectAccepted(verifier_.Verify(kClimate, Mac("climate", 1, t1, "1"), "1", t1));
  ExpectRefused(verifier_.Verify(kClimate, Mac("climate", 2, t2, "1"), "1", t2),
                device_protocol::DeviceError::kNoSession);
}

// --- key requests through the verifier ---

TEST_F(ReadingVerifierTest, AnswersAnAgreedKeyOnKeySuccess) {
  PushA2BridgeRandomness(&random_);
  auto r = verifier_.HandleKeyRequest("dev-1", A2KeyRequest(), kAgreedAt, random_.AsSource());
  ASSERT_TRUE(std::holds_alternative<KeyAccepted>(r));
  const KeyAccepted& k = std::get<KeyAccepted>(r);
  EXPECT_EQ(k.answer_topic, "devices/dev-1/key/success");
  EXPECT_EQ(HexEncode(k.reply.sig), kKeyReplySig);
  EXPECT_NE(k.answer_json.find(std::string("\"sig\":\"") + kKeyReplySig), std::string::npos);
}

TEST_F(ReadingVerifierTest, AnswersKeyRefusalsOnKeyFailOrUnauth) {
  auto r = verifier_.HandleKeyRequest("dev-9", A2KeyRequest(), kAgreedAt, random_.AsSource());
  ASSERT_TRUE(std::holds_alternative<Refusal>(r));
  EXPECT_EQ(std::get<Refusal>(r).answer_topic, "devices/dev-9/key/fail");  // device field differs
  EXPECT_EQ(std::get<Refusal>(r).error, device_protocol::DeviceError::kMalformed);

  devices_.Add("dev-1", Unhex(kGatewayPub));  // registered with another key
  r = verifier_.HandleKeyRequest("dev-1", A2KeyRequest(), kAgreedAt, random_.AsSource());
  ASSERT_TRUE(std::holds_alternative<Refusal>(r));
  EXPECT_EQ(std::get<Refusal>(r).error, device_protocol::DeviceError::kBadAuth);
  EXPECT_EQ(std::get<Refusal>(r).answer_topic, "devices/dev-1/key/fail");
  EXPECT_NE(std::get<Refusal>(r).answer_json.find(std::string("\"nonce\":\"") + kDeviceNonce),
            std::string::npos);
  EXPECT_EQ(std::get<Refusal>(r).answer_json.find("\"item\""), std::string::npos);
}

TEST_F(ReadingVerifierTest, AnswersAnUnregisteredKeyRequestOnUnauth) {
  std::string payload = KeyRequestJson("dev-7", Key(kDeviceSecret), Unhex(kDeviceEphPub),
                                       Unhex(kDeviceNonce), kRequestTs);
  auto r = verifier_.HandleKeyRequest("dev-7", payload, kAgreedAt, random_.AsSource());
  ASSERT_TRUE(std::holds_alternative<Refusal>(r));
  EXPECT_EQ(std::get<Refusal>(r).error, device_protocol::DeviceError::kUnregistered);
  EXPECT_EQ(std::get<Refusal>(r).answer_topic, "devices/dev-7/unauth");
}

TEST_F(ReadingVerifierTest, RefusesAnOversizedKeyRequestAsTooLarge) {
  ReadingVerifierOptions options;
  options.max_payload_bytes = 64;
  ReadingVerifier v(options, &devices_, &integrity_, &sessions_);
  auto r = v.HandleKeyRequest("dev-1", A2KeyRequest(), kAgreedAt, random_.AsSource());
  ASSERT_TRUE(std::holds_alternative<Refusal>(r));
  EXPECT_EQ(std::get<Refusal>(r).error, device_protocol::DeviceError::kTooLarge);
  EXPECT_EQ(std::get<Refusal>(r).answer_topic, "devices/dev-1/key/fail");
}

// --- install reports (PROTOCOL.md section 8) ---

TEST_F(ReadingVerifierTest, AcceptsAnInstallReportOfSectionEightAndIgnoresUnknownMembers) {
  uint64_t seq = 5;
  for (const std::string& report :
       {kReport,
        std::string(R"({"reason":"","result":"refused","counter":0,"version":"0.0.1",)"
                    R"("model":"m","vendor":"v","v":1})"),
        std::string(R"({"v":1,"vendor":"acme","model":"m-1","version":"2.0.0","counter":8,)"
                    R"("result":"installed","reason":"ok","extra":[1,{"a":null}]})")}) {
    SCOPED_TRACE(report);
    device_protocol::UserProperties props =
        SigProps("dev-1", "_update", seq++, kNow, report, Key(kDeviceSecret));
    Accepted a = ExpectAccepted(verifier_.Verify(kUpdateStatus, props, report, kNow));
    EXPECT_EQ(a.item, "_update");
    EXPECT_EQ(a.kind, device_protocol::TopicKind::kUpdateStatus);
  }
}

TEST_F(ReadingVerifierTest, RefusesEveryOtherInstallReportAsMalformedWithItsSeq) {
  const std::string random40 =
      std::string("\x8f\x01\xff\x00 garbage \x7f\xc3\x28", 16) + std::string(24, '\xa5');
  struct Case {
    const char* desc;
    std::string payload;
  } cases[] = {
      {"40 random bytes", random40},
      {"empty", ""},
      {"not an object", "[1,2]"},
      {"v is 2",
       R"({"v":2,"vendor":"acme","model":"m-1","version":"1.0.0","counter":7,"result":"installed","reason":"ok"})"},
      {"v missing",
       R"({"vendor":"acme","model":"m-1","version":"1.0.0","counter":7,"result":"installed","reason":"ok"})"},
      {"v a string",
       R"({"v":"1","vendor":"acme","model":"m-1","version":"1.0.0","counter":7,"result":"installed","reason":"ok"})"},
      {"vendor missing",
       R"({"v":1,"model":"m-1","version":"1.0.0","counter":7,"result":"installed","reason":"ok"})"},
      {"vendor not a name",
       R"({"v":1,"vendor":"ac me","model":"m-1","version":"1.0.0","counter":7,"result":"installed","reason":"ok"})"},
      {"model a number",
       R"({"v":1,"vendor":"acme","model":3,"version":"1.0.0","counter":7,"result":"installed","reason":"ok"})"},
      {"version not semver",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0","counter":7,"result":"installed","reason":"ok"})"},
      {"version leading zero",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.01.0","counter":7,"result":"installed","reason":"ok"})"},
      {"counter a string",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0.0","counter":"7","result":"installed","reason":"ok"})"},
      {"counter negative",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0.0","counter":-7,"result":"installed","reason":"ok"})"},
      {"counter fractional",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0.0","counter":7.5,"result":"installed","reason":"ok"})"},
      {"result unknown",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0.0","counter":7,"result":"done","reason":"ok"})"},
      {"reason missing",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0.0","counter":7,"result":"installed"})"},
      {"reason null",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0.0","counter":7,"result":"installed","reason":null})"},
      {"repeated member",
       R"({"v":1,"vendor":"acme","model":"m-1","version":"1.0.0","counter":7,"counter":8,"result":"installed","reason":"ok"})"},
      {"trailing bytes", kReport + "x"},
      {"byte-order mark", "\xef\xbb\xbf" + kReport},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.desc);
    device_protocol::UserProperties props =
        SigProps("dev-1", "_update", 9, kNow, c.payload, Key(kDeviceSecret));
    Refusal r = ExpectRefused(verifier_.Verify(kUpdateStatus, props, c.payload, kNow),
                              device_protocol::DeviceError::kMalformed);
    EXPECT_EQ(r.answer_topic, "devices/dev-1/update/status/error");
    EXPECT_NE(r.answer_json.find("\"seq\":9"), std::string::npos) << r.answer_json;
    EXPECT_NE(r.answer_json.find("\"item\":\"_update\""), std::string::npos) << r.answer_json;
  }
  EXPECT_EQ(verifier_.accepted_count(), 0u);
  EXPECT_EQ(verifier_.replay_window("dev-1"), nullptr);  // nothing refused is marked
}

TEST(InstallReport, SemverFollowsSemanticVersioningTwo) {
  for (const char* ok :
       {"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
        "1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0+001"}) {
    EXPECT_TRUE(device_protocol::IsSemver(ok)) << ok;
  }
  for (const char* bad :
       {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.03", "v1.2.3", "1.2.3-", "1.2.3+", "1.2.3-01",
        "1.2.3-a..b", "1.2.3 ", "-1.2.3", "1.2.x", "1.2.3-a_b"}) {
    EXPECT_FALSE(device_protocol::IsSemver(bad)) << bad;
  }
}

// --- logging ---

TEST_F(ReadingVerifierTest, LogsRefusalsWithoutKeysOrPayloads) {
  AgreeA2();
  const std::string payload = "secret-payload-text";
  ExpectRefused(verifier_.Verify(kClimate, A3MacProps(), payload, kNow),
                device_protocol::DeviceError::kBadAuth);
  ExpectRefused(verifier_.Verify(Topic("devices/nobody/data/climate"), A3SigProps(), payload, kNow),
                device_protocol::DeviceError::kUnregistered);
  ASSERT_GE(log_.size(), 3u);  // session_agreed + two refusals
  for (const VerifierEvent& ev : log_) {
    for (const auto& [k, v] : ev.fields) {
      SCOPED_TRACE(k + "=" + v);
      EXPECT_EQ(v.find(kSessionKey), std::string::npos);
      EXPECT_EQ(v.find(payload), std::string::npos);
      EXPECT_EQ(v.find(kMac), std::string::npos);
      EXPECT_EQ(v.find(kBridgeEphSecret), std::string::npos);
      EXPECT_EQ(v.find('\n'), std::string::npos);
    }
  }
  const VerifierEvent& last = log_.back();
  EXPECT_EQ(last.name, "message_refused");
  EXPECT_EQ(last.level, LogLevel::kWarn);
  std::vector<std::pair<std::string, std::string>> head(last.fields.begin(),
                                                        last.fields.begin() + 5);
  EXPECT_EQ(head, (std::vector<std::pair<std::string, std::string>>{{"device", "nobody"},
                                                                    {"kind", "data"},
                                                                    {"item", "climate"},
                                                                    {"code", "unregistered"},
                                                                    {"seq", "1"}}));
}

TEST_F(ReadingVerifierTest, ReportsASessionAgreementAsItsOwnInfoEvent) {
  AgreeA2();
  ASSERT_EQ(log_.size(), 1u);
  const VerifierEvent& ev = log_[0];
  EXPECT_EQ(ev.name, "session_agreed");
  EXPECT_EQ(ev.level, LogLevel::kInfo);
  ASSERT_NE(ev.Find("device"), nullptr);
  EXPECT_EQ(*ev.Find("device"), "dev-1");
  ASSERT_NE(ev.Find("kid"), nullptr);
  EXPECT_EQ(*ev.Find("kid"), kKid);
  EXPECT_NE(ev.Find("expires"), nullptr);
  for (const auto& [k, v] : ev.fields) {
    SCOPED_TRACE(k);
    EXPECT_NE(k, "ts");  // the logger adds the fixed keys; an event never carries them
    EXPECT_NE(k, "lvl");
    EXPECT_NE(k, "ev");
    EXPECT_EQ(v.find("ev="), std::string::npos);  // no line wrapped inside a value
  }
}

TEST_F(ReadingVerifierTest, RateLimitsRefusalLogLines) {
  for (int i = 0; i < 50; ++i) {
    ExpectRefused(verifier_.Verify(kClimate, {}, "", kNow),
                  device_protocol::DeviceError::kMalformed);
  }
  EXPECT_EQ(log_.size(), 10u);
  EXPECT_EQ(verifier_.refusal_count(device_protocol::DeviceError::kMalformed), 50u);
  ExpectRefused(verifier_.Verify(kClimate, {}, "", kNow + 1000),
                device_protocol::DeviceError::kMalformed);
  EXPECT_EQ(log_.size(), 11u);
}

TEST(ReadingVerifierOptions, DefaultsMatchTheProtocolAndValidate) {
  ReadingVerifierOptions o;
  EXPECT_EQ(o.topic_prefix, "devices");
  EXPECT_EQ(o.max_payload_bytes, 1048576u);
  EXPECT_EQ(o.clock_window_ms, 300000u);
  EXPECT_EQ(o.replay_window, 1024u);
  EXPECT_TRUE(o.Validate().ok());
  o.topic_prefix = "$SYS";
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace bridge
}  // namespace provledger
