// The pure parts of `ledgerctl status --all` and `ledgerctl watch`: the table a user reads,
// the fork verdict that sets the exit code, and the rates over a sliding window.
#include "tools/ledgerctl/cluster_view.h"

#include <gtest/gtest.h>

namespace provledger::tools {
namespace {

NodeRow Up(const std::string& id, uint64_t height, uint64_t view, const std::string& role,
           const std::string& hash) {
  NodeRow r;
  r.address = "127.0.0.1:70" + std::to_string(10 + id.back() - '0');
  r.up = true;
  r.status.set_node_id(id);
  r.status.set_height(height);
  r.status.set_view(view);
  r.status.set_role(role);
  r.status.set_mode("full");
  r.status.set_primary("v1");
  r.status.set_epoch(0);
  r.common_hash = Bytes(hash);
  return r;
}

NodeRow Down(const std::string& id, const std::string& err) {
  NodeRow r;
  r.address = "127.0.0.1:7099";
  r.expected_id = id;
  r.error = err;
  return r;
}

TEST(FormatAge, PicksAUnitAHumanReads) {
  EXPECT_EQ(FormatAge(0), "0 ms");
  EXPECT_EQ(FormatAge(999), "999 ms");
  EXPECT_EQ(FormatAge(1000), "1.0 s");
  EXPECT_EQ(FormatAge(12345), "12.3 s");
  EXPECT_EQ(FormatAge(245000), "4m05s");
  EXPECT_EQ(FormatAge(3 * 3600000 + 12 * 60000), "3h12m");
  EXPECT_EQ(FormatAge(2 * 86400000ull + 4 * 3600000), "2d04h");
}

TEST(Summarize, LagAndCommonHeightFromTheNodesThatAnswered) {
  std::vector<NodeRow> rows = {Up("v0", 10, 1, "validator", "a"), Up("v1", 7, 1, "validator", "a"),
                               Down("v2", "UNAVAILABLE: x")};
  ClusterSummary s = Summarize(rows);
  EXPECT_EQ(s.max_height, 10u);
  EXPECT_EQ(s.common_height, 7u);
  EXPECT_EQ(s.unreachable, 1u);
  EXPECT_FALSE(s.fork);
}

TEST(Summarize, DifferentBlocksAtTheCommonHeightAreAFork) {
  std::vector<NodeRow> rows = {Up("v0", 5, 0, "validator", "a"), Up("v1", 5, 0, "validator", "b")};
  EXPECT_TRUE(Summarize(rows).fork);
  // A node whose block could not be read (pruned) is left out, not counted as a fork.
  rows[1].common_hash.reset();
  rows[1].common_note = "pruned";
  EXPECT_FALSE(Summarize(rows).fork);
}

TEST(FormatStatusTable, OneRowPerNodeWithLagAndErrors) {
  std::vector<NodeRow> rows = {Up("v0", 10, 2, "validator", "a"), Up("f0", 8, 2, "follower", "a"),
                               Down("v3", "UNAVAILABLE: connection refused")};
  rows[0].head_timestamp = 1000;
  const ClusterSummary s = Summarize(rows);
  const std::string t = FormatStatusTable(rows, s, 3500);
  EXPECT_NE(t.find("NODE"), std::string::npos) << t;
  EXPECT_NE(t.find("LAST COMMIT"), std::string::npos) << t;
  // v0: height 10, lag 0, view 2, 2.5 s since its head; f0 lags by 2 and is a follower.
  EXPECT_NE(t.find("v0  "), std::string::npos) << t;
  EXPECT_NE(t.find("2.5 s"), std::string::npos) << t;
  EXPECT_NE(t.find("follower"), std::string::npos) << t;
  EXPECT_NE(t.find("unreachable: v3 at 127.0.0.1:7099: UNAVAILABLE: connection refused"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("at height 8 2 node(s) compared: same block"), std::string::npos) << t;
  EXPECT_EQ(t.find("FORK"), std::string::npos) << t;
  // Columns line up: every row's HEIGHT starts where the header's does.
  const size_t col = t.find("HEIGHT");
  const size_t line2 = t.find('\n') + 1;
  EXPECT_EQ(t.substr(line2 + col, 2), "10") << t;
}

TEST(FormatStatusTable, AForkNamesEachHashAndItsNodes) {
  std::vector<NodeRow> rows = {Up("v0", 5, 0, "validator", std::string(32, '\x01')),
                               Up("v1", 6, 0, "validator", std::string(32, '\x02')),
                               Up("v2", 5, 0, "validator", std::string(32, '\x01'))};
  const ClusterSummary s = Summarize(rows);
  const std::string t = FormatStatusTable(rows, s, 0);
  EXPECT_NE(t.find("FORK: the nodes hold different blocks at height 5"), std::string::npos) << t;
  EXPECT_NE(t.find("0101010101010101  v0@127.0.0.1:7010, v2@127.0.0.1:7012"), std::string::npos)
      << t;
  EXPECT_NE(t.find("0202020202020202  v1@127.0.0.1:7011"), std::string::npos) << t;
  const JsonValue j = StatusTableJson(rows, s, 0);
  ASSERT_NE(j.Find("fork"), nullptr);
  EXPECT_TRUE(j.Find("fork")->bool_value());
}

TEST(RateWindow, RatesOverTheLastWindow) {
  RateWindow w(10000);
  EXPECT_FALSE(w.Get().has_value());
  uint64_t h = 100, rec = 1000;
  w.Add(0, h, rec);
  EXPECT_FALSE(w.Get().has_value());  // one sample: no span yet
  for (uint64_t t = 1000; t <= 20000; t += 1000) {
    // 2 blocks/s and 50 records/s for the first 10 s, then 1 block/s and 10 records/s.
    const bool early = t <= 10000;
    h += early ? 2 : 1;
    rec += early ? 50 : 10;
    w.Add(t, h, rec);
  }
  auto r = w.Get();
  ASSERT_TRUE(r.has_value());
  EXPECT_DOUBLE_EQ(r->seconds, 10.0);  // only the last 10 s count
  EXPECT_DOUBLE_EQ(r->blocks_per_s, 1.0);
  EXPECT_DOUBLE_EQ(r->records_per_s, 10.0);
  EXPECT_EQ(FormatRateLine(*r, 130),
            "rate 1.0 blocks/s, 10.0 records/s over the last 10.0 s "
            "(height 130)");
}

TEST(RateWindow, ACounterGoingBackRestartsTheWindow) {
  RateWindow w(10000);
  w.Add(0, 50, 500);
  w.Add(1000, 60, 600);
  w.Add(2000, 3, 30);  // another store behind the same address
  EXPECT_FALSE(w.Get().has_value());
  w.Add(3000, 5, 40);
  ASSERT_TRUE(w.Get().has_value());
  EXPECT_DOUBLE_EQ(w.Get()->blocks_per_s, 2.0);
}

TEST(FormatBlockLine, NamesHeightRecordsProposerViewAge) {
  EXPECT_EQ(FormatBlockLine(123, 50, "v1", 4, 120),
            "height 123  records 50  proposer v1  view 4  age 120 ms");
}

}  // namespace
}  // namespace provledger::tools
