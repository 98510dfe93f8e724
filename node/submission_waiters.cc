#include "node/submission_waiters.h"

#include <string>
#include <unordered_map>

namespace provledger::node {

namespace v1 = provledger::v1;

SubmissionWaiters::~SubmissionWaiters() { AnswerAll(UnavailableError("node is shutting down")); }

void SubmissionWaiters::AnswerAll(const Status& why) {
  for (auto& [id, ws] : waiters_) {
    for (auto& w : ws) {
      w->done(why);
      pending_.fetch_sub(1);
    }
  }
  waiters_.clear();
}

std::shared_ptr<Waiter> SubmissionWaiters::Make(std::vector<Bytes> record_ids, Bytes request,
                                                uint64_t deadline_ms, SubmitDone done) {
  auto w = std::make_shared<Waiter>();
  w->done = std::move(done);
  w->record_ids = std::move(record_ids);
  w->request = std::move(request);
  w->deadline_ms = deadline_ms;
  pending_.fetch_add(1);
  return w;
}

bool SubmissionWaiters::AnswerIfKnown(Waiter* w) {
  v1::SubmitResponse resp;
  for (const auto& id : w->record_ids) {
    auto loc = store_->FindRecord(id);
    if (!loc.ok()) return false;
    auto* r = resp.add_results();
    r->set_record_id(id);
    r->set_outcome(v1::RecordResult::DUPLICATE);
    r->set_height(loc->height);
    r->set_index(loc->index);
  }
  w->done(std::move(resp));
  pending_.fetch_sub(1);
  return true;
}

void SubmissionWaiters::Add(const Bytes& request_id, std::shared_ptr<Waiter> w) {
  waiters_[request_id].push_back(std::move(w));
}

void SubmissionWaiters::Complete(const std::vector<Bytes>& request_ids, uint64_t committed_above,
                                 const std::map<Bytes, Status>* refused,
                                 const std::vector<Bytes>* block_ids) {
  // The block's own records, by id: made once, on the first waiter found.
  std::unordered_map<Bytes, uint32_t> in_block;
  bool indexed = false;
  for (const auto& rid : request_ids) {
    auto it = waiters_.find(rid);
    if (it == waiters_.end()) continue;
    if (!indexed && block_ids != nullptr) {
      in_block.reserve(block_ids->size());
      for (size_t i = 0; i < block_ids->size(); ++i) {
        in_block.emplace((*block_ids)[i], static_cast<uint32_t>(i));
      }
      indexed = true;
    }
    for (auto& w : it->second) {
      v1::SubmitResponse resp;
      for (const auto& id : w->record_ids) {
        auto* r = resp.add_results();
        r->set_record_id(id);
        auto here = in_block.find(id);
        if (here != in_block.end()) {
          r->set_outcome(v1::RecordResult::COMMITTED);
          r->set_height(committed_above + 1);
          r->set_index(here->second);
          continue;
        }
        auto loc = store_->FindRecord(id);
        if (!loc.ok()) {
          const auto why =
              refused != nullptr ? refused->find(id) : std::map<Bytes, Status>::const_iterator();
          if (refused != nullptr && why != refused->end()) {  // refused at this block's height
            r->set_outcome(v1::RecordResult::REFUSED);
            r->set_code(static_cast<uint32_t>(why->second.code()));
            r->set_reason(why->second.message());
          } else {
            r->set_outcome(v1::RecordResult::CONFLICT);
          }
          continue;
        }
        r->set_outcome(loc->height > committed_above ? v1::RecordResult::COMMITTED
                                                     : v1::RecordResult::DUPLICATE);
        r->set_height(loc->height);
        r->set_index(loc->index);
      }
      w->done(std::move(resp));
      pending_.fetch_sub(1);
    }
    waiters_.erase(it);
  }
}

void SubmissionWaiters::Reject(const std::vector<Bytes>& ids, const std::vector<Status>& errors) {
  for (size_t i = 0; i < ids.size() && i < errors.size(); ++i) {
    auto it = waiters_.find(ids[i]);
    if (it == waiters_.end()) continue;
    for (auto& w : it->second) {
      w->done(errors[i].Annotate("refused when ordered"));
      pending_.fetch_sub(1);
    }
    waiters_.erase(it);
  }
}

void SubmissionWaiters::Expire(uint64_t now_ms, uint32_t timeout_ms) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto& ws = it->second;
    for (auto wi = ws.begin(); wi != ws.end();) {
      if ((*wi)->deadline_ms <= now_ms) {
        (*wi)->done(DeadlineExceededError(
            "not committed within " + std::to_string(timeout_ms) +
            " ms (view change or overload); resend: records already written are answered "
            "as duplicates with their location"));
        pending_.fetch_sub(1);
        wi = ws.erase(wi);
      } else {
        ++wi;
      }
    }
    it = ws.empty() ? waiters_.erase(it) : std::next(it);
  }
}

void SubmissionWaiters::ForEachWaitingRequest(const std::function<void(const Bytes&)>& fn) const {
  for (const auto& [id, ws] : waiters_) {
    if (!ws.empty()) fn(ws.front()->request);
  }
}

void SubmissionWaiters::Track(const Bytes& request_id, Bytes record_ids) {
  const size_t n = record_ids.size() / 32;
  if (!tracked_.emplace(request_id, std::move(record_ids)).second) return;
  tracked_records_ += n;
  tracked_fifo_.push_back(request_id);
  constexpr size_t kMaxTrackedRecords = 1 << 20;
  while (tracked_records_ > kMaxTrackedRecords && !tracked_fifo_.empty()) {
    auto it = tracked_.find(tracked_fifo_.front());
    tracked_fifo_.pop_front();
    if (it == tracked_.end()) continue;
    tracked_records_ -= it->second.size() / 32;
    tracked_.erase(it);
  }
  if (tracked_fifo_.size() > 4 * tracked_.size() + 1024) {  // drop ids erased meanwhile
    std::deque<Bytes> live;
    for (auto& id : tracked_fifo_) {
      if (tracked_.count(id) > 0) live.push_back(std::move(id));
    }
    tracked_fifo_.swap(live);
  }
}

void SubmissionWaiters::Untrack(const std::vector<Bytes>& request_ids) {
  for (const auto& id : request_ids) {
    auto it = tracked_.find(id);
    if (it == tracked_.end()) continue;
    tracked_records_ -= it->second.size() / 32;
    tracked_.erase(it);
  }
}

bool SubmissionWaiters::AllOnChain(ByteView record_ids) const {
  for (size_t off = 0; off + 32 <= record_ids.size(); off += 32) {
    auto stored = store_->Contains(record_ids.substr(off, 32));
    if (!stored.ok() || !*stored) return false;  // unreadable counts as not (yet) on the chain
  }
  return !record_ids.empty();
}

std::vector<Bytes> SubmissionWaiters::SettleTracked() {
  std::vector<Bytes> done;
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    if (!AllOnChain(it->second)) {
      ++it;
      continue;
    }
    done.push_back(it->first);
    tracked_records_ -= it->second.size() / 32;
    it = tracked_.erase(it);
  }
  return done;
}

}  // namespace provledger::node
