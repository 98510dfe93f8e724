// BatchCut: when the bridge sends the outbox's next batch to the ledger (self-clocking, like
// Nagle's algorithm or a group commit). A batch leaves at once when no other batch is with
// the ledger, or when it is full (a size cap of the submitter is reached). Otherwise it keeps
// filling until a submission is answered; only if the one batch in flight takes longer than
// `max_delay_ms` (from the first waiting entry's arrival, or from the previous batch's
// leaving if entries remained then) does a second short batch leave beside it, and never a
// third. So an idle bridge sends each reading at once, and under load one batch holds what
// arrived during the previous round trip: batches grow with the load and few are in flight,
// which spares the ledger per-batch and per-block work. Full batches are not held back.
//
// Thread rules: not thread-safe; the submitter calls it under its own lock.
#ifndef PROVLEDGER_MQTT_BRIDGE_BATCH_CUT_H_
#define PROVLEDGER_MQTT_BRIDGE_BATCH_CUT_H_

#include <cstddef>
#include <cstdint>

namespace provledger::bridge {

class BatchCut {
 public:
  // `max_delay_ms`: the longest a short batch waits while one other is in flight (0: never
  // waits, every batch leaves at once).
  explicit BatchCut(uint32_t max_delay_ms) : max_delay_ms_(max_delay_ms) {}

  // Entries arrived at `now_ms` (steady clock): the wait of the oldest starts here if none
  // was waiting.
  void Arrived(uint64_t now_ms) {
    if (since_ms_ == 0) since_ms_ = now_ms;
  }
  // Entries wait beyond what is in flight; `full`: they fill a batch to a size cap. Returns
  // 0 when a batch should leave now, else the milliseconds to wait at most before asking
  // again (an answer or an arrival may end the wait earlier).
  uint64_t Decide(bool full, uint64_t now_ms);
  // A batch left at `now_ms`; `remaining`: entries still wait beyond it.
  void Cut(bool remaining, uint64_t now_ms);
  // The ledger answered a batch that Cut() counted (it is no longer in flight).
  void Answered() {
    if (in_flight_ > 0) --in_flight_;
  }
  size_t in_flight() const { return in_flight_; }

  // Short batches in flight at most (the second only after max_delay_ms).
  static constexpr size_t kMaxShortInFlight = 2;

 private:
  const uint32_t max_delay_ms_;
  size_t in_flight_ = 0;
  uint64_t since_ms_ = 0;  // arrival of the oldest entry not in a batch; 0: none
};

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_BATCH_CUT_H_
