// FirmwareChannel against a scripted bridge: a manifest's install report is published on
// update/status under the headers Authenticate gave, answered by seq; transient failures
// (no headers yet, internal, no_session, silence) are retried under a new seq, permanent
// ones (malformed, headers refused for good) never; a handled manifest reports nothing.
// Also ParseVendorKeys, the --vendor_key rule shared by firmware_apply and the agent.
#include "agent/firmware_channel.h"

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "agent/firmware_updater.h"
#include "common/ecdsa.h"
#include "common/worker.h"
#include "gtest/gtest.h"

namespace provledger::agent {
namespace {

namespace dp = ::provledger::device_protocol;

// What the fake bridge answers to the next install report.
enum class Act { kSuccess, kInternal, kNoSession, kMalformed, kSilence, kOthersRefusal };

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.device = "dev-1";
    options_.answer_timeout_ms = 200;
    options_.backoff_min_ms = 5;
    options_.backoff_max_ms = 20;
    report_.vendor = "acme";
    report_.model = "sensor-1";
    report_.version = "1.2.0";
    report_.counter = 2;
    report_.installed = true;
    report_.reason = "installed";
  }

  // Starts the channel; the hooks record what it does and play `acts_`.
  void Start() {
    FirmwareChannelHooks h;
    h.on_manifest = [this](ByteView m) -> std::optional<dp::InstallReport> {
      std::lock_guard<std::mutex> lock(mu_);
      manifests_.push_back(std::string(m));
      if (m == "handled") return std::nullopt;
      return report_;
    };
    h.authenticate = [this](const std::string& item,
                            const std::string& payload) -> StatusOr<UserProperties> {
      std::lock_guard<std::mutex> lock(mu_);
      items_.push_back(item);
      if (!auth_fail_.empty()) {
        const StatusCode c = auth_fail_.front();
        auth_fail_.pop_front();
        return Status(c, "scripted");
      }
      return UserProperties{{"pl-seq", std::to_string(next_seq_++)}, {"pl-ts", "1"}};
    };
    h.publish = [this](const std::string& topic, const std::string& payload,
                       const UserProperties& props) {
      Act act = Act::kSuccess;
      {
        std::lock_guard<std::mutex> lock(mu_);
        topics_.push_back(topic);
        payloads_.push_back(payload);
        seqs_.push_back(std::stoull(props[0].second));
        if (!acts_.empty()) {
          act = acts_.front();
          acts_.pop_front();
        }
      }
      const std::string seq = props[0].second;
      MqttMessage a;
      a.topic = "devices/dev-1/update/status/error";
      switch (act) {
        case Act::kSuccess:
          a.topic = "devices/dev-1/update/status/success";
          a.payload = "{\"v\":1,\"seq\":" + seq + ",\"seqs\":[" + seq + "],\"recorded\":true}";
          break;
        case Act::kInternal:
          a.payload = "{\"v\":1,\"code\":\"internal\",\"reason\":\"x\",\"seq\":" + seq + "}";
          break;
        case Act::kNoSession:  // on forbidden, as section 3 answers it
          a.topic = "devices/dev-1/forbidden";
          a.payload = "{\"v\":1,\"code\":\"no_session\",\"reason\":\"x\",\"seq\":" + seq +
                      ",\"item\":\"_update\"}";
          break;
        case Act::kOthersRefusal:  // an integrity report's refusal under the same seq number
          a.topic = "devices/dev-1/forbidden";
          a.payload = "{\"v\":1,\"code\":\"no_session\",\"reason\":\"x\",\"seq\":" + seq +
                      ",\"item\":\"_integrity\"}";
          break;
        case Act::kMalformed:
          a.payload = "{\"v\":1,\"code\":\"malformed\",\"reason\":\"x\",\"seq\":" + seq + "}";
          break;
        case Act::kSilence:
          return OkStatus();
      }
      channel_->OnMessage(a);
      return OkStatus();
    };
    h.forget_session = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      ++forgotten_;
    };
    channel_.emplace(options_, std::move(h));
    worker_.emplace("fw-test", [this](Worker& w) { channel_->Run([&w] { return w.stopping(); }); });
  }

  void Manifest(const std::string& payload) {
    MqttMessage m;
    m.topic = "devices/dev-1/update/code";
    m.payload = payload;
    m.retained = true;
    channel_->OnMessage(m);
  }

  // Waits (up to 10 s) until `done`; stops the worker.
  bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const bool ok = done();
    worker_.reset();
    return ok;
  }

  FirmwareChannelOptions options_;
  dp::InstallReport report_;
  std::mutex mu_;
  std::deque<Act> acts_;
  std::deque<StatusCode> auth_fail_;
  std::vector<std::string> manifests_, items_, topics_, payloads_;
  std::vector<uint64_t> seqs_;
  uint64_t next_seq_ = 100;
  int forgotten_ = 0;
  std::optional<FirmwareChannel> channel_;
  std::optional<Worker> worker_;
};

