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

// Installs SIGINT/SIGTERM handlers and blocks until one arrives, calling `every_100ms`
// (may be empty) about ten times a second meanwhile.
void RunUntilStopSignal(const std::function<void()>& every_100ms);

// Makes RunUntilStopSignal return as if SIGTERM had arrived (within about 100 ms). Safe from
// any thread, and from the `every_100ms` callback.
void RequestStop();

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_PROCESS_H_
