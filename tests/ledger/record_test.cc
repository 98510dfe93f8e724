// Records (PROTOCOL.md 6.1) and the data digest D (section 5), against Appendix A.3 and A.4.
#include "ledger/record.h"

#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/sha256.h"
#include "gtest/gtest.h"

namespace provledger::ledger {
namespace {

Bytes Hex(std::string_view hex) {
  StatusOr<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes();
}

// PROTOCOL.md Appendix A.1: public keys of dev-1 and gw-1.
constexpr char kDev1Pub[] = "02f3091a099825b9909e25d98d2ac25b9458295173a8991ea8c02a3767476df2ce";
constexpr char kGw1Pub[] = "02889519fe2b1d38b5fee0c5dd005e9809729951dce11b5d847cc98624577dd1bc";

// Appendix A.3.
constexpr char kPayloadHashA[] = "a20fa123d4d8977782c80981ddbe6177a8d5ba294eaffd08a88669e246c37110";
constexpr char kDataDigestA[] = "81731849b5f1033f139ec3b7de2a5c07297817ae4b15550ecb1f3f64be190d95";
constexpr char kSigA[] =
    "ca9cbafbfbff78a6286637dad54f851de0daf2e614ba6a5c31a678dbbcdfb249"
    "76bb503cf0d19db8e3aad88447c91275289e6fb26d57316f9e3bb396684e788b";

// Appendix A.4, record A (195 bytes), piece by piece as printed.
const Bytes& RecordABytes() {
  static const Bytes b =
      Hex("706c2f76312f7265636f7264"  // "pl/v1/record"
          "01"                        // kind 1
          "000000056465762d31"        // lp("dev-1")
          "00000007636c696d617465"    // lp("climate")
          "0000000000000001"          // seq 1
          "0000018bcfe56be8"          // ts 1700000001000
          "a20fa123d4d8977782c80981ddbe6177a8d5ba294eaffd08a88669e246c37110"
          "02"
          "ca9cbafbfbff78a6286637dad54f851de0daf2e614ba6a5c31a678dbbcdfb249"
          "76bb503cf0d19db8e3aad88447c91275289e6fb26d57316f9e3bb396684e788b"
          "0000000467772d31"  // lp("gw-1")
          "0000018bcfe56c12"  // received 1700000001042
          "00"                // integrity 0
          "0000000000000000000000000000000000000000000000000000000000000000");
  return b;
}

// Appendix A.4, record B (100 bytes).
const Bytes& RecordBBytes() {
  static const Bytes b =
      Hex("706c2f76312f7265636f7264"
          "02"
          "000000056465762d31"
          "0000000000000002"
          "0000018bcfe56fd0"
          "c7bdbfb5936e067140789e3175c1594fb050d0a6ab7314436892d6b19d9f5ce2"
          "01"
          "0000000467772d31"
          "0000018bcfe56ffa"
          "01"
          "0000000000000001"
          "00000000");
  return b;
}

// Appendix A.4, record C (131 bytes).
const Bytes& RecordCBytes() {
  static const Bytes b =
      Hex("706c2f76312f7265636f726401000000056465762d3100000007636c696d6174650000000000000003"
          "0000018bcfe573b8adfc8056b40fc7851af193a4c12610176d852de9c5777d69896e6429393cc508"
          "010000000467772d310000018bcfe573e201fbe775df03eed0e5a427547d3e85aead02f8ad633e7845"
          "d9f19a7f8ffce05a4f");
  return b;
}

constexpr char kIdA[] = "f18bc9d7218edcd66c9ac7f038dd4794b7b938ef62497f1d4c2bce9720bcc94b";
constexpr char kIdB[] = "fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f";
constexpr char kIdC[] = "ca234e4e16bd9f32468254630b7c8390df2c1333158b99270f72ef85bc283505";

Record RecordA() {
  Record r;
  r.kind = RecordKind::kReading;
  r.reading.device = "dev-1";
  r.reading.item = "climate";
  r.reading.seq = 1;
  r.reading.ts = 1700000001000;
  r.reading.payload_hash = Sha256("21.5");
  r.reading.auth = kAuthSignature;
  r.reading.device_sig = Hex(kSigA);
  r.reading.gateway = "gw-1";
  r.reading.received = 1700000001042;
  r.reading.integrity = kIntegrityUnknown;
  r.reading.attestation = Bytes(32, '\0');
  return r;
}

Record RecordB() {
  Record r;
  r.kind = RecordKind::kAttestation;
  r.attestation.device = "dev-1";
  r.attestation.seq = 2;
  r.attestation.ts = 1700000002000;
  r.attestation.report_hash =
      Sha256(R"({"v":1,"boot":"6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d","from":0,"entries":[]})");
  r.attestation.auth = kAuthMac;
  r.attestation.gateway = "gw-1";
  r.attestation.received = 1700000002042;
  r.attestation.verdict = kVerdictTrusted;
  r.attestation.policy_version = 1;
  return r;
}

Record RecordC() {
  Record r;
  r.kind = RecordKind::kReading;
  r.reading.device = "dev-1";
  r.reading.item = "climate";
  r.reading.seq = 3;
  r.reading.ts = 1700000003000;
  r.reading.payload_hash = Sha256("21.7");
  r.reading.auth = kAuthMac;
  r.reading.gateway = "gw-1";
  r.reading.received = 1700000003042;
  r.reading.integrity = kIntegrityTrusted;
  r.reading.attestation = Hex(kIdB);
  return r;
}

Record FirmwareExample() {
  Record r;
  r.kind = RecordKind::kFirmware;
  r.firmware.vendor = "acme";
  r.firmware.model = "sensor-2";
  r.firmware.version = "1.4.0";
  r.firmware.counter = 7;
  r.firmware.size = 123456;
  r.firmware.image_sha256 = Sha256("image");
  r.firmware.location = "https://example.com/fw/1.4.0.bin";
  r.firmware.vendor_sig = Bytes(64, '\x11');
  return r;
}

Bytes WithByte(Bytes b, size_t at, char value) {
  b[at] = value;
  return b;
}

// ---- Encoding: Appendix A.4 byte for byte. ----

TEST(RecordEncoding, EncodesAppendixA4RecordAByteForByte) {
  ASSERT_EQ(RecordABytes().size(), 195u);
  EXPECT_EQ(HexEncode(EncodeRecord(RecordA())), HexEncode(RecordABytes()));
}

TEST(RecordEncoding, EncodesAppendixA4RecordBByteForByte) {
  ASSERT_EQ(RecordBBytes().size(), 100u);
  EXPECT_EQ(HexEncode(EncodeRecord(RecordB())), HexEncode(RecordBBytes()));
}

TEST(RecordEncoding, EncodesAppendixA4RecordCByteForByte) {
  ASSERT_EQ(RecordCBytes().size(), 131u);
  EXPECT_EQ(HexEncode(EncodeRecord(RecordC())), HexEncode(RecordCBytes()));
}

TEST(RecordEncoding, GivesTheAppendixA4RecordIds) {
  EXPECT_EQ(HexEncode(RecordId(RecordABytes())), kIdA);
  EXPECT_EQ(HexEncode(RecordId(RecordBBytes())), kIdB);
  EXPECT_EQ(HexEncode(RecordId(RecordCBytes())), kIdC);
}

TEST(RecordEncoding, AppendixA4RecordsValidate) {
  EXPECT_TRUE(ValidateRecord(RecordA()).ok());
  EXPECT_TRUE(ValidateRecord(RecordB()).ok());
  EXPECT_TRUE(ValidateRecord(RecordC()).ok());
}

// ---- Decoding. ----

TEST(RecordDecoding, DecodesRecordAIntoItsFields) {
  StatusOr<Record> r = DecodeRecord(RecordABytes());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->kind, RecordKind::kReading);
  EXPECT_EQ(r->reading.device, "dev-1");
  EXPECT_EQ(r->reading.item, "climate");
  EXPECT_EQ(r->reading.seq, 1u);
  EXPECT_EQ(r->reading.ts, 1700000001000u);
  EXPECT_EQ(HexEncode(r->reading.payload_hash), kPayloadHashA);
  EXPECT_EQ(r->reading.auth, kAuthSignature);
  EXPECT_EQ(HexEncode(r->reading.device_sig), kSigA);
  EXPECT_EQ(r->reading.gateway, "gw-1");
  EXPECT_EQ(r->reading.received, 1700000001042u);
  EXPECT_EQ(r->reading.integrity, kIntegrityUnknown);
  EXPECT_EQ(r->reading.attestation, Bytes(32, '\0'));
}

TEST(RecordDecoding, DecodesRecordBIntoItsFields) {
  StatusOr<Record> r = DecodeRecord(RecordBBytes());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->kind, RecordKind::kAttestation);
  EXPECT_EQ(r->attestation.device, "dev-1");
  EXPECT_EQ(r->attestation.seq, 2u);
  EXPECT_EQ(r->attestation.auth, kAuthMac);
  EXPECT_TRUE(r->attestation.device_sig.empty());
  EXPECT_EQ(r->attestation.verdict, kVerdictTrusted);
  EXPECT_EQ(r->attestation.policy_version, 1u);
  EXPECT_TRUE(r->attestation.failures.empty());
}

