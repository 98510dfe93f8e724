// MqttConsumer against a real Mosquitto (/usr/sbin/mosquitto) on a loopback port: PUBACKs
// leave only when acknowledged (what is not acknowledged comes again, DUP set), keepalive,
// reconnection, TLS with host verification, username and password.
#include "common/mqtt_consumer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/mqtt_client.h"
#include "tests/common/test_broker.h"

namespace provledger {
namespace {

using Delivery = MqttConsumer::Delivery;

// Polls until `n` messages arrived or 20 s passed.
std::vector<Delivery> Take(MqttConsumer* c, size_t n) {
  std::vector<Delivery> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    c->Poll(&out, n - out.size(), 1 << 20, std::chrono::milliseconds(200));
  }
  return out;
}

std::unique_ptr<MqttClient> Publisher(const Broker& b) {
  auto p = MqttClient::Connect(TestMqttOptions(b.uri()), nullptr);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(*p) : nullptr;
}

TEST(MqttConsumerTest, OnlyAcknowledgedMessagesAreForgottenByTheBroker) {
  Broker broker("ack");
  auto pub = Publisher(broker);
  ASSERT_NE(pub, nullptr);
  {
    auto c = MqttConsumer::Connect(TestMqttOptions(broker.uri(), "pl-ack-test"));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->Subscribe({"ack/#"}, 1, 10000).ok());
    for (const char* p : {"one", "two", "three"}) {
      ASSERT_TRUE(pub->PublishAndWait("ack/x", p, 1, false, {{"k", p}}).ok());
    }
    std::vector<Delivery> got = Take(c->get(), 3);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].message.payload, "one");
    EXPECT_EQ(got[2].message.user_properties, (UserProperties{{"k", "three"}}));
    EXPECT_FALSE(got[0].message.duplicate);
    EXPECT_NE(got[0].ack, 0u);
    (*c)->Acknowledge({got[0].ack});  // "two" and "three" never acknowledged
    (*c)->Disconnect();
  }
  auto again = MqttConsumer::Connect(TestMqttOptions(broker.uri(), "pl-ack-test"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  std::vector<Delivery> redelivered = Take(again->get(), 2);
  ASSERT_EQ(redelivered.size(), 2u);
  EXPECT_EQ(redelivered[0].message.payload, "two");
  EXPECT_EQ(redelivered[1].message.payload, "three");
  EXPECT_TRUE(redelivered[0].message.duplicate);
  EXPECT_TRUE(redelivered[1].message.duplicate);
  (*again)->Acknowledge({redelivered[0].ack, redelivered[1].ack});
  (*again)->Disconnect();
  auto third = MqttConsumer::Connect(TestMqttOptions(broker.uri(), "pl-ack-test"));
  ASSERT_TRUE(third.ok());
  std::vector<Delivery> none;
  (*third)->Poll(&none, 10, 1 << 20, std::chrono::milliseconds(1500));
  EXPECT_TRUE(none.empty()) << none.size() << " messages came a third time";
}

TEST(MqttConsumerTest, PollDrainsUpToItsBoundsAndQos0NeedsNoAck) {
  Broker broker("drain");
  auto pub = Publisher(broker);
  ASSERT_NE(pub, nullptr);
  auto c = MqttConsumer::Connect(TestMqttOptions(broker.uri(), "pl-drain"));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Subscribe({"d/+"}, 1, 10000).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(pub->Publish("d/x", std::string(100, 'a' + i), 1, false).ok());
  }
  ASSERT_TRUE(pub->Publish("d/q0", "zero", 0, false).ok());
  ASSERT_TRUE(pub->WaitForPublishes(10000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<Delivery> batch;
  // 250 bytes: two messages of 103 bytes, not three; and at most 4 messages.
  EXPECT_EQ((*c)->Poll(&batch, 4, 250, std::chrono::seconds(5)), 2u);
  EXPECT_EQ((*c)->Poll(&batch, 4, 1 << 20, std::chrono::seconds(5)), 4u);
  std::vector<Delivery> rest = Take(c->get(), 5);
  ASSERT_EQ(rest.size(), 5u);
  EXPECT_EQ(rest.back().message.payload, "zero");
  EXPECT_EQ(rest.back().message.qos, 0);
  EXPECT_EQ(rest.back().ack, 0u);
  EXPECT_EQ(batch[0].message.payload, std::string(100, 'a'));
}

TEST(MqttConsumerTest, KeepalivePingsHoldAnIdleConnection) {
  Broker broker("ping");
  MqttConsumerLimits limits;
  limits.keepalive_s = 1;  // the broker drops a client silent for 1.5 s
  auto c = MqttConsumer::Connect(TestMqttOptions(broker.uri(), "pl-ping"), limits);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Subscribe({"p/x"}, 1, 10000).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(4000));
  EXPECT_TRUE((*c)->connected());
  EXPECT_EQ((*c)->reconnects(), 0u);
  auto pub = Publisher(broker);
  ASSERT_TRUE(pub->PublishAndWait("p/x", "still here", 1, false).ok());
  ASSERT_EQ(Take(c->get(), 1).size(), 1u);
}

TEST(MqttConsumerTest, ReconnectsAndSubscribesAgainAfterTheBrokerRestarts) {
  Broker broker("restart");
  auto c = MqttConsumer::Connect(TestMqttOptions(broker.uri(), "pl-restart"));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Subscribe({"r/x"}, 1, 10000).ok());
  std::vector<Delivery> before;
  {
    auto pub = Publisher(broker);
    ASSERT_TRUE(pub->PublishAndWait("r/x", "before", 1, false).ok());
    before = Take(c->get(), 1);
    ASSERT_EQ(before.size(), 1u);
  }
  broker.Stop();  // persistence off: the session is gone
  broker.Start();
  for (int i = 0; i < 200 && (*c)->reconnects() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ((*c)->reconnects(), 1u);
  (*c)->Acknowledge({before[0].ack});  // of the lost connection: dropped
  EXPECT_EQ((*c)->stale_acks(), 1u);
  auto pub = Publisher(broker);
  std::vector<Delivery> after;
  for (int i = 0; i < 100 && after.empty(); ++i) {  // until the SUBSCRIBE is in again
    ASSERT_TRUE(pub->PublishAndWait("r/x", "after", 1, false).ok());
    (*c)->Poll(&after, 1, 1 << 20, std::chrono::milliseconds(200));
  }
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].message.payload, "after");
}

