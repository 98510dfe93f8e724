// Unit tests of device_sim's pure parts: options, answer parsing, key agreement (PROTOCOL.md
// A.2, and against the bridge's own SessionKeyStore), readings (A.3), the ack tracker and
// its summary. No network, clock or sleep.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <variant>
#include <vector>

#include "absl/flags/reflection.h"
#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/json.h"
#include "common/log.h"
#include "common/sha256.h"
#include "device_protocol/answers.h"
#include "device_protocol/key_agreement.h"
#include "mqtt-bridge/session_key_store.h"
#include "tests/device_protocol/appendix_a.h"
#include "tools/device_sim/ack_tracker.h"
#include "tools/device_sim/device_answers.h"
#include "tools/device_sim/reading_builder.h"
#include "tools/device_sim/sim_options.h"

namespace provledger::device_sim {
namespace {

// PROTOCOL.md Appendix A.1-A.3.
using appendix_a::kBridgeEphPub;
using appendix_a::kBridgeNonce;
using appendix_a::kDeviceEphPub;
using appendix_a::kDeviceEphSecret;
using appendix_a::kDeviceNonce;
using appendix_a::kDeviceSecret;
using appendix_a::kExpires;
using appendix_a::kGatewayPub;
using appendix_a::kGatewaySecret;
using appendix_a::kKeyReplySig;
using appendix_a::kKeyRequestSig;
using appendix_a::kKid;
using appendix_a::kMac;
using appendix_a::kReadingTs;
using appendix_a::kRequestTs;
using appendix_a::kSessionKey;
using appendix_a::kSig;
using appendix_a::Unhex;

PrivateKey Key(std::string_view hex) { return *PrivateKey::FromHex(hex); }

// Hands out fixed chunks in order.
device_protocol::RandomSource Scripted(std::deque<Bytes>* chunks) {
  return [chunks](size_t n) {
    EXPECT_FALSE(chunks->empty());
    Bytes b = chunks->empty() ? Bytes(n, '\1') : chunks->front();
    if (!chunks->empty()) chunks->pop_front();
    EXPECT_EQ(b.size(), n);
    return b;
  };
}

KeyAgreement StartA2() {
  std::deque<Bytes> r = {Unhex(kDeviceEphSecret), Unhex(kDeviceNonce)};
  return *KeyAgreement::Start("dev-1", Key(kDeviceSecret), kRequestTs, Scripted(&r));
}

device_protocol::KeyReply A2Reply() {
  return device_protocol::KeyReply{"gw-1",   Unhex(kBridgeEphPub), Unhex(kBridgeNonce), Unhex(kKid),
                                   kExpires, Unhex(kKeyReplySig)};
}

GatewayTrust A2Trust() { return GatewayTrust{"gw-1", Unhex(kGatewayPub)}; }

// ---- KeyAgreement -------------------------------------------------------------------

TEST(KeyAgreement, StartMakesTheSignedRequestOfAppendixA2) {
  KeyAgreement a = StartA2();
  StatusOr<JsonValue> req = ParseJson(a.request_json());
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(*req->GetInt("v"), 1u);
  EXPECT_EQ(*req->GetString("device"), "dev-1");
  EXPECT_EQ(*req->GetString("eph"), kDeviceEphPub);
  EXPECT_EQ(*req->GetString("nonce"), kDeviceNonce);
  EXPECT_EQ(*req->GetInt("ts"), kRequestTs);
  EXPECT_EQ(*req->GetString("sig"), kKeyRequestSig);
}

TEST(KeyAgreement, FinishDerivesTheSessionKeyOfAppendixA2) {
  StatusOr<Session> s = StartA2().Finish(device_protocol::KeyReplyJson(A2Reply()), A2Trust());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(HexEncode(s->key), kSessionKey);
  EXPECT_EQ(HexEncode(s->kid), kKid);
  EXPECT_EQ(s->gateway, "gw-1");
  EXPECT_EQ(s->expires, kExpires);
}

TEST(KeyAgreement, RefusesAReplyFromAnotherGatewayId) {
  GatewayTrust trust = A2Trust();
  trust.gateway_id = "gw-2";
  StatusOr<Session> s = StartA2().Finish(device_protocol::KeyReplyJson(A2Reply()), trust);
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
}

TEST(KeyAgreement, RefusesAReplySignedByAnotherKey) {
  GatewayTrust trust = A2Trust();
  trust.gateway_pubkey = Key(kDeviceSecret).PublicKey();
  StatusOr<Session> s = StartA2().Finish(device_protocol::KeyReplyJson(A2Reply()), trust);
  EXPECT_EQ(s.status().code(), StatusCode::kUnauthenticated);
}

TEST(KeyAgreement, RefusesAReplyWhoseExpiresWasChanged) {
  device_protocol::KeyReply reply = A2Reply();
  reply.expires += 1;
  StatusOr<Session> s = StartA2().Finish(device_protocol::KeyReplyJson(reply), A2Trust());
  EXPECT_EQ(s.status().code(), StatusCode::kUnauthenticated);
}

TEST(KeyAgreement, RefusesAKidUnlikeTheDerivedKeysEvenWithoutAGatewayKey) {
  device_protocol::KeyReply reply = A2Reply();
  reply.kid[0] ^= 1;
  StatusOr<Session> s = StartA2().Finish(device_protocol::KeyReplyJson(reply), GatewayTrust{});
  EXPECT_EQ(s.status().code(), StatusCode::kUnauthenticated);
}

TEST(KeyAgreement, RefusesAReplyForAnotherRequest) {
  std::deque<Bytes> r = {Bytes(32, '\7'), Unhex(kDeviceNonce)};
  KeyAgreement other = *KeyAgreement::Start("dev-1", Key(kDeviceSecret), kRequestTs, Scripted(&r));
  StatusOr<Session> s = other.Finish(device_protocol::KeyReplyJson(A2Reply()), A2Trust());
  EXPECT_EQ(s.status().code(), StatusCode::kUnauthenticated);
}

TEST(KeyAgreement, RefusesMalformedReplies) {
  const std::string good = device_protocol::KeyReplyJson(A2Reply());
  const std::vector<std::string> bad = {
      "", "[]", good.substr(0, good.size() - 1), std::string("{\"v\":2") + good.substr(6),
      // upper-case hex in the kid
      std::string(good).replace(good.find(kKid), 16, "C919DEF2B263A0AF")};
  for (const std::string& b : bad) {
    SCOPED_TRACE(b);
    EXPECT_EQ(StartA2().Finish(b, A2Trust()).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(KeyAgreement, AgreesWithTheBridgesSessionKeyStore) {
  std::deque<Bytes> dev_r = {Bytes(32, '\5'), Bytes(16, '\6')};
  KeyAgreement a = *KeyAgreement::Start("dev-9", Key(kDeviceSecret), kRequestTs, Scripted(&dev_r));
  bridge::SessionKeyStore store("gw-1", Key(kGatewaySecret), bridge::SessionKeyOptions{});
  std::deque<Bytes> gw_r = {Bytes(32, '\3'), Bytes(16, '\4')};
  auto result = store.HandleKeyRequest("dev-9", a.request_json(), Key(kDeviceSecret).PublicKey(),
                                       kRequestTs + 5, Scripted(&gw_r));
  ASSERT_TRUE(std::holds_alternative<bridge::KeyAgreed>(result));
  StatusOr<Session> s = a.Finish(std::get<bridge::KeyAgreed>(result).answer_json, A2Trust());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  StatusOr<Bytes> bridge_key = store.Lookup("dev-9", s->kid, kRequestTs + 10);
  ASSERT_TRUE(bridge_key.ok());
  EXPECT_EQ(*bridge_key, s->key);
}

// ---- Readings -----------------------------------------------------------------------

Session A2Session() { return Session{"gw-1", Unhex(kSessionKey), Unhex(kKid), kExpires}; }
ReadingSpec A3Spec() { return ReadingSpec{"dev-1", "climate", 1, kReadingTs}; }

std::string Prop(const UserProperties& props, const std::string& name) {
  for (const auto& [k, v] : props) {
    if (k == name) return v;
  }
  return "<absent>";
}

TEST(ReadingBuilder, MacPropertiesReproduceAppendixA3) {
  UserProperties p = MacProperties(A3Spec(), "21.5", A2Session(), Fault::kNone);
  EXPECT_EQ(p,
            (UserProperties{
                {"pl-seq", "1"}, {"pl-ts", "1700000001000"}, {"pl-kid", kKid}, {"pl-mac", kMac}}));
}

TEST(ReadingBuilder, SigPropertiesReproduceAppendixA3) {
  StatusOr<UserProperties> p = SigProperties(A3Spec(), "21.5", Key(kDeviceSecret), Fault::kNone);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (UserProperties{{"pl-seq", "1"}, {"pl-ts", "1700000001000"}, {"pl-sig", kSig}}));
}

TEST(ReadingBuilder, BadMacAndBadSigFlipOneBit) {
  const std::string mac =
      Prop(MacProperties(A3Spec(), "21.5", A2Session(), Fault::kBadMac), "pl-mac");
  EXPECT_NE(mac, kMac);
  EXPECT_EQ(mac.substr(0, 62), std::string(kMac).substr(0, 62));
  const std::string sig =
      Prop(*SigProperties(A3Spec(), "21.5", Key(kDeviceSecret), Fault::kBadSig), "pl-sig");
  EXPECT_NE(sig, kSig);
  EXPECT_EQ(sig.substr(0, 126), std::string(kSig).substr(0, 126));
}

TEST(ReadingBuilder, MalformedWritesTheSeqWithALeadingZero) {
  EXPECT_EQ(Prop(MacProperties(A3Spec(), "21.5", A2Session(), Fault::kMalformed), "pl-seq"), "01");
}

TEST(ReadingBuilder, GeneratedPayloadIsPaddedToTheExactSize) {
  EXPECT_EQ(GeneratePayload(7, 0), "{\"value\":20.7,\"n\":7}");
  for (uint64_t size : {40u, 1000u, 2000000u}) {
    std::string p = GeneratePayload(3, size);
    EXPECT_EQ(p.size(), size);
    EXPECT_EQ(p.rfind("{\"value\":20.3,\"n\":3,\"pad\":\"xx", 0), 0u);
    EXPECT_EQ(p.substr(p.size() - 4), "xx\"}");
  }
}

TEST(ReadingBuilder, SentMessageRoundTripsThroughItsJsonLine) {
  SentMessage m{"sim-0",
                "temp",
                42,
                "devices/sim-0/data/temp",
                std::string("\0\xff", 2),
                {{"pl-seq", "42"}, {"pl-ts", "9"}}};
  StatusOr<SentMessage> back = ParseSentMessage(SentMessageJson(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->device, m.device);
  EXPECT_EQ(back->seq, m.seq);
  EXPECT_EQ(back->topic, m.topic);
  EXPECT_EQ(back->payload, m.payload);
  EXPECT_EQ(back->props, m.props);
}

// ---- Answers ------------------------------------------------------------------------

TEST(DeviceAnswers, ParsesEachAnswerTopic) {
  EXPECT_EQ(ParseAnswerTopic("devices", "devices/d1/key/success")->kind, AnswerKind::kKeySuccess);
  EXPECT_EQ(ParseAnswerTopic("devices", "devices/d1/key/fail")->kind, AnswerKind::kKeyFail);
  EXPECT_EQ(ParseAnswerTopic("devices", "devices/d1/unauth")->kind, AnswerKind::kUnauth);
  EXPECT_EQ(ParseAnswerTopic("devices", "devices/d1/forbidden")->kind, AnswerKind::kForbidden);
  StatusOr<AnswerTopic> t = ParseAnswerTopic("a/b", "a/b/d1/data/temp/datas");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->device, "d1");
  EXPECT_EQ(t->item, "temp");
  EXPECT_EQ(t->kind, AnswerKind::kDatas);
  EXPECT_EQ(ParseAnswerTopic("devices", "devices/d1/data/t/error")->kind, AnswerKind::kDataError);
}

TEST(DeviceAnswers, IgnoresTopicsThatAreNotAnswers) {
  for (const char* topic : {"devices/d1/key", "devices/d1/data/temp", "other/d1/unauth",
                            "devices/d 1/unauth", "devices/d1/data/temp/done", "devices"}) {
    SCOPED_TRACE(topic);
    EXPECT_FALSE(ParseAnswerTopic("devices", topic).ok());
  }
}

TEST(DeviceAnswers, ParsesBothAckForms) {
  StatusOr<Ack> a = ParseAck(device_protocol::AckJson(9, {3, 9}, Bytes(32, '\x11'), 4));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->recorded);
  EXPECT_EQ(a->seqs, (std::vector<uint64_t>{3, 9}));
  EXPECT_EQ(a->height, 4u);
  StatusOr<Ack> skipped = ParseAck(device_protocol::SkippedAckJson(5));
  ASSERT_TRUE(skipped.ok());
  EXPECT_FALSE(skipped->recorded);
  EXPECT_EQ(skipped->seq, 5u);
}

TEST(DeviceAnswers, RefusesAcksWhoseSeqsDoNotEndWithSeq) {
  const std::string rec = "\"record\":\"" + std::string(64, 'a') + "\",\"height\":1}";
  EXPECT_FALSE(ParseAck("{\"v\":1,\"seq\":9,\"seqs\":[3,8],\"recorded\":true," + rec).ok());
  EXPECT_FALSE(ParseAck("{\"v\":1,\"seq\":9,\"seqs\":[9,9],\"recorded\":true," + rec).ok());
  EXPECT_FALSE(ParseAck("{\"v\":2,\"seq\":9,\"recorded\":false}").ok());
}

TEST(DeviceAnswers, ParsesTheBridgesErrorJson) {
  StatusOr<ErrorAnswer> e = ParseErrorAnswer(device_protocol::ErrorJson(
      device_protocol::DeviceError::kReplay, "dup", 7, std::string("temp"), Bytes(16, 'n')));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, "replay");
  EXPECT_EQ(*e->seq, 7u);
  EXPECT_EQ(*e->item, "temp");
  EXPECT_EQ(*e->nonce, Bytes(16, 'n'));
}

// ---- AckTracker ---------------------------------------------------------------------

Ack Recorded(uint64_t seq, std::vector<uint64_t> seqs, uint64_t height, char id = 'r') {
  return Ack{seq, true, std::move(seqs), Bytes(32, id), height};
}
ErrorAnswer Error(std::string code, std::optional<uint64_t> seq) {
  return ErrorAnswer{std::move(code), "", seq, std::nullopt, std::nullopt};
}

class AckTrackerTest : public ::testing::Test {
 protected:
  void PublishSeqs(uint64_t from, uint64_t to, double at = 0) {
    for (uint64_t s = from; s <= to; ++s) tracker_.OnPublished("d", s, s - from, at);
  }
  AckTracker tracker_;
};

TEST_F(AckTrackerTest, AnAckCoversExactlyItsListedSeqs) {
  PublishSeqs(1, 5);
  EXPECT_EQ(tracker_.OnAck("d", Recorded(4, {1, 4}, 7), 10), 2u);
  EXPECT_EQ(tracker_.outstanding(), 3u);
  EXPECT_TRUE(tracker_.Accepted("d", 1));
  EXPECT_FALSE(tracker_.Accepted("d", 2));
  EXPECT_TRUE(tracker_.Accepted("d", 4));
}

TEST_F(AckTrackerTest, ASkippedAckCoversOnlyItsSeq) {
  PublishSeqs(1, 2);
  EXPECT_EQ(tracker_.OnAck("d", Ack{2, false, {}, {}, 0}, 1), 1u);
  Summary s = tracker_.Summarize(1, "");
  EXPECT_EQ(s.acked_skipped, 1u);
  EXPECT_EQ(s.unanswered, 1u);
  EXPECT_FALSE(s.ok);
}

TEST_F(AckTrackerTest, AnAckForUnknownOrAnsweredSeqsIsUnmatched) {
  PublishSeqs(1, 1);
  EXPECT_EQ(tracker_.OnAck("d", Recorded(1, {1}, 1), 1), 1u);
  EXPECT_EQ(tracker_.OnAck("d", Recorded(1, {1}, 1), 2), 0u);
  EXPECT_EQ(tracker_.OnAck("other", Recorded(1, {1}, 1), 2), 0u);
  EXPECT_EQ(tracker_.Summarize(1, "").unmatched_answers, 2u);
}

TEST_F(AckTrackerTest, AnErrorWithoutSeqAnswersTheOldestWaitingReading) {
  PublishSeqs(10, 12);
  EXPECT_EQ(tracker_.OnError("d", Error("malformed", std::nullopt), 1).seq, 10u);
  EXPECT_EQ(tracker_.OnError("d", Error("malformed", std::nullopt), 1).seq, 11u);
  EXPECT_EQ(tracker_.outstanding(), 1u);
}

TEST_F(AckTrackerTest, NoSessionHandsTheReadingBackAndTheResendKeepsItsLatency) {
  tracker_.OnPublished("d", 5, 0, 100);
  ErrorOutcome out = tracker_.OnError("d", Error("no_session", 5), 110);
  EXPECT_EQ(out.action, ErrorOutcome::Action::kResend);
  EXPECT_EQ(out.index, 0u);
  EXPECT_EQ(tracker_.outstanding(), 1u);
  tracker_.OnPublished("d", 6, 0, 150, 5);
  tracker_.OnAck("d", Recorded(6, {6}, 3), 200);
  Summary s = tracker_.Summarize(1, "");
  EXPECT_TRUE(s.ok) << s.verdict;
  EXPECT_EQ(s.readings, 1u);
  EXPECT_EQ(s.published, 2u);
  EXPECT_EQ(s.resent, 1u);
  EXPECT_DOUBLE_EQ(s.latency_ms.max, 100.0);
}

TEST(AckTracker, NoSessionIsFinalOnceResendsRunOut) {
  AckTracker t(TrackerOptions{{"no_session"}, 0, 5});
  t.OnPublished("d", 5, 0, 0);
  EXPECT_EQ(t.OnError("d", Error("no_session", 5), 1).action, ErrorOutcome::Action::kFinal);
  Summary s = t.Summarize(1, "no_session");
  EXPECT_TRUE(s.ok) << s.verdict;
  EXPECT_EQ(s.errors, (std::map<std::string, uint64_t>{{"no_session", 1}}));
}

TEST_F(AckTrackerTest, AReplayCopyAnsweredReplayIsCountedApartFromTheReading) {
  tracker_.OnPublished("d", 3, 0, 0);
  tracker_.OnReplayCopyPublished("d", 3, 0);
  EXPECT_EQ(tracker_.OnError("d", Error("replay", 3), 1).action, ErrorOutcome::Action::kReplayCopy);
  tracker_.OnAck("d", Recorded(3, {3}, 1), 2);
  Summary s = tracker_.Summarize(1, "");
  EXPECT_TRUE(s.ok) << s.verdict;
  EXPECT_EQ(s.replay_answered, 1u);
  EXPECT_TRUE(s.errors.empty());
}

TEST_F(AckTrackerTest, AReplayCopyThatIsAcknowledgedFailsTheRun) {
  tracker_.OnReplayCopyPublished("d", 3, 0);
  tracker_.OnAck("d", Recorded(3, {3}, 1), 2);
  Summary s = tracker_.Summarize(1, "");
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.replay_other, (std::map<std::string, uint64_t>{{"acked", 1}}));
}

// After a reconnect the MQTT client sends its unacknowledged readings again; the bridge
// answers such a copy `replay` (PROTOCOL.md 5), possibly before the first copy's ack.
TEST_F(AckTrackerTest, AReplayAfterAReconnectWaitsForTheFirstCopysAck) {
  tracker_.set_connections(1);
  tracker_.OnPublished("d", 3, 0, 0);
  tracker_.set_connections(2);
  EXPECT_EQ(tracker_.OnError("d", Error("replay", 3), 1).action, ErrorOutcome::Action::kReplayCopy);
  EXPECT_EQ(tracker_.outstanding(), 1u);  // still waiting for its ack
  EXPECT_EQ(tracker_.OnAck("d", Recorded(3, {3}, 1), 2), 1u);
  Summary s = tracker_.Summarize(1, "");
  EXPECT_TRUE(s.ok) << s.verdict;
  EXPECT_EQ(s.acked_recorded, 1u);
  EXPECT_EQ(s.replay_before_ack, 1u);
  EXPECT_TRUE(s.errors.empty());
}

TEST_F(AckTrackerTest, AReadingThatOnlyHeardReplayAfterAReconnectFails) {
  tracker_.set_connections(1);
  tracker_.OnPublished("d", 3, 0, 0);
  tracker_.set_connections(2);
  tracker_.OnError("d", Error("replay", 3), 1);
  Summary s = tracker_.Summarize(1, "");
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.errors, (std::map<std::string, uint64_t>{{"replay", 1}}));
  EXPECT_EQ(s.unanswered, 0u);
}

