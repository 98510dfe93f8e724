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
#include "rocksdb/db.h"
#include "rocksdb/options.h"

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
    auto in = Intake::Open(dir + "/intake");
    ASSERT_TRUE(in.ok());
    auto outbox = Outbox::Open(dir + "/outbox", in->get(), true);
    ASSERT_TRUE(outbox.ok());
    auto a = (*in)->Put("first", true);
    auto b = (*in)->Put("second", true);
    auto c = (*in)->Put("third", false);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_LT(*a, *b);
    EXPECT_LT(*b, *c);
    EXPECT_EQ((*in)->pending(), 3u);
    // The verify thread took care of the first two: their batch records the watermark (its
    // entry carries its payload, so the chunk releases both messages at once).
    OutboxBatch batch;
    batch.entries.push_back(OutboxEntry{0, "record-a", "payload-a"});
    batch.intake_upto = *b;
    ASSERT_TRUE((*outbox)->Append(&batch).ok());
    (*in)->MarkDone(*b);
    EXPECT_EQ((*in)->pending(), 1u);
  }  // a crash: nothing else happens
  auto in = Intake::Open(dir + "/intake");
  ASSERT_TRUE(in.ok());
  auto outbox = Outbox::Open(dir + "/outbox", in->get(), true);
  ASSERT_TRUE(outbox.ok());
  auto w = (*outbox)->IntakeWatermark();
  ASSERT_TRUE(w.ok());
  (*in)->MarkDone(*w);
  auto pending = (*in)->Pending(*w);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].second, "third");
  // New keys continue above; the released messages were deleted when the outbox opened.
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

TEST(Intake, PutBatchWritesEveryMessageUnderConsecutiveKeysAndDeletesWhatWasReleased) {
  const std::string dir = FreshDir("intake_batch");
  {
    auto in = Intake::Open(dir);
    ASSERT_TRUE(in.ok());
    auto a = (*in)->Put("single", true);
    ASSERT_TRUE(a.ok());
    (*in)->MarkDone(*a);
    (*in)->Release(*a, *a);
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

MqttMessage Reading(const std::string& payload) {
  MqttMessage m;
  m.topic = "devices/d/data/t";
  m.payload = payload;
  m.qos = 1;
  m.user_properties = {{"pl-seq", "1"}};
  return m;
}

// One chunk of three readings whose payloads stay in the intake: the outbox does not store
// them again, reads them back from the intake after a reopen (removed entries stay removed),
// and only once every entry is removed are the chunk and its intake messages (the refused one
// between them too) deleted.
TEST(Outbox, AChunkReferringToTheIntakeHoldsItsMessagesUntilEveryEntryIsRemoved) {
  const std::string dir = FreshDir("outbox_refers");
  std::vector<uint64_t> keys;
  uint64_t first = 0;
  {
    auto in = Intake::Open(dir + "/intake");
    ASSERT_TRUE(in.ok());
    auto o = Outbox::Open(dir + "/outbox", in->get(), true);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    std::vector<Bytes> msgs;
    for (const char* p : {"pay-0", "refused", "pay-2", "pay-3"}) {
      msgs.push_back(EncodeMessage(Reading(std::string(p) + std::string(300, 'x'))));
    }
    auto f = (*in)->PutBatch(msgs, true);
    ASSERT_TRUE(f.ok());
    first = *f;
    OutboxBatch batch;
    for (uint64_t i : {0, 2, 3}) {
      batch.entries.push_back(OutboxEntry{0, "rec-" + std::to_string(i),
                                          "pay-" + std::to_string(i) + std::string(300, 'x'),
                                          first + i});
    }
    batch.intake_upto = first + 3;
    ASSERT_TRUE((*o)->Append(&batch).ok());
    (*in)->MarkDone(batch.intake_upto);
    for (const auto& e : batch.entries) keys.push_back(e.key);
    ASSERT_TRUE((*o)->Remove({keys[0], keys[2]}).ok());
    EXPECT_EQ((*o)->size(), 1u);
  }  // a crash
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir + "/outbox", &raw).ok());
  std::unique_ptr<rocksdb::DB> ro(raw);
  std::unique_ptr<rocksdb::Iterator> it(ro->NewIterator(rocksdb::ReadOptions()));
  size_t stored = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    stored += it->value().size();
    EXPECT_EQ(it->value().ToString().find("pay-"), std::string::npos) << "payload stored again";
  }
  EXPECT_LT(stored, 200u);
  it.reset();
  ro.reset();

  auto in = Intake::Open(dir + "/intake");
  ASSERT_TRUE(in.ok());
  auto o = Outbox::Open(dir + "/outbox", in->get(), true);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ((*o)->size(), 1u);  // the removals were written with the chunk's bitmap
  auto got = (*o)->Read(0, 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].key, keys[1]);
  EXPECT_EQ((*got)[0].record, "rec-2");
  EXPECT_EQ((*got)[0].payload, "pay-2" + std::string(300, 'x'));
  ASSERT_TRUE((*in)->Put("next", true).ok());
  auto all = (*in)->Pending(0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 5u) << "released before the chunk was complete";
  ASSERT_TRUE((*o)->Remove({keys[1], keys[1], keys[0]}).ok());  // counted once
  EXPECT_EQ((*o)->size(), 0u);
  ASSERT_TRUE((*in)->Put("after", true).ok());
  all = (*in)->Pending(0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);  // the chunk's four messages are gone
  EXPECT_EQ((*all)[0].first, first + 4);
}

