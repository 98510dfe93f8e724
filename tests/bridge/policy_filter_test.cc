#include "mqtt-bridge/policy_filter.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace provledger {
namespace bridge {
namespace {

constexpr PolicyDecision kRecord = PolicyDecision::kRecord;
constexpr PolicyDecision kSkip = PolicyDecision::kSkip;

TEST(PolicyFilter, RecordsEveryReadingByDefault) {
  PolicyFilter f;
  ASSERT_TRUE(f.Validate().ok());
  for (uint64_t ts = 0; ts < 5; ++ts) EXPECT_EQ(f.Decide("d", "t", ts, "1"), kRecord);
}

TEST(PolicyFilter, PeriodicRecordsAtMostOnePerInterval) {
  PolicyFilter f({{"t", WritePolicy::Periodic(1000)}});
  EXPECT_EQ(f.Decide("d", "t", 10000, "a"), kRecord);
  EXPECT_EQ(f.Decide("d", "t", 10500, "a"), kSkip);
  EXPECT_EQ(f.Decide("d", "t", 10999, "a"), kSkip);
  EXPECT_EQ(f.Decide("d", "t", 11000, "a"), kRecord);
  EXPECT_EQ(f.Decide("d", "t", 10800, "a"), kSkip);  // older than the last recorded
  EXPECT_EQ(f.Decide("d", "t", 12500, "a"), kRecord);
}

TEST(PolicyFilter, KeepsStatePerDeviceAndItem) {
  PolicyFilter f({{"t", WritePolicy::Periodic(1000)}});
  EXPECT_EQ(f.Decide("d1", "t", 10000, ""), kRecord);
  EXPECT_EQ(f.Decide("d2", "t", 10001, ""), kRecord);
  EXPECT_EQ(f.Decide("d1", "other", 10002, ""), kRecord);  // other item: default all
  EXPECT_EQ(f.Decide("d1", "other", 10003, ""), kRecord);
  EXPECT_EQ(f.Decide("d1", "t", 10004, ""), kSkip);
}

TEST(PolicyFilter, ChangeRecordsOnlyMovesOfAtLeastTheThreshold) {
  PolicyFilter f({{"t", WritePolicy::Change(0.5)}});
  EXPECT_EQ(f.Decide("d", "t", 1, "21.5"), kRecord);
  EXPECT_EQ(f.Decide("d", "t", 2, "21.7"), kSkip);
  EXPECT_EQ(f.Decide("d", "t", 3, "21.9"), kSkip);  // compared with 21.5, not 21.7
  EXPECT_EQ(f.Decide("d", "t", 4, "22.0"), kRecord);
  EXPECT_EQ(f.Decide("d", "t", 5, "21.5"), kRecord);
  EXPECT_EQ(f.Decide("d", "t", 6, "-3"), kRecord);
}

TEST(PolicyFilter, ChangeReadsAJsonValueField) {
  PolicyFilter f({{"t", WritePolicy::Change(1)}});
  EXPECT_EQ(f.Decide("d", "t", 1, R"({"unit":"C","value":20.25,"at":[1,{"x":null}]})"), kRecord);
  EXPECT_EQ(f.Decide("d", "t", 2, R"({"value": 21})"), kSkip);
  EXPECT_EQ(f.Decide("d", "t", 3, R"( { "value" : 2.1e1 , "ok" : true } )"), kSkip);
  EXPECT_EQ(f.Decide("d", "t", 4, R"({"value":-1})"), kRecord);
}

TEST(PolicyFilter, ChangeAlwaysRecordsNonNumericPayloads) {
  PolicyFilter f({{"t", WritePolicy::Change(10)}});
  EXPECT_EQ(f.Decide("d", "t", 1, "5"), kRecord);
  for (const char* p : {"", "abc", "5x", "1e3", "0x5", "{\"value\":\"5\"}", "{\"v\":5}",
                        "{\"value\":5", "[5]", "{\"value\":5,\"value\":6}", "{\"value\":05}"}) {
    SCOPED_TRACE(p);
    EXPECT_EQ(f.Decide("d", "t", 2, p), kRecord);
  }
  EXPECT_EQ(f.Decide("d", "t", 3, "6"), kSkip);  // still compared with 5
}

TEST(NumericValue, ParsesPlainDecimalsAndJsonValues) {
  EXPECT_EQ(NumericValue("21.5"), std::optional<double>(21.5));
  EXPECT_EQ(NumericValue(" -7\n"), std::optional<double>(-7));
  EXPECT_EQ(NumericValue(R"({"value":1.5E2})"), std::optional<double>(150));
  EXPECT_EQ(NumericValue("1."), std::nullopt);
  EXPECT_EQ(NumericValue(".5"), std::nullopt);
  EXPECT_EQ(NumericValue("--1"), std::nullopt);
  EXPECT_EQ(NumericValue("{}"), std::nullopt);
}

TEST(NumericValue, TreatsObjectsThatBreakStrictJsonAsNonNumeric) {
  EXPECT_EQ(NumericValue(R"({"unit":"C","value":-0.25e1,"nested":{"value":9}})"),
            std::optional<double>(-2.5));
  EXPECT_EQ(NumericValue(R"({"value":1,"value":2})"), std::nullopt);   // repeated key
  EXPECT_EQ(NumericValue("\xEF\xBB\xBF{\"value\":1}"), std::nullopt);  // byte-order mark
  EXPECT_EQ(NumericValue(R"({"value":1,})"), std::nullopt);            // trailing comma
  EXPECT_EQ(NumericValue(R"({"value":"1"})"), std::nullopt);           // a string
  EXPECT_EQ(NumericValue(R"({"value":1} x)"), std::nullopt);           // trailing text
  EXPECT_EQ(NumericValue(R"({"value":1e999})"), std::nullopt);         // not finite
}

TEST(ParsePolicySpec, ParsesTheThreeKindsAndRefusesTheRest) {
  std::map<std::string, WritePolicy> p;
  ASSERT_TRUE(ParsePolicySpec("climate:all", &p).ok());
  ASSERT_TRUE(ParsePolicySpec("door:periodic:5000", &p).ok());
  ASSERT_TRUE(ParsePolicySpec("temp:change:0.5", &p).ok());
  EXPECT_EQ(p.size(), 3u);
  EXPECT_EQ(p["door"].kind, WritePolicy::Kind::kPeriodic);
  EXPECT_EQ(p["door"].interval_ms, 5000u);
  EXPECT_EQ(p["temp"].threshold, 0.5);
  for (const char* bad : {"climate", "climate:all:1", "door:periodic", "door:periodic:x",
                          "door:periodic:0", "temp:change:-1", "Bad Item:all", "x:sometimes"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParsePolicySpec(bad, &p).code(), StatusCode::kInvalidArgument);
  }
}

TEST(WritePolicy, RefusesAZeroIntervalAndANegativeThreshold) {
  EXPECT_FALSE(WritePolicy::Periodic(0).Validate().ok());
  EXPECT_FALSE(WritePolicy::Change(-1).Validate().ok());
  EXPECT_TRUE(WritePolicy::Change(0).Validate().ok());
  PolicyFilter f({{"t", WritePolicy::Periodic(0)}});
  EXPECT_FALSE(f.Validate().ok());
}

}  // namespace
}  // namespace bridge
}  // namespace provledger
