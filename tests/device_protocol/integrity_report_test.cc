#include "device_protocol/integrity_report.h"

#include <string>

#include "gtest/gtest.h"

namespace provledger::device_protocol {
namespace {

const char kBoot[] = "6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d";

std::string Report(const std::string& entries, const std::string& boot = kBoot,
                   const std::string& from = "0") {
  return "{\"v\":1,\"boot\":\"" + boot + "\",\"from\":" + from + ",\"entries\":[" + entries + "]}";
}

const char kEntry[] =
    "{\"pcr\":10,\"template\":\"ima-ng\",\"hash\":\"sha256:"
    "a20fa123d4d8977782c80981ddbe6177a8d5ba294eaffd08a88669e246c37110\",\"path\":\"/usr/bin/"
    "bash\"}";

TEST(IntegrityReport, ParsesTheEmptyReportOfAppendixA4RecordB) {
  auto r = ParseIntegrityReport(Report(""));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->boot, kBoot);
  EXPECT_EQ(r->from, 0u);
  EXPECT_TRUE(r->entries.empty());
  // Byte for byte the 75 payload bytes of Appendix A.4 record B.
  EXPECT_EQ(IntegrityReportJson(*r), Report(""));
  EXPECT_EQ(IntegrityReportJson(*r).size(), 75u);
}

TEST(IntegrityReport, ParsesEntriesAndWritesThemBack) {
  auto r = ParseIntegrityReport(Report(std::string(kEntry) + "," + kEntry, kBoot, "7"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->entries.size(), 2u);
  EXPECT_EQ(r->from, 7u);
  EXPECT_EQ(r->entries[0].pcr, 10u);
  EXPECT_EQ(r->entries[0].templ, "ima-ng");
  EXPECT_EQ(r->entries[0].path, "/usr/bin/bash");
  auto again = ParseIntegrityReport(IntegrityReportJson(*r));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(IntegrityReportJson(*again), IntegrityReportJson(*r));
}

TEST(IntegrityReport, RefusesWhatSection7DoesNotAllow) {
  const std::string bad_template =
      "{\"pcr\":10,\"template\":\"ima\",\"hash\":\"sha256:00\",\"path\":\"/a\"}";
  const std::string upper_hash =
      "{\"pcr\":10,\"template\":\"ima-ng\",\"hash\":\"sha256:AB\",\"path\":\"/a\"}";
  const std::string odd_hash =
      "{\"pcr\":10,\"template\":\"ima-ng\",\"hash\":\"sha256:abc\",\"path\":\"/a\"}";
  const std::string no_alg = "{\"pcr\":10,\"template\":\"file\",\"hash\":\":ab\",\"path\":\"/a\"}";
  const std::string empty_path =
      "{\"pcr\":0,\"template\":\"file\",\"hash\":\"sha256:ab\",\"path\":\"\"}";
  const std::string no_pcr = "{\"template\":\"file\",\"hash\":\"sha256:ab\",\"path\":\"/a\"}";
  for (const std::string& doc :
       {Report("", "6F1C2A4E-0B7D-4A8E-9C3F-2D5E7A9B1C0D"), Report("", "not-a-uuid"),
        Report("", kBoot, "-1"), Report(bad_template), Report(upper_hash), Report(odd_hash),
        Report(no_alg), Report(empty_path), Report(no_pcr), Report("1"),
        std::string("{\"v\":2,\"boot\":\"") + kBoot + "\",\"from\":0,\"entries\":[]}",
        std::string("{\"v\":1,\"boot\":\"") + kBoot + "\",\"entries\":[]}",
        std::string("{\"v\":1,\"v\":1,\"boot\":\"") + kBoot + "\",\"from\":0,\"entries\":[]}",
        std::string("[]")}) {
    auto r = ParseIntegrityReport(doc);
    EXPECT_FALSE(r.ok()) << doc;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << doc;
    }
  }
}

TEST(IntegrityReport, NamesTheEntryAtFault) {
  const std::string bad = "{\"pcr\":10,\"template\":\"ima-ng\",\"hash\":\"md5\",\"path\":\"/a\"}";
  auto r = ParseIntegrityReport(Report(std::string(kEntry) + "," + bad));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("entries[1]"), std::string::npos) << r.status().ToString();
}

TEST(IntegrityReport, BootIdsAreLowercaseUuids) {
  EXPECT_TRUE(IsBootId(kBoot));
  EXPECT_FALSE(IsBootId("6f1c2a4e0b7d4a8e9c3f2d5e7a9b1c0d"));
  EXPECT_FALSE(IsBootId(std::string(kBoot) + "0"));
  EXPECT_FALSE(IsBootId(""));
}

}  // namespace
}  // namespace provledger::device_protocol