TEST_F(AckTrackerTest, AReplayWithoutAReconnectIsFinalAtOnce) {
  tracker_.set_connections(1);
  tracker_.OnPublished("d", 3, 0, 0);
  EXPECT_EQ(tracker_.OnError("d", Error("replay", 3), 1).action, ErrorOutcome::Action::kFinal);
  EXPECT_EQ(tracker_.outstanding(), 0u);
  EXPECT_EQ(tracker_.Summarize(1, "").errors, (std::map<std::string, uint64_t>{{"replay", 1}}));
}

TEST_F(AckTrackerTest, ExpectErrorSucceedsOnlyWhenEveryReadingGotThatCode) {
  PublishSeqs(1, 2);
  tracker_.OnError("d", Error("bad_auth", 1), 1);
  EXPECT_FALSE(tracker_.Summarize(1, "bad_auth").ok);  // one unanswered
  tracker_.OnError("d", Error("stale", 2), 1);
  Summary s = tracker_.Summarize(1, "bad_auth");
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.verdict.find("other errors than bad_auth: stale=1"), std::string::npos) << s.verdict;
}

TEST_F(AckTrackerTest, AnErrorFailsARunThatExpectsAcks) {
  PublishSeqs(1, 2);
  tracker_.OnAck("d", Recorded(1, {1}, 1), 1);
  tracker_.OnError("d", Error("stale", 2), 1);
  Summary s = tracker_.Summarize(1, "");
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.verdict, "errors came back: stale=1");
}

