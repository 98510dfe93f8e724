#include "common/signer.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/sha256.h"

namespace provledger {
namespace {

// n - s for a 32-byte big-endian s (secp256k1's group order n).
Bytes NegateS(ByteView s) {
  static const unsigned char n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
                                      0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
                                      0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
  Bytes out(32, '\0');
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = n[i] - static_cast<unsigned char>(s[i]) - borrow;
    borrow = d < 0;
    out[i] = static_cast<char>(d + (borrow ? 256 : 0));
  }
  return out;
}

TEST(LocalSignerTest, SignsDeterministicallyWithItsKey) {
  PrivateKey key = PrivateKey::Generate();
  LocalSigner signer(key);
  EXPECT_EQ(signer.public_key(), key.PublicKey());
  Bytes d = Sha256(ByteView("reading"));
  StatusOr<Bytes> a = signer.Sign(d);
  StatusOr<Bytes> b = signer.Sign(d);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *key.Sign(d));
  EXPECT_TRUE(VerifySignature(signer.public_key(), d, *a).ok());
  EXPECT_EQ(signer.Sign(ByteView("short")).status().code(), StatusCode::kInvalidArgument);
}

TEST(NormalizeSignatureTest, MakesHighSLowAndKeepsLowS) {
  PrivateKey key = PrivateKey::Generate();
  Bytes d = Sha256(ByteView("x"));
  Bytes low = *key.Sign(d);
  Bytes high = low.substr(0, 32) + NegateS(ByteView(low).substr(32));
  ASSERT_EQ(VerifySignature(key.PublicKey(), d, high).code(), StatusCode::kUnauthenticated);
  StatusOr<Bytes> fixed = NormalizeSignature(key.PublicKey(), d, high);
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_EQ(*fixed, low);
  EXPECT_EQ(*NormalizeSignature(key.PublicKey(), d, low), low);
}

TEST(NormalizeSignatureTest, RefusesASignatureThatDoesNotVerify) {
  PrivateKey key = PrivateKey::Generate();
  Bytes d = Sha256(ByteView("x"));
  Bytes sig = *key.Sign(d);
  sig[10] ^= 1;
  EXPECT_EQ(NormalizeSignature(key.PublicKey(), d, sig).status().code(), StatusCode::kInternal);
  // Right signature, other key: a token that signs with another key than it claims.
  EXPECT_EQ(NormalizeSignature(PrivateKey::Generate().PublicKey(), d, *key.Sign(d)).status().code(),
            StatusCode::kInternal);
  EXPECT_EQ(NormalizeSignature(key.PublicKey(), d, Bytes(64, '\xff')).status().code(),
            StatusCode::kInternal);  // r, s >= n
  EXPECT_EQ(NormalizeSignature(key.PublicKey(), d, Bytes(70, '\1')).status().code(),
            StatusCode::kInvalidArgument);  // a DER signature, say
}

TEST(CompressPublicKeyTest, CompressesAndRefusesOffCurvePoints) {
  // The generator G, uncompressed; its compressed form is 02 || x (y is even).
  const std::string g =
      "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
      "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
  StatusOr<Bytes> c = CompressPublicKey(*HexDecode(g));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(HexEncode(*c), "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
  Bytes bad = *HexDecode(g);
  bad[64] ^= 1;
  EXPECT_EQ(CompressPublicKey(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompressPublicKey(*c).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger
