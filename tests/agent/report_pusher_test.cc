// The pusher against a fake bridge that speaks PROTOCOL.md sections 4, 5 and 7 for real
// (key replies signed by a gateway key, MACs checked): session agreement, the pl- headers,
// a new durable seq for every send, renewal after no_session, retries after internal and
// silence, and the permanent refusals.
#include "agent/report_pusher.h"

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/agent_state.h"
#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/json.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/signer.h"
#include "device_protocol/answers.h"
#include "device_protocol/key_digests.h"
#include "device_protocol/message_auth.h"
#include "gtest/gtest.h"
#include "tests/agent/test_paths.h"

namespace provledger::agent {
namespace {

namespace dp = ::provledger::device_protocol;

constexpr char kDevice[] = "dev-1";
constexpr char kGateway[] = "gw-1";

std::string Prop(const UserProperties& props, const std::string& name) {
  for (const auto& [k, v] : props) {
    if (k == name) return v;
  }
  return "";
}

// What the fake bridge does with the next integrity report.
enum class Act { kVerdict, kInternal, kNoSession, kMalformed, kBadAuth, kSilence };

// The device key behind a Signer whose next calls fail with scripted codes (a token busy,
// a PIN refused).
class FlakySigner : public Signer {
 public:
  explicit FlakySigner(const PrivateKey& key) : key_(key), public_key_(key.PublicKey()) {}
  StatusOr<Bytes> Sign(ByteView digest32) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.empty()) {
      const StatusCode c = fail_.front();
      fail_.pop_front();
      return Status(c, "scripted");
    }
    return key_.Sign(digest32);
  }
  const Bytes& public_key() const override { return public_key_; }
  void FailNext(std::vector<StatusCode> codes) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_.assign(codes.begin(), codes.end());
  }

 private:
  const PrivateKey& key_;
  Bytes public_key_;
  mutable std::mutex mu_;
  mutable std::deque<StatusCode> fail_;
};

class FakeBridge {
 public:
  FakeBridge() : gateway_key_(PrivateKey::Generate()) {}
  const PrivateKey& gateway_key() const { return gateway_key_; }
  void set_pusher(ReportPusher* p) { pusher_ = p; }
  void Script(std::vector<Act> acts) { acts_ = std::deque<Act>(acts.begin(), acts.end()); }

  Status Publish(const std::string& topic, const std::string& payload,
                 const UserProperties& props) {
    if (topic == "devices/dev-1/key") return OnKeyRequest(payload);
    if (topic != "devices/dev-1/integrity") return InvalidArgumentError("unexpected " + topic);
    const uint64_t seq = std::stoull(Prop(props, "pl-seq"));
    seqs.push_back(seq);
    props_seen.push_back(props);
    // The MAC must verify under the current session (section 5, item _integrity).
    const dp::MessageSpec spec{kDevice, "_integrity", seq, std::stoull(Prop(props, "pl-ts"))};
    const Bytes d = dp::MessageDigest(spec, payload);
    mac_ok.push_back(Prop(props, "pl-kid") == HexEncode(kid_) &&
                     Prop(props, "pl-mac") == HexEncode(HmacSha256(session_key_, d)));
    payloads.push_back(payload);
    Act act = acts_.empty() ? Act::kVerdict : acts_.front();
    if (!acts_.empty()) acts_.pop_front();
    switch (act) {
      case Act::kVerdict:
        Answer("devices/dev-1/integrity/verdict",
               "{\"v\":1,\"seq\":" + std::to_string(seq) +
                   ",\"verdict\":\"trusted\",\"failures\":[],\"record\":\"" + std::string(64, 'a') +
                   "\",\"height\":7}");
        break;
      case Act::kInternal:
        Answer("devices/dev-1/integrity/error",
               dp::ErrorJson(dp::DeviceError::kInternal, "not yet", seq, "_integrity"));
        break;
      case Act::kNoSession:
        Answer("devices/dev-1/forbidden",
               dp::ErrorJson(dp::DeviceError::kNoSession, "forgotten", seq, "_integrity"));
        break;
      case Act::kMalformed:
        Answer("devices/dev-1/integrity/error",
               dp::ErrorJson(dp::DeviceError::kMalformed, "bad", seq, "_integrity"));
        break;
      case Act::kBadAuth:
        Answer("devices/dev-1/integrity/error",
               dp::ErrorJson(dp::DeviceError::kBadAuth, "bad mac", seq, "_integrity"));
        break;
      case Act::kSilence:
        break;
    }
    return Status();
  }

  // True when `props` MAC `payload` under item `item` with the current session.
  bool MacVerifies(const std::string& item, const std::string& payload,
                   const UserProperties& props) const {
    const dp::MessageSpec spec{kDevice, item, std::stoull(Prop(props, "pl-seq")),
                               std::stoull(Prop(props, "pl-ts"))};
    return Prop(props, "pl-kid") == HexEncode(kid_) &&
           Prop(props, "pl-mac") ==
               HexEncode(HmacSha256(session_key_, dp::MessageDigest(spec, payload)));
  }

