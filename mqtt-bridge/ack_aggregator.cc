#include "mqtt-bridge/ack_aggregator.h"

#include <algorithm>

namespace provledger::bridge {

uint64_t AckAggregator::BeginBatch() {
  const uint64_t token = next_token_++;
  in_flight_[token] = known_height_;
  starts_.insert(known_height_);
  return token;
}

void AckAggregator::NoteCommitted(uint64_t height) {
  known_height_ = std::max(known_height_, height);
}

std::vector<BlockAck> AckAggregator::Add(uint64_t token, std::vector<CommittedReading> readings) {
  auto it = in_flight_.find(token);
  const uint64_t start = it == in_flight_.end() ? 0 : it->second;
  std::map<uint64_t, std::map<Key, std::vector<CommittedReading>>> old;
  for (auto& r : readings) {
    NoteCommitted(r.height);
    Key key{r.device, r.item};
    const uint64_t h = r.height;
    if (h <= start) {
      old[h][key].push_back(std::move(r));
    } else {
      pending_[h][key].push_back(std::move(r));
      ++waiting_;
    }
  }
  std::vector<BlockAck> out;
  for (auto& [h, groups] : old) Emit(h, std::move(groups), &out);
  Flush(&out);
  return out;
}

std::vector<BlockAck> AckAggregator::EndBatch(uint64_t token) {
  std::vector<BlockAck> out;
  auto it = in_flight_.find(token);
  if (it == in_flight_.end()) return out;
  starts_.erase(starts_.find(it->second));
  in_flight_.erase(it);
  Flush(&out);
  return out;
}

void AckAggregator::Flush(std::vector<BlockAck>* out) {
  while (!pending_.empty()) {
    auto first = pending_.begin();
    // A batch in flight that started below this block may still add readings to it.
    if (!starts_.empty() && *starts_.begin() < first->first) return;
    for (const auto& [key, rs] : first->second) waiting_ -= rs.size();
    Emit(first->first, std::move(first->second), out);
    pending_.erase(first);
  }
}

void AckAggregator::Emit(uint64_t height, std::map<Key, std::vector<CommittedReading>> groups,
                         std::vector<BlockAck>* out) {
  for (auto& [key, rs] : groups) {
    std::sort(rs.begin(), rs.end(),
              [](const CommittedReading& a, const CommittedReading& b) { return a.seq < b.seq; });
    BlockAck ack;
    ack.device = key.first;
    ack.item = key.second;
    ack.height = height;
    for (auto& r : rs) {
      ack.datas = ack.datas || r.first_of_item;
      if (!ack.seqs.empty() && ack.seqs.back() == r.seq) continue;  // one reading, twice
      ack.seqs.push_back(r.seq);
      ack.outbox_keys.push_back(r.outbox_key);
      ack.record_id = std::move(r.record_id);
    }
    out->push_back(std::move(ack));
  }
}

}  // namespace provledger::bridge
