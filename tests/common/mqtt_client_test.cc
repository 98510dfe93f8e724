// MqttClient against a real Mosquitto (/usr/sbin/mosquitto) on a loopback port.
#include "common/mqtt_client.h"

#include <gtest/gtest.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
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
  // The latest message on `topic` (empty if none).
  MqttMessage Last(const std::string& topic) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
      if (it->topic == topic) return *it;
    }
    return {};
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

bool WaitState(const PublishReceipt& r, PublishReceipt::State want) {
  for (int i = 0; i < 400 && r.state() == PublishReceipt::State::kPending; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return r.state() == want;
}

TEST(MqttClientTest, PublishSubscribeCarriesUserProperties) {
  Broker broker("plain");
  Inbox inbox;
  auto sub = MqttClient::Connect(TestMqttOptions(broker.uri()), inbox.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE((*sub)->Subscribe({"t/#"}, 1, 10000).ok());
  auto pub = MqttClient::Connect(TestMqttOptions(broker.uri()), nullptr);
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
  auto pub = MqttClient::Connect(TestMqttOptions(broker.uri()), nullptr);
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
  auto pub = MqttClient::Connect(TestMqttOptions(broker.uri()), nullptr);
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
  auto sub = MqttClient::Connect(TestMqttOptions(broker.uri()), inbox.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE((*sub)->Subscribe({"r/#"}, 1, 10000).ok());
  auto pub = MqttClient::Connect(TestMqttOptions(broker.uri()), nullptr);
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
  auto pub = MqttClient::Connect(TestMqttOptions(broker.uri()), nullptr);
  ASSERT_TRUE(pub.ok());
  broker.Stop();
  auto r = (*pub)->PublishTracked("d/x", "p", 1, false);
  ASSERT_TRUE(r.ok());
  (*pub)->Disconnect(100);
  EXPECT_EQ(r->state(), PublishReceipt::State::kFailed);
  EXPECT_FALSE((*pub)->Publish("d/x", "p", 1, false).ok());
}

TEST(MqttClientTest, UnreachableBrokerIsUnavailable) {
  MqttOptions o = TestMqttOptions("tcp://127.0.0.1:" + std::to_string(FreePort()));
  auto c = MqttClient::Connect(o, nullptr);
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
}

TEST(MqttClientTest, DupLayoutOnlyForLibmosquitto20) {
  EXPECT_TRUE(MosquittoDupLayoutKnown(2, 0));
  EXPECT_FALSE(MosquittoDupLayoutKnown(2, 1));
  EXPECT_FALSE(MosquittoDupLayoutKnown(1, 6));
  EXPECT_FALSE(MosquittoDupLayoutKnown(3, 0));
}

// Writes all of `bytes` to `fd`.
bool SendAll(int fd, const std::string& bytes) {
  return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// Reads until `n` bytes came (or EOF / 20 s without data).
std::string ReadN(int fd, size_t n) {
  std::string out;
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  while (out.size() < n) {
    const ssize_t r = recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// A message the broker sends again (its first delivery never acknowledged) reads duplicate on
// the libmosquitto this test runs with; a first delivery does not. The first receiver is a
// bare MQTT 3.1.1 session over a socket, since MqttClient always acknowledges.
TEST(MqttClientTest, RedeliveryReadsDuplicate) {
  int major = 0, minor = 0, revision = 0;
  mosquitto_lib_version(&major, &minor, &revision);
  if (!MosquittoDupLayoutKnown(major, minor)) GTEST_SKIP() << "DUP detection is off here";
  Broker broker("dup");
  const std::string id = "pl-dup-test";
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(broker.port()));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  // CONNECT: MQTT 3.1.1, clean session off, keepalive 60 s.
  const std::string connect_vh = std::string("\x00\x04MQTT\x04\x00\x00\x3c", 10) +
                                 std::string("\x00", 1) + static_cast<char>(id.size()) + id;
  ASSERT_TRUE(
      SendAll(fd, std::string("\x10", 1) + static_cast<char>(connect_vh.size()) + connect_vh));
  ASSERT_EQ(ReadN(fd, 4), std::string("\x20\x02\x00\x00", 4));  // CONNACK, accepted
  // SUBSCRIBE dup/x at QoS 1, packet id 1.
  ASSERT_TRUE(SendAll(fd, std::string("\x82\x0a\x00\x01\x00\x05"
                                      "dup/x\x01",
                                      12)));
  ASSERT_EQ(ReadN(fd, 5), std::string("\x90\x03\x00\x01\x01", 5));  // SUBACK, QoS 1

  auto pub = MqttClient::Connect(TestMqttOptions(broker.uri()), nullptr);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  ASSERT_TRUE((*pub)->PublishAndWait("dup/x", "again", 1, false).ok());
  const std::string first = ReadN(fd, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(static_cast<uint8_t>(first[0]) & 0xF8, 0x30);  // a PUBLISH, DUP clear
  close(fd);  // without its PUBACK: the session keeps it in flight

  Inbox inbox;
  auto sub = MqttClient::Connect(TestMqttOptions(broker.uri(), id), inbox.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  MqttMessage m;
  ASSERT_TRUE(inbox.WaitFor("dup/x", &m));
  EXPECT_EQ(m.payload, "again");
  EXPECT_TRUE(m.duplicate);

  ASSERT_TRUE((*pub)->PublishAndWait("dup/x", "fresh", 1, false).ok());
  MqttMessage fresh;
  for (int i = 0; i < 400 && fresh.payload != "fresh"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fresh = inbox.Last("dup/x");
  }
  EXPECT_EQ(fresh.payload, "fresh");
  EXPECT_FALSE(fresh.duplicate);
}

TEST(MqttClientTest, TlsNeedsTheRightCa) {
  const std::string d = TempDir() + "/tls";
  ASSERT_TRUE(MakeTestTls(d, {{"server", {"127.0.0.1", "localhost"}}}));
  Broker broker("tls", TlsListener(d, "server"));
  MqttOptions o = TestMqttOptions(broker.uri("ssl"));
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
