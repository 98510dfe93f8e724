#include "mqtt-bridge/replay_window.h"

#include <gtest/gtest.h>

namespace provledger {
namespace bridge {
namespace {

TEST(ReplayWindow, AcceptsAFirstSeqOfAnyValue) {
  ReplayWindow w;
  EXPECT_TRUE(w.Accept(1700000000000000).ok());
  EXPECT_EQ(w.highest(), 1700000000000000u);
}

TEST(ReplayWindow, RefusesADuplicate) {
  ReplayWindow w;
  ASSERT_TRUE(w.Accept(5).ok());
  EXPECT_EQ(w.Check(5).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(w.Accept(5).code(), StatusCode::kAlreadyExists);
}

TEST(ReplayWindow, RefusesSeqZero) {
  ReplayWindow w;
  EXPECT_FALSE(w.Check(0).ok());
}

TEST(ReplayWindow, AcceptsOutOfOrderSeqsWithinTheWindowOnce) {
  ReplayWindow w(1024);
  ASSERT_TRUE(w.Accept(2000).ok());
  EXPECT_TRUE(w.Accept(1999).ok());
  EXPECT_TRUE(w.Accept(977).ok());  // H - W + 1, the lowest seq in the window
  EXPECT_EQ(w.highest(), 2000u);
  EXPECT_FALSE(w.Check(1999).ok());
  EXPECT_FALSE(w.Check(977).ok());
  EXPECT_TRUE(w.Check(1500).ok());
}

TEST(ReplayWindow, RefusesASeqAtOrBelowHighestMinusWidth) {
  ReplayWindow w(1024);
  ASSERT_TRUE(w.Accept(2000).ok());
  EXPECT_EQ(w.Check(976).code(), StatusCode::kAlreadyExists);  // H - W
  EXPECT_EQ(w.Check(1).code(), StatusCode::kAlreadyExists);
}

TEST(ReplayWindow, ForgetsSeqsThatLeaveTheWindowWithoutLosingOnesThatStay) {
  ReplayWindow w(8);
  ASSERT_TRUE(w.Accept(10).ok());
  ASSERT_TRUE(w.Accept(8).ok());
  ASSERT_TRUE(w.Accept(14).ok());  // window now 7..14
  EXPECT_FALSE(w.Check(8).ok());
  EXPECT_FALSE(w.Check(10).ok());
  EXPECT_TRUE(w.Check(9).ok());
  EXPECT_TRUE(w.Check(11).ok());    // shares a ring bit with 3, never accepted
  EXPECT_FALSE(w.Check(6).ok());    // below the window
  ASSERT_TRUE(w.Accept(100).ok());  // jump past the whole window
  EXPECT_FALSE(w.Check(92).ok());
  EXPECT_TRUE(w.Check(93).ok());
  EXPECT_TRUE(w.Check(99).ok());
}

TEST(ReplayWindow, SerializeThenDeserializeKeepsTheState) {
  ReplayWindow w(1024);
  for (uint64_t s : {100u, 5000u, 4990u, 4000u, 4500u}) ASSERT_TRUE(w.Accept(s).ok());
  StatusOr<ReplayWindow> back = ReplayWindow::Deserialize(w.Serialize());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == w);
  EXPECT_EQ(back->highest(), 5000u);
  for (uint64_t s : {5000u, 4990u, 4000u, 4500u, 3976u}) EXPECT_FALSE(back->Check(s).ok()) << s;
  for (uint64_t s : {4999u, 3977u, 5001u}) EXPECT_TRUE(back->Check(s).ok()) << s;
  EXPECT_EQ(back->Serialize(), w.Serialize());
}

// The stored bits, newest seq first (bit 7 of the first byte is the highest seq): the format
// a restarted bridge reads, across the ring's wrap.
TEST(ReplayWindow, SerializesItsBitsNewestFirstAcrossTheRingsWrap) {
  ReplayWindow w(16);
  ASSERT_TRUE(w.Accept(20).ok());
  ASSERT_TRUE(w.Accept(18).ok());
  ASSERT_TRUE(w.Accept(5).ok());
  const Bytes s = w.Serialize();
  ASSERT_EQ(s.size(), 1u + 4 + 8 + 2);
  EXPECT_EQ(static_cast<uint8_t>(s[13]), 0xA0);  // seqs 20 and 18
  EXPECT_EQ(static_cast<uint8_t>(s[14]), 0x01);  // seq 5 = 20 - 15
}

TEST(ReplayWindow, SerializesAnEmptyWindowAndItsWidth) {
  ReplayWindow w(64);
  Bytes bytes = w.Serialize();
  EXPECT_EQ(HexEncode(bytes), "01000000400000000000000000" + std::string(16, '0'));
  StatusOr<ReplayWindow> back = ReplayWindow::Deserialize(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->width(), 64u);
  EXPECT_EQ(back->highest(), 0u);
}

TEST(ReplayWindow, DeserializeRefusesBytesSerializeCannotMake) {
  ReplayWindow w(16);
  ASSERT_TRUE(w.Accept(3).ok());
  Bytes good = w.Serialize();  // 01 | 00000010 | 0000000000000003 | 8000
  ASSERT_TRUE(ReplayWindow::Deserialize(good).ok());
  EXPECT_FALSE(ReplayWindow::Deserialize(good.substr(0, good.size() - 1)).ok());  // truncated
  EXPECT_FALSE(ReplayWindow::Deserialize(good + "x").ok());                       // trailing
  Bytes bad_version = good;
  bad_version[0] = 2;
  EXPECT_FALSE(ReplayWindow::Deserialize(bad_version).ok());
  Bytes below_one = good;
  below_one[13] = static_cast<char>(0x90);  // bit 3 = seq 0
  EXPECT_FALSE(ReplayWindow::Deserialize(below_one).ok());
  Bytes highest_unmarked = good;
  highest_unmarked[13] = 0x40;  // seq 2 but not 3
  EXPECT_FALSE(ReplayWindow::Deserialize(highest_unmarked).ok());
  EXPECT_FALSE(ReplayWindow::Deserialize(*HexDecode("01000000000000000000000000")).ok());
}

}  // namespace
}  // namespace bridge
}  // namespace provledger