TEST_F(AckTrackerTest, ReadingsNeverSentCountWithTheirCodeOrAsUnanswered) {
  tracker_.OnNotSent("d", 3, "unregistered");
  tracker_.OnNotSent("e", 2, "");
  Summary s = tracker_.Summarize(2, "unregistered");
  EXPECT_EQ(s.readings, 5u);
  EXPECT_EQ(s.errors.at("unregistered"), 3u);
  EXPECT_EQ(s.unanswered, 2u);
  EXPECT_FALSE(s.ok);
}

TEST(AckTracker, KeepsTheLatestRecordsAndTheHighestAsLast) {
  AckTracker t(TrackerOptions{{"no_session"}, 3, 2});
  for (uint64_t s = 1; s <= 3; ++s) t.OnPublished("d", s, s, 0);
  t.OnAck("d", Recorded(1, {1}, 5, 'a'), 1);
  t.OnAck("d", Recorded(2, {2}, 6, 'b'), 1);
  t.OnAck("d", Recorded(3, {3}, 4, 'c'), 1);  // arrives late, lower height
  Summary s = t.Summarize(1, "");
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[0].seq, 2u);
  EXPECT_EQ(s.records[1].seq, 3u);
  EXPECT_EQ(s.last_record->height, 6u);
}

TEST(Percentiles, UseTheNearestRank) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  LatencyPercentiles p = ComputePercentiles(v);
  EXPECT_EQ(p.p50, 50);
  EXPECT_EQ(p.p95, 95);
  EXPECT_EQ(p.p99, 99);
  EXPECT_EQ(p.max, 100);
  EXPECT_EQ(ComputePercentiles({7}).p50, 7);
  EXPECT_EQ(ComputePercentiles({}).max, 0);
}

