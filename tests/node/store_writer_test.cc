#include "node/store_writer.h"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace provledger::node {
namespace {

// Records the order jobs ran in.
class Trace {
 public:
  StoreWriter::Job Step(int n, Status result = OkStatus()) {
    return [this, n, result] {
      std::lock_guard<std::mutex> lock(mu_);
      steps_.push_back(n);
      return result;
    };
  }
  std::vector<int> steps() {
    std::lock_guard<std::mutex> lock(mu_);
    return steps_;
  }

 private:
  std::mutex mu_;
  std::vector<int> steps_;
};

TEST(StoreWriterTest, RunsJobsInQueueOrderAndReportsBlocksAscending) {
  Trace t;
  std::atomic<int> wakes{0};
  StoreWriter w(4, [&] { wakes.fetch_add(1); });
  w.AppendBlock(7, t.Step(1));
  w.Queue("votes", 7, t.Step(2));
  w.AppendBlock(8, t.Step(3));
  w.Queue("votes", 8, t.Step(4));
  w.AppendBlock(9, t.Step(5));
  w.Drain();
  EXPECT_EQ(t.steps(), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(w.TakeApplied(), (std::vector<uint64_t>{7, 8, 9}));
  EXPECT_TRUE(w.TakeApplied().empty());  // each once
  EXPECT_TRUE(w.failure().status.ok());
  EXPECT_EQ(wakes.load(), 3);  // after each block job only
  EXPECT_EQ(w.blocks_in_flight(), 0u);
}

TEST(StoreWriterTest, AFailedJobSkipsEverythingQueuedAfterIt) {
  Trace t;
  StoreWriter w(4, nullptr);
  w.AppendBlock(1, t.Step(1));
  w.AppendBlock(2, t.Step(2, InternalError("disk full")));
  w.Queue("votes", 2, t.Step(3));  // e.g. the votes and sends behind the block: never run
  w.AppendBlock(3, t.Step(4));
  w.Drain();
  EXPECT_EQ(t.steps(), (std::vector<int>{1, 2}));
  EXPECT_EQ(w.TakeApplied(), (std::vector<uint64_t>{1}));
  StoreWriter::Failure f = w.failure();
  EXPECT_EQ(f.status.code(), StatusCode::kInternal);
  EXPECT_STREQ(f.during, "apply");
  EXPECT_EQ(f.height, 2u);
  w.Queue("prune_votes", 3, t.Step(5));
  w.Drain();
  EXPECT_EQ(t.steps(), (std::vector<int>{1, 2}));
}

TEST(StoreWriterTest, AppendBlockWaitsWhileMaxBlocksAreInFlight) {
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  Trace t;
  StoreWriter w(2, nullptr);
  w.AppendBlock(1, [&] {
    gate.wait();  // the first write hangs until released
    return OkStatus();
  });
  w.AppendBlock(2, t.Step(2));
  EXPECT_EQ(w.blocks_in_flight(), 2u);
  std::atomic<bool> third_queued{false};
  std::thread owner([&] {
    w.AppendBlock(3, t.Step(3));
    third_queued.store(true);
  });
  // Non-block jobs are never held back.
  w.Queue("votes", 2, t.Step(9));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(third_queued.load());  // 2 blocks in flight: the third waits
  release.set_value();
  owner.join();
  EXPECT_TRUE(third_queued.load());
  w.Drain();
  EXPECT_EQ(t.steps(), (std::vector<int>{2, 9, 3}));
  EXPECT_EQ(w.TakeApplied(), (std::vector<uint64_t>{1, 2, 3}));
}

TEST(StoreWriterTest, DrainWaitsForTheRunningJob) {
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<bool> done{false};
  StoreWriter w(4, nullptr);
  w.AppendBlock(1, [&] {
    gate.wait();
    done.store(true);
    return OkStatus();
  });
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release.set_value();
  });
  w.Drain();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(w.TakeApplied(), (std::vector<uint64_t>{1}));
  releaser.join();
}

TEST(StoreWriterTest, DestructorRunsEveryQueuedJob) {
  Trace t;
  {
    StoreWriter w(8, nullptr);
    for (int i = 0; i < 6; ++i) w.AppendBlock(i + 1, t.Step(i));
  }
  EXPECT_EQ(t.steps(), (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace provledger::node
