#include "consensus/request_pool.h"

#include <utility>

namespace provledger {
namespace consensus {

Status RequestPool::Add(Request req, uint64_t now) {
  if (committed_.count(req.id) > 0) return AlreadyExistsError("request already committed");
  if (entries_.count(req.id) > 0) return AlreadyExistsError("request already pending");
  if (entries_.size() >= capacity_) return ResourceExhaustedError("request pool full");
  Entry e;
  e.seq = next_seq_++;
  e.arrival = now;
  Bytes id = req.id;
  e.req = std::move(req);
  pending_order_.emplace(e.seq, id);
  entries_.emplace(std::move(id), std::move(e));
  return OkStatus();
}

std::vector<Request> RequestPool::TakeBatch(size_t max) {
  std::vector<Request> out;
  while (out.size() < max && !pending_order_.empty()) {
    auto it = pending_order_.begin();
    Entry& e = entries_.at(it->second);
    e.in_flight = true;
    out.push_back(e.req);
    pending_order_.erase(it);
  }
  return out;
}

void RequestPool::MarkInFlight(const std::vector<Bytes>& ids) {
  for (const Bytes& id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.in_flight) continue;
    it->second.in_flight = true;
    pending_order_.erase(it->second.seq);
  }
}

void RequestPool::MarkCommitted(const std::vector<Bytes>& ids) {
  for (const Bytes& id : ids) {
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      if (!it->second.in_flight) pending_order_.erase(it->second.seq);
      entries_.erase(it);
    }
    if (committed_.insert(id).second) {
      committed_fifo_.push_back(id);
      while (committed_fifo_.size() > committed_memory_) {
        committed_.erase(committed_fifo_.front());
        committed_fifo_.pop_front();
      }
    }
  }
}

void RequestPool::ReturnInFlight() {
  for (auto& [id, e] : entries_) {
    if (!e.in_flight) continue;
    e.in_flight = false;
    pending_order_.emplace(e.seq, id);
  }
}

void RequestPool::ReturnToPending(const std::vector<Bytes>& ids) {
  for (const Bytes& id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.in_flight) continue;
    it->second.in_flight = false;
    pending_order_.emplace(it->second.seq, id);
  }
}

uint64_t RequestPool::oldest_pending_tick() const {
  if (pending_order_.empty()) return 0;
  return entries_.at(pending_order_.begin()->second).arrival;
}

std::vector<Request> RequestPool::Uncommitted() const {
  std::map<uint64_t, const Request*> by_seq;
  for (const auto& [id, e] : entries_) by_seq.emplace(e.seq, &e.req);
  std::vector<Request> out;
  out.reserve(by_seq.size());
  for (const auto& [seq, req] : by_seq) out.push_back(*req);
  return out;
}

}  // namespace consensus
}  // namespace provledger
