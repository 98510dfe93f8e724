// The SUBACK wait rule shared by MqttClient and MqttConsumer, driven with made-up times.
#include "common/suback_wait.h"

#include <chrono>

#include "gtest/gtest.h"

namespace provledger {
namespace {

using std::chrono::milliseconds;
const SubackWait::Clock::time_point kT0{};

TEST(SubackWaitTest, EndsIdleAfterTheStartWhenNothingIsDelivered) {
  SubackWait wait(milliseconds(1000), 7, kT0);
  EXPECT_TRUE(wait.Check("subscribe 1 filters (a)", 7, kT0 + milliseconds(999)).ok());
  const Status s = wait.Check("subscribe 1 filters (a)", 7, kT0 + milliseconds(1000));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "subscribe 1 filters (a): no SUBACK and no message for 1000 ms");
}

TEST(SubackWaitTest, EachDeliveryRestartsTheIdleDeadline) {
  SubackWait wait(milliseconds(1000), 0, kT0);
  EXPECT_TRUE(wait.Check("w", 1, kT0 + milliseconds(900)).ok());
  // 1500 ms after the start, but only 600 after the delivery seen at 900.
  EXPECT_TRUE(wait.Check("w", 1, kT0 + milliseconds(1500)).ok());
  EXPECT_FALSE(wait.Check("w", 1, kT0 + milliseconds(1900)).ok());
}

TEST(SubackWaitTest, DeliveriesDoNotExtendItPastTenTimesIdle) {
  SubackWait wait(milliseconds(100), 0, kT0);
  uint64_t delivered = 0;
  for (int t = 50; t < 1000; t += 50) {
    EXPECT_TRUE(wait.Check("w", ++delivered, kT0 + milliseconds(t)).ok()) << t;
  }
  const Status s = wait.Check("w", ++delivered, kT0 + milliseconds(1000));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "w: no SUBACK after 1000 ms");
}

TEST(SubackWaitTest, DescribeSubscribeNamesTheFirstFilter) {
  EXPECT_EQ(DescribeSubscribe({"a/#"}), "subscribe 1 filters (a/#)");
  EXPECT_EQ(DescribeSubscribe({"a/#", "b/+"}), "subscribe 2 filters (a/#, ...)");
}

}  // namespace
}  // namespace provledger
