#include "common/ecdsa.h"

#include <gtest/gtest.h>

#include <string>

#include "common/bytes.h"
#include "common/sha256.h"

namespace provledger {
namespace {

// PROTOCOL.md Appendix A.1.
struct KeyVector {
  const char* name;
  const char* secret;
  const char* pub;
};
constexpr KeyVector kKeys[] = {
    {"device dev-1 (static)", "5d9f2b8ec483416ab589811cd23778c8d62f9aca57eee8cd6ca4a9b7577b6b95",
     "02f3091a099825b9909e25d98d2ac25b9458295173a8991ea8c02a3767476df2ce"},
    {"gateway gw-1 (static)", "9e5095f99c06eb586a0f8fad7dcde14cd306af47f8586755b6937c3dd4e8c869",
     "02889519fe2b1d38b5fee0c5dd005e9809729951dce11b5d847cc98624577dd1bc"},
    {"device ephemeral", "08040cdc3db14ac38a467fa98c0a180507779d3a3b304b040d65056d396487fb",
     "026173a9a49e4a0964686acd11ef65d87f8c3d44c16c73b9985e88fe311f686b3c"},
    {"bridge ephemeral", "49cfe27f085c8df3907aca819e59150b2f5bae7d59d09b2e9bde78830cff202b",
     "03f96444870a8ea462e78b82ecbdd0ce50fc5bb6e1679c92064d9b09a026a35168"},
    {"validator v0", "acfbb3c70c6e20bf3a70a2cb5b148a7de2d105bdd0c6047028ab131a863a598f",
     "023056ef9c50822a7d9c2bb084898e26c71dcdcee794a05e773588c1d239692551"},
    {"validator v1", "2bd81d71c9ecd310ab5cb0e69b83f31a6386b348158cca98463841976e1186dc",
     "026ce74acd66895dce56f3aa80ad3ebfea8329636ef33d578e12ee9ef9b4bb762b"},
    {"validator v2", "b13316c90aebef6f7b6d0068e3e517882fa0b499f998ff37afc5d862211696ac",
     "0320059b4a8d36e056c618cd61f6e3c8efdc8038fc5f5e605fd5c52d8e57a72811"},
    {"validator v3", "42032c1731f2add27bcf751de8c180b7b71a2fed191b81496e05821bbc4b967f",
     "0274b5ab75a853bbd1caad346b06057c9eb17d85b68b094728dd0060e031f6715a"},
};
enum KeyIndex { kDev1, kGw1, kDeviceEph, kBridgeEph, kV0, kV1, kV2, kV3 };

// secp256k1 group order n, big-endian.
constexpr char kOrderHex[] = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

PrivateKey Key(KeyIndex i) { return *PrivateKey::FromHex(kKeys[i].secret); }
Bytes Pub(KeyIndex i) { return *HexDecode(kKeys[i].pub); }
Bytes Hex(std::string_view hex) { return *HexDecode(hex); }

// A.2 inputs.
const char kDevice[] = "dev-1";
const char kGateway[] = "gw-1";
constexpr char kDeviceNonce[] = "000102030405060708090a0b0c0d0e0f";
constexpr char kBridgeNonce[] = "101112131415161718191a1b1c1d1e1f";
constexpr uint64_t kRequestTs = 1700000000000;
constexpr uint64_t kExpires = 1700086400250;

Bytes KeyRequestDigest() {
  Bytes m = "pl/v1/key-request";
  AppendStr0(&m, kDevice);
  m += Pub(kDeviceEph);
  m += Hex(kDeviceNonce);
  AppendU64(&m, kRequestTs);
  return Sha256(m);
}

Bytes SessionKey() {
  const Bytes shared = *Ecdh(Key(kBridgeEph), Pub(kDeviceEph));
  Bytes info = "pl/v1/session";
  AppendStr0(&info, kDevice);
  return *HkdfSha256(shared, Hex(kDeviceNonce) + Hex(kBridgeNonce), info, 32);
}

Bytes Kid() { return Sha256(SessionKey()).substr(0, 8); }

Bytes KeyReplyDigest() {
  Bytes m = "pl/v1/key-reply";
  AppendStr0(&m, kDevice);
  AppendStr0(&m, kGateway);
  m += Pub(kDeviceEph);
  m += Pub(kBridgeEph);
  m += Hex(kBridgeNonce);
  m += Kid();
  AppendU64(&m, kExpires);
  return Sha256(m);
}

// A.3: D for devices/dev-1/data/climate, seq 1, ts 1700000001000, payload "21.5".
Bytes ReadingDigest() {
  Bytes m = "pl/v1/data";
  AppendStr0(&m, kDevice);
  AppendStr0(&m, "climate");
  AppendU64(&m, 1);
  AppendU64(&m, 1700000001000);
  m += Sha256("21.5");
  return Sha256(m);
}

// A.5: the header of block 1 and its commit digest (view 0).
constexpr char kHeaderHex[] =
    "706c2f76312f68656164657200000007706c2d746573740000000000000001000000000000000000000000000000"
    "00000000000000000000000000000000004a5b65469d85e65eb38773df479fb136550b87b4e98341e16c4b0ab84a"
    "9c3e9400000000000000030000018bcfe575ac0000000000000000000000027630";
constexpr char kCommitDigestHex[] =
    "c02593de84f7afc0b3449455f49efec908188f06a7e47735be42827e62a49a76";

Bytes CommitDigest() {
  Bytes m = "pl/v1/commit";
  AppendLp(&m, "pl-test");
  AppendU64(&m, 1);  // height
  AppendU64(&m, 0);  // view
  m += Sha256(Hex(kHeaderHex));
  return Sha256(m);
}

// Returns `sig` with s replaced by n - s (the high-S twin of a low-S signature).
Bytes NegateS(const Bytes& sig) {
  const Bytes n = Hex(kOrderHex);
  Bytes out = sig;
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = static_cast<uint8_t>(n[i]) - static_cast<uint8_t>(sig[32 + i]) - borrow;
    borrow = d < 0 ? 1 : 0;
    if (d < 0) d += 256;
    out[32 + i] = static_cast<char>(d);
  }
  return out;
}

TEST(Ecdsa, DerivesEveryAppendixA1PublicKeyFromItsSecret) {
  for (const KeyVector& k : kKeys) {
    SCOPED_TRACE(k.name);  // PROTOCOL.md A.1
    auto key = PrivateKey::FromHex(k.secret);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(HexEncode(key->PublicKey()), k.pub);
    EXPECT_EQ(HexEncode(key->secret()), k.secret);
    EXPECT_TRUE(ValidatePublicKey(key->PublicKey()).ok());
  }
}

TEST(Ecdsa, ReproducesAppendixA2KeyRequestDigestAndSignature) {
  const Bytes digest = KeyRequestDigest();
  EXPECT_EQ(HexEncode(digest), "7bb7624cd7dbe745490ad6d1bc26b851b2cbe66dbafd89b90b30776e2c83923e");
  auto sig = Key(kDev1).Sign(digest);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig),
            "91817b0bb2b888bd150d767485cc15888ec40862629ddeb23d884b0bf47fd076"
            "14cdb2ce210840aa6ed4dda80dab66f2cf67a28ca408767087ce2135e26919ac");
  EXPECT_TRUE(VerifySignature(Pub(kDev1), digest, *sig).ok());
}

