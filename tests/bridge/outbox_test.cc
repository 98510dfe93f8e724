#include "mqtt-bridge/outbox.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "common/mqtt_client.h"
#include "mqtt-bridge/intake.h"
#include "mqtt-bridge/policy_filter.h"

namespace provledger {
namespace bridge {
namespace {

std::string FreshDir(const std::string& name) {
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/" + name;
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  EXPECT_EQ(system(cmd.c_str()), 0);
  return dir;
}

std::unique_ptr<Outbox> Open(const std::string& dir) {
  auto o = Outbox::Open(dir);
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  return o.ok() ? std::move(o).value() : nullptr;
}

TEST(Intake, KeepsWhatTheOutboxWatermarkDoesNotCoverAcrossReopen) {
  const std::string dir = FreshDir("intake_reopen");
  {
    auto outbox = Open(dir + "/outbox");
    auto in = Intake::Open(dir + "/intake");
    ASSERT_NE(outbox, nullptr);
    ASSERT_TRUE(in.ok());
    auto a = (*in)->Put("first", true);
    auto b = (*in)->Put("second", true);
    auto c = (*in)->Put("third", false);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_LT(*a, *b);
    EXPECT_LT(*b, *c);
    EXPECT_EQ((*in)->pending(), 3u);
    // The verify thread took care of the first two: their batch records the watermark.
    OutboxBatch batch;
    batch.entries.push_back(OutboxEntry{0, "record-a", "payload-a"});
    batch.intake_upto = *b;
    ASSERT_TRUE(outbox->Append(&batch).ok());
    (*in)->MarkDone(*b);
    EXPECT_EQ((*in)->pending(), 1u);
  }  // a crash: nothing else happens
  auto outbox = Open(dir + "/outbox");
  auto in = Intake::Open(dir + "/intake");
  ASSERT_NE(outbox, nullptr);
  ASSERT_TRUE(in.ok());
  auto w = outbox->IntakeWatermark();
  ASSERT_TRUE(w.ok());
  (*in)->MarkDone(*w);
  auto pending = (*in)->Pending(*w);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].second, "third");
  // New keys continue above; the next put deletes what was marked done.
  auto d = (*in)->Put("fourth", true);
  ASSERT_TRUE(d.ok());
  EXPECT_GT(*d, (*pending)[0].first);
  auto all = (*in)->Pending(0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].second, "third");
  EXPECT_EQ((*all)[1].second, "fourth");
}

TEST(Intake, HandsOutKeysAboveTheWatermarkEvenWhenItsFolderWasEmptied) {
  const std::string dir = FreshDir("intake_emptied");
  auto in = Intake::Open(dir);
  ASSERT_TRUE(in.ok());
  (*in)->MarkDone(41);  // the outbox's watermark from an earlier life
  auto k = (*in)->Put("m", true);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, 42u);
  EXPECT_EQ((*in)->pending(), 1u);
}

TEST(Outbox, AWritePolicySkipsTheSameReadingAfterReopen) {
  const std::string dir = FreshDir("outbox_policy");
  const std::map<std::string, WritePolicy> policies = {{"temp", WritePolicy::Change(0.5)},
                                                       {"hum", WritePolicy::Periodic(1000)}};
  {
    auto o = Open(dir);
    ASSERT_NE(o, nullptr);
    PolicyFilter f(policies);
    ASSERT_EQ(f.Decide("d1", "temp", 1000, "21.5"), PolicyDecision::kRecord);
    ASSERT_EQ(f.Decide("d1", "hum", 1000, "40"), PolicyDecision::kRecord);
    OutboxBatch batch;
    batch.policy_states = f.Dirty();
    EXPECT_EQ(batch.policy_states.size(), 2u);
    ASSERT_TRUE(o->Append(&batch).ok());
    f.Commit();
    EXPECT_TRUE(f.Dirty().empty());
  }
  auto o = Open(dir);
  ASSERT_NE(o, nullptr);
  PolicyFilter restarted(policies);
  auto states = o->PolicyStates();
  ASSERT_TRUE(states.ok());
  for (const auto& [k, v] : *states) ASSERT_TRUE(restarted.Restore(k, v).ok());
  // As the bridge that never stopped would: skipped, then recorded past the threshold.
  EXPECT_EQ(restarted.Decide("d1", "temp", 2000, "21.7"), PolicyDecision::kSkip);
  EXPECT_EQ(restarted.Decide("d1", "hum", 1500, "41"), PolicyDecision::kSkip);
  EXPECT_EQ(restarted.Decide("d1", "temp", 3000, "22.1"), PolicyDecision::kRecord);
  EXPECT_EQ(restarted.Decide("d1", "hum", 2000, "41"), PolicyDecision::kRecord);
  // A bridge without the stored state records what it should skip (what happened before).
  PolicyFilter forgetful(policies);
  EXPECT_EQ(forgetful.Decide("d1", "temp", 2000, "21.7"), PolicyDecision::kRecord);
}

TEST(PolicyFilterState, RollbackUndoesDecisionsThatWereNotPersisted) {
  PolicyFilter f({{"t", WritePolicy::Periodic(1000)}});
  ASSERT_EQ(f.Decide("d", "t", 1000, ""), PolicyDecision::kRecord);
  f.Commit();
  ASSERT_EQ(f.Decide("d", "t", 2000, ""), PolicyDecision::kRecord);
  ASSERT_EQ(f.Decide("e", "t", 2000, ""), PolicyDecision::kRecord);
  EXPECT_EQ(f.Dirty().size(), 2u);
  f.Rollback();  // the batch holding the 2000 readings failed: they were not recorded
  EXPECT_TRUE(f.Dirty().empty());
  EXPECT_EQ(f.Decide("d", "t", 2000, ""), PolicyDecision::kRecord);
  EXPECT_EQ(f.Decide("e", "t", 2000, ""), PolicyDecision::kRecord);
}

TEST(PolicyFilterState, RestoreRefusesBytesItDidNotWrite) {
  PolicyFilter f;
  EXPECT_FALSE(f.Restore("junk", "junk").ok());
  PolicyFilter g({{"t", WritePolicy::Periodic(10)}});
  g.Decide("d", "t", 5, "");
  auto dirty = g.Dirty();
  ASSERT_EQ(dirty.size(), 1u);
  EXPECT_TRUE(f.Restore(dirty[0].first, dirty[0].second).ok());
  EXPECT_FALSE(f.Restore(dirty[0].first, dirty[0].second + "x").ok());
}

TEST(MqttMessageCodec, RoundTripsEveryField) {
  MqttMessage m;
  m.topic = "devices/d/data/t";
  m.payload = std::string("a\0b", 3);
  m.qos = 1;
  m.retained = true;
  m.duplicate = true;
  m.user_properties = {{"pl-seq", "5"}, {"pl-ts", "7"}, {"x", ""}};
  auto back = DecodeMessage(EncodeMessage(m));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->topic, m.topic);
  EXPECT_EQ(back->payload, m.payload);
  EXPECT_EQ(back->qos, 1);
  EXPECT_TRUE(back->retained);
  EXPECT_TRUE(back->duplicate);
  EXPECT_EQ(back->user_properties, m.user_properties);
  EXPECT_FALSE(DecodeMessage(EncodeMessage(m) + "z").ok());
  EXPECT_FALSE(DecodeMessage("short").ok());
}

}  // namespace
}  // namespace bridge
}  // namespace provledger
