// Pruner: a light node's retention policy (ledger_node --mode=light --retain_blocks=N
// --retain_age=D), applied to its BlockStore after blocks are appended.
//
// A block is kept while it is inside EITHER window: among the last `retain_blocks` blocks,
// or with a header timestamp not older than now - `retain_age_ms`; it is pruned once it is
// outside both (a window that is 0 is not set; the head block is always kept). So a busy
// chain keeps at least the age window, an idle one at least the last N blocks. Bodies are
// pruned in steps (at least max(10, retain_blocks / 10) blocks at once, at most 1000 per call)
// since each prune flushes and compacts.
//
// Owner: the store's writer (FollowerOrderer's fetch thread, PbftOrderer's consensus thread).
// Thread rules: MaybePrune() from the writer thread only; stats() from any thread.
#ifndef PROVLEDGER_NODE_PRUNER_H_
#define PROVLEDGER_NODE_PRUNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "ledger/store/block_store.h"

namespace provledger::node {

struct RetentionOptions {
  uint64_t retain_blocks = 0;  // keep the last N bodies; 0: no height window
  uint64_t retain_age_ms = 0;  // keep bodies of blocks younger than this; 0: no age window
  bool any() const { return retain_blocks > 0 || retain_age_ms > 0; }
};

// Parses a retention age: a positive integer with a unit, s, m, h or d ("30d", "12h", "90m").
// kInvalidArgument otherwise.
StatusOr<uint64_t> ParseRetentionAge(const std::string& text);

// The height below which bodies may go under `options` (every kept height is >= it), given
// the chain's head, the bodies' current start `pruned_below`, the time `now_ms` and the header
// timestamp of a height (`timestamp_at`, asked only for heights in pruned_below..head). The
// age window is walked up from pruned_below and stops at the first block young enough (or
// whose timestamp cannot be read); at most `max_blocks` above pruned_below. Never above head.
uint64_t PruneTarget(uint64_t head, uint64_t pruned_below, const RetentionOptions& options,
                     uint64_t now_ms,
                     const std::function<StatusOr<uint64_t>(uint64_t)>& timestamp_at,
                     uint64_t max_blocks);

// What the last prune did, for NodeStatus.
struct PruneStats {
  uint64_t pruned_below = 1;
  uint64_t bytes_before = 0;  // 0 until the first prune since start
  uint64_t bytes_after = 0;
};

class Pruner {
 public:
  // `store` must be light and outlive the pruner; `now_ms` is the wall clock (ms since the
  // epoch; header timestamps are the proposers' wall clocks); `indexes`: the per-record index
  // entries of pruned blocks dropped with their bodies (BlockStore::Prune).
  Pruner(ledger::BlockStore* store, RetentionOptions options, std::function<uint64_t()> now_ms,
         ledger::PrunedIndexes indexes = ledger::PrunedIndexes::kKeep);

  // Prunes when the bodies outside both windows reach a step; logs ev=pruned with the range
  // and the bytes before and after. A failed prune is logged (ev=prune_failed) and tried again
  // later; OK is returned unless the store's writes have failed (then its write_status(), for
  // the caller to stop as for any failed write).
  Status MaybePrune();
  PruneStats stats() const;

 private:
  ledger::BlockStore* store_;
  RetentionOptions options_;
  std::function<uint64_t()> now_ms_;
  ledger::PrunedIndexes indexes_;
  std::atomic<uint64_t> bytes_before_{0};
  std::atomic<uint64_t> bytes_after_{0};
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_PRUNER_H_