TEST(Ecdsa, ReproducesAppendixA2SharedSecretFromBothSides) {
  auto bridge_side = Ecdh(Key(kBridgeEph), Pub(kDeviceEph));
  auto device_side = Ecdh(Key(kDeviceEph), Pub(kBridgeEph));
  ASSERT_TRUE(bridge_side.ok());
  ASSERT_TRUE(device_side.ok());
  EXPECT_EQ(HexEncode(*bridge_side),
            "44cde37f815c7f48951d7b662abbd7a7d268a7c9379b08511b2e8ba3d8844b40");
  EXPECT_EQ(*bridge_side, *device_side);
}

TEST(Ecdsa, ReproducesAppendixA2SessionKeyAndKid) {
  EXPECT_EQ(HexEncode(SessionKey()),
            "a96622b425835f0821a079c3474308fad38a0198f337ce08b0074b42a98d7686");
  EXPECT_EQ(HexEncode(Kid()), "c919def2b263a0af");
}

TEST(Ecdsa, ReproducesAppendixA2KeyReplyDigestAndSignature) {
  const Bytes digest = KeyReplyDigest();
  EXPECT_EQ(HexEncode(digest), "ea8f42e32a8dd1d5f58b25b41ab6ae34c0a02932fd929a6dbcbfcf6f7ff4617d");
  auto sig = Key(kGw1).Sign(digest);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig),
            "9ccd25b14d9c370730eb4a56fc62868cb2c2d98f2af116c1cbe60784652df34c"
            "61ade3300e488880eec6532d1fc813054100bf5def06ff0f90a9e536f1b8c389");
  EXPECT_TRUE(VerifySignature(Pub(kGw1), digest, *sig).ok());
}

