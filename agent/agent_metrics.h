// The integrity agent's metrics (docs/OPERATIONS.md "Metrics"), in
// metrics::DefaultRegistry() from the first call; integrity_agent --metrics_listen serves
// them.
#ifndef PROVLEDGER_AGENT_AGENT_METRICS_H_
#define PROVLEDGER_AGENT_AGENT_METRICS_H_

#include "common/metrics.h"

namespace provledger::agent {

struct AgentMetrics {
  // Report publications (first sends and resends).
  metrics::Counter& reports_sent;
  // Reports settled, by outcome: appraised (a verdict came back) or dropped (refused for
  // good).
  metrics::Family<metrics::Counter>& reports_settled;
  // Measurements (log entries) in reports the bridge appraised.
  metrics::Counter& measurements;
  // Things that went wrong and were retried or reported, by what (publish_failed,
  // report_unanswered, report_refused, key_refused, list_unreadable).
  metrics::Family<metrics::Counter>& failures;
  // Session keys agreed with the bridge.
  metrics::Counter& sessions_agreed;
};

// Any thread; registers on the first call.
AgentMetrics& Metrics();

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_AGENT_METRICS_H_
