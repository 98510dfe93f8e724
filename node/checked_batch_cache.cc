#include "node/checked_batch_cache.h"

#include <utility>

namespace provledger::node {

CheckedBatchCache::CheckedBatchCache(size_t max_entries, size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {}

void CheckedBatchCache::Put(const Bytes& id, const provledger::v1::SignedBatch& batch,
                            std::shared_ptr<const ledger::RegistrySnapshot> registry,
                            CheckedBatch checked) {
  // A record left to the block for its device (DeviceCheck::kLeaveToBlock) is an outcome
  // the derivation does not have: keeping it would write a record the block must refuse.
  for (const CheckedRecord& r : checked.records) {
    if (r.device_left_to_block) return;
  }
  Entry e;
  e.signature = batch.signature();
  e.payload_count = batch.payloads_size();
  if (e.payload_count != 0) {
    for (const RecordRefusal& r : checked.refused) {
      if (static_cast<int>(r.index) >= e.payload_count) return;  // not from this batch
      e.refused_payloads.emplace(r.index, batch.payloads(static_cast<int>(r.index)));
      e.bytes += e.refused_payloads[r.index].size();
    }
  }
  e.registry = std::move(registry);
  for (const CheckedRecord& r : checked.records) {
    e.bytes += r.bytes.size() + (r.payload ? r.payload->size() : 0);
  }
  e.checked = std::move(checked);
  if (e.bytes > max_bytes_ || max_entries_ == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto old = entries_.find(id);
  if (old != entries_.end()) {
    bytes_ -= old->second.bytes;
    entries_.erase(old);  // its order_ slot is skipped by serial when evicted
  }
  e.serial = next_serial_++;
  bytes_ += e.bytes;
  order_.emplace_back(e.serial, id);
  entries_.emplace(id, std::move(e));
  EvictLocked();
}

void CheckedBatchCache::EvictLocked() {
  while (!order_.empty() && (entries_.size() > max_entries_ || bytes_ > max_bytes_ ||
                             order_.size() > 2 * max_entries_)) {
    auto [serial, id] = std::move(order_.front());
    order_.pop_front();
    auto it = entries_.find(id);
    if (it != entries_.end() && it->second.serial == serial) {
      bytes_ -= it->second.bytes;
      entries_.erase(it);
    }
  }
}

std::optional<CheckedBatch> CheckedBatchCache::Take(const Bytes& id,
                                                    const provledger::v1::SignedBatch& batch,
                                                    const ledger::RegistrySnapshot* registry) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  // The id covers the gateway and every record's bytes; the signature and payloads are the
  // rest of what ValidateBatch reads.
  if (e.registry.get() != registry || e.signature != batch.signature() ||
      e.payload_count != batch.payloads_size()) {
    return std::nullopt;
  }
  if (e.payload_count != 0) {
    for (const CheckedRecord& r : e.checked.records) {
      if (!r.payload || static_cast<int>(r.index) >= e.payload_count ||
          *r.payload != batch.payloads(static_cast<int>(r.index))) {
        return std::nullopt;
      }
    }
    for (const auto& [index, payload] : e.refused_payloads) {
      if (payload != batch.payloads(static_cast<int>(index))) return std::nullopt;
    }
  }
  CheckedBatch out = std::move(it->second.checked);
  bytes_ -= it->second.bytes;
  entries_.erase(it);
  ++hits_;
  return out;
}

bool CheckedBatchCache::Contains(const Bytes& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.count(id) > 0;
}

size_t CheckedBatchCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

uint64_t CheckedBatchCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

}  // namespace provledger::node