TEST(Ecdsa, ReproducesAppendixA3DigestMacAndSignature) {
  const Bytes d = ReadingDigest();
  EXPECT_EQ(HexEncode(d), "81731849b5f1033f139ec3b7de2a5c07297817ae4b15550ecb1f3f64be190d95");
  EXPECT_EQ(HexEncode(HmacSha256(SessionKey(), d)),
            "98a98063b9b8fbbcb5aba57d2ccded7b720d34665bd269c7d58d00c799d2e276");
  auto sig = Key(kDev1).Sign(d);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig),
            "ca9cbafbfbff78a6286637dad54f851de0daf2e614ba6a5c31a678dbbcdfb249"
            "76bb503cf0d19db8e3aad88447c91275289e6fb26d57316f9e3bb396684e788b");
  EXPECT_TRUE(VerifySignature(Pub(kDev1), d, *sig).ok());
}

TEST(Ecdsa, ReproducesAppendixA5CommitDigestAndV0Signature) {
  EXPECT_EQ(HexEncode(Sha256(Hex(kHeaderHex))),
            "69aa1bd37f8417c0dfe3df331bea8b68be963305d5f1135d6fa79fbafdad31ad");
  EXPECT_EQ(HexEncode(CommitDigest()), kCommitDigestHex);
  auto sig = Key(kV0).Sign(Hex(kCommitDigestHex));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig),
            "ba33862f07a489d4f207a664f78062249b24e83ae7e5239c32fa5c0fd14900a8"
            "0e28d839bbd80754f1c617ffae90179314d51a997be3701a90604979d9064ea6");
}

TEST(Ecdsa, VerifiesAppendixA5CertificateSignaturesOfV1AndV2) {
  // From the `ledgerctl prove --json` output of A.5.
  struct Row {
    KeyIndex key;
    const char* sig;
  };
  const Row rows[] = {
      {kV1,
       "7dbe3a87096945ab71af0705eefe71e4a9a1d860310a298e2c57402477183b8d"
       "4d4f023f8bfc7a861700b8a342c5ad63d64783fa274a25c206429326653e63f8"},
      {kV2,
       "c707bfbe02a050f8f36642112f03cc5811632150a2173ab20b17ad93922abb48"
       "45dec2ed477afe4c8f90d26ec946aa2665098decd48769097d0f2f21df1c7afc"},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(kKeys[r.key].name);
    EXPECT_TRUE(VerifySignature(Pub(r.key), Hex(kCommitDigestHex), Hex(r.sig)).ok());
    EXPECT_EQ(HexEncode(*Key(r.key).Sign(Hex(kCommitDigestHex))), r.sig);
  }
}

TEST(Ecdsa, SignsDeterministically) {
  const Bytes digest = Sha256("same message");
  EXPECT_EQ(*Key(kV3).Sign(digest), *Key(kV3).Sign(digest));
}

TEST(Ecdsa, RefusesHighSTwinOfAValidSignature) {
  const Bytes d = ReadingDigest();
  const Bytes sig = *Key(kDev1).Sign(d);
  ASSERT_TRUE(VerifySignature(Pub(kDev1), d, sig).ok());
  const Bytes high = NegateS(sig);
  ASSERT_NE(high, sig);
  const Status s = VerifySignature(Pub(kDev1), d, high);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
}

TEST(Ecdsa, RefusesSignatureUnderAnotherKey) {
  const Bytes d = ReadingDigest();
  const Bytes sig = *Key(kDev1).Sign(d);
  EXPECT_EQ(VerifySignature(Pub(kGw1), d, sig).code(), StatusCode::kUnauthenticated);
}

