#include "mqtt-bridge/bridge_metrics.h"

namespace provledger::bridge {

BridgeMetrics& Metrics() {
  static BridgeMetrics* m = [] {
    metrics::Registry& r = metrics::DefaultRegistry();
    return new BridgeMetrics{
        r.AddCounterFamily("provledger_bridge_refusals_total",
                           "Device messages refused by this bridge and answered with an error, "
                           "by the error's wire code.",
                           {"code"}),
        r.AddCounterFamily("provledger_bridge_ledger_refusals_total",
                           "Readings the ledger refused for good (answered to the device and "
                           "dropped), by status code.",
                           {"code"}),
        r.AddCounter("provledger_bridge_sessions_agreed_total",
                     "Session keys agreed with devices (key requests accepted)."),
        r.AddGauge("provledger_bridge_session_devices",
                   "Devices with session state (a current or replaced session) on this bridge."),
        r.AddHistogram("provledger_bridge_submit_latency_seconds",
                       "Seconds one Submit of a gateway-signed batch to the ledger took "
                       "(answered or failed).",
                       metrics::LatencyBuckets()),
    };
  }();
  return *m;
}

void CountRefusal(device_protocol::DeviceError error) {
  Metrics().refusals.With({std::string(device_protocol::DeviceErrorCode(error))}).Inc();
}

}  // namespace provledger::bridge
