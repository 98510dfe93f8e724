// The bridge's integrity state (mqtt-bridge/integrity_state.h): counts per device and boot,
// the status and its attestation, pending until the outbox write, and its encoding.
#include "mqtt-bridge/integrity_state.h"

#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "ledger/record.h"

namespace provledger::bridge {
namespace {

const Bytes kAtt1(32, '\x01');
const Bytes kAtt2(32, '\x02');

TEST(IntegrityTracker, UnknownUntilTheFirstAppraisal) {
  IntegrityTracker t;
  EXPECT_EQ(t.State("dev-1").status, IntegrityStatus::kUnknown);
  EXPECT_TRUE(t.State("dev-1").attestation.empty());
  EXPECT_EQ(t.AppraisedCount("dev-1", "boot-a"), 0u);
}

TEST(IntegrityTracker, RecordsCountsPerBootAndTheLatestStatus) {
  IntegrityTracker t;
  t.Record("dev-1", "boot-a", 5, IntegrityStatus::kTrusted, kAtt1, 10);
  t.Record("dev-1", "boot-b", 2, IntegrityStatus::kUntrusted, kAtt2, 11);
  EXPECT_EQ(t.AppraisedCount("dev-1", "boot-a"), 5u);
  EXPECT_EQ(t.AppraisedCount("dev-1", "boot-b"), 2u);
  EXPECT_EQ(t.AppraisedCount("dev-2", "boot-a"), 0u);
  EXPECT_EQ(t.State("dev-1").status, IntegrityStatus::kUntrusted);
  EXPECT_EQ(t.State("dev-1").attestation, kAtt2);
}

TEST(IntegrityTracker, KeepsTheLastBoots) {
  IntegrityTracker t;
  for (size_t i = 0; i <= IntegrityTracker::kMaxBoots; ++i) {
    t.Record("dev-1", "boot-" + std::to_string(i), i + 1, IntegrityStatus::kTrusted, kAtt1, i);
  }
  EXPECT_EQ(t.AppraisedCount("dev-1", "boot-0"), 0u);  // the oldest is forgotten
  EXPECT_EQ(t.AppraisedCount("dev-1", "boot-1"), 2u);
}

TEST(IntegrityTracker, RollbackForgetsWhatTheOutboxDidNotStore) {
  IntegrityTracker t;
  t.Record("dev-1", "boot-a", 3, IntegrityStatus::kTrusted, kAtt1, 1);
  EXPECT_EQ(t.Dirty().size(), 1u);
  t.Commit();
  EXPECT_TRUE(t.Dirty().empty());
  t.Record("dev-1", "boot-a", 7, IntegrityStatus::kUntrusted, kAtt2, 2);
  t.Record("dev-2", "boot-x", 1, IntegrityStatus::kTrusted, kAtt2, 3);
  t.Rollback();
  EXPECT_EQ(t.AppraisedCount("dev-1", "boot-a"), 3u);
  EXPECT_EQ(t.State("dev-1").status, IntegrityStatus::kTrusted);
  EXPECT_EQ(t.Find("dev-2"), nullptr);
}

TEST(IntegrityTracker, RestoresWhatDirtyWrote) {
  IntegrityTracker t;
  t.Record("dev-1", "boot-a", 3, IntegrityStatus::kTrusted, kAtt1, 1);
  t.Record("dev-1", "boot-b", 9, IntegrityStatus::kUntrusted, kAtt2, 4);
  IntegrityTracker restored;
  for (const auto& [k, v] : t.Dirty()) ASSERT_TRUE(restored.Restore(k, v).ok());
  EXPECT_EQ(restored.AppraisedCount("dev-1", "boot-a"), 3u);
  EXPECT_EQ(restored.AppraisedCount("dev-1", "boot-b"), 9u);
  EXPECT_EQ(restored.State("dev-1").status, IntegrityStatus::kUntrusted);
  EXPECT_EQ(restored.State("dev-1").attestation, kAtt2);
  EXPECT_EQ(restored.Find("dev-1")->seq, 4u);
}

TEST(IntegrityTracker, ARestoredValueThatDoesNotDecodeIsDataLoss) {
  IntegrityTracker t;
  EXPECT_EQ(t.Restore("dev-1", "\x01\x01").code(), StatusCode::kDataLoss);
  DeviceIntegrity d;
  d.status = IntegrityStatus::kTrusted;  // trusted needs an attestation id
  EXPECT_EQ(t.Restore("dev-1", IntegrityTracker::Encode(d)).code(), StatusCode::kDataLoss);
}

// PROTOCOL.md A.4 record C: a MACed reading of dev-1 accepted while attestation B made it
// trusted carries integrity 1 and B's record id, as the pipeline copies them from State().
TEST(IntegrityTracker, ItsStateMakesAppendixRecordC) {
  IntegrityTracker t;
  const Bytes b = *HexDecode("fbe775df03eed0e5a427547d3e85aead02f8ad633e7845d9f19a7f8ffce05a4f");
  t.Record("dev-1", "6f1c2a4e-0b7d-4a8e-9c3f-2d5e7a9b1c0d", 0, IntegrityStatus::kTrusted, b, 2);
  const IntegrityState s = t.State("dev-1");
  ledger::Record rec;
  rec.kind = ledger::RecordKind::kReading;
  auto& r = rec.reading;
  r.device = "dev-1";
  r.item = "climate";
  r.seq = 3;
  r.ts = 1700000003000;
  r.payload_hash = Sha256("21.7");
  r.auth = ledger::kAuthMac;
  r.gateway = "gw-1";
  r.received = 1700000003042;
  r.integrity = static_cast<uint8_t>(s.status);
  r.attestation = s.attestation;
  EXPECT_EQ(HexEncode(ledger::RecordId(ledger::EncodeRecord(rec))),
            "ca234e4e16bd9f32468254630b7c8390df2c1333158b99270f72ef85bc283505");
}

}  // namespace
}  // namespace provledger::bridge
