// The bridge's instrumented metrics (docs/OPERATIONS.md "Metrics"), registered in
// metrics::DefaultRegistry() on first use; the counts the bridge keeps anyway (BridgeStats)
// are read at each scrape instead (bridge_main.cc).
#ifndef PROVLEDGER_MQTT_BRIDGE_BRIDGE_METRICS_H_
#define PROVLEDGER_MQTT_BRIDGE_BRIDGE_METRICS_H_

#include "common/metrics.h"
#include "common/status.h"
#include "device_protocol/error_codes.h"

namespace provledger::bridge {

struct BridgeMetrics {
  // Messages refused and answered with a device error, by its wire code (malformed,
  // bad_auth, replay, ...), and readings the ledger refused for good, by status code.
  metrics::Family<metrics::Counter>& refusals;
  metrics::Family<metrics::Counter>& ledger_refusals;
  // Key agreements (sessions) made with devices.
  metrics::Counter& sessions_agreed;
  // Devices with session state (current or in grace) on this bridge.
  metrics::Gauge& session_devices;
  // Seconds one Submit of a gateway batch took (answered, or failed).
  metrics::Histogram& submit_latency;
};

// Any thread; registers on the first call.
BridgeMetrics& Metrics();
void CountRefusal(device_protocol::DeviceError error);

}  // namespace provledger::bridge

#endif  // PROVLEDGER_MQTT_BRIDGE_BRIDGE_METRICS_H_
