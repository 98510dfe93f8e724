#include "node/store_writer.h"

#include <algorithm>
#include <utility>

namespace provledger::node {

StoreWriter::StoreWriter(size_t max_blocks, std::function<void()> wake)
    : max_blocks_(std::max<size_t>(1, max_blocks)), wake_(std::move(wake)) {
  worker_ = std::make_unique<Worker>("store_writer", [this](Worker& w) { Loop(w); });
  worker_->set_on_stop([this] {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  });
}

StoreWriter::~StoreWriter() { worker_.reset(); }

void StoreWriter::AppendBlock(uint64_t height, Job job) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return blocks_ < max_blocks_; });
    ++blocks_;
  }
  Push(Item{std::move(job), "apply", height, /*block=*/true});
}

void StoreWriter::Queue(const char* during, uint64_t height, Job job) {
  Push(Item{std::move(job), during, height, /*block=*/false});
}

void StoreWriter::Push(Item item) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
}

void StoreWriter::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return queue_.empty() && running_ == 0; });
}

std::vector<uint64_t> StoreWriter::TakeApplied() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  out.swap(applied_);
  return out;
}

StoreWriter::Failure StoreWriter::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

size_t StoreWriter::blocks_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return blocks_;
}

void StoreWriter::Loop(Worker& w) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return w.stopping() || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every queued job ran
    Item item = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    const bool skip = !failure_.status.ok();
    lock.unlock();
    Status s = skip ? OkStatus() : item.job();
    item.job = nullptr;  // its captures go now, outside the lock
    lock.lock();
    if (item.block) --blocks_;
    if (!skip && s.ok() && item.block) applied_.push_back(item.height);
    if (!skip && !s.ok()) failure_ = Failure{s, item.during, item.height};
    // The job counts as running until its owner is woken: a drained writer has told it of
    // every block it wrote.
    if (wake_ && (item.block || !s.ok())) {
      lock.unlock();
      wake_();
      lock.lock();
    }
    --running_;
    done_cv_.notify_all();
  }
}

}  // namespace provledger::node