TEST(SummaryJson, IsOneLineWithTheAgreedKeys) {
  AckTracker t;
  t.OnPublished("sim-0", 1, 0, 0);
  t.OnPublished("sim-0", 2, 1, 500);
  t.OnAck("sim-0", Recorded(2, {1, 2}, 3, '\xab'), 1000);
  const std::string rec = HexEncode(Bytes(32, '\xab'));
  EXPECT_EQ(
      SummaryJson(t.Summarize(1, "")),
      "{\"devices\":1,\"readings\":2,\"published\":2,\"acked_recorded\":2,"
      "\"acked_skipped\":0,\"errors\":{},\"unanswered\":0,\"publish_rate\":4.000,"
      "\"ack_rate\":2.000,\"latency_ms\":{\"p50\":500.000,\"p95\":1000.000,"
      "\"p99\":1000.000,\"max\":1000.000},\"last_record\":\"" +
          rec +
          "\",\"last_height\":3,\"records\":[{\"device\":\"sim-0\",\"seq\":2,"
          "\"record\":\"" +
          rec +
          "\",\"height\":3}],\"resent\":0,\"not_sent\":0,\"replay\":{\"sent\":0,"
          "\"answered_replay\":0,\"other\":{},\"unanswered\":0,\"before_ack\":0},\"unmatched\":0,"
          "\"ack_shape\":{\"items\":0,\"acks\":0,\"same_block\":0,\"out_of_order\":0,\"datas\":0,"
          "\"datas_not_first\":0,\"items_without_datas\":0},"
          "\"unanswered_seqs\":{},\"ok\":true,\"verdict\":\"\"}");
}

