// MqttClient against a real Mosquitto (/usr/sbin/mosquitto) on a loopback port.
#include "common/mqtt_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/common/test_broker.h"

namespace provledger {
namespace {

// Messages received by a subscriber.
class Inbox {
 public:
  MqttClient::MessageHandler Handler() {
    return [this](MqttMessage m) {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back(std::move(m));
      cv_.notify_all();
    };
  }
  // The first message on `topic`, waiting up to 20 s.
  bool WaitFor(const std::string& topic, MqttMessage* out) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] {
      for (const auto& m : messages_) {
        if (m.topic == topic) {
          *out = m;
          return true;
        }
      }
      return false;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<MqttMessage> messages_;
};

MqttOptions Options(const std::string& uri) {
  MqttOptions o;
  o.uri = uri;
  o.connect_timeout_ms = 20000;
  return o;
}

bool WaitState(const PublishReceipt& r, PublishReceipt::State want) {
  for (int i = 0; i < 400 && r.state() == PublishReceipt::State::kPending; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return r.state() == want;
}

TEST(MqttClientTest, PublishSubscribeCarriesUserProperties) {
  Broker broker("plain");
  Inbox inbox;
  auto sub = MqttClient::Connect(Options(broker.uri()), inbox.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE((*sub)->Subscribe({"t/#"}, 1, 10000).ok());
  auto pub = MqttClient::Connect(Options(broker.uri()), nullptr);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  const UserProperties props = {{"pl-sig", "abc"}, {"pl-ts", "12"}, {"pl-sig", "second"}};
  const std::string payload("bin\0ary", 7);
  ASSERT_TRUE((*pub)->PublishAndWait("t/a", payload, 1, false, props).ok());
  MqttMessage m;
  ASSERT_TRUE(inbox.WaitFor("t/a", &m));
  EXPECT_EQ(m.payload, payload);
  EXPECT_EQ(m.qos, 1);
  EXPECT_EQ(m.user_properties, props);
  (*sub)->Disconnect();
  (*pub)->Disconnect();
}

TEST(MqttClientTest, ReceiptDeliveredOnPuback) {
  Broker broker("receipt");
  auto pub = MqttClient::Connect(Options(broker.uri()), nullptr);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  auto r = (*pub)->PublishTracked("x/y", "p", 1, false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(WaitState(*r, PublishReceipt::State::kDelivered));
  EXPECT_TRUE((*pub)->WaitForPublishes(10000).ok());
}

TEST(MqttClientTest, AclDenialIsARefusalNotAFailure) {
  {
    std::ofstream acl(TempDir() + "/acl");
    acl << "topic readwrite allowed/#\n";
  }
  Broker broker("acl", {"acl_file " + TempDir() + "/acl"});
  auto pub = MqttClient::Connect(Options(broker.uri()), nullptr);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  auto denied = (*pub)->PublishTracked("denied/x", "p", 1, false);
  ASSERT_TRUE(denied.ok());
  EXPECT_TRUE(WaitState(*denied, PublishReceipt::State::kRefused));
  EXPECT_EQ(denied->reason_code(), 0x87);
  Status s = (*pub)->PublishAndWait("denied/y", "p", 1, false);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  auto allowed = (*pub)->PublishTracked("allowed/x", "p", 1, false);
  ASSERT_TRUE(allowed.ok());
  EXPECT_TRUE(WaitState(*allowed, PublishReceipt::State::kDelivered));
}

TEST(MqttClientTest, ReconnectsResubscribesAndSendsWhatWasBuffered) {
  Broker broker("restart");
  Inbox inbox;
  auto sub = MqttClient::Connect(Options(broker.uri()), inbox.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE((*sub)->Subscribe({"r/#"}, 1, 10000).ok());
  auto pub = MqttClient::Connect(Options(broker.uri()), nullptr);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();

  broker.Stop();
  for (int i = 0; i < 200 && (*pub)->connected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE((*pub)->connected());
  auto buffered = (*pub)->PublishTracked("r/buffered", "while down", 1, false);
  ASSERT_TRUE(buffered.ok()) << buffered.status().ToString();
  EXPECT_EQ(buffered->state(), PublishReceipt::State::kPending);
  broker.Start();

  EXPECT_TRUE(WaitState(*buffered, PublishReceipt::State::kDelivered));
  for (int i = 0; i < 400 && (*sub)->reconnects() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE((*sub)->reconnects(), 2u);
  // The broker lost every subscription (no persistence): this arrives only if the
  // subscriber subscribed again. Published until it arrives (the resubscription races it).
  MqttMessage m;
  bool got = false;
  for (int i = 0; i < 20 && !got; ++i) {
    ASSERT_TRUE((*pub)->PublishAndWait("r/after", "again", 1, false).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    got = inbox.WaitFor("r/after", &m);
  }
  EXPECT_TRUE(got);
}

TEST(MqttClientTest, DisconnectStopsDeliveryAndFailsPending) {
  Broker broker("disconnect");
  auto pub = MqttClient::Connect(Options(broker.uri()), nullptr);
  ASSERT_TRUE(pub.ok());
  broker.Stop();
  auto r = (*pub)->PublishTracked("d/x", "p", 1, false);
  ASSERT_TRUE(r.ok());
  (*pub)->Disconnect(100);
  EXPECT_EQ(r->state(), PublishReceipt::State::kFailed);
  EXPECT_FALSE((*pub)->Publish("d/x", "p", 1, false).ok());
}

TEST(MqttClientTest, UnreachableBrokerIsUnavailable) {
  MqttOptions o = Options("tcp://127.0.0.1:" + std::to_string(FreePort()));
  auto c = MqttClient::Connect(o, nullptr);
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
}

void Sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

TEST(MqttClientTest, TlsNeedsTheRightCa) {
  const std::string d = TempDir() + "/tls";
  Sh("mkdir -p " + d + " && cd " + d +
     " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
     "-subj /CN=test-ca 2>/dev/null"
     " && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 "
     "-subj /CN=other-ca 2>/dev/null"
     " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
     "-subj /CN=127.0.0.1 2>/dev/null"
     " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext"
     " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
     "-out server.pem -days 2 -extfile ext 2>/dev/null");
  Broker broker("tls", {"cafile " + d + "/ca.pem", "certfile " + d + "/server.pem",
                        "keyfile " + d + "/server.key"});
  MqttOptions o = Options(broker.uri("ssl"));
  o.security.ca_file = d + "/other.pem";
  auto wrong = MqttClient::Connect(o, nullptr);
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnavailable) << wrong.status().ToString();
  o.uri = broker.uri("mqtts");
  o.security.ca_file = d + "/ca.pem";
  auto right = MqttClient::Connect(o, nullptr);
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_TRUE((*right)->PublishAndWait("tls/x", "p", 1, false).ok());
  o.uri = broker.uri("tcp");  // TLS files on a plaintext URI: a configuration error
  EXPECT_EQ(MqttClient::Connect(o, nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger
