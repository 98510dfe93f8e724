// SplitHostPort (common/listen_probe.h): how a listen address (--listen, --metrics_listen) is
// read.
#include "common/listen_probe.h"

#include "gtest/gtest.h"

namespace provledger {
namespace {

TEST(SplitHostPort, SplitsAtTheLastColon) {
  const auto hp = SplitHostPort("127.0.0.1:9100");
  ASSERT_TRUE(hp.has_value());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, "9100");
}

TEST(SplitHostPort, TakesTheBracketsOffAnIpv6Host) {
  const auto hp = SplitHostPort("[::1]:9100");
  ASSERT_TRUE(hp.has_value());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, "9100");
}

TEST(SplitHostPort, GivesAnEmptyHostForEveryAddressAndAnEmptyPortAsWritten) {
  const auto all = SplitHostPort(":9100");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->host, "");
  EXPECT_EQ(all->port, "9100");
  const auto no_port = SplitHostPort("localhost:");
  ASSERT_TRUE(no_port.has_value());
  EXPECT_EQ(no_port->host, "localhost");
  EXPECT_EQ(no_port->port, "");
}

TEST(SplitHostPort, RefusesAnAddressWithoutAColon) {
  EXPECT_FALSE(SplitHostPort("localhost").has_value());
  EXPECT_FALSE(SplitHostPort("").has_value());
}

TEST(ProbeListen, SaysThereIsNoPortWithoutAColon) {
  const Status s = ProbeListen("localhost");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "no port in 'localhost'");
}

}  // namespace
}  // namespace provledger