TEST(Ecdsa, RefusesEveryOneBitFlipOfSignatureOrDigest) {
  const Bytes d = ReadingDigest();
  const Bytes sig = *Key(kDev1).Sign(d);
  for (size_t bit = 0; bit < sig.size() * 8; bit += 7) {
    Bytes bad = sig;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    SCOPED_TRACE("signature bit " + std::to_string(bit));
    EXPECT_EQ(VerifySignature(Pub(kDev1), d, bad).code(), StatusCode::kUnauthenticated);
  }
  for (size_t bit = 0; bit < d.size() * 8; bit += 5) {
    Bytes bad = d;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    SCOPED_TRACE("digest bit " + std::to_string(bit));
    EXPECT_EQ(VerifySignature(Pub(kDev1), bad, sig).code(), StatusCode::kUnauthenticated);
  }
}

TEST(Ecdsa, RefusesUncompressedPublicKey) {
  // Uncompressed SEC1 form of dev-1's key: 04 || x || y, 65 bytes.
  const Bytes uncompressed =
      Hex("04f3091a099825b9909e25d98d2ac25b9458295173a8991ea8c02a3767476df2ce"
          "fa6b0a1d2bc0def2e460f6ffeeb66ee2fa8f72f550949e0b39985e7af8a38b22");
  ASSERT_EQ(uncompressed.size(), 65u);
  EXPECT_EQ(ValidatePublicKey(uncompressed).code(), StatusCode::kInvalidArgument);
  // Same length as a compressed key, wrong prefix.
  Bytes wrong_prefix = Pub(kDev1);
  wrong_prefix[0] = 0x04;
  EXPECT_EQ(ValidatePublicKey(wrong_prefix).code(), StatusCode::kInvalidArgument);
  const Bytes d = ReadingDigest();
  const Bytes sig = *Key(kDev1).Sign(d);
  EXPECT_EQ(VerifySignature(uncompressed, d, sig).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifySignature(wrong_prefix, d, sig).code(), StatusCode::kInvalidArgument);
}

TEST(Ecdsa, RefusesPublicKeyOffTheCurve) {
  // x = 5 has no y on secp256k1 (x^3 + 7 = 132 is not a square mod p).
  Bytes off = Hex("020000000000000000000000000000000000000000000000000000000000000005");
  EXPECT_EQ(ValidatePublicKey(off).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ecdh(Key(kDev1), off).status().code(), StatusCode::kInvalidArgument);
}

TEST(Ecdsa, RefusesMalformedSizes) {
  const Bytes d = ReadingDigest();
  const Bytes sig = *Key(kDev1).Sign(d);
  EXPECT_EQ(VerifySignature(Pub(kDev1), d.substr(0, 31), sig).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifySignature(Pub(kDev1), d, sig.substr(0, 63)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifySignature(Pub(kDev1).substr(0, 32), d, sig).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Key(kDev1).Sign(d + "x").status().code(), StatusCode::kInvalidArgument);
}

TEST(Ecdsa, RefusesInvalidScalars) {
  EXPECT_EQ(PrivateKey::FromBytes(Bytes(32, '\0')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PrivateKey::FromHex(kOrderHex).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PrivateKey::FromBytes(Bytes(32, '\xff')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PrivateKey::FromBytes(Bytes(31, '\x01')).status().code(), StatusCode::kInvalidArgument);
  // n - 1 is the largest valid scalar.
  EXPECT_TRUE(
      PrivateKey::FromHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140").ok());
  // Upper-case hex is refused (PROTOCOL.md section 1).
  EXPECT_FALSE(
      PrivateKey::FromHex("5D9F2B8EC483416AB589811CD23778C8D62F9ACA57EEE8CD6CA4A9B7577B6B95").ok());
}

TEST(Ecdsa, GeneratedKeysSignAndVerify) {
  const PrivateKey a = PrivateKey::Generate();
  const PrivateKey b = PrivateKey::Generate();
  EXPECT_NE(a.secret(), b.secret());
  const Bytes d = Sha256("hello");
  EXPECT_TRUE(VerifySignature(a.PublicKey(), d, *a.Sign(d)).ok());
  EXPECT_EQ(*Ecdh(a, b.PublicKey()), *Ecdh(b, a.PublicKey()));
}

TEST(RandomBytes, ReturnsRequestedLengthAndDiffers) {
  EXPECT_EQ(RandomBytes(0).size(), 0u);
  const Bytes a = RandomBytes(300);
  EXPECT_EQ(a.size(), 300u);
  EXPECT_NE(a, RandomBytes(300));
}

}  // namespace
}  // namespace provledger