TEST(RecordDecoding, RoundTripsRecordsOfEveryKind) {
  Record untrusted = RecordB();
  untrusted.attestation.verdict = kVerdictUntrusted;
  untrusted.attestation.auth = kAuthSignature;
  untrusted.attestation.device_sig = Bytes(64, '\x22');
  untrusted.attestation.failures = {{"/usr/bin/evil", "sha256:00ff"}, {"/tmp/x", ""}};
  Record registry;
  registry.kind = RecordKind::kRegistry;
  registry.registry.tx = Bytes("\x00\x01tx bytes\xff", 11);
  Record update = RecordC();
  update.reading.item = std::string(kUpdateItem);
  const std::vector<Bytes> all = {RecordABytes(),         RecordBBytes(),
                                  RecordCBytes(),         EncodeRecord(untrusted),
                                  EncodeRecord(registry), EncodeRecord(FirmwareExample()),
                                  EncodeRecord(update)};
  for (const Bytes& bytes : all) {
    SCOPED_TRACE(HexEncode(bytes));
    StatusOr<Record> r = DecodeRecord(bytes);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(HexEncode(EncodeRecord(*r)), HexEncode(bytes));
  }
}

TEST(RecordDecoding, RefusesEveryTruncationOfRecordsAToC) {
  for (const Bytes& full : {RecordABytes(), RecordBBytes(), RecordCBytes()}) {
    for (size_t n = 0; n < full.size(); ++n) {
      SCOPED_TRACE("first " + std::to_string(n) + " of " + std::to_string(full.size()));
      EXPECT_EQ(DecodeRecord(ByteView(full).substr(0, n)).status().code(),
                StatusCode::kInvalidArgument);
    }
  }
}

