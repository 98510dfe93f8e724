// StoreWriter: one thread that runs a validator's store writes (committed blocks, its votes
// and the messages that must wait for them) in the order they were queued, so that the
// consensus thread goes on validating and voting while a block is written and synced.
//
// A job is a function returning Status. Block jobs carry their height: once one returned OK
// its height shows in TakeApplied() (ascending, each once), which is when the owner may
// answer its submitters (it is durable). At most `max_blocks` block jobs are queued or
// running: AppendBlock waits beyond that (backpressure on the consensus thread). The first
// job that fails is kept in failure() with its label and height; every job queued after it
// is skipped (nothing more is written or sent after a failed write).
//
// Owner: PbftOrderer. Thread rules: AppendBlock, Queue, Drain, TakeApplied and failure()
// from the owner's thread (the consensus thread); `wake` is called on the writer thread,
// after each block job and after a failed job, without any lock of ours held. The destructor runs
// every job still queued, then joins.
#ifndef PROVLEDGER_NODE_STORE_WRITER_H_
#define PROVLEDGER_NODE_STORE_WRITER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "common/worker.h"

namespace provledger::node {

class StoreWriter {
 public:
  using Job = std::function<Status()>;
  struct Failure {
    Status status;  // OK while no job failed
    const char* during = "";
    uint64_t height = 0;
  };

  // `max_blocks` >= 1. `wake` (may be empty) tells the owner that a block job finished or
  // a job failed.
  StoreWriter(size_t max_blocks, std::function<void()> wake);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Queues `job`, which writes block `height` (heights ascending); first waits while
  // max_blocks block jobs are queued or running.
  void AppendBlock(uint64_t height, Job job);
  // Queues `job` behind everything queued so far; `during` and `height` label a failure.
  void Queue(const char* during, uint64_t height, Job job);
  // Waits until every job queued so far has run (or was skipped).
  void Drain();
  // The heights of block jobs that ran OK since the last call, ascending.
  std::vector<uint64_t> TakeApplied();
  // The first failed job, or an OK status.
  Failure failure() const;
  // Block jobs queued or running.
  size_t blocks_in_flight() const;

 private:
  struct Item {
    Job job;
    const char* during = "";
    uint64_t height = 0;
    bool block = false;
  };
  void Push(Item item);
  void Loop(Worker& w);

  const size_t max_blocks_;
  const std::function<void()> wake_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // the writer: a job queued, or stop
  std::condition_variable done_cv_;  // the owner: a job finished
  std::deque<Item> queue_;           // guarded by mu_
  size_t blocks_ = 0;                // block jobs queued or running; guarded by mu_
  size_t running_ = 0;               // jobs taken off the queue, not finished; guarded
  std::vector<uint64_t> applied_;    // guarded by mu_
  Failure failure_;                  // guarded by mu_
  std::unique_ptr<Worker> worker_;   // last: started once the rest is built
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_STORE_WRITER_H_
