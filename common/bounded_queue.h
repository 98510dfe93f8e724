// BoundedQueue: a FIFO between threads bounded in items and in bytes. Producers never grow
// it past either bound: Push refuses with kResourceExhausted (at once, or after waiting for
// room up to a deadline), so the caller decides what a full queue means (answer the sender,
// count, slow down). Consumers pop one item or a batch, waiting up to a timeout. Close()
// ends it: pushes are refused, pops drain what is left and then return nothing at once.
//
// An item's bytes are size_of(item), taken once when it is pushed. An item larger than
// max_bytes never fits.
//
// Thread rules: thread-safe; any number of producers and consumers. size_of is called
// under the queue's lock and must not call back into the queue.
#ifndef PROVLEDGER_COMMON_BOUNDED_QUEUE_H_
#define PROVLEDGER_COMMON_BOUNDED_QUEUE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "common/status.h"

namespace provledger {

template <typename T>
class BoundedQueue {
 public:
  using SizeOf = std::function<size_t(const T&)>;

  // max_items and max_bytes must be > 0.
  BoundedQueue(size_t max_items, size_t max_bytes, SizeOf size_of)
      : max_items_(max_items), max_bytes_(max_bytes), size_of_(std::move(size_of)) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Appends `item` when there is room for one more item and its bytes, waiting up to `wait`
  // for room (zero: never waits). OK: `item` was moved from. kResourceExhausted when still
  // full, kFailedPrecondition once closed: `item` is left untouched for the caller.
  Status Push(T& item, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    const size_t bytes = size_of_(item);
    std::unique_lock<std::mutex> lock(mu_);
    auto fits = [&] {
      return closed_ || (items_.size() < max_items_ && bytes_ + bytes <= max_bytes_);
    };
    if (!fits() && wait.count() > 0 && bytes <= max_bytes_) room_.wait_for(lock, wait, fits);
    if (closed_) return FailedPreconditionError("queue closed");
    if (items_.size() >= max_items_ || bytes_ + bytes > max_bytes_) {
      return ResourceExhaustedError("queue full");
    }
    bytes_ += bytes;
    items_.push_back(Entry{std::move(item), bytes});
    lock.unlock();
    ready_.notify_one();
    return OkStatus();
  }
  Status Push(T&& item, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    return Push(item, wait);
  }

  // Whether an item of `bytes` would fit now (a hint unless the caller is the only
  // producer, as the bridge's MQTT callback is for its inbox).
  bool HasRoom(size_t bytes) const { return HasRoom(1, bytes); }
  // Whether `items` more items of `bytes` together would fit now (a hint, as above).
  bool HasRoom(size_t items, size_t bytes) const {
    std::lock_guard<std::mutex> lock(mu_);
    return !closed_ && items_.size() + items <= max_items_ && bytes_ + bytes <= max_bytes_;
  }

  // Removes the oldest item, waiting up to `timeout` for one. nullopt on timeout, or at
  // once when closed and empty.
  std::optional<T> Pop(std::chrono::milliseconds timeout) {
    std::vector<T> one;
    if (PopBatch(1, timeout, &one) == 0) return std::nullopt;
    return std::move(one.front());
  }

  // Appends up to `max_items` of the oldest items to `out`, waiting up to `timeout` for the
  // first. Returns how many were appended (0 on timeout, or at once when closed and empty).
  size_t PopBatch(size_t max_items, std::chrono::milliseconds timeout, std::vector<T>* out) {
    size_t n = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ready_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
      while (!items_.empty() && n < max_items) {
        bytes_ -= items_.front().bytes;
        out->push_back(std::move(items_.front().item));
        items_.pop_front();
        ++n;
      }
    }
    if (n > 0) room_.notify_all();
    return n;
  }

  // Refuses further pushes and wakes every waiter; items already queued can still be popped.
  // Idempotent.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  bool empty() const {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.empty();
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }
  size_t bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

 private:
  struct Entry {
    T item;
    size_t bytes;
  };
  const size_t max_items_;
  const size_t max_bytes_;
  const SizeOf size_of_;
  mutable std::mutex mu_;
  std::condition_variable ready_;  // an item arrived, or closed
  std::condition_variable room_;   // items left, or closed
  std::deque<Entry> items_;        // guarded by mu_
  size_t bytes_ = 0;               // guarded by mu_
  bool closed_ = false;            // guarded by mu_
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_BOUNDED_QUEUE_H_
