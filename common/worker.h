// Worker: the one place a std::thread is started. Starts in its constructor; its destructor
// sets the stop flag and joins. The body polls stopping() and returns when it is set.
//
// Thread rules: construct and destroy from the owning thread; stopping() from the body.
#ifndef PROVLEDGER_COMMON_WORKER_H_
#define PROVLEDGER_COMMON_WORKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>

namespace provledger {

class Worker {
 public:
  // Runs body(*this) on a new thread named `name` (for logs and debuggers).
  Worker(std::string name, std::function<void(Worker&)> body)
      : name_(std::move(name)), thread_([this, b = std::move(body)] { b(*this); }) {}
  ~Worker() { Stop(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Asks the body to return, then joins. Idempotent.
  void Stop() {
    stop_.store(true);
    if (on_stop_) on_stop_();
    if (thread_.joinable()) thread_.join();
  }
  bool stopping() const { return stop_.load(); }
  // From the body: sleeps `ms`, waking every 50 ms to return early once stopping() is set.
  void Sleep(uint64_t ms) const {
    for (uint64_t slept = 0; slept < ms && !stopping(); slept += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // A hook run by Stop() before joining, to wake a body blocked on a condition variable.
  void set_on_stop(std::function<void()> f) { on_stop_ = std::move(f); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::atomic<bool> stop_{false};
  std::function<void()> on_stop_;
  std::thread thread_;
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_WORKER_H_
