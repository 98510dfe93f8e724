// The IMA list parser on lines captured from real kernels (testdata/README.md), and on
// lines whose template hashes were computed independently with Python's hashlib.
#include "agent/ima_log.h"

#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/file_io.h"
#include "gtest/gtest.h"
#include "tests/agent/test_paths.h"

namespace provledger::agent {
namespace {

std::string Read(const std::string& name) {
  StatusOr<Bytes> text = ReadFile(TestData(name));
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "";
}

TEST(ImaLogTest, RealImaNgListVerifiesAndMapsToReportEntries) {
  ImaChunk chunk = ParseImaList(Read("ima_ng_real.txt"), 1, 100);
  ASSERT_EQ(chunk.entries.size(), 3u);
  EXPECT_TRUE(chunk.skipped.empty());
  EXPECT_TRUE(chunk.violations.empty());
  EXPECT_EQ(chunk.lines, 3u);
  EXPECT_EQ(chunk.entries[0].path, "boot_aggregate");
  device_protocol::MeasurementEntry m = ToMeasurementEntry(chunk.entries[1]);
  EXPECT_EQ(m.pcr, 10u);
  EXPECT_EQ(m.templ, "ima-ng");
  EXPECT_EQ(m.hash, "sha256:ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0");
  EXPECT_EQ(m.path, "/init");
}

TEST(ImaLogTest, RealImaSigLinesVerifyWithAndWithoutSignature) {
  ImaChunk chunk = ParseImaList(Read("ima_sig_real.txt"), 1, 100);
  EXPECT_TRUE(chunk.skipped.empty()) << chunk.skipped[0].reason;
  ASSERT_EQ(chunk.entries.size(), 6u);
  EXPECT_EQ(chunk.entries[0].templ, "ima-sig");
  EXPECT_EQ(chunk.entries[0].sig.size(), 265u);  // RSA-2048 signature v2 header + 256
  EXPECT_TRUE(chunk.entries[2].sig.empty());     // "... usb-common.ko " (trailing space)
  EXPECT_EQ(chunk.entries[3].file_hash(), "sha1:bc026ae66d81713e4e852465e980784dc96651f8");
}

TEST(ImaLogTest, OneBitOffInTheTemplateHashIsSkippedWithItsLineNumber) {
  const std::string good =
      "10 b6e4d01c73f6e4b698eaf48e7d76a2bae0c02514 ima-ng "
      "sha256:4b1764ee112aa8b2a6ae9a3a2f1e272b6601681f610708497673cd49e5bd2f5c /bin/sh";
  std::string bad = good;
  bad[42] = '5';  // last template-hash digit
  ImaChunk chunk = ParseImaList(good + "\n" + bad + "\n" + good + "\n", 7, 100);
  ASSERT_EQ(chunk.entries.size(), 2u);
  ASSERT_EQ(chunk.skipped.size(), 1u);
  EXPECT_EQ(chunk.skipped[0].line, 8u);
  EXPECT_NE(chunk.skipped[0].reason.find("template hash mismatch"), std::string::npos);
  // A changed file hash or path breaks the template hash too.
  std::string renamed = good;
  renamed.back() = 'H';
  StatusOr<ImaEntry> e = ParseImaLine(renamed);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(CheckTemplateHash(*e).code(), StatusCode::kUnauthenticated);
}

TEST(ImaLogTest, Sha256TemplateHashOfTheSha256List) {
  // hashlib.sha256 of the template data of the real /init entry.
  StatusOr<ImaEntry> e = ParseImaLine(
      "10 2cb93315859666f5cc2fd515740860f6523af999ce66712fbaa8338b7c03ae14 ima-ng "
      "sha256:ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0 /init");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(CheckTemplateHash(*e).ok());
}

TEST(ImaLogTest, FileTemplateAndSm3HashLikeImaNg) {
  StatusOr<ImaEntry> e = ParseImaLine(
      " 0 859ed7bb376f52cc40ce50b72d7545f187f34574 file "
      "sm3:1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b /empty");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->pcr, 0u);
  EXPECT_TRUE(CheckTemplateHash(*e).ok());
  EXPECT_EQ(FormatImaLine(*e),
            " 0 859ed7bb376f52cc40ce50b72d7545f187f34574 file "
            "sm3:1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b /empty");
}

TEST(ImaLogTest, ViolationIsKeptFlaggedAndNeverVerifies) {
  const std::string line =
      "10 0000000000000000000000000000000000000000 ima-ng "
      "sha256:0000000000000000000000000000000000000000000000000000000000000000 /var/log/x\n";
  ImaChunk chunk = ParseImaList(line, 3, 100);
  ASSERT_EQ(chunk.entries.size(), 1u);
  ASSERT_EQ(chunk.violations, std::vector<uint64_t>{3});
  EXPECT_TRUE(chunk.entries[0].violation());
  EXPECT_EQ(CheckTemplateHash(chunk.entries[0]).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ToMeasurementEntry(chunk.entries[0]).hash, "sha256:" + std::string(64, '0'));
}

TEST(ImaLogTest, MalformedLinesAreSkippedNeverFatal) {
  const std::vector<std::string> bad = {
      "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng",  // too few fields
      "x0 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng sha256:00 /a",
      "10 CF41B43C4031672FCC2BD358B309AD33B977424F ima-ng sha256:00 /a",    // upper case
      "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima sha1:00 /a",         // old template
      "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng sha256:abcd /a",  // short digest
      "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng nocolon /a",
      "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng sha256:00 /a extra",
      "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-sig sha256:00 /a zz",
  };
  std::string text;
  for (const std::string& l : bad) {
    EXPECT_FALSE(ParseImaLine(l).ok()) << l;
    text += l + "\n";
  }
  text += Read("ima_ng_real.txt");
  ImaChunk chunk = ParseImaList(text, 1, 100);
  EXPECT_EQ(chunk.skipped.size(), bad.size());
  EXPECT_EQ(chunk.skipped.back().line, bad.size());
  EXPECT_EQ(chunk.entries.size(), 3u);
}

TEST(ImaLogTest, TruncatedLastLineIsLeftForLater) {
  const std::string text = Read("ima_ng_real.txt");
  const std::string cut = text.substr(0, text.size() - 20);
  ImaChunk chunk = ParseImaList(cut, 1, 100);
  EXPECT_EQ(chunk.entries.size(), 2u);
  EXPECT_TRUE(chunk.skipped.empty());
  EXPECT_EQ(chunk.consumed_bytes, cut.rfind('\n') + 1);
}

TEST(ImaLogTest, MaxEntriesBoundsOneChunk) {
  ImaChunk chunk = ParseImaList(Read("ima_ng_real.txt"), 1, 2);
  EXPECT_EQ(chunk.entries.size(), 2u);
  EXPECT_EQ(chunk.lines, 2u);
}

}  // namespace
}  // namespace provledger::agent
