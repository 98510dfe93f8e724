#include "node/pruner.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace provledger::node {

namespace {
constexpr uint64_t kMaxPruneBlocks = 1000;  // per call: a long chain is pruned over many
}  // namespace

StatusOr<uint64_t> ParseRetentionAge(const std::string& text) {
  const auto bad = [&] {
    return InvalidArgumentError("retention age '" + text +
                                "' must be a positive number with a unit s, m, h or d (30d, 12h)");
  };
  if (text.size() < 2) return bad();
  const std::string digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 12) {
    return bad();
  }
  uint64_t unit_ms = 0;
  switch (text.back()) {
    case 's':
      unit_ms = 1000;
      break;
    case 'm':
      unit_ms = 60 * 1000;
      break;
    case 'h':
      unit_ms = 3600 * 1000;
      break;
    case 'd':
      unit_ms = 24 * 3600 * 1000;
      break;
    default:
      return bad();
  }
  const uint64_t n = std::stoull(digits);
  if (n == 0) return bad();
  return n * unit_ms;
}

uint64_t PruneTarget(uint64_t head, uint64_t pruned_below, const RetentionOptions& options,
                     uint64_t now_ms,
                     const std::function<StatusOr<uint64_t>(uint64_t)>& timestamp_at,
                     uint64_t max_blocks) {
  if (!options.any() || head == 0) return pruned_below;
  // The height window: bodies below `cap` are outside it (the head is always kept).
  uint64_t cap = head;
  if (options.retain_blocks > 0) {
    cap = head >= options.retain_blocks ? head - options.retain_blocks + 1 : 1;
  }
  cap = std::min(cap, pruned_below + max_blocks);
  if (options.retain_age_ms == 0) return std::max(cap, pruned_below);
  // The age window: walk up while blocks are older than the cutoff. Timestamps are the
  // proposers' clocks, so not strictly ordered: the walk stops at the first young one.
  if (now_ms <= options.retain_age_ms) return pruned_below;
  const uint64_t cutoff = now_ms - options.retain_age_ms;
  uint64_t h = pruned_below;
  while (h < cap) {
    StatusOr<uint64_t> ts = timestamp_at(h);
    if (!ts.ok() || *ts >= cutoff) break;
    ++h;
  }
  return h;
}

Pruner::Pruner(ledger::BlockStore* store, RetentionOptions options,
               std::function<uint64_t()> now_ms, ledger::PrunedIndexes indexes)
    : store_(store), options_(options), now_ms_(std::move(now_ms)), indexes_(indexes) {}

PruneStats Pruner::stats() const {
  PruneStats s;
  s.pruned_below = store_->pruned_below();
  s.bytes_before = bytes_before_.load();
  s.bytes_after = bytes_after_.load();
  return s;
}

Status Pruner::MaybePrune() {
  if (!options_.any() || !store_->light()) return OkStatus();
  const uint64_t from = store_->pruned_below();
  const uint64_t step =
      std::min<uint64_t>(std::max<uint64_t>(10, options_.retain_blocks / 10), kMaxPruneBlocks);
  auto timestamp_at = [this](uint64_t h) -> StatusOr<uint64_t> {
    PL_ASSIGN_OR_RETURN(Bytes bytes, store_->ReadHeaderBytes(h));
    PL_ASSIGN_OR_RETURN(ledger::BlockHeader header, ledger::DecodeHeader(bytes));
    return header.timestamp;
  };
  const uint64_t below =
      PruneTarget(store_->height(), from, options_, now_ms_(), timestamp_at, kMaxPruneBlocks);
  if (below < from + step) return OkStatus();
  auto r = store_->Prune(below, indexes_);
  if (!r.ok()) {
    // Pruning only frees disk: a failure is logged and tried again at the next step, unless
    // the store is broken (then the node stops, as for any failed write).
    LogWarn("prune_failed").Kv("below", below).Kv("err", r.status().ToString());
    return store_->write_status();
  }
  bytes_before_.store(r->bytes_before);
  bytes_after_.store(r->bytes_after);
  LogInfo("pruned")
      .Kv("from", r->from)
      .Kv("to", r->to)
      .Kv("bytes_before", r->bytes_before)
      .Kv("bytes_after", r->bytes_after)
      .Kv("index_entries_deleted", r->index_entries_deleted)
      .Kv("retain_blocks", options_.retain_blocks)
      .Kv("retain_age_ms", options_.retain_age_ms);
  return OkStatus();
}

}  // namespace provledger::node
