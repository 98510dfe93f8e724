#include "consensus/quorum.h"

#include <gtest/gtest.h>

#include "consensus/view_timer.h"

namespace provledger {
namespace consensus {
namespace {

TEST(Quorum, SizesFollowThreeFPlusOne) {
  struct Case {
    uint32_t n, f, strong, weak, prepares;
  };
  for (const Case& c :
       {Case{1, 0, 1, 1, 0}, Case{4, 1, 3, 2, 2}, Case{7, 2, 5, 3, 4}, Case{10, 3, 7, 4, 6}}) {
    SCOPED_TRACE(c.n);
    Quorum q(c.n);
    EXPECT_TRUE(q.Valid());
    EXPECT_EQ(q.f(), c.f);
    EXPECT_EQ(q.Strong(), c.strong);
    EXPECT_EQ(q.Weak(), c.weak);
    EXPECT_EQ(q.Prepares(), c.prepares);
  }
}

TEST(Quorum, RefusesValidatorCountsThatAreNotThreeFPlusOne) {
  for (uint32_t n : {0u, 2u, 3u, 5u, 6u, 8u}) EXPECT_FALSE(Quorum(n).Valid()) << n;
}

TEST(Quorum, PrimaryIsViewModN) {
  Quorum q(4);
  EXPECT_EQ(q.Primary(0), 0u);
  EXPECT_EQ(q.Primary(5), 1u);
  EXPECT_EQ(q.Primary(4000000003ull), 3u);
}

TEST(ViewTimer, ExpiresAfterItsTimeoutAndBacksOffExponentially) {
  ViewTimer t(10, 3);
  EXPECT_FALSE(t.Expired(100));
  t.Start(0);
  EXPECT_FALSE(t.Expired(9));
  EXPECT_TRUE(t.Expired(10));
  t.Backoff();
  t.Restart(10);
  EXPECT_FALSE(t.Expired(29));
  EXPECT_TRUE(t.Expired(30));
  for (int i = 0; i < 10; ++i) t.Backoff();
  EXPECT_EQ(t.timeout(), 80u);  // capped at 2^3
  t.ResetBackoff();
  EXPECT_EQ(t.timeout(), 10u);
  t.Stop();
  EXPECT_FALSE(t.Expired(1000));
}

}  // namespace
}  // namespace consensus
}  // namespace provledger