TEST(MqttConsumerTest, UnreachableBrokerIsUnavailable) {
  MqttOptions o = TestMqttOptions("tcp://127.0.0.1:" + std::to_string(FreePort()));
  o.connect_timeout_ms = 2000;
  EXPECT_EQ(MqttConsumer::Connect(o).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(MqttConsumer::Connect(TestMqttOptions("http://x")).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(MqttConsumerTest, UsernameAndPassword) {
  const std::string d = TempDir() + "/pw";
  ASSERT_EQ(std::system(("mkdir -p " + d + " && mosquitto_passwd -b -c " + d +
                         "/passwd gw secret >/dev/null 2>&1")
                            .c_str()),
            0);
  Broker broker("pw", {"allow_anonymous false", "password_file " + d + "/passwd"});
  MqttOptions o = TestMqttOptions(broker.uri(), "pl-pw");
  o.security.username = "gw";
  o.security.password = "wrong";
  auto bad = MqttConsumer::Connect(o);
  EXPECT_EQ(bad.status().code(), StatusCode::kUnavailable) << bad.status().ToString();
  o.security.password = "secret";
  auto good = MqttConsumer::Connect(o);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_TRUE((*good)->Subscribe({"pw/x"}, 1, 10000).ok());
}

TEST(MqttConsumerTest, TlsNeedsTheRightCaAndHost) {
  const std::string d = TempDir() + "/ctls";
  ASSERT_TRUE(
      MakeTestTls(d, {{"good", {"127.0.0.1", "localhost"}}, {"elsewhere", {"elsewhere.example"}}}));
  Broker broker("ctls", TlsListener(d, "good"));
  MqttOptions o = TestMqttOptions(broker.uri("ssl"), "pl-tls");
  o.security.ca_file = d + "/other.pem";
  auto wrong = MqttConsumer::Connect(o);
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnavailable) << wrong.status().ToString();
  o.security.ca_file = d + "/ca.pem";
  auto right = MqttConsumer::Connect(o);
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  ASSERT_TRUE((*right)->Subscribe({"tls/x"}, 1, 10000).ok());
  MqttOptions po = TestMqttOptions(broker.uri("mqtts"));
  po.security.ca_file = d + "/ca.pem";
  auto tls_pub = MqttClient::Connect(po, nullptr);
  ASSERT_TRUE(tls_pub.ok()) << tls_pub.status().ToString();
  ASSERT_TRUE((*tls_pub)->PublishAndWait("tls/x", std::string(100000, 'p'), 1, false).ok());
  std::vector<Delivery> got = Take(right->get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message.payload, std::string(100000, 'p'));
  o.uri = "ssl://localhost:" + std::to_string(broker.port());  // a DNS name in the SAN
  o.client_id = "pl-tls-2";
  EXPECT_TRUE(MqttConsumer::Connect(o).ok());

  // A certificate of the right CA for another host.
  Broker elsewhere("ctls2", TlsListener(d, "elsewhere"));
  MqttOptions e = TestMqttOptions(elsewhere.uri("ssl"), "pl-tls-3");
  e.security.ca_file = d + "/ca.pem";
  auto mismatch = MqttConsumer::Connect(e);
  EXPECT_EQ(mismatch.status().code(), StatusCode::kUnavailable) << mismatch.status().ToString();
  e.uri = elsewhere.uri("tcp");  // TLS files on a plaintext URI: a configuration error
  EXPECT_EQ(MqttConsumer::Connect(e).status().code(), StatusCode::kInvalidArgument);
  e.uri = elsewhere.uri("ssl");
  e.security.ca_file.clear();
  EXPECT_EQ(MqttConsumer::Connect(e).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger
