#include "device_protocol/firmware_manifest.h"

#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"

namespace provledger::device_protocol {
namespace {

// The section 8 vector of docs/FIRMWARE.md, computed independently (Python hashlib and the
// `cryptography` package's RFC 6979 signer, low S).
const char kSecret[] = "bd8dcc0c877b2dd9cb7e2e9613fce09e0c6f4fa44ce4f151efb860c74a4deaea";
const char kPubkey[] = "03d88c44bdbb88603d1c138076886d342ec13b136bd0093aeebbb2b9e0a6277d59";
const char kImage[] = "provledger firmware image 1.2.0\n";
const char kImageSha[] = "75fa65b8072d6fe32293c68b053a52eae3abcb89959b315a3ede96b4ad1f8cfc";
const char kLocation[] = "file:///var/lib/provledger/fw/sensor-1-1.2.0.bin";
const char kDigest[] = "ea39e63337d1a0d3c417459aa1a9d52a53a7e5cf6107180662472bd01727660f";
const char kSig[] =
    "2552a04f1ef55ca3459252c302114e03d4f7d2cd4f6366cd5f6b3129b58e7139"
    "424004f9fef54a4b8a7d501e8b0cab7214e5b3e497562af91dd0f7e978fccbe7";

Bytes Hex(const std::string& h) { return HexDecode(h).value(); }

FirmwareManifest Vector() {
  FirmwareManifest m;
  m.vendor = "acme";
  m.model = "sensor-1";
  m.version = "1.2.0";
  m.counter = 7;
  m.size = 32;
  m.sha256 = Hex(kImageSha);
  m.location = kLocation;
  m.sig = Hex(kSig);
  return m;
}

std::string VectorJson() {
  return std::string(
             "{\"v\":1,\"vendor\":\"acme\",\"model\":\"sensor-1\",\"version\":\"1.2.0\","
             "\"counter\":7,\"size\":32,\"sha256\":\"") +
         kImageSha + "\",\"location\":\"" + kLocation + "\",\"sig\":\"" + kSig + "\"}";
}

// VectorJson with the member `key`'s value text replaced by `value` (raw JSON).
std::string With(const std::string& key, const std::string& value) {
  std::string j = VectorJson();
  const std::string k = "\"" + key + "\":";
  size_t at = j.find(k) + k.size();
  size_t end = at;
  if (j[at] == '"') {
    end = j.find('"', at + 1) + 1;
  } else {
    while (j[end] != ',' && j[end] != '}') ++end;
  }
  return j.substr(0, at) + value + j.substr(end);
}

TEST(FirmwareManifest, DigestAndSignatureMatchTheVector) {
  EXPECT_EQ(Sha256(kImage), Hex(kImageSha));
  EXPECT_EQ(HexEncode(FirmwareDigest(Vector())), kDigest);
  PrivateKey key = PrivateKey::FromHex(kSecret).value();
  EXPECT_EQ(HexEncode(key.PublicKey()), kPubkey);
  FirmwareManifest m = Vector();
  m.sig.clear();
  ASSERT_TRUE(SignFirmwareManifest(key, &m).ok());
  EXPECT_EQ(HexEncode(m.sig), kSig);
  EXPECT_TRUE(VerifyFirmwareManifest(Vector(), Hex(kPubkey)).ok());
}

TEST(FirmwareManifest, ParsesTheVectorAndWritesItBackByteForByte) {
  auto m = ParseFirmwareManifest(VectorJson());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->vendor, "acme");
  EXPECT_EQ(m->model, "sensor-1");
  EXPECT_EQ(m->counter, 7u);
  EXPECT_EQ(m->size, 32u);
  EXPECT_EQ(m->sha256, Hex(kImageSha));
  EXPECT_EQ(FirmwareManifestJson(*m), VectorJson());
}

TEST(FirmwareManifest, IgnoresUnknownMembersInAnyOrder) {
  std::string j = VectorJson();
  j = "{\"extra\":[1,2]," + j.substr(1);
  auto m = ParseFirmwareManifest(j);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(FirmwareManifestJson(*m), VectorJson());
}

TEST(FirmwareManifest, RefusesMalformedMembers) {
  struct Case {
    const char* desc;
    std::string json;
  } cases[] = {
      {"v is 2", With("v", "2")},
      {"vendor not a name", With("vendor", "\"ac me\"")},
      {"model missing", With("model", "1")},
      {"version not semver", With("version", "\"1.2\"")},
      {"version leading zero", With("version", "\"01.2.0\"")},
      {"counter negative", With("counter", "-1")},
      {"counter fraction", With("counter", "7.0")},
      {"size a string", With("size", "\"32\"")},
      {"sha256 upper case", With("sha256", "\"" + std::string(64, 'A') + "\"")},
      {"sha256 short", With("sha256", "\"" + std::string(62, 'a') + "\"")},
      {"location empty", With("location", "\"\"")},
      {"location NUL", With("location", "\"a\\u0000b\"")},
      {"sig short", With("sig", "\"" + std::string(126, '0') + "\"")},
      {"repeated key", "{\"v\":1," + VectorJson().substr(1)},
      {"not an object", "[1]"},
      {"trailing bytes", VectorJson() + "x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.desc);
    auto m = ParseFirmwareManifest(c.json);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(FirmwareManifest, RefusesEachMissingMember) {
  for (const char* key :
       {"v", "vendor", "model", "version", "counter", "size", "sha256", "location", "sig"}) {
    SCOPED_TRACE(key);
    std::string j = With(key, "0");
    const std::string k = std::string("\"") + key + "\":0";
    j.replace(j.find(k), k.size(), std::string("\"x") + key + "\":0");
    EXPECT_FALSE(ParseFirmwareManifest(j).ok());
  }
}

TEST(FirmwareManifest, SignatureCoversEveryField) {
  const Bytes pub = Hex(kPubkey);
  FirmwareManifest m = Vector();
  m.counter = 8;
  EXPECT_EQ(VerifyFirmwareManifest(m, pub).code(), StatusCode::kUnauthenticated);
  m = Vector();
  m.model = "sensor-2";
  EXPECT_EQ(VerifyFirmwareManifest(m, pub).code(), StatusCode::kUnauthenticated);
  m = Vector();
  m.location += "x";
  EXPECT_EQ(VerifyFirmwareManifest(m, pub).code(), StatusCode::kUnauthenticated);
  m = Vector();
  m.size = 33;
  EXPECT_EQ(VerifyFirmwareManifest(m, pub).code(), StatusCode::kUnauthenticated);
  // Another vendor key.
  PrivateKey other = PrivateKey::Generate();
  EXPECT_EQ(VerifyFirmwareManifest(Vector(), other.PublicKey()).code(),
            StatusCode::kUnauthenticated);
}

TEST(FirmwareManifest, RoundTripsThroughTheKindThreeRecord) {
  ledger::Record rec;
  rec.kind = ledger::RecordKind::kFirmware;
  rec.firmware = ToFirmwareRecord(Vector());
  auto back = ledger::DecodeRecord(ledger::EncodeRecord(rec));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(FirmwareManifestJson(FromFirmwareRecord(back->firmware)), VectorJson());
}

TEST(InstallReportJson, IsReadBackByParseInstallReport) {
  InstallReport r{"acme", "sensor-1", "1.2.0", 7, true, "installed \"1.2.0\""};
  const std::string j = InstallReportJson(r);
  EXPECT_EQ(j.rfind("{\"v\":1,\"vendor\":\"acme\",", 0), 0u) << j;
  auto back = ParseInstallReport(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->vendor, "acme");
  EXPECT_EQ(back->counter, 7u);
  EXPECT_TRUE(back->installed);
  EXPECT_EQ(back->reason, r.reason);
  r.installed = false;
  EXPECT_NE(InstallReportJson(r).find("\"result\":\"refused\""), std::string::npos);
}

}  // namespace
}  // namespace provledger::device_protocol