TEST(AckTracker, CountsAcksSharingABlockArrivingOutOfOrderAndDatasOffTheFirstBlock) {
  AckTracker t;
  t.OnAckShape("d", "temp", true, Recorded(2, {1, 2}, 5));
  t.OnAckShape("d", "temp", false, Recorded(3, {3}, 5));  // a second ack for block 5
  t.OnAckShape("d", "temp", false, Recorded(5, {5}, 7));
  t.OnAckShape("d", "temp", true, Recorded(4, {4}, 6));        // below 7, and a second datas
  t.OnAckShape("d", "hum", false, Recorded(9, {9}, 7));        // never on datas
  t.OnAckShape("d", "hum", false, Ack{10, false, {}, {}, 0});  // skipped: not counted
  Summary s = t.Summarize(1, "");
  EXPECT_EQ(s.ack_items, 2u);
  EXPECT_EQ(s.acks, 5u);
  EXPECT_EQ(s.acks_same_block, 1u);
  EXPECT_EQ(s.acks_out_of_order, 1u);
  EXPECT_EQ(s.datas, 2u);
  EXPECT_EQ(s.datas_not_first, 1u);
  EXPECT_EQ(s.items_without_datas, 1u);
}

TEST(SummaryJson, ListsTheSeqsOfUnansweredReadingsByDevice) {
  AckTracker t;
  t.OnPublished("sim-0", 1, 0, 0);
  t.OnPublished("sim-0", 2, 1, 0);
  t.OnPublished("sim-1", 9, 0, 0);
  t.OnAck("sim-0", Recorded(1, {1}, 3, '\xab'), 10);
  Summary s = t.Summarize(2, "");
  EXPECT_EQ(s.unanswered, 2u);
  EXPECT_EQ(s.unanswered_seqs,
            (std::map<std::string, std::vector<uint64_t>>{{"sim-0", {2}}, {"sim-1", {9}}}));
  EXPECT_NE(SummaryJson(s).find("\"unanswered_seqs\":{\"sim-0\":[2],\"sim-1\":[9]}"),
            std::string::npos);
}

