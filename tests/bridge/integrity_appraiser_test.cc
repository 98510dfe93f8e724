// The appraisal of integrity reports (mqtt-bridge/integrity_appraiser.h; PROTOCOL.md
// section 7, docs/INTEGRITY.md): repeated entries skipped, lost entries untrusted, hashes
// per path, excludes as Keylime's regexes, no policy.
#include "mqtt-bridge/integrity_appraiser.h"

#include <string>
#include <vector>

#include "common/sha256.h"
#include "gtest/gtest.h"

namespace provledger::bridge {
namespace {

const std::string kBash(64, 'a');
const std::string kLs(64, 'b');
const std::string kEvil(64, 'e');
const char kBoot[] = "6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d";

std::shared_ptr<const CompiledPolicy> Policy(uint64_t version = 3) {
  provledger::v1::RuntimePolicy p;
  p.set_name("base");
  p.set_version(version);
  auto* d = p.add_digests();
  d->set_path("/usr/bin/bash");
  d->add_hashes(kBash);
  d->add_hashes(std::string(64, 'c'));  // a second allowed build
  d = p.add_digests();
  d->set_path("/usr/bin/ls");
  d->add_hashes(kLs);
  p.add_excludes("/tmp/.*");
  p.add_excludes("/var/log/");
  auto c = CompiledPolicy::Compile(p);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

device_protocol::MeasurementEntry Entry(const std::string& path, const std::string& hex,
                                        const std::string& alg = "sha256") {
  return device_protocol::MeasurementEntry{10, "ima-ng", alg + ":" + hex, path};
}

device_protocol::IntegrityReport Report(uint64_t from,
                                        std::vector<device_protocol::MeasurementEntry> entries) {
  return device_protocol::IntegrityReport{kBoot, from, std::move(entries)};
}

TEST(Appraise, AllowedHashesAreTrusted) {
  auto p = Policy();
  Appraisal a = Appraise(Report(0, {Entry("/usr/bin/bash", kBash), Entry("/usr/bin/ls", kLs),
                                    Entry("/usr/bin/bash", std::string(64, 'c'))}),
                         0, p.get());
  EXPECT_EQ(a.verdict, ledger::kVerdictTrusted);
  EXPECT_TRUE(a.failures.empty());
  EXPECT_EQ(a.policy_version, 3u);
  EXPECT_EQ(a.appraised, 3u);
  EXPECT_EQ(a.next_count, 3u);
}

TEST(Appraise, AChangedHashFailsWithItsPathAndHashAsWritten) {
  auto p = Policy();
  Appraisal a = Appraise(Report(0, {Entry("/usr/bin/ls", kEvil), Entry("/usr/bin/bash", kBash),
                                    Entry("/opt/new", kBash)}),
                         0, p.get());
  EXPECT_EQ(a.verdict, ledger::kVerdictUntrusted);
  ASSERT_EQ(a.failures.size(), 2u);  // in report order; an unlisted path fails too
  EXPECT_EQ(a.failures[0].path, "/usr/bin/ls");
  EXPECT_EQ(a.failures[0].hash, "sha256:" + kEvil);
  EXPECT_EQ(a.failures[1].path, "/opt/new");
  EXPECT_FALSE(a.reason.empty());
}

TEST(Appraise, ExcludedPathsPassWhateverTheirHash) {
  auto p = Policy();
  Appraisal a = Appraise(
      Report(0, {Entry("/tmp/x", kEvil), Entry("/var/log/syslog", kEvil), Entry("/tmp", kEvil)}), 0,
      p.get());
  // Keylime matches excludes from the path's start: "/tmp" itself is not "/tmp/.*".
  ASSERT_EQ(a.failures.size(), 1u);
  EXPECT_EQ(a.failures[0].path, "/tmp");
  // Anchored at the start only: a match inside the path does not exclude it.
  a = Appraise(Report(0, {Entry("/home/tmp/x", kEvil)}), 0, p.get());
  EXPECT_EQ(a.failures.size(), 1u);
}

TEST(Appraise, TheAlgorithmIsNotComparedButAnotherDigestFails) {
  auto p = Policy();
  // The same hex under another algorithm name passes (the policy holds hex only) ...
  EXPECT_EQ(Appraise(Report(0, {Entry("/usr/bin/bash", kBash, "sm3")}), 0, p.get()).verdict,
            ledger::kVerdictTrusted);
  // ... a SHA-1 digest of the file never equals a SHA-256 one.
  EXPECT_EQ(Appraise(Report(0, {Entry("/usr/bin/bash", std::string(40, 'a'), "sha1")}), 0, p.get())
                .verdict,
            ledger::kVerdictUntrusted);
}

TEST(Appraise, RepeatedEntriesAreNotAppraisedAgain) {
  auto p = Policy();
  // Entries 0 and 1 were appraised (entry 0 failed then); the report repeats them and adds 2.
  Appraisal a = Appraise(Report(0, {Entry("/usr/bin/ls", kEvil), Entry("/usr/bin/bash", kBash),
                                    Entry("/usr/bin/ls", kLs)}),
                         2, p.get());
  EXPECT_EQ(a.repeated, 2u);
  EXPECT_EQ(a.appraised, 1u);
  EXPECT_EQ(a.verdict, ledger::kVerdictTrusted);
  EXPECT_EQ(a.next_count, 3u);
  // A report wholly appraised before appraises nothing and keeps the count.
  a = Appraise(Report(1, {Entry("/usr/bin/bash", kEvil)}), 3, p.get());
  EXPECT_EQ(a.appraised, 0u);
  EXPECT_EQ(a.repeated, 1u);
  EXPECT_EQ(a.next_count, 3u);
  EXPECT_TRUE(a.failures.empty());
}

TEST(Appraise, AFromAboveTheCountLostMeasurementsAndIsUntrusted) {
  auto p = Policy();
  Appraisal a = Appraise(Report(5, {Entry("/usr/bin/bash", kBash)}), 3, p.get());
  EXPECT_EQ(a.verdict, ledger::kVerdictUntrusted);
  EXPECT_EQ(a.lost, 2u);
  EXPECT_TRUE(a.failures.empty());  // the entries it has pass; the lost ones are unknown
  EXPECT_EQ(a.next_count, 6u);
  EXPECT_NE(a.reason.find("lost"), std::string::npos);
  // Exactly at the count: nothing lost.
  EXPECT_EQ(Appraise(Report(3, {Entry("/usr/bin/bash", kBash)}), 3, p.get()).verdict,
            ledger::kVerdictTrusted);
}

TEST(Appraise, WithoutAPolicyEveryNewEntryFailsAndNothingIsTrusted) {
  Appraisal a = Appraise(Report(0, {Entry("/usr/bin/bash", kBash)}), 0, nullptr);
  EXPECT_EQ(a.verdict, ledger::kVerdictUntrusted);
  EXPECT_EQ(a.policy_version, 0u);
  ASSERT_EQ(a.failures.size(), 1u);
  a = Appraise(Report(0, {}), 0, nullptr);
  EXPECT_EQ(a.verdict, ledger::kVerdictUntrusted);
  EXPECT_TRUE(a.failures.empty());
}

TEST(Appraise, AnEmptyReportAtTheCountIsTrusted) {
  auto p = Policy();
  EXPECT_EQ(Appraise(Report(0, {}), 0, p.get()).verdict, ledger::kVerdictTrusted);
}

TEST(CompiledPolicy, RefusesAPolicyTheRegistryWouldRefuse) {
  provledger::v1::RuntimePolicy p;
  p.set_name("base");
  p.set_version(1);
  p.add_excludes("(");
  EXPECT_EQ(CompiledPolicy::Compile(p).status().code(), StatusCode::kInvalidArgument);
}

// PROTOCOL.md A.4 record B: the MACed empty report of dev-1 (seq 2), appraised trusted under
// policy version 1, accepted by gw-1 at 1700000002042.
TEST(AttestationRecordOf, ReproducesAppendixRecordB) {
  const std::string payload =
      R"({"v":1,"boot":"6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d","from":0,"entries":[]})";
  auto report = device_protocol::ParseIntegrityReport(payload);
  ASSERT_TRUE(report.ok());
  Appraisal a = Appraise(*report, 0, Policy(1).get());
  ReportHeader h;
  h.device = "dev-1";
  h.seq = 2;
  h.ts = 1700000002000;
  h.report_hash = Sha256(payload);
  h.auth = ledger::kAuthMac;
  h.gateway = "gw-1";
  h.received = 1700000002042;
  const Bytes bytes = ledger::EncodeRecord(AttestationRecordOf(h, a));
  EXPECT_EQ(bytes.size(), 100u);
  EXPECT_EQ(HexEncode(ledger::RecordId(bytes)),
            "fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f");
}

TEST(AttestationRecordOf, CarriesTheFailuresAndASignature) {
  Appraisal a = Appraise(Report(0, {Entry("/usr/bin/ls", kEvil)}), 0, Policy().get());
  ReportHeader h;
  h.device = "dev-1";
  h.seq = 9;
  h.report_hash = Bytes(32, '\x11');
  h.auth = ledger::kAuthSignature;
  h.device_sig = Bytes(64, '\x22');
  h.gateway = "gw-1";
  auto decoded = ledger::DecodeRecord(ledger::EncodeRecord(AttestationRecordOf(h, a)));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->attestation.verdict, ledger::kVerdictUntrusted);
  EXPECT_EQ(decoded->attestation.policy_version, 3u);
  ASSERT_EQ(decoded->attestation.failures.size(), 1u);
  EXPECT_EQ(decoded->attestation.failures[0].hash, "sha256:" + kEvil);
  EXPECT_EQ(decoded->attestation.device_sig, Bytes(64, '\x22'));
}

}  // namespace
}  // namespace provledger::bridge
