// RetryPolicy (client/retry_policy.h): transient failures are retried across the nodes with
// backoff until the budget; a refusal never; the final error names every node's last error.
#include "client/retry_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace provledger::client {
namespace {

// A fake clock: sleeping and each attempt advance it, nothing waits.
struct FakeClock {
  uint64_t now = 1000;
  std::vector<uint32_t> sleeps;
  RetryClock Get() {
    return RetryClock{[this] { return now; },
                      [this](uint32_t ms) {
                        sleeps.push_back(ms);
                        now += ms;
                      }};
  }
};

const std::vector<std::string> kNodes = {"a:1", "b:2", "c:3"};

TEST(IsTransient, RetriesWhatTheNodesCouldNotAnswer) {
  for (auto code : {StatusCode::kUnavailable, StatusCode::kDeadlineExceeded, StatusCode::kAborted,
                    StatusCode::kResourceExhausted}) {
    EXPECT_TRUE(IsTransient(code, CallKind::kRead)) << StatusCodeName(code);
    EXPECT_TRUE(IsTransient(code, CallKind::kWrite)) << StatusCodeName(code);
  }
}

TEST(IsTransient, NeverRetriesARefusal) {
  for (auto code :
       {StatusCode::kInvalidArgument, StatusCode::kPermissionDenied, StatusCode::kNotFound,
        StatusCode::kFailedPrecondition, StatusCode::kUnauthenticated, StatusCode::kAlreadyExists,
        StatusCode::kInternal, StatusCode::kUnimplemented}) {
    EXPECT_FALSE(IsTransient(code, CallKind::kRead)) << StatusCodeName(code);
    EXPECT_FALSE(IsTransient(code, CallKind::kWrite)) << StatusCodeName(code);
  }
  // A batch of several records over the limits stays over them.
  EXPECT_FALSE(IsTransient(StatusCode::kResourceExhausted, CallKind::kBatchOfMany));
  EXPECT_TRUE(IsTransient(StatusCode::kUnavailable, CallKind::kBatchOfMany));
}

TEST(Backoff, DoublesWithJitterUpToTheCap) {
  Backoff b(100, 2000, 42);
  uint32_t d = 100;
  for (int k = 0; k < 10; ++k) {
    const uint32_t ms = b.NextMs();
    EXPECT_GE(ms, d / 2) << k;
    EXPECT_LE(ms, d) << k;
    d = std::min<uint32_t>(d * 2, 2000);
  }
  // Two clients seeded differently do not retry in lockstep.
  Backoff x(100, 2000, 1), y(100, 2000, 2);
  bool differ = false;
  for (int k = 0; k < 8; ++k) differ = differ || x.NextMs() != y.NextMs();
  EXPECT_TRUE(differ);
}

TEST(RunWithRetries, RetriesATransientAnswerUntilANodeAnswers) {
  FakeClock clock;
  RetryOptions o;
  o.budget_ms = 30000;
  std::vector<std::string> notices;
  o.on_retry = [&](const std::string& s) { notices.push_back(s); };
  std::vector<size_t> tried;
  auto r =
      RunWithRetries(kNodes, 1, CallKind::kWrite, 5000, o, clock.Get(), [&](size_t i, uint32_t t) {
        tried.push_back(i);
        EXPECT_LE(t, 5000u);
        clock.now += 10;
        // Every node is switching epochs for the first 7 attempts.
        if (tried.size() < 8) {
          return UnavailableError(
              "epoch switch, retry: this node is moving to validator-set epoch 64");
        }
        return OkStatus();
      });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, tried.back());
  EXPECT_EQ(tried.size(), 8u);
  // From the preferred node on, wrapping, every node in turn.
  EXPECT_EQ(std::vector<size_t>(tried.begin(), tried.begin() + 4),
            (std::vector<size_t>{1, 2, 0, 1}));
  EXPECT_EQ(clock.sleeps.size(), 2u);  // one backoff per pass over the three nodes
  ASSERT_EQ(notices.size(), 7u);
  EXPECT_NE(notices[2].find("retrying: a:1: UNAVAILABLE epoch switch, retry: this node is moving "
                            "to validator-set epoch 64"),
            std::string::npos)
      << notices[2];
  EXPECT_NE(notices[2].find("(attempt 3, "), std::string::npos) << notices[2];
  EXPECT_NE(notices[2].find(" s left)"), std::string::npos) << notices[2];
}

TEST(RunWithRetries, NeverRetriesAPermanentAnswer) {
  FakeClock clock;
  RetryOptions o;
  o.budget_ms = 30000;
  int calls = 0;
  auto r = RunWithRetries(kNodes, 0, CallKind::kWrite, 5000, o, clock.Get(), [&](size_t, uint32_t) {
    ++calls;
    return FailedPreconditionError("based on an overtaken set");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "a:1: based on an overtaken set");
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(clock.sleeps.empty());
}

TEST(RunWithRetries, GivesUpAtTheBudgetNamingEveryNodesLastError) {
  FakeClock clock;
  RetryOptions o;
  o.budget_ms = 4000;
  int calls = 0;
  auto r =
      RunWithRetries(kNodes, 0, CallKind::kRead, 10000, o, clock.Get(), [&](size_t i, uint32_t t) {
        ++calls;
        // Never past the budget: the attempt's deadline is what is left.
        EXPECT_LE(clock.now + t, 1000u + 4000u);
        clock.now += 50;
        if (i == 1) return DeadlineExceededError("slow");
        return UnavailableError("down " + std::to_string(calls));
      });
  ASSERT_FALSE(r.ok());
  EXPECT_GE(clock.now, 5000u);
  EXPECT_LE(clock.now, 5000u + 50u);
  EXPECT_GT(calls, 6);
  const std::string m = r.status().message();  // status() returns a copy
  EXPECT_NE(m.find("within 4000 ms"), std::string::npos) << m;
  EXPECT_NE(m.find("a:1: UNAVAILABLE down"), std::string::npos) << m;
  EXPECT_NE(m.find("b:2: DEADLINE_EXCEEDED slow"), std::string::npos) << m;
  EXPECT_NE(m.find("c:3: UNAVAILABLE down"), std::string::npos) << m;
}

TEST(RunWithRetries, WithoutABudgetMakesOnePassAsBefore) {
  FakeClock clock;
  RetryOptions o;  // budget 0: the bridge's mode, it retries on its own
  int calls = 0;
  auto r =
      RunWithRetries(kNodes, 2, CallKind::kWrite, 5000, o, clock.Get(), [&](size_t, uint32_t t) {
        ++calls;
        EXPECT_EQ(t, 5000u);
        return UnavailableError("down");
      });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r.status().message(), "b:2: down");
  EXPECT_TRUE(clock.sleeps.empty());
  // And an ABORTED is an answer there, as it always was.
  calls = 0;
  r = RunWithRetries(kNodes, 0, CallKind::kWrite, 5000, o, clock.Get(), [&](size_t, uint32_t) {
    ++calls;
    return AbortedError("x");
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace provledger::client