// ---- Options ------------------------------------------------------------------------

StatusOr<SimOptions> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "device_sim");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  absl::FlagSaver restore_defaults_after;  // each case starts from the defaults
  bool help = false;
  return ParseOptions(static_cast<int>(argv.size()), argv.data(), &help);
}

TEST(SimOptions, DefaultsMatchTheUsageText) {
  StatusOr<SimOptions> o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->DeviceName(0), "sim-0");
  EXPECT_EQ(o->count, 10u);
  EXPECT_EQ(o->qos, 1);
  EXPECT_EQ(o->item, "temp");
  EXPECT_EQ(o->mode, AuthMode::kMac);
  EXPECT_EQ(o->ack_timeout_ms, 30000u);
  EXPECT_TRUE(o->expect_error.empty());
}

TEST(SimOptions, TakesFlagsWithASpacedValueAndBareOrNegatedBooleans) {
  StatusOr<SimOptions> o = Parse({"--count", "3", "--wildcard_subscribe", "--mode", "sig"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->count, 3u);
  EXPECT_TRUE(o->wildcard_subscribe);
  EXPECT_EQ(o->mode, AuthMode::kSig);
  o = Parse({"--nowildcard_subscribe", "--payload="});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_FALSE(o->wildcard_subscribe);
  EXPECT_EQ(o->count, 10u);  // the previous case's flags were restored
  EXPECT_FALSE(o->payload.has_value());
  EXPECT_FALSE(Parse({"--count=ten"}).ok());
  EXPECT_FALSE(Parse({"stray"}).ok());
}

TEST(SimOptions, AFaultImpliesItsErrorCodeUnlessOneIsGiven) {
  EXPECT_EQ(Parse({"--fault=bad_mac"})->expect_error, "bad_auth");
  EXPECT_EQ(Parse({"--fault=reserved_item"})->PublishItem(), "_x");
  EXPECT_EQ(Parse({"--fault=stale", "--expect_error=replay"})->expect_error, "replay");
  EXPECT_TRUE(Parse({"--fault=replay"})->expect_error.empty());
}

TEST(SimOptions, ClockOffsetShiftsTheDeviceClockBothWays) {
  StatusOr<SimOptions> behind = Parse({"--clock_offset_ms=-600000"});
  StatusOr<SimOptions> ahead = Parse({"--clock_offset_ms=600000"});
  StatusOr<SimOptions> none = Parse({});
  ASSERT_TRUE(behind.ok() && ahead.ok() && none.ok()) << behind.status().ToString();
  const uint64_t before = NowMs();
  const uint64_t b = behind->DeviceClockMs(), a = ahead->DeviceClockMs(), n = none->DeviceClockMs();
  const uint64_t after = NowMs();
  EXPECT_GE(n, before);
  EXPECT_LE(n, after);
  EXPECT_GE(a, before + 600000);
  EXPECT_LE(a, after + 600000);
  EXPECT_GE(b + 600000, before);
  EXPECT_LE(b + 600000, after);
}

TEST(SimOptions, PersistentSessionNeedsAClientId) {
  StatusOr<SimOptions> o = Parse({"--persistent_session", "--client_id=dev-7"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_TRUE(o->persistent_session);
  EXPECT_FALSE(Parse({})->persistent_session);
}

TEST(SimOptions, RefusesContradictoryFlags) {
  const std::vector<std::vector<std::string>> bad = {
      {"--fault=bad_sig"},                    // needs sig mode
      {"--fault=bad_mac", "--mode=sig"},      // needs mac mode
      {"--fault=too_large"},                  // needs a size
      {"--payload=x", "--payload_size=100"},  // exclusive
      {"--register"},                         // needs node, genesis, admin key
      {"--qos=2"},
      {"--devices=0"},
      {"--item=_integrity"},
      {"--topic_prefix=a/+/b"},
      {"--gateway_pubkey=02AB"},
      {"--fault=nope"},
      {"--bogus=1"},
      {"--persistent_session"},  // needs a stable --client_id
  };
  for (const auto& args : bad) {
    SCOPED_TRACE(args[0]);
    EXPECT_FALSE(Parse(args).ok());
  }
}

}  // namespace
}  // namespace provledger::device_sim
