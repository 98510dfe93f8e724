#include "mqtt-bridge/batch_cut.h"

namespace provledger::bridge {

uint64_t BatchCut::Decide(bool full, uint64_t now_ms) {
  Arrived(now_ms);  // entries found without an arrival seen (left by the last run)
  if (in_flight_ == 0 || full || max_delay_ms_ == 0) return 0;
  // Two short batches with the ledger already: a third would only split what the next
  // answer lets leave as one. Ask again after a delay (an answer wakes the caller sooner).
  if (in_flight_ >= kMaxShortInFlight) return max_delay_ms_;
  const uint64_t waited = now_ms > since_ms_ ? now_ms - since_ms_ : 0;
  return waited >= max_delay_ms_ ? 0 : max_delay_ms_ - waited;
}

void BatchCut::Cut(bool remaining, uint64_t now_ms) {
  ++in_flight_;
  // What remains behind a full batch waits from now: under a backlog the next batch fills
  // during the round trip rather than leaving short at once.
  since_ms_ = remaining ? now_ms : 0;
}

}  // namespace provledger::bridge
