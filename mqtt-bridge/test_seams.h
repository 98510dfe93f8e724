// Test seams: hooks that only test binaries set (tests/integration:dropping_bridge links
// the bridge with one), so that the real bridge can be made to misbehave in a test without a
// flag that could ever be turned on in the field. Unset, each costs one atomic load.
//
// Thread rules: Set* before the bridge starts (a static initializer of the test binary);
// the seams are then called from the bridge's verify thread (DropReading) and its consumer
// thread (ConsumerSeam).
#ifndef PROVLEDGER_MQTT_BRIDGE_TEST_SEAMS_H_
#define PROVLEDGER_MQTT_BRIDGE_TEST_SEAMS_H_

#include <cstdint>
#include <string>

namespace provledger::bridge::test_seams {

// Asked for each reading the bridge accepted (data topics only, after the write policy):
// true makes the bridge drop it without a trace, as a dishonest gateway would (taken in and
// PUBACKed, its seq marked in the replay window, never recorded, never answered).
using DropReadingFn = bool (*)(const std::string& device, const std::string& item, uint64_t seq);
void SetDropReading(DropReadingFn fn);
// False when no seam is set.
bool DropReading(const std::string& device, const std::string& item, uint64_t seq);

// Asked by the bridge's consumer thread (--mqtt_consumer=acked) for each batch of messages it
// received: once when the batch is in hand (kReceived) and once after its intake write,
// before any of it is handed on to be verified and before its PUBACKs are sent
// (kIntakeWritten: a kill there leaves the whole batch to the intake); `messages` counts the
// messages received so far, this batch included. A test binary kills the bridge here
// (tests/integration:killing_bridge).
enum class ConsumerPhase { kReceived, kIntakeWritten };
using ConsumerSeamFn = void (*)(ConsumerPhase phase, uint64_t messages);
void SetConsumerSeam(ConsumerSeamFn fn);
// Nothing when no seam is set.
void ConsumerSeam(ConsumerPhase phase, uint64_t messages);

}  // namespace provledger::bridge::test_seams

#endif  // PROVLEDGER_MQTT_BRIDGE_TEST_SEAMS_H_
