#include "consensus/quorum.h"

#include <gtest/gtest.h>

#include "consensus/view_timer.h"

namespace provledger {
namespace consensus {
namespace {

TEST(Quorum, SizesForOneToTenValidators) {
  struct Case {
    uint32_t n, f, strong, weak, prepares;
    bool three_f_plus_one;
  };
  for (const Case& c :
       {Case{1, 0, 1, 1, 0, true}, Case{2, 0, 2, 1, 1, false}, Case{3, 0, 2, 1, 1, false},
        Case{4, 1, 3, 2, 2, true}, Case{5, 1, 4, 2, 3, false}, Case{6, 1, 4, 2, 3, false},
        Case{7, 2, 5, 3, 4, true}, Case{8, 2, 6, 3, 5, false}, Case{9, 2, 6, 3, 5, false},
        Case{10, 3, 7, 4, 6, true}}) {
    SCOPED_TRACE(c.n);
    Quorum q(c.n);
    EXPECT_TRUE(q.Valid());
    EXPECT_EQ(q.ThreeFPlusOne(), c.three_f_plus_one);
    EXPECT_EQ(q.f(), c.f);
    EXPECT_EQ(q.Strong(), c.strong);
    EXPECT_EQ(q.Weak(), c.weak);
    EXPECT_EQ(q.Prepares(), c.prepares);
  }
}

TEST(Quorum, TwoQuorumsShareAnHonestValidatorAndTheHonestOnesFormAQuorum) {
  for (uint32_t n = 1; n <= 100; ++n) {
    SCOPED_TRACE(n);
    Quorum q(n);
    EXPECT_GE(3 * q.f() + 3, n);               // f is as large as the bound allows...
    EXPECT_LE(3 * q.f() + 1, n);               // ...and no larger
    EXPECT_GE(2 * q.Strong(), n + q.f() + 1);  // intersection 2q-N >= f+1: one honest
    EXPECT_GE(n - q.f(), q.Strong());          // liveness: N-f honest make a quorum
    EXPECT_LE(q.Strong(), n);
    if (q.ThreeFPlusOne()) EXPECT_EQ(q.Strong(), 2 * q.f() + 1);
  }
}

TEST(Quorum, ZeroValidatorsIsNotAValidSet) {
  EXPECT_FALSE(Quorum(0).Valid());
  EXPECT_FALSE(Quorum(0).ThreeFPlusOne());
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
