#include "device_protocol/device_message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/sha256.h"
#include "tests/device_protocol/appendix_a.h"

namespace provledger {
namespace device_protocol {
namespace {

using appendix_a::kD;
using appendix_a::kKid;
using appendix_a::kMac;
using appendix_a::kPayload;
using appendix_a::kPayloadHash;
using appendix_a::kReadingTs;
using appendix_a::kSig;
using appendix_a::Unhex;

UserProperties MacHeader() {
  return {{"pl-seq", "1"}, {"pl-ts", "1700000001000"}, {"pl-kid", kKid}, {"pl-mac", kMac}};
}
UserProperties SigHeader() {
  return {{"pl-seq", "1"}, {"pl-ts", "1700000001000"}, {"pl-sig", kSig}};
}

TEST(DataDigest, ReproducesAppendixA3) {
  EXPECT_EQ(HexEncode(Sha256(kPayload)), kPayloadHash);
  EXPECT_EQ(HexEncode(DataDigest("dev-1", "climate", 1, kReadingTs, Unhex(kPayloadHash))), kD);
}

TEST(ParseDeviceHeader, ParsesTheMacHeaderOfAppendixA3) {
  StatusOr<DeviceHeader> h = ParseDeviceHeader(MacHeader());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->seq, 1u);
  EXPECT_EQ(h->ts, kReadingTs);
  EXPECT_EQ(h->mode, AuthMode::kMac);
  EXPECT_EQ(HexEncode(h->kid), kKid);
  EXPECT_EQ(HexEncode(h->mac), kMac);
  EXPECT_TRUE(h->sig.empty());
}

TEST(ParseDeviceHeader, ParsesTheSignatureHeaderOfAppendixA3) {
  StatusOr<DeviceHeader> h = ParseDeviceHeader(SigHeader());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->mode, AuthMode::kSignature);
  EXPECT_EQ(HexEncode(h->sig), kSig);
  EXPECT_TRUE(h->kid.empty());
  EXPECT_TRUE(h->mac.empty());
}

TEST(ParseDeviceHeader, IgnoresOtherPropertiesInAnyOrder) {
  UserProperties p = {{"x-extra", "1"},           {"pl-mac", kMac}, {"pl-foo", "bar"},
                      {"pl-ts", "1700000001000"}, {"pl-kid", kKid}, {"pl-seq", "1"},
                      {"x-extra", "again"}};
  EXPECT_TRUE(ParseDeviceHeader(p).ok());
}

TEST(ParseDeviceHeader, AcceptsTheRangeLimits) {
  UserProperties p = SigHeader();
  p[0].second = "9007199254740991";  // 2^53 - 1
  p[1].second = "0";
  StatusOr<DeviceHeader> h = ParseDeviceHeader(p);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->seq, kMaxSeq);
  EXPECT_EQ(h->ts, 0u);
  p[1].second = "9007199254740991";
  EXPECT_TRUE(ParseDeviceHeader(p).ok());
}

struct Mutant {
  const char* desc;
  UserProperties props;
};