// A crash after the intake wrote a settled chunk's release but before the chunk's own
// (unsynced) deletion reached the disk: the reopened outbox finds the chunk's messages gone
// and drops it instead of failing to read its payloads.
TEST(Outbox, AChunkWhoseIntakeMessagesAreGoneWasSettledAndIsDroppedAtOpen) {
  const std::string dir = FreshDir("outbox_settled");
  {
    auto in = Intake::Open(dir + "/intake");
    ASSERT_TRUE(in.ok());
    auto o = Outbox::Open(dir + "/outbox", in->get(), true);
    ASSERT_TRUE(o.ok());
    auto f = (*in)->PutBatch({EncodeMessage(Reading("a")), EncodeMessage(Reading("b"))}, true);
    ASSERT_TRUE(f.ok());
    OutboxBatch batch;
    batch.entries.push_back(OutboxEntry{0, "rec-a", "a", *f});
    batch.entries.push_back(OutboxEntry{0, "rec-b", "b", *f + 1});
    batch.intake_upto = *f + 1;
    ASSERT_TRUE((*o)->Append(&batch).ok());
    (*in)->Release(*f, *f + 1);  // what Remove does after deleting the chunk
    ASSERT_TRUE((*in)->WriteReleased().ok());
  }
  auto in = Intake::Open(dir + "/intake");
  ASSERT_TRUE(in.ok());
  auto o = Outbox::Open(dir + "/outbox", in->get(), true);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ((*o)->size(), 0u);
  auto got = (*o)->Read(0, 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
}

// With an intake not synced before the PUBACK (payloads_in_intake false) every entry keeps
// its payload, and the chunk's intake messages are released at once.
TEST(Outbox, WithoutPayloadsInTheIntakeEntriesCarryTheirPayloads) {
  const std::string dir = FreshDir("outbox_inline");
  auto in = Intake::Open(dir + "/intake");
  ASSERT_TRUE(in.ok());
  {
    auto o = Outbox::Open(dir + "/outbox", in->get(), false);
    ASSERT_TRUE(o.ok());
    auto f = (*in)->Put(EncodeMessage(Reading("p")), false);
    ASSERT_TRUE(f.ok());
    OutboxBatch batch;
    batch.entries.push_back(OutboxEntry{0, "rec", "p", *f});
    batch.intake_upto = *f;
    ASSERT_TRUE((*o)->Append(&batch).ok());
    ASSERT_TRUE((*in)->WriteReleased().ok());
    auto all = (*in)->Pending(0);
    ASSERT_TRUE(all.ok());
    EXPECT_TRUE(all->empty());
  }
  auto o = Outbox::Open(dir + "/outbox", in->get(), false);
  ASSERT_TRUE(o.ok());
  auto got = (*o)->Read(0, 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].payload, "p");
}

// A data folder of the bridge before chunks (layout 1: one outbox value per entry with its
// payload, the intake trimmed behind the watermark): Open rewrites the outbox into chunks,
// keeps every entry and the messages above the watermark, and deletes the intake's verified
// messages; opened again it is layout 2 and unchanged.
TEST(Outbox, AStoreOfTheEarlierLayoutIsMigratedAtOpen) {
  const std::string dir = FreshDir("outbox_migrate");
  {
    rocksdb::Options opts;
    opts.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(opts, dir + "/outbox", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (uint64_t k : {3, 4, 7}) {
      Bytes key(1, 'o');
      AppendU64(&key, k);
      Bytes v;
      AppendLp(&v, "rec-" + std::to_string(k));
      AppendLp(&v, "pay-" + std::to_string(k));
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, v).ok());
    }
    Bytes w;
    AppendU64(&w, 2);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "w", w).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "rdev", "window").ok());
    auto in = Intake::Open(dir + "/intake");
    ASSERT_TRUE(in.ok());
    ASSERT_TRUE((*in)->PutBatch({"verified-1", "verified-2", "pending-3"}, true).ok());
  }
  for (int round = 0; round < 2; ++round) {
    auto in = Intake::Open(dir + "/intake");
    ASSERT_TRUE(in.ok());
    auto o = Outbox::Open(dir + "/outbox", in->get(), true);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ((*o)->size(), 3u);
    auto got = (*o)->Read(0, 10);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 3u);
    EXPECT_EQ((*got)[0].record, "rec-3");
    EXPECT_EQ((*got)[2].record, "rec-7");
    EXPECT_EQ((*got)[2].payload, "pay-7");
    auto w = (*o)->IntakeWatermark();
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(*w, 2u);
    auto windows = (*o)->ReplayWindows();
    ASSERT_TRUE(windows.ok());
    EXPECT_EQ(windows->at("dev"), "window");
    auto all = (*in)->Pending(0);
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].second, "pending-3");
    // New entries are numbered after the migrated ones.
    OutboxBatch later;
    later.entries.push_back(OutboxEntry{0, "rec-new", "pay-new"});
    ASSERT_TRUE((*o)->Append(&later).ok());
    EXPECT_GT(later.entries[0].key, (*got)[2].key);
    ASSERT_TRUE((*o)->Remove({later.entries[0].key}).ok());
  }
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
