// device_sim --integrity_report: publishes one integrity report (PROTOCOL.md section 7) for
// one device, in MAC mode (agreeing a session first) or signature mode, and waits for the
// bridge's answer: the verdict on integrity/verdict, or a refusal on integrity/error,
// unauth or forbidden. A test aid until the agent publishes reports itself.
//
// Thread rules: call from main; blocks until the answer or the timeout.
#ifndef PROVLEDGER_TOOLS_DEVICE_SIM_REPORT_SENDER_H_
#define PROVLEDGER_TOOLS_DEVICE_SIM_REPORT_SENDER_H_

#include <string>

#include "common/signer.h"
#include "common/status.h"
#include "tools/device_sim/sim_options.h"

namespace provledger::device_sim {

struct ReportAnswer {
  std::string topic;        // where the answer came
  std::string payload;      // the answer's JSON, as received
  bool verdict = false;     // on integrity/verdict
  uint64_t seq = 0;         // the report's pl-seq
  uint64_t latency_ms = 0;  // publish -> answer
};

// Publishes `report` (the payload, sent as is) for device o.DeviceName(0) with `key`, with
// seq o.seq_start (default: the clock in microseconds). kDeadlineExceeded when no answer
// came within o.ack_timeout_ms; kUnavailable when the broker cannot be reached; the key
// agreement's errors in MAC mode.
StatusOr<ReportAnswer> SendIntegrityReport(const SimOptions& o, const Signer& key,
                                           const std::string& report);

}  // namespace provledger::device_sim

#endif  // PROVLEDGER_TOOLS_DEVICE_SIM_REPORT_SENDER_H_
