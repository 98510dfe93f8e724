#include "node/test_seams.h"

#include <atomic>

namespace provledger::node::test_seams {
namespace {
std::atomic<OutgoingFn> outgoing{nullptr};
std::atomic<ServedBlockFn> served_block{nullptr};
}  // namespace

void SetOutgoing(OutgoingFn fn) { outgoing.store(fn); }

OutgoingFn GetOutgoing() { return outgoing.load(std::memory_order_relaxed); }

void SetServedBlock(ServedBlockFn fn) { served_block.store(fn); }

ServedBlockFn GetServedBlock() { return served_block.load(std::memory_order_relaxed); }

}  // namespace provledger::node::test_seams
