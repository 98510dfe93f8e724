#include "node/test_seams.h"

#include <atomic>

namespace provledger::node::test_seams {
namespace {
std::atomic<OutgoingFn> outgoing{nullptr};
}  // namespace

void SetOutgoing(OutgoingFn fn) { outgoing.store(fn); }

OutgoingFn GetOutgoing() { return outgoing.load(std::memory_order_relaxed); }

}  // namespace provledger::node::test_seams
