#include "common/bytes.h"

#include <gtest/gtest.h>

namespace provledger {
namespace {

TEST(Hex, RoundTripsAllByteValues) {
  Bytes all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  auto decoded = HexDecode(HexEncode(all));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, all);
}

TEST(Hex, RefusesUpperCaseOddLengthAndPrefix) {
  EXPECT_EQ(HexDecode("AB").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("abc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("0x00").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(HexDecodeFixed("00", 2).ok());
  EXPECT_TRUE(HexDecodeFixed("0000", 2).ok());
}

TEST(Encoding, MatchesProtocolExamples) {
  Bytes lp;
  AppendLp(&lp, "dev-1");
  EXPECT_EQ(HexEncode(lp), "000000056465762d31");  // PROTOCOL.md section 1
  Bytes s0;
  AppendStr0(&s0, "dev-1");
  EXPECT_EQ(HexEncode(s0), "6465762d3100");
  Bytes n;
  AppendU64(&n, 1700000001000ull);
  EXPECT_EQ(HexEncode(n), "0000018bcfe56be8");  // PROTOCOL.md A.4
}

TEST(ByteReader, ReadsBackWhatWasWrittenAndRefusesTruncation) {
  Bytes b;
  AppendU8(&b, 7);
  AppendU32(&b, 0xdeadbeef);
  AppendU64(&b, 42);
  AppendLp(&b, "gw-1");
  ByteReader r(b);
  uint8_t u8 = 0;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  Bytes s;
  ASSERT_TRUE(r.ReadU8(&u8).ok());
  ASSERT_TRUE(r.ReadU32(&u32).ok());
  ASSERT_TRUE(r.ReadU64(&u64).ok());
  ASSERT_TRUE(r.ReadLp(&s).ok());
  EXPECT_EQ(u8, 7);
  EXPECT_EQ(u32, 0xdeadbeefu);
  EXPECT_EQ(u64, 42u);
  EXPECT_EQ(s, "gw-1");
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.ReadU8(&u8).code(), StatusCode::kInvalidArgument);
  const Bytes truncated("\x00\x00\x00\x09gw", 6);  // the reader borrows it: keep it alive
  ByteReader bad(truncated);
  EXPECT_FALSE(bad.ReadLp(&s).ok());
  EXPECT_EQ(s, "gw-1");  // unchanged on failure
}

}  // namespace
}  // namespace provledger
