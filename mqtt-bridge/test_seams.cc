#include "mqtt-bridge/test_seams.h"

#include <atomic>

namespace provledger::bridge::test_seams {
namespace {
std::atomic<DropReadingFn> drop_reading{nullptr};
std::atomic<ConsumerSeamFn> consumer_seam{nullptr};
}  // namespace

void SetDropReading(DropReadingFn fn) { drop_reading.store(fn); }

bool DropReading(const std::string& device, const std::string& item, uint64_t seq) {
  DropReadingFn fn = drop_reading.load(std::memory_order_relaxed);
  return fn != nullptr && fn(device, item, seq);
}

void SetConsumerSeam(ConsumerSeamFn fn) { consumer_seam.store(fn); }

void ConsumerSeam(ConsumerPhase phase, uint64_t messages) {
  ConsumerSeamFn fn = consumer_seam.load(std::memory_order_relaxed);
  if (fn != nullptr) fn(phase, messages);
}

}  // namespace provledger::bridge::test_seams
