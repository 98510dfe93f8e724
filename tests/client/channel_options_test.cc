// The one set of channel arguments every client and node-to-node channel uses.
#include "client/channel_options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace provledger::client {
namespace {

// The integer arguments of `args`, by name.
std::map<std::string, int> Ints(const grpc::ChannelArguments& args) {
  std::map<std::string, int> out;
  const grpc_channel_args c = args.c_channel_args();
  for (size_t i = 0; i < c.num_args; ++i) {
    if (c.args[i].type == GRPC_ARG_INTEGER) out[c.args[i].key] = c.args[i].value.integer;
  }
  return out;
}

TEST(LedgerChannelArguments, PingsEverySecondWhileCallsAreInFlightWithoutALimitBetweenData) {
  const auto a = Ints(LedgerChannelArguments());
  EXPECT_EQ(a.at(GRPC_ARG_KEEPALIVE_TIME_MS), 1000);
  EXPECT_EQ(a.at(GRPC_ARG_KEEPALIVE_TIMEOUT_MS), 1000);
  // Idle connections are not pinged: gRPC 1.51's sync client would read the answer too late.
  EXPECT_EQ(a.at(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS), 0);
  // A Submit that waits for its commit sends no data: pings must go on meanwhile.
  EXPECT_EQ(a.at(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA), 0);
}

TEST(LedgerChannelArguments, TakesTheKeepaliveTimesGiven) {
  const auto a = Ints(LedgerChannelArguments(kDefaultMaxMessageBytes, {5000, 3000}));
  EXPECT_EQ(a.at(GRPC_ARG_KEEPALIVE_TIME_MS), 5000);
  EXPECT_EQ(a.at(GRPC_ARG_KEEPALIVE_TIMEOUT_MS), 3000);
}

TEST(LedgerChannelArguments, RaisesAKeepaliveTimeBelowWhatServersAccept) {
  const auto a = Ints(LedgerChannelArguments(kDefaultMaxMessageBytes, {10, 0}));
  EXPECT_EQ(a.at(GRPC_ARG_KEEPALIVE_TIME_MS), static_cast<int>(kMinKeepaliveTimeMs));
  EXPECT_GE(a.at(GRPC_ARG_KEEPALIVE_TIMEOUT_MS), 1);
}

TEST(LedgerChannelArguments, LimitsMessagesInBothDirections) {
  const auto a = Ints(LedgerChannelArguments(256 * 1024 * 1024));
  EXPECT_EQ(a.at(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH), 256 * 1024 * 1024);
  EXPECT_EQ(a.at(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH), 256 * 1024 * 1024);
}

TEST(LedgerChannelArguments, ReconnectsAndGivesUpConnectingWithinASecond) {
  const auto a = Ints(LedgerChannelArguments());
  EXPECT_EQ(a.at(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS), 100);
  EXPECT_EQ(a.at(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS), 1000);
  EXPECT_EQ(a.at(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS), 1000);
}

}  // namespace
}  // namespace provledger::client