TEST(RecordDecoding, RefusesATrailingByte) {
  for (const Bytes& full : {RecordABytes(), RecordBBytes(), RecordCBytes()}) {
    EXPECT_EQ(DecodeRecord(full + '\0').status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(RecordDecoding, RefusesAWrongTag) {
  EXPECT_FALSE(DecodeRecord(WithByte(RecordABytes(), 6, 'V')).ok());  // "pl/v1/" -> "pl/v1V"
}

TEST(RecordDecoding, RefusesKindsZeroAndFive) {
  EXPECT_FALSE(DecodeRecord(WithByte(RecordABytes(), 12, 0)).ok());
  Status s = DecodeRecord(WithByte(RecordABytes(), 12, 5)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("kind"), std::string::npos) << s.message();
}

TEST(RecordDecoding, RefusesAuthThree) {
  // Record A: auth at offset 81 (tag 12, kind 1, lp names 9 + 11, seq 8, ts 8, hash 32).
  Status s = DecodeRecord(WithByte(RecordABytes(), 81, 3)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("auth"), std::string::npos) << s.message();
  EXPECT_FALSE(DecodeRecord(WithByte(RecordABytes(), 81, 0)).ok());
}

TEST(RecordDecoding, RefusesIntegrityThree) {
  // Record C: integrity at offset 98 (auth 1 at 81, lp("gw-1") 8, received 8).
  ASSERT_EQ(RecordCBytes()[98], '\x01');
  Status s = DecodeRecord(WithByte(RecordCBytes(), 98, 3)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("integrity"), std::string::npos) << s.message();
}

TEST(RecordDecoding, RefusesAnInvalidDeviceName) {
  // Record A: "dev-1" at 17..21; "dev/1" is not a valid name.
  Status s = DecodeRecord(WithByte(RecordABytes(), 20, '/')).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("device"), std::string::npos) << s.message();
}

TEST(RecordDecoding, RefusesANonzeroAttestationWithIntegrityUnknown) {
  Status s = DecodeRecord(WithByte(RecordABytes(), 194, 1)).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("attestation"), std::string::npos) << s.message();
}

TEST(RecordDecoding, RefusesAZeroAttestationWithIntegrityKnown) {
  Record r = RecordC();
  r.reading.attestation = Bytes(32, '\0');
  EXPECT_FALSE(DecodeRecord(EncodeRecord(r)).ok());
}

TEST(RecordDecoding, RefusesReservedItemsOtherThanUpdateInAReading) {
  Record r = RecordC();
  r.reading.item = std::string(kIntegrityItem);
  EXPECT_EQ(DecodeRecord(EncodeRecord(r)).status().code(), StatusCode::kInvalidArgument);
  r.reading.item = "_other";
  EXPECT_FALSE(DecodeRecord(EncodeRecord(r)).ok());
  r.reading.item = std::string(kUpdateItem);
  EXPECT_TRUE(DecodeRecord(EncodeRecord(r)).ok());
}

TEST(RecordDecoding, RefusesVerdictsOutsideOneAndTwo) {
  Record r = RecordB();
  for (uint8_t v : {0, 3, 255}) {
    r.attestation.verdict = v;
    EXPECT_FALSE(DecodeRecord(EncodeRecord(r)).ok()) << int{v};
  }
}

TEST(RecordDecoding, RefusesAnInvalidGatewayVendorOrModel) {
  Record a = RecordA();
  a.reading.gateway = "";
  EXPECT_FALSE(DecodeRecord(EncodeRecord(a)).ok());
  Record f = FirmwareExample();
  f.firmware.vendor = std::string(65, 'v');
  EXPECT_FALSE(DecodeRecord(EncodeRecord(f)).ok());
  f = FirmwareExample();
  f.firmware.model = "model one";
  EXPECT_FALSE(DecodeRecord(EncodeRecord(f)).ok());
}

TEST(RecordDecoding, RefusesAFailureCountTheBytesCannotHold) {
  Bytes b = RecordBBytes();
  b.replace(b.size() - 4, 4, Hex("ffffffff"));
  EXPECT_EQ(DecodeRecord(b).status().code(), StatusCode::kInvalidArgument);
}

TEST(RecordDecoding, RefusesALengthPrefixPastTheEnd) {
  Bytes b = RecordABytes();
  b[16] = '\x40';  // lp("dev-1") now claims 64 bytes: still within, but names run wrong
  EXPECT_FALSE(DecodeRecord(b).ok());
  b[13] = '\x7f';  // and now 2 GiB
  EXPECT_EQ(DecodeRecord(b).status().code(), StatusCode::kInvalidArgument);
}

// Of the reserved items only _update (install reports) and _account (device accounts,
// docs/ACCOUNTS.md) may be a kind 1 record's; the others are refused.
TEST(RecordValidation, AllowsOnlyUpdateAndAccountAmongReservedItems) {
  Record r = RecordA();
  for (const char* item : {"_update", "_account"}) {
    r.reading.item = item;
    EXPECT_TRUE(ValidateRecord(r).ok()) << item;
    EXPECT_TRUE(DecodeRecord(EncodeRecord(r)).ok()) << item;
  }
  for (const char* item : {"_integrity", "_x", "_accounts"}) {
    r.reading.item = item;
    EXPECT_EQ(ValidateRecord(r).code(), StatusCode::kInvalidArgument) << item;
  }
}

// ---- Names. ----

TEST(RecordNames, AcceptsNamesOfSection2) {
  for (const char* ok : {"dev-1", "gw_1", "a", "A.b-c_9", "_update"}) {
    EXPECT_TRUE(IsValidName(ok)) << ok;
  }
  EXPECT_TRUE(IsValidName(std::string(64, 'x')));
}

TEST(RecordNames, RefusesEmptyLongOrOtherCharacters) {
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName(std::string(65, 'x')));
  for (const char* bad : {"dev 1", "dev/1", "dev+1", "dév", "a#", "a$"}) {
    EXPECT_FALSE(IsValidName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidName(std::string("a\0b", 3)));
}

// ---- Data digest and device signature. ----

TEST(DataDigest, ReproducesAppendixA3) {
  EXPECT_EQ(HexEncode(Sha256("21.5")), kPayloadHashA);
  EXPECT_EQ(HexEncode(DataDigest("dev-1", "climate", 1, 1700000001000, Hex(kPayloadHashA))),
            kDataDigestA);
}

TEST(DataDigest, IsRebuiltFromRecordA) {
  StatusOr<Bytes> d = RecordDataDigest(*DecodeRecord(RecordABytes()));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(HexEncode(*d), kDataDigestA);
}

TEST(DataDigest, UsesTheIntegrityItemForAnAttestation) {
  const Record b = RecordB();
  StatusOr<Bytes> d = RecordDataDigest(b);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, DataDigest("dev-1", "_integrity", 2, 1700000002000, b.attestation.report_hash));
}

