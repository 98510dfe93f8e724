#include "common/bounded_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/worker.h"

namespace provledger {
namespace {

using std::chrono::milliseconds;

TEST(BoundedQueue, RefusesAnItemBeyondTheItemLimitAndKeepsIt) {
  BoundedQueue<std::string> q(2, 1000, [](const std::string& s) { return s.size(); });
  ASSERT_TRUE(q.Push(std::string("a")).ok());
  ASSERT_TRUE(q.Push(std::string("b")).ok());
  std::string c = "c";
  Status s = q.Push(c);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(c, "c");  // left for the caller
  EXPECT_EQ(q.size(), 2u);
}

TEST(BoundedQueue, RefusesAnItemBeyondTheByteLimit) {
  BoundedQueue<std::string> q(100, 5, [](const std::string& s) { return s.size(); });
  ASSERT_TRUE(q.Push(std::string("abc")).ok());
  EXPECT_EQ(q.Push(std::string("abc")).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(q.Push(std::string("ab")).ok());
  EXPECT_EQ(q.bytes(), 5u);
  EXPECT_FALSE(q.HasRoom(1));
  EXPECT_EQ(q.Push(std::string("toolong")).code(), StatusCode::kResourceExhausted);
}

TEST(BoundedQueue, PopsInOrderAndFreesRoom) {
  BoundedQueue<std::string> q(2, 100, [](const std::string& s) { return s.size(); });
  ASSERT_TRUE(q.Push(std::string("a")).ok());
  ASSERT_TRUE(q.Push(std::string("bb")).ok());
  EXPECT_EQ(q.Pop(milliseconds(0)), std::optional<std::string>("a"));
  EXPECT_EQ(q.bytes(), 2u);
  EXPECT_TRUE(q.Push(std::string("c")).ok());
  std::vector<std::string> out;
  EXPECT_EQ(q.PopBatch(10, milliseconds(0), &out), 2u);
  EXPECT_EQ(out, (std::vector<std::string>{"bb", "c"}));
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(BoundedQueue, PopReturnsNothingAfterItsTimeoutWhenEmpty) {
  BoundedQueue<std::string> q(2, 100, [](const std::string& s) { return s.size(); });
  EXPECT_EQ(q.Pop(milliseconds(20)), std::nullopt);
}

TEST(BoundedQueue, APushWaitingForRoomGoesInOnceAConsumerPops) {
  BoundedQueue<std::string> q(1, 100, [](const std::string& s) { return s.size(); });
  ASSERT_TRUE(q.Push(std::string("first")).ok());
  Status pushed = InternalError("not run");
  {
    Worker producer("producer",
                    [&](Worker&) { pushed = q.Push(std::string("second"), milliseconds(60000)); });
    std::this_thread::sleep_for(milliseconds(20));
    EXPECT_EQ(q.Pop(milliseconds(1000)), std::optional<std::string>("first"));
  }  // joins the producer
  EXPECT_TRUE(pushed.ok()) << pushed.ToString();
  EXPECT_EQ(q.Pop(milliseconds(0)), std::optional<std::string>("second"));
}

TEST(BoundedQueue, CloseRefusesPushesWakesWaitersAndStillDrains) {
  BoundedQueue<std::string> q(1, 100, [](const std::string& s) { return s.size(); });
  ASSERT_TRUE(q.Push(std::string("kept")).ok());
  Status pushed = OkStatus();
  {
    Worker producer("producer",
                    [&](Worker&) { pushed = q.Push(std::string("late"), milliseconds(60000)); });
    std::this_thread::sleep_for(milliseconds(20));
    q.Close();
  }
  EXPECT_EQ(pushed.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(q.Pop(milliseconds(60000)), std::optional<std::string>("kept"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(q.Pop(milliseconds(60000)), std::nullopt);  // closed and empty: at once
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace provledger
