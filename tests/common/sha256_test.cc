#include "common/sha256.h"

#include <gtest/gtest.h>

namespace provledger {
namespace {

TEST(Sha256, MatchesFipsVectors) {
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  Sha256Hasher h;
  h.Update("pl/v1/");
  h.Update("data");
  EXPECT_EQ(h.Finish(), Sha256("pl/v1/data"));
}

TEST(Sha256, PayloadHashOfProtocolAppendixA3) {
  EXPECT_EQ(HexEncode(Sha256("21.5")),
            "a20fa123d4d8977782c80981ddbe6177a8d5ba294eaffd08a88669e246c37110");
}

TEST(HmacSha256, MatchesRfc4231Case2) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HkdfSha256, MatchesRfc5869Case1) {
  const Bytes ikm(22, '\x0b');
  const Bytes salt = *HexDecode("000102030405060708090a0b0c");
  const Bytes info = *HexDecode("f0f1f2f3f4f5f6f7f8f9");
  auto okm = HkdfSha256(ikm, salt, info, 42);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(HexEncode(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEqual("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "ab"));
}

}  // namespace
}  // namespace provledger
