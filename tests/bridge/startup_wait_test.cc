#include "mqtt-bridge/startup_wait.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace provledger::bridge {
namespace {

using client::NodeAnswer;

// A clock that only moves when the wait sleeps.
struct FakeClock {
  uint64_t now = 1000;
  std::vector<uint32_t> sleeps;
  client::RetryClock Get() {
    return client::RetryClock{[this] { return now; },
                              [this](uint32_t ms) {
                                sleeps.push_back(ms);
                                now += ms;
                              }};
  }
};

Status NotRegisteredOn(std::vector<NodeAnswer>* answers, bool second_unreachable) {
  answers->push_back({"A", NotFoundError("gateway 'gw-1' is not registered")});
  answers->push_back({"B", second_unreachable ? UnavailableError("connection refused")
                                              : NotFoundError("gateway 'gw-1' is not registered")});
  return NotFoundError("gateway 'gw-1' is not registered on any node");
}

TEST(StartupWait, ANotFoundOnEveryNodeIsRetriedUntilOneNodeHasIt) {
  FakeClock clock;
  std::vector<std::string> lines;
  StartupWait wait(30000, clock.Get(), [&](const std::string& l) { lines.push_back(l); });
  int tries = 0;
  Status s = wait.Until("gateway 'gw-1' to be registered", [&](std::vector<NodeAnswer>* a) {
    if (++tries < 4) return NotRegisteredOn(a, /*second_unreachable=*/tries == 2);
    a->push_back({"A", NotFoundError("gateway 'gw-1' is not registered")});
    a->push_back({"B", OkStatus()});
    return OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(tries, 4);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[1].find("waiting for gateway 'gw-1' to be registered: A says NOT_FOUND: "
                          "gateway 'gw-1' is not registered, B unreachable (UNAVAILABLE: "
                          "connection refused)"),
            std::string::npos)
      << lines[1];
  // Jittered doubling: each sleep in [d/2, d] for d = 200, 400, 800.
  ASSERT_EQ(clock.sleeps.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    const uint32_t d = 200u << k;
    EXPECT_GE(clock.sleeps[k], d / 2);
    EXPECT_LE(clock.sleeps[k], d);
  }
}

TEST(StartupWait, GivesUpAfterTheBudgetNamingEveryNodeAndWhatItSaid) {
  FakeClock clock;
  StartupWait wait(5000, clock.Get(), nullptr);
  int tries = 0;
  Status s = wait.Until("gateway 'gw-1' to be registered", [&](std::vector<NodeAnswer>* a) {
    ++tries;
    return NotRegisteredOn(a, /*second_unreachable=*/true);
  });
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("after 5000 ms"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("A says NOT_FOUND: gateway 'gw-1' is not registered"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("B unreachable (UNAVAILABLE"), std::string::npos) << s.message();
  EXPECT_GT(tries, 3);
  EXPECT_EQ(clock.now, 1000u + 5000u);  // the last sleep is cut to the budget
}

TEST(StartupWait, PermissionDeniedEndsTheWaitAtOnce) {
  FakeClock clock;
  StartupWait wait(30000, clock.Get(), nullptr);
  int tries = 0;
  Status s = wait.Until("gateway 'gw-1' to be registered", [&](std::vector<NodeAnswer>* a) {
    ++tries;
    a->push_back({"A", NotFoundError("gateway 'gw-1' is not registered")});
    a->push_back({"B", PermissionDeniedError("role reader may not call Gateways")});
    return NotFoundError("not on any node");
  });
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("B refused: PERMISSION_DENIED: role reader"), std::string::npos)
      << s.message();
  EXPECT_EQ(tries, 1);
  EXPECT_TRUE(clock.sleeps.empty());
}

TEST(StartupWait, AStatusWithoutAnswersStandsForOneAnswer) {
  FakeClock clock;
  StartupWait wait(1000, clock.Get(), nullptr);
  Status s = wait.Until("a ledger node to answer", [](std::vector<NodeAnswer>*) {
    return UnavailableError("n1: connection refused");
  });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("a node unreachable (UNAVAILABLE: n1: connection refused)"),
            std::string::npos)
      << s.message();
  Status bad = StartupWait(1000, clock.Get(), nullptr)
                   .Until("the device list", [](std::vector<NodeAnswer>*) {
                     return InvalidArgumentError("bad query");
                   });
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger::bridge