  std::vector<uint64_t> seqs;
  std::vector<UserProperties> props_seen;
  std::vector<bool> mac_ok;
  std::vector<std::string> payloads;
  int key_requests = 0;

 private:
  void Answer(const std::string& topic, const std::string& payload) {
    MqttMessage m;
    m.topic = topic;
    m.payload = payload;
    m.qos = 1;
    pusher_->OnAnswer(m);
  }

  Status OnKeyRequest(const std::string& payload) {
    ++key_requests;
    PL_ASSIGN_OR_RETURN(JsonValue req, ParseJson(payload));
    PL_ASSIGN_OR_RETURN(std::string eph_hex, req.GetString("eph"));
    PL_ASSIGN_OR_RETURN(std::string nonce_hex, req.GetString("nonce"));
    PL_ASSIGN_OR_RETURN(Bytes device_eph, HexDecodeFixed(eph_hex, 33));
    PL_ASSIGN_OR_RETURN(Bytes device_nonce, HexDecodeFixed(nonce_hex, 16));
    PrivateKey eph = PrivateKey::Generate();
    dp::KeyReply r;
    r.gateway = kGateway;
    r.eph = eph.PublicKey();
    r.nonce = RandomBytes(16);
    PL_ASSIGN_OR_RETURN(Bytes shared, Ecdh(eph, device_eph));
    PL_ASSIGN_OR_RETURN(session_key_, dp::DeriveSessionKey(shared, device_nonce, r.nonce, kDevice));
    kid_ = dp::SessionKid(session_key_);
    r.kid = kid_;
    r.expires = NowMs() + 86400000;
    PL_ASSIGN_OR_RETURN(
        r.sig, gateway_key_.Sign(dp::KeyReplyDigest(kDevice, kGateway, device_eph, r.eph, r.nonce,
                                                    kid_, r.expires)));
    Answer("devices/dev-1/key/success", dp::KeyReplyJson(r));
    return Status();
  }

  PrivateKey gateway_key_;
  ReportPusher* pusher_ = nullptr;
  std::deque<Act> acts_;
  Bytes session_key_;
  Bytes kid_;
};

class PusherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    StatusOr<StateStore> s = StateStore::Open(dir_ + "/state.json");
    ASSERT_TRUE(s.ok());
    store_.emplace(std::move(s).value());
    options_.device = kDevice;
    options_.trust = dp::GatewayTrust{kGateway, bridge_.gateway_key().PublicKey()};
    options_.answer_timeout_ms = 300;
    options_.key_timeout_ms = 2000;
    options_.backoff_min_ms = 10;
    options_.backoff_max_ms = 40;
  }
  void MakePusher() {
    pusher_.emplace(
        options_, signer_, &*store_,
        [this](const std::string& t, const std::string& p, const UserProperties& props) {
          return bridge_.Publish(t, p, props);
        },
        [](size_t n) { return RandomBytes(n); });
    bridge_.set_pusher(&*pusher_);
  }
  StatusOr<Delivery> Deliver() {
    dp::IntegrityReport r;
    r.boot = "0f0e0d0c-0b0a-4908-8706-050403020100";
    r.from = 4;
    r.entries.push_back(dp::MeasurementEntry{10, "ima-ng", "sha256:" + std::string(64, 'b'), "/x"});
    return pusher_->Deliver(
        r, [] { return false; }, SteadyNowMs() + 20000);
  }

  std::string dir_;
  std::optional<StateStore> store_;
  PrivateKey device_key_ = PrivateKey::Generate();
  FlakySigner signer_{device_key_};
  FakeBridge bridge_;
  PusherOptions options_;
  std::optional<ReportPusher> pusher_;
};

TEST_F(PusherTest, AgreesASessionAndPublishesAMacedReport) {
  MakePusher();
  StatusOr<Delivery> d = Deliver();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->kind, Delivery::Kind::kAppraised);
  EXPECT_EQ(d->verdict.verdict, "trusted");
  EXPECT_EQ(d->verdict.height, 7u);
  EXPECT_EQ(bridge_.key_requests, 1);
  ASSERT_EQ(bridge_.seqs.size(), 1u);
  EXPECT_TRUE(bridge_.mac_ok[0]);
  EXPECT_EQ(bridge_.props_seen[0].size(), 4u);  // pl-seq, pl-ts, pl-kid, pl-mac
  StatusOr<dp::IntegrityReport> sent = dp::ParseIntegrityReport(bridge_.payloads[0]);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->from, 4u);
  EXPECT_GT(bridge_.seqs[0], 1000000000000000u);  // first seq from the clock in us
  EXPECT_EQ(store_->state().next_seq, bridge_.seqs[0] + 1);
}

TEST_F(PusherTest, InternalAndSilenceAreRetriedWithNewSeqs) {
  MakePusher();
  bridge_.Script({Act::kInternal, Act::kSilence, Act::kVerdict});
  StatusOr<Delivery> d = Deliver();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->kind, Delivery::Kind::kAppraised);
  ASSERT_EQ(bridge_.seqs.size(), 3u);
  EXPECT_LT(bridge_.seqs[0], bridge_.seqs[1]);
  EXPECT_LT(bridge_.seqs[1], bridge_.seqs[2]);
  EXPECT_EQ(d->seq, bridge_.seqs[2]);
  EXPECT_EQ(bridge_.payloads[0], bridge_.payloads[2]);  // same report, new seq
  EXPECT_EQ(d->attempts, 3u);
}

