#include "agent/agent_metrics.h"

namespace provledger::agent {

AgentMetrics& Metrics() {
  static AgentMetrics* m = [] {
    metrics::Registry& r = metrics::DefaultRegistry();
    return new AgentMetrics{
        r.AddCounter("provledger_agent_reports_sent_total",
                     "Integrity report publications to the bridge (first sends and resends)."),
        r.AddCounterFamily("provledger_agent_reports_total",
                           "Integrity reports settled, by outcome (appraised: the bridge "
                           "answered a verdict; dropped: refused for good).",
                           {"outcome"}),
        r.AddCounter("provledger_agent_measurements_total",
                     "Measurements (log entries) in reports the bridge appraised."),
        r.AddCounterFamily("provledger_agent_failures_total",
                           "Failures the agent retried or reported, by kind (publish_failed, "
                           "report_unanswered, report_refused, key_refused, list_unreadable).",
                           {"kind"}),
        r.AddCounter("provledger_agent_sessions_agreed_total",
                     "Session keys agreed with the bridge."),
    };
  }();
  static const bool zeroed = [] {  // both outcomes show from the first scrape, at 0
    m->reports_settled.With({"appraised"});
    m->reports_settled.With({"dropped"});
    return true;
  }();
  (void)zeroed;
  return *m;
}

}  // namespace provledger::agent
