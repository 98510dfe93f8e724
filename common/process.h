// What every long-running program (ledger_node, mqtt_bridge) does the same way: read the
// log level flag, and run until SIGINT or SIGTERM.
//
// Thread rules: call from main only (RequestStop from any thread).
#ifndef PROVLEDGER_COMMON_PROCESS_H_
#define PROVLEDGER_COMMON_PROCESS_H_

#include <functional>
#include <string>

#include "common/status.h"

namespace provledger {

// Sets the process log level from "debug", "info", "warn" or "error". kInvalidArgument
// for anything else (the level is left unchanged).
Status SetLogLevelByName(const std::string& name);

// Sets glibc's allocator so that buffers up to 16 MiB (a large reading's payload and its
// copies: MQTT, intake, outbox, gRPC, the consensus messages and the store write) come from
// the heap and freed memory is returned to the system only above 64 MiB free at a heap's
// top. With glibc's defaults a 1 MB reading cost every ledger_node 2,000-4,000 fresh page
// faults (a freed MB trimmed from a thread's heap and faulted in again for the next);
// docs/BENCHMARKS.md, "A 1 MB reading". Call first in main. A no-op without glibc.
void TuneAllocatorForLargeBuffers();

// Installs SIGINT/SIGTERM handlers and blocks until one arrives, calling `every_100ms`
// (may be empty) about ten times a second meanwhile.
void RunUntilStopSignal(const std::function<void()>& every_100ms);

// Makes RunUntilStopSignal return as if SIGTERM had arrived (within about 100 ms). Safe from
// any thread, and from the `every_100ms` callback.
void RequestStop();

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_PROCESS_H_