TEST_F(ChannelTest, PublishesTheInstallReportUntilAcknowledged) {
  Start();
  std::vector<std::string> topics = channel_->Topics();
  EXPECT_EQ(topics, (std::vector<std::string>{"devices/dev-1/update/code",
                                              "devices/dev-1/update/status/success",
                                              "devices/dev-1/update/status/error"}));
  Manifest("m1");
  ASSERT_TRUE(WaitFor([this] { return channel_->reports_acknowledged() == 1; }));
  ASSERT_EQ(topics_.size(), 1u);
  EXPECT_EQ(topics_[0], "devices/dev-1/update/status");
  EXPECT_EQ(payloads_[0], dp::InstallReportJson(report_));
  EXPECT_EQ(items_, std::vector<std::string>{"_update"});
  EXPECT_EQ(manifests_, std::vector<std::string>{"m1"});
}

TEST_F(ChannelTest, TransientFailuresAreRetriedUnderNewSeqs) {
  acts_ = {Act::kInternal, Act::kSilence, Act::kNoSession, Act::kSuccess};
  auth_fail_ = {StatusCode::kUnavailable, StatusCode::kUnavailable};
  Start();
  Manifest("m1");
  ASSERT_TRUE(WaitFor([this] { return channel_->reports_acknowledged() == 1; }));
  EXPECT_EQ(seqs_, (std::vector<uint64_t>{100, 101, 102, 103}));
  EXPECT_EQ(items_.size(), 6u);  // two tries without headers, then four sends
  EXPECT_EQ(forgotten_, 1);      // no_session: a new session is agreed before the next send
  EXPECT_FALSE(channel_->wants_session());
  EXPECT_EQ(channel_->reports_dropped(), 0u);
}

TEST_F(ChannelTest, RefusalsOfOtherItemsOnSharedTopicsAreNotItsOwn) {
  acts_ = {Act::kOthersRefusal, Act::kSuccess};
  Start();
  EXPECT_EQ(channel_->SharedTopics(),
            (std::vector<std::string>{"devices/dev-1/unauth", "devices/dev-1/forbidden"}));
  Manifest("m1");
  ASSERT_TRUE(WaitFor([this] { return channel_->reports_acknowledged() == 1; }));
  EXPECT_EQ(forgotten_, 0);
  EXPECT_EQ(seqs_.size(), 2u);  // the first went unanswered (timeout), then sent again
}

TEST_F(ChannelTest, PermanentRefusalsAreNeverRetried) {
  acts_ = {Act::kMalformed};
  auth_fail_ = {};
  Start();
  Manifest("m1");
  ASSERT_TRUE(WaitFor([this] { return channel_->reports_dropped() == 1; }));
  EXPECT_EQ(seqs_.size(), 1u);

  seqs_.clear();
  auth_fail_ = {StatusCode::kPermissionDenied};  // the token refused the PIN
  Start();
  Manifest("m2");
  ASSERT_TRUE(WaitFor([this] { return channel_->reports_dropped() == 1; }));
  EXPECT_TRUE(seqs_.empty());  // nothing published unsigned
}

TEST_F(ChannelTest, AHandledManifestReportsNothingAndTheNextIsServed) {
  Start();
  Manifest("handled");
  Manifest("m2");
  ASSERT_TRUE(WaitFor([this] { return channel_->reports_acknowledged() == 1; }));
  EXPECT_EQ(manifests_, (std::vector<std::string>{"handled", "m2"}));
  EXPECT_EQ(seqs_.size(), 1u);
}

TEST_F(ChannelTest, AnswersToOtherSeqsAndRetainedAnswersAreIgnored) {
  acts_ = {Act::kSilence, Act::kSuccess};
  Start();
  MqttMessage stale;
  stale.topic = "devices/dev-1/update/status/success";
  stale.payload = "{\"v\":1,\"seq\":100,\"seqs\":[100],\"recorded\":true}";
  stale.retained = true;
  channel_->OnMessage(stale);  // retained: never an answer
  Manifest("m1");
  MqttMessage other = stale;
  other.retained = false;
  other.payload = "{\"v\":1,\"seq\":7,\"seqs\":[7],\"recorded\":true}";
  channel_->OnMessage(other);  // another seq
  ASSERT_TRUE(WaitFor([this] { return channel_->reports_acknowledged() == 1; }));
  EXPECT_EQ(seqs_, (std::vector<uint64_t>{100, 101}));  // 100 went unanswered: sent again
}

TEST(ParseVendorKeys, ReadsVendorHexPairsAndNamesTheBadOne) {
  const Bytes ka = PrivateKey::Generate().PublicKey();
  const Bytes kb = PrivateKey::Generate().PublicKey();
  StatusOr<std::map<std::string, Bytes>> k =
      ParseVendorKeys({"acme:" + HexEncode(ka), "globex:" + HexEncode(kb)});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->size(), 2u);
  EXPECT_EQ(k->at("acme"), ka);
  EXPECT_EQ(k->at("globex"), kb);
  EXPECT_TRUE(ParseVendorKeys({}).ok());

  StatusOr<std::map<std::string, Bytes>> bad = ParseVendorKeys({HexEncode(ka)});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("VENDOR:HEX"), std::string::npos);
  bad = ParseVendorKeys({"acme:" + HexEncode(ka).substr(2)});
  EXPECT_NE(bad.status().message().find("acme"), std::string::npos);
  bad = ParseVendorKeys({"acme:" + std::string(66, '0')});  // not a point
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  bad = ParseVendorKeys({"ac me:" + HexEncode(ka)});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger::agent