TEST_F(PusherTest, NoSessionRenewsTheKey) {
  MakePusher();
  bridge_.Script({Act::kNoSession, Act::kVerdict});
  StatusOr<Delivery> d = Deliver();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(bridge_.key_requests, 2);
  ASSERT_EQ(bridge_.mac_ok.size(), 2u);
  EXPECT_TRUE(bridge_.mac_ok[1]);  // under the new session
  EXPECT_EQ(pusher_->sessions_agreed(), 2u);
}

TEST_F(PusherTest, MalformedDropsTheReportWithoutRetry) {
  MakePusher();
  bridge_.Script({Act::kMalformed});
  StatusOr<Delivery> d = Deliver();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->kind, Delivery::Kind::kDropped);
  EXPECT_EQ(d->code, "malformed");
  EXPECT_EQ(bridge_.seqs.size(), 1u);
}

TEST_F(PusherTest, BadAuthStopsTheAgent) {
  MakePusher();
  bridge_.Script({Act::kBadAuth});
  StatusOr<Delivery> d = Deliver();
  EXPECT_EQ(d.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(bridge_.seqs.size(), 1u);
}

TEST_F(PusherTest, SignatureModeNeedsNoSession) {
  options_.auth = AuthMode::kSig;
  MakePusher();
  StatusOr<Delivery> d = Deliver();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(bridge_.key_requests, 0);
  const UserProperties& p = bridge_.props_seen[0];
  ASSERT_EQ(p.size(), 3u);
  const dp::MessageSpec spec{kDevice, "_integrity", bridge_.seqs[0], std::stoull(Prop(p, "pl-ts"))};
  StatusOr<Bytes> sig = HexDecodeFixed(Prop(p, "pl-sig"), 64);
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(
      VerifySignature(device_key_.PublicKey(), dp::MessageDigest(spec, bridge_.payloads[0]), *sig)
          .ok());
}

TEST_F(PusherTest, AuthenticateSharesTheSeqAndTheSession) {
  MakePusher();
  EXPECT_EQ(pusher_->Authenticate("_update", "{}").status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(Deliver().ok());
  const std::string install = "{\"v\":1,\"result\":\"installed\"}";
  StatusOr<UserProperties> p = pusher_->Authenticate("_update", install);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(std::stoull(Prop(*p, "pl-seq")), bridge_.seqs.back() + 1);  // one sequence
  EXPECT_TRUE(bridge_.MacVerifies("_update", install, *p));
  EXPECT_FALSE(bridge_.MacVerifies("_integrity", install, *p));  // item is in D
}

TEST_F(PusherTest, AnUnavailableSignerIsRetriedInBothModes) {
  signer_.FailNext({StatusCode::kUnavailable, StatusCode::kUnavailable});
  MakePusher();
  StatusOr<Delivery> d = Deliver();  // the key request waits for the token
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->kind, Delivery::Kind::kAppraised);
  EXPECT_EQ(bridge_.key_requests, 1);

  options_.auth = AuthMode::kSig;
  MakePusher();
  signer_.FailNext({StatusCode::kUnavailable});
  d = Deliver();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(bridge_.seqs.size(), 2u);  // one report each time: nothing sent unsigned
}

TEST_F(PusherTest, ASignerFailingForGoodStopsTheAgent) {
  options_.auth = AuthMode::kSig;
  MakePusher();
  signer_.FailNext({StatusCode::kFailedPrecondition});
  StatusOr<Delivery> d = Deliver();
  EXPECT_EQ(d.status().code(), StatusCode::kPermissionDenied) << d.status().ToString();
  EXPECT_TRUE(bridge_.seqs.empty());
  signer_.FailNext({StatusCode::kPermissionDenied});
  EXPECT_EQ(pusher_->Authenticate("_update", "{}").status().code(), StatusCode::kPermissionDenied);

  options_.auth = AuthMode::kMac;  // a key request it cannot sign: not retried either
  MakePusher();
  signer_.FailNext({StatusCode::kInternal});
  d = Deliver();
  EXPECT_EQ(d.status().code(), StatusCode::kPermissionDenied) << d.status().ToString();
  EXPECT_EQ(bridge_.key_requests, 0);
}

TEST_F(PusherTest, AWrongGatewayKeyIsRefused) {
  options_.trust.gateway_pubkey = PrivateKey::Generate().PublicKey();
  options_.key_timeout_ms = 300;
  MakePusher();
  dp::IntegrityReport r;
  r.boot = "0f0e0d0c-0b0a-4908-8706-050403020100";
  StatusOr<Delivery> d = pusher_->Deliver(
      r, [] { return false; }, SteadyNowMs() + 1500);
  EXPECT_FALSE(d.ok());
  EXPECT_TRUE(bridge_.seqs.empty());  // nothing published without a trusted session
}

}  // namespace
}  // namespace provledger::agent
