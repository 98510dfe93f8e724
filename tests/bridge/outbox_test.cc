#include "mqtt-bridge/outbox.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// What this run appended is read back from memory, removed entries are gone from it, and a
// reopened outbox finds the same on disk, the entries of the earlier run before the new ones.
TEST(Outbox, ReadsThisRunsEntriesAndAfterReopenTheSameFromDisk) {
  const std::string dir = FreshDir("outbox_mem");
  std::vector<uint64_t> keys;
  {
    auto o = Open(dir);
    ASSERT_NE(o, nullptr);
    OutboxBatch first;
    for (int i = 0; i < 3; ++i) {
      first.entries.push_back(OutboxEntry{0, "rec-" + std::to_string(i), "pay"});
    }
    ASSERT_TRUE(o->Append(&first).ok());
    OutboxBatch second;
    second.entries.push_back(OutboxEntry{0, "rec-3", std::string("a\0b", 3)});
    second.intake_upto = 9;
    ASSERT_TRUE(o->Append(&second).ok());
    for (const auto& e : first.entries) keys.push_back(e.key);
    keys.push_back(second.entries[0].key);
    auto got = o->Read(0, 10);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 4u);
    EXPECT_EQ((*got)[3].payload, std::string("a\0b", 3));
    ASSERT_TRUE(o->Remove({keys[1]}).ok());
    got = o->Read(keys[0], 10);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 2u);
    EXPECT_EQ((*got)[0].record, "rec-2");
    EXPECT_EQ((*got)[1].record, "rec-3");
  }
  auto o = Open(dir);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->size(), 3u);
  auto w = o->IntakeWatermark();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, 9u);
  OutboxBatch later;
  later.entries.push_back(OutboxEntry{0, "rec-4", "pay"});
  ASSERT_TRUE(o->Append(&later).ok());
  EXPECT_GT(later.entries[0].key, keys.back());
  auto got = o->Read(0, 10);
  ASSERT_TRUE(got.ok());
  std::vector<std::string> records;
  for (const auto& e : *got) records.push_back(e.record);
  EXPECT_EQ(records, (std::vector<std::string>{"rec-0", "rec-2", "rec-3", "rec-4"}));
  EXPECT_EQ((*got)[2].payload, std::string("a\0b", 3));
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

TEST(Intake, PutBatchWritesEveryMessageUnderConsecutiveKeysAndDeletesWhatWasDone) {
  const std::string dir = FreshDir("intake_batch");
  {
    auto in = Intake::Open(dir);
    ASSERT_TRUE(in.ok());
    auto a = (*in)->Put("single", true);
    ASSERT_TRUE(a.ok());
    (*in)->MarkDone(*a);
    auto first = (*in)->PutBatch({"b1", "b2", "b3"}, true);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(*first, *a + 1);
    EXPECT_EQ((*in)->pending(), 3u);
    EXPECT_FALSE((*in)->PutBatch({}, true).ok());
  }  // reopened as after a crash
  auto in = Intake::Open(dir);
  ASSERT_TRUE(in.ok());
  auto all = (*in)->Pending(0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);  // "single" was deleted by the batch's write
  EXPECT_EQ((*all)[0].second, "b1");
  EXPECT_EQ((*all)[2].second, "b3");
  EXPECT_EQ((*all)[2].first, (*all)[0].first + 2);
  auto next = (*in)->Put("after", true);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, (*all)[2].first + 1);
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

// The bridge's threads at once: the verify thread appends (synced), four submit workers
// read what is new and remove it as the answer publisher does. Every entry is read and
// removed exactly once and the size ends at 0. Under ThreadSanitizer (ops/sanitize.sh) this
// is the pattern of the old `Bridge::Acknowledge` report: concurrent writes merged into one
// RocksDB write group, whose hand-off TSan cannot see; the outbox serialises its writes.
TEST(Outbox, ConcurrentAppendsAndRemovesSettleEveryEntryOnce) {
  const std::string dir = FreshDir("outbox_concurrent");
  auto o = Open(dir);
  ASSERT_NE(o, nullptr);
  constexpr int kBatches = 200, kPerBatch = 5, kWorkers = 4;
  std::atomic<bool> appended{false};
  std::mutex mu;
  uint64_t cursor = 0;       // guarded by mu: highest key handed to a worker
  std::set<uint64_t> taken;  // guarded by mu
  std::atomic<int> removed{0};
  std::thread appender([&] {
    for (int b = 0; b < kBatches; ++b) {
      OutboxBatch batch;
      for (int i = 0; i < kPerBatch; ++i) {
        batch.entries.push_back(OutboxEntry{0, Bytes(40, static_cast<uint8_t>(i)), Bytes(8, 1)});
      }
      batch.intake_upto = static_cast<uint64_t>(b + 1);
      ASSERT_TRUE(o->Append(&batch).ok());
    }
    appended.store(true);
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (removed.load() < kBatches * kPerBatch) {
        std::vector<uint64_t> keys;
        {
          std::lock_guard<std::mutex> lock(mu);
          auto got = o->Read(cursor, 7);
          ASSERT_TRUE(got.ok()) << got.status().ToString();
          for (const auto& e : *got) {
            EXPECT_TRUE(taken.insert(e.key).second) << "key " << e.key << " read twice";
            keys.push_back(e.key);
          }
          if (!keys.empty()) cursor = keys.back();
        }
        if (keys.empty()) {
          if (appended.load() && o->size() == 0) break;
          std::this_thread::yield();
          continue;
        }
        ASSERT_TRUE(o->Remove(keys).ok());
        removed.fetch_add(static_cast<int>(keys.size()));
      }
    });
  }
  appender.join();
  for (auto& t : workers) t.join();
  EXPECT_EQ(removed.load(), kBatches * kPerBatch);
  EXPECT_EQ(taken.size(), static_cast<size_t>(kBatches * kPerBatch));
  EXPECT_EQ(o->size(), 0u);
  auto left = o->Read(0, 10);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
  auto watermark = o->IntakeWatermark();
  ASSERT_TRUE(watermark.ok());
  EXPECT_EQ(*watermark, static_cast<uint64_t>(kBatches));
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