TEST(DataDigest, IsRefusedForFirmwareAndRegistryRecords) {
  EXPECT_EQ(RecordDataDigest(FirmwareExample()).status().code(), StatusCode::kInvalidArgument);
}

TEST(DeviceSignature, VerifiesRecordAWithTheKeyOfDev1) {
  Status s = VerifyDeviceSignature(*DecodeRecord(RecordABytes()), Hex(kDev1Pub));
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(DeviceSignature, RefusesRecordAWithAnotherKey) {
  EXPECT_EQ(VerifyDeviceSignature(RecordA(), Hex(kGw1Pub)).code(), StatusCode::kUnauthenticated);
}

TEST(DeviceSignature, RefusesRecordAWithAnotherSeq) {
  Record r = RecordA();
  r.reading.seq = 2;
  EXPECT_EQ(VerifyDeviceSignature(r, Hex(kDev1Pub)).code(), StatusCode::kUnauthenticated);
}

TEST(DeviceSignature, HasNothingToCheckOnAMacedRecord) {
  EXPECT_EQ(VerifyDeviceSignature(RecordC(), Hex(kDev1Pub)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(VerifyDeviceSignature(RecordB(), Hex(kDev1Pub)).code(),
            StatusCode::kFailedPrecondition);
}

TEST(DeviceSignature, IsRefusedForAFirmwareRecord) {
  EXPECT_EQ(VerifyDeviceSignature(FirmwareExample(), Hex(kDev1Pub)).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace provledger::ledger
