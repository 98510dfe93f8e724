// Answer parsing, the refusal policy and the topic router.
#include "agent/bridge_answers.h"

#include <string>

#include "agent/topic_router.h"
#include "gtest/gtest.h"

namespace provledger::agent {
namespace {

TEST(BridgeAnswersTest, ParsesAVerdict) {
  StatusOr<Verdict> v = ParseVerdict(
      "{\"v\":1,\"seq\":9,\"verdict\":\"untrusted\",\"failures\":[{\"path\":\"/x\",\"hash\":"
      "\"sha256:00\"}],\"record\":\"" +
      std::string(64, 'c') + "\",\"height\":3}");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->seq, 9u);
  EXPECT_EQ(v->verdict, "untrusted");
  ASSERT_EQ(v->failures.size(), 1u);
  EXPECT_EQ(v->failures[0].first, "/x");
  EXPECT_FALSE(ParseVerdict("{\"v\":1,\"seq\":9,\"verdict\":\"maybe\",\"failures\":[],"
                            "\"record\":\"" +
                            std::string(64, 'c') + "\",\"height\":3}")
                   .ok());
  EXPECT_FALSE(ParseVerdict("{\"v\":2}").ok());
}

TEST(BridgeAnswersTest, ParsesAnErrorAndClassifiesCodes) {
  StatusOr<ErrorAnswer> e = ParseErrorAnswer(
      "{\"v\":1,\"code\":\"internal\",\"reason\":\"r\",\"seq\":5,\"item\":\"_integrity\"}");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, "internal");
  EXPECT_EQ(*e->seq, 5u);
  EXPECT_EQ(ClassifyRefusal("internal"), Refusal::kRetry);
  EXPECT_EQ(ClassifyRefusal("stale"), Refusal::kRetry);
  EXPECT_EQ(ClassifyRefusal("replay"), Refusal::kRetry);
  EXPECT_EQ(ClassifyRefusal("no_session"), Refusal::kRenewSession);
  EXPECT_EQ(ClassifyRefusal("malformed"), Refusal::kDropReport);
  EXPECT_EQ(ClassifyRefusal("too_large"), Refusal::kDropReport);
  EXPECT_EQ(ClassifyRefusal("bad_auth"), Refusal::kStopAgent);
  EXPECT_FALSE(ParseErrorAnswer("{\"v\":1,\"code\":\"x\",\"nonce\":\"ABC\"}").ok());
}

TEST(TopicRouterTest, RoutesByExactTopic) {
  TopicRouter r;
  int a = 0, b = 0;
  r.Add("devices/d/integrity/verdict", [&](const MqttMessage&) { ++a; });
  r.Add("devices/d/update/code", [&](const MqttMessage&) { ++b; });
  MqttMessage m;
  m.topic = "devices/d/update/code";
  EXPECT_TRUE(r.Dispatch(m));
  m.topic = "devices/d/integrity";
  EXPECT_FALSE(r.Dispatch(m));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(r.Topics().size(), 2u);
}

}  // namespace
}  // namespace provledger::agent
