#include "device_protocol/answers.h"

#include <gtest/gtest.h>

#include <string>

#include "common/bytes.h"
#include "device_protocol/error_codes.h"

namespace provledger {
namespace device_protocol {
namespace {

TEST(DeviceErrorCode, SpellsEveryCodeOfSection3) {
  EXPECT_EQ(DeviceErrorCode(DeviceError::kTooLarge), "too_large");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kMalformed), "malformed");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kUnregistered), "unregistered");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kNoSession), "no_session");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kBadAuth), "bad_auth");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kQuarantined), "quarantined");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kStale), "stale");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kReplay), "replay");
  EXPECT_EQ(DeviceErrorCode(DeviceError::kInternal), "internal");
}

TEST(ErrorJson, CarriesOnlyTheOptionalFieldsGiven) {
  EXPECT_EQ(ErrorJson(DeviceError::kStale, "late"), R"({"v":1,"code":"stale","reason":"late"})");
  EXPECT_EQ(ErrorJson(DeviceError::kReplay, "seen", 7, std::string("climate")),
            R"({"v":1,"code":"replay","reason":"seen","seq":7,"item":"climate"})");
  EXPECT_EQ(
      ErrorJson(DeviceError::kReplay, "nonce seen", std::nullopt, std::nullopt,
                *HexDecode("000102030405060708090a0b0c0d0e0f")),
      R"({"v":1,"code":"replay","reason":"nonce seen","nonce":"000102030405060708090a0b0c0d0e0f"})");
}

TEST(ErrorJson, EscapesTheReason) {
  EXPECT_EQ(ErrorJson(DeviceError::kMalformed, "a \"quoted\" word"),
            R"({"v":1,"code":"malformed","reason":"a \"quoted\" word"})");
}

TEST(AckJson, ListsTheCommittedSeqsAndRecord) {
  Bytes record = *HexDecode("f18bc9d7218edcd66c9ac7f038dd4794b7b938ef62497f1d4c2bce9720bcc94b");
  EXPECT_EQ(
      AckJson(3, {1, 2, 3}, record, 1),
      R"({"v":1,"seq":3,"seqs":[1,2,3],"recorded":true,)"
      R"("record":"f18bc9d7218edcd66c9ac7f038dd4794b7b938ef62497f1d4c2bce9720bcc94b","height":1})");
}

TEST(VerdictJson, WritesSectionSevensShape) {
  Bytes record = *HexDecode("fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f");
  EXPECT_EQ(
      VerdictJson(2, true, {}, record, 7),
      R"({"v":1,"seq":2,"verdict":"trusted","failures":[],)"
      R"("record":"fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f","height":7})");
  EXPECT_EQ(VerdictJson(5, false, {{"/usr/bin/x", "sha256:ab"}}, record, 9),
            R"({"v":1,"seq":5,"verdict":"untrusted","failures":[{"path":"/usr/bin/x",)"
            R"("hash":"sha256:ab"}],"record":"fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f)"
            R"(19a7f8ffce05a4f","height":9})");
}

TEST(SkippedAckJson, SaysNotRecorded) {
  EXPECT_EQ(SkippedAckJson(42), R"({"v":1,"seq":42,"recorded":false})");
}

TEST(KeyReplyJson, WritesHexFieldsInProtocolOrder) {
  KeyReply r;
  r.gateway = "gw-1";
  r.eph = Bytes(33, '\x02');
  r.nonce = Bytes(16, '\x11');
  r.kid = Bytes(8, '\xab');
  r.expires = 1700086400250;
  r.sig = Bytes(64, '\x00');
  auto rep = [](const char* two, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += two;
    return s;
  };
  EXPECT_EQ(KeyReplyJson(r), "{\"v\":1,\"gateway\":\"gw-1\",\"eph\":\"" + rep("02", 33) +
                                 "\",\"nonce\":\"" + rep("11", 16) + "\",\"kid\":\"" +
                                 rep("ab", 8) + "\",\"expires\":1700086400250,\"sig\":\"" +
                                 rep("00", 64) + "\"}");
}

}  // namespace
}  // namespace device_protocol
}  // namespace provledger
