// SoloOrderer: consensus for a chain of one validator (N = 1, f = 0). It owns the consensus
// thread: it takes checked batches from a bounded queue, cuts a block at a record count or
// a short timeout, drops duplicates, signs the commit digest (the 1-of-1 certificate),
// appends the block in one synced batch and only then answers the submissions.
// PbftOrderer (node/pbft_orderer.h) serves N > 1 behind the same Submit().
//
// Thread rules: Submit() and pending() from any thread; the store is written only by the
// orderer's own thread.
#ifndef PROVLEDGER_NODE_SOLO_ORDERER_H_
#define PROVLEDGER_NODE_SOLO_ORDERER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>

#include "common/ecdsa.h"
#include "common/worker.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/batch_validator.h"
#include "node/orderer.h"
#include "node/registry_holder.h"
#include "proto/ledger.pb.h"

namespace provledger::node {

struct OrdererOptions {
  size_t max_block_records = 1000;   // cut a block at this many records...
  uint32_t block_timeout_ms = 10;    // ...or this long after the first waiting record
  size_t max_queued_batches = 4096;  // beyond it Submit answers kResourceExhausted
};

class SoloOrderer final : public Orderer {
 public:
  // `store`, `registry` must outlive the orderer. `self` is this validator's index.
  SoloOrderer(ledger::BlockStore* store, const ledger::Genesis& genesis, PrivateKey key,
              uint32_t self, RegistryHolder* registry, OrdererOptions options);
  ~SoloOrderer() override;

  // Queues a checked batch. The future completes once its records are durable (with a
  // result per record), or with the error that kept its block from being written.
  // kResourceExhausted when the queue is full; kUnavailable when shutting down.
  StatusOr<std::future<SubmitResult>> Submit(CheckedBatch batch,
                                             provledger::v1::ConsensusRequest request) override;

  uint64_t pending() const override { return pending_.load(); }
  uint64_t view() const override { return 0; }
  // The store's write status: after a failed write every later block would fail too.
  Status failure() const override { return store_->write_status(); }
  uint64_t blocks_written() const { return blocks_.load(); }

 private:
  struct Waiting {
    CheckedBatch batch;
    std::promise<SubmitResult> done;
  };
  void Run(Worker& w);
  void CutBlock(std::vector<std::unique_ptr<Waiting>> subs);

  ledger::BlockStore* store_;
  ledger::Genesis genesis_;
  PrivateKey key_;
  uint32_t self_;
  RegistryHolder* registry_;
  OrdererOptions options_;
  uint64_t last_timestamp_ = 0;  // consensus thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Waiting>> queue_;  // guarded by mu_
  size_t queued_records_ = 0;                   // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> blocks_{0};
  std::unique_ptr<Worker> worker_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_SOLO_ORDERER_H_
