// CheckedBatchCache: the outcome of ValidateBatch for batches a client submitted to this
// node, kept until this node derives the block that orders them, so that the gateway
// signature is verified and the payloads hashed once per node, not once at submission and
// again at derivation. An entry is used only for the very batch it was made from (same
// digest, signature and payloads) checked against the very registry snapshot the block is
// derived on; anything else is validated afresh, so a hit changes no outcome.
//
// Thread rules: thread-safe (Put from gRPC threads, Take from the consensus thread).
#ifndef PROVLEDGER_NODE_CHECKED_BATCH_CACHE_H_
#define PROVLEDGER_NODE_CHECKED_BATCH_CACHE_H_

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "common/bytes.h"
#include "ledger/registry.h"
#include "node/batch_validator.h"
#include "proto/ledger.pb.h"

namespace provledger::node {

class CheckedBatchCache {
 public:
  // Keeps at most `max_entries` batches and `max_bytes` of their records and payloads; the
  // oldest go first.
  CheckedBatchCache(size_t max_entries, size_t max_bytes);

  // Remembers that `batch`, whose request id (batch digest) is `id`, checked as `checked`
  // against `registry` (with the limits the deriving factory uses). Replaces an entry of the
  // same id. Keeps nothing when a record of `checked` was left to the block for its device
  // (DeviceCheck::kLeaveToBlock): the derivation would refuse it.
  void Put(const Bytes& id, const provledger::v1::SignedBatch& batch,
           std::shared_ptr<const ledger::RegistrySnapshot> registry, CheckedBatch checked);

  // The entry of `id` when it was made from this `batch` against `registry`, removed from
  // the cache; nullopt otherwise (an entry of `id` for another registry or batch stays).
  std::optional<CheckedBatch> Take(const Bytes& id, const provledger::v1::SignedBatch& batch,
                                   const ledger::RegistrySnapshot* registry);

  // Whether an entry of `id` is kept (for any batch or registry).
  bool Contains(const Bytes& id) const;
  size_t size() const;
  uint64_t hits() const;

 private:
  struct Entry {
    Bytes signature;
    int payload_count = 0;
    // The payloads of refused records (accepted ones keep theirs in `checked`), to compare
    // with at Take: payloads are not under the gateway's signature.
    std::map<uint32_t, Bytes> refused_payloads;
    std::shared_ptr<const ledger::RegistrySnapshot> registry;
    CheckedBatch checked;
    size_t bytes = 0;
    uint64_t serial = 0;
  };
  void EvictLocked();

  const size_t max_entries_;
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::map<Bytes, Entry> entries_;                // by id; guarded by mu_
  std::deque<std::pair<uint64_t, Bytes>> order_;  // (serial, id), oldest first; guarded
  size_t bytes_ = 0;                              // guarded by mu_
  uint64_t next_serial_ = 0;                      // guarded by mu_
  uint64_t hits_ = 0;                             // guarded by mu_
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_CHECKED_BATCH_CACHE_H_