TEST(ParseDeviceHeader, RefusesEveryFormatMutantAsMalformed) {
  auto with = [](UserProperties p, const std::string& name, const std::string& value) {
    for (auto& kv : p) {
      if (kv.first == name) kv.second = value;
    }
    return p;
  };
  auto without = [](UserProperties p, const std::string& name) {
    UserProperties out;
    for (auto& kv : p) {
      if (kv.first != name) out.push_back(kv);
    }
    return out;
  };
  auto plus = [](UserProperties p, const std::string& name, const std::string& value) {
    p.emplace_back(name, value);
    return p;
  };
  std::string upper_mac = kMac;
  for (char& c : upper_mac) c = static_cast<char>(std::toupper(c));
  std::string upper_kid = kKid;
  for (char& c : upper_kid) c = static_cast<char>(std::toupper(c));
  const std::vector<Mutant> mutants = {
      {"seq with a leading zero", with(SigHeader(), "pl-seq", "01")},
      {"seq with a plus sign", with(SigHeader(), "pl-seq", "+1")},
      {"seq with a minus sign", with(SigHeader(), "pl-seq", "-1")},
      {"seq 0", with(SigHeader(), "pl-seq", "0")},
      {"seq 2^53", with(SigHeader(), "pl-seq", "9007199254740992")},
      {"seq far above 2^64", with(SigHeader(), "pl-seq", "123456789012345678901234567890")},
      {"seq with a space", with(SigHeader(), "pl-seq", " 1")},
      {"seq with a trailing space", with(SigHeader(), "pl-seq", "1 ")},
      {"seq empty", with(SigHeader(), "pl-seq", "")},
      {"seq in hex", with(SigHeader(), "pl-seq", "0x1")},
      {"seq with a fraction", with(SigHeader(), "pl-seq", "1.0")},
      {"ts with a leading zero", with(SigHeader(), "pl-ts", "01700000001000")},
      {"ts 2^53", with(SigHeader(), "pl-ts", "9007199254740992")},
      {"ts with a plus sign", with(SigHeader(), "pl-ts", "+1700000001000")},
      {"ts in exponent form", with(SigHeader(), "pl-ts", "1.7e12")},
      {"seq missing", without(SigHeader(), "pl-seq")},
      {"ts missing", without(SigHeader(), "pl-ts")},
      {"seq repeated", plus(SigHeader(), "pl-seq", "1")},
      {"ts repeated", plus(SigHeader(), "pl-ts", "1700000001000")},
      {"sig repeated", plus(SigHeader(), "pl-sig", kSig)},
      {"mac repeated", plus(MacHeader(), "pl-mac", kMac)},
      {"kid without mac", without(MacHeader(), "pl-mac")},
      {"mac without kid", without(MacHeader(), "pl-kid")},
      {"neither mode", without(SigHeader(), "pl-sig")},
      {"both modes", plus(MacHeader(), "pl-sig", kSig)},
      {"kid and sig", plus(without(MacHeader(), "pl-mac"), "pl-sig", kSig)},
      {"upper-case mac hex", with(MacHeader(), "pl-mac", upper_mac)},
      {"upper-case kid hex", with(MacHeader(), "pl-kid", upper_kid)},
      {"short kid", with(MacHeader(), "pl-kid", std::string(kKid).substr(2))},
      {"long mac", with(MacHeader(), "pl-mac", std::string(kMac) + "00")},
      {"sig one byte short", with(SigHeader(), "pl-sig", std::string(kSig).substr(2))},
      {"sig with a 0x prefix", with(SigHeader(), "pl-sig", "0x" + std::string(kSig).substr(2))},
      {"sig with a non-hex digit", with(SigHeader(), "pl-sig", "g" + std::string(kSig).substr(1))},
      {"empty properties", {}},
  };
  for (const Mutant& m : mutants) {
    SCOPED_TRACE(m.desc);
    EXPECT_EQ(ParseDeviceHeader(m.props).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(ParseDeviceHeader, RefusesUpperCasePropertyNames) {
  UserProperties p = {{"PL-SEQ", "1"}, {"pl-ts", "1700000001000"}, {"pl-sig", kSig}};
  EXPECT_FALSE(ParseDeviceHeader(p).ok());
  p[0].first = "Pl-Seq";
  EXPECT_FALSE(ParseDeviceHeader(p).ok());
  UserProperties both = SigHeader();
  both.emplace_back("PL-TS", "1");
  EXPECT_FALSE(ParseDeviceHeader(both).ok());
}

TEST(FindParsableSeq, ReturnsTheSeqEvenWhenTheRestIsMalformed) {
  UserProperties p = {{"pl-seq", "42"}, {"pl-ts", "01"}};
  EXPECT_EQ(FindParsableSeq(p), std::optional<uint64_t>(42));
}

TEST(FindParsableSeq, ReturnsNothingForAnAbsentInvalidOrRepeatedSeq) {
  EXPECT_EQ(FindParsableSeq({}), std::nullopt);
  EXPECT_EQ(FindParsableSeq({{"pl-seq", "042"}}), std::nullopt);
  EXPECT_EQ(FindParsableSeq({{"pl-seq", "0"}}), std::nullopt);
  EXPECT_EQ(FindParsableSeq({{"pl-seq", "1"}, {"pl-seq", "1"}}), std::nullopt);
  EXPECT_EQ(FindParsableSeq({{"PL-SEQ", "1"}}), std::nullopt);
}

TEST(ParseStrictDecimal, AcceptsZeroOnlyAlone) {
  EXPECT_EQ(*ParseStrictDecimal("0", 0, 10), 0u);
  EXPECT_FALSE(ParseStrictDecimal("00", 0, 10).ok());
  EXPECT_FALSE(ParseStrictDecimal("11", 0, 10).ok());
  EXPECT_EQ(*ParseStrictDecimal("18446744073709551615", 0, UINT64_MAX), UINT64_MAX);
  EXPECT_FALSE(ParseStrictDecimal("18446744073709551616", 0, UINT64_MAX).ok());
}

}  // namespace
}  // namespace device_protocol
}  // namespace provledger
