// Liveness only: when to give up on the current view. Counts ticks; the timeout doubles
// with each view change that did not lead to a committed block (exponential backoff).
//
// Owner: PbftCore (one per core). Thread rules: not thread-safe, used by the core's owner.
#ifndef PROVLEDGER_CONSENSUS_VIEW_TIMER_H_
#define PROVLEDGER_CONSENSUS_VIEW_TIMER_H_

#include <algorithm>
#include <cstdint>

namespace provledger {
namespace consensus {

class ViewTimer {
 public:
  // `base_ticks` is the first timeout; backoff stops doubling after `max_shift` doublings.
  explicit ViewTimer(uint64_t base_ticks, uint32_t max_shift = 6)
      : base_(std::max<uint64_t>(base_ticks, 1)), max_shift_(max_shift) {}

  // Arms the timer at tick `now` unless it is already armed.
  void Start(uint64_t now) {
    if (!armed_) Restart(now);
  }
  // Arms the timer afresh at tick `now`.
  void Restart(uint64_t now) {
    armed_ = true;
    deadline_ = now + timeout();
  }
  void Stop() { armed_ = false; }
  bool armed() const { return armed_; }
  // True when armed and `now` reached the deadline.
  bool Expired(uint64_t now) const { return armed_ && now >= deadline_; }
  // Doubles the next timeouts (a view change started); progress undoes it.
  void Backoff() { shift_ = std::min(shift_ + 1, max_shift_); }
  void ResetBackoff() { shift_ = 0; }
  uint64_t timeout() const { return base_ << shift_; }

 private:
  uint64_t base_;
  uint32_t max_shift_;
  uint32_t shift_ = 0;
  bool armed_ = false;
  uint64_t deadline_ = 0;
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_VIEW_TIMER_H_
