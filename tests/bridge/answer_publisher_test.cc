// AnswerPublisher against a real Mosquitto whose ACL refuses some answer topics.
#include "mqtt-bridge/answer_publisher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/common/test_broker.h"

namespace provledger::bridge {
namespace {

class Settled {
 public:
  std::function<void(const std::vector<uint64_t>&)> Fn() {
    return [this](const std::vector<uint64_t>& keys) {
      std::lock_guard<std::mutex> lock(mu_);
      keys_.insert(keys_.end(), keys.begin(), keys.end());
    };
  }
  std::vector<uint64_t> keys() {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_;
  }
  bool WaitFor(size_t n) {
    for (int i = 0; i < 400 && keys().size() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return keys().size() >= n;
  }

 private:
  std::mutex mu_;
  std::vector<uint64_t> keys_;
};

std::unique_ptr<MqttClient> Connection(const std::string& uri) {
  MqttOptions o;
  o.uri = uri;
  o.connect_timeout_ms = 20000;
  auto c = MqttClient::Connect(o, nullptr);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(*c) : nullptr;
}

// The broker refuses an answer for good (PUBACK 0x87): it is settled once, counted, and not
// published again (it was republished every 10 ms, forever, and never settled).
TEST(AnswerPublisherTest, RefusedAnswerIsSettledNotRepublished) {
  {
    std::ofstream acl(TempDir() + "/answers.acl");
    acl << "topic readwrite devices/#\n";
  }
  Broker broker("answers", {"acl_file " + TempDir() + "/answers.acl"});
  Settled settled;
  auto conn = Connection(broker.uri());
  ASSERT_NE(conn, nullptr);
  AnswerPublisher pub(std::move(conn), AnswerPublisherOptions{}, settled.Fn());
  ASSERT_TRUE(pub.Publish(Answer{"forbidden/d1/ack", "{}", false, {7}}, std::chrono::seconds(1)));
  ASSERT_TRUE(pub.Publish(Answer{"devices/d1/ack", "{}", false, {8}}, std::chrono::seconds(1)));
  ASSERT_TRUE(settled.WaitFor(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a republish would show now
  EXPECT_EQ(pub.refused(), 1u);
  EXPECT_EQ(pub.republished(), 0u);
  std::vector<uint64_t> keys = settled.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<uint64_t>{7, 8}));
  pub.Stop();
}

// Answers queued while the broker is away are handed over (or retried after a backoff)
// and settled once it is back.
TEST(AnswerPublisherTest, AnswersWhileBrokerDownSettleAfterItReturns) {
  Broker broker("answers_down");
  Settled settled;
  auto conn = Connection(broker.uri());
  ASSERT_NE(conn, nullptr);
  AnswerPublisher pub(std::move(conn), AnswerPublisherOptions{}, settled.Fn());
  broker.Stop();
  for (uint64_t k = 1; k <= 5; ++k) {
    ASSERT_TRUE(pub.Publish(Answer{"devices/d/ack", "{}", false, {k}}, std::chrono::seconds(1)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(settled.keys().empty());
  broker.Start();
  ASSERT_TRUE(settled.WaitFor(5));
  EXPECT_EQ(pub.refused(), 0u);
  pub.Stop();
}

}  // namespace
}  // namespace provledger::bridge
