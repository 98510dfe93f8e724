// mqtt_bridge: verifies device readings published to an MQTT v5 broker (PROTOCOL.md 1-5),
// records them on the ledger through gateway-signed batches, and answers the devices once
// their readings are committed.
//
// Flags are Abseil flags (defaults on the definitions, --flagfile=FILE); --config=FILE (a
// JSON object of the same names) keeps working, the command line winning over it.
//
// Exit codes: 0 stopped on SIGTERM/SIGINT; 1 bad flags or files, or the bridge could not
// start; 2 the --metrics_listen port is taken or cannot be bound (ev=listen_failed).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "client/transport_security.h"
#include "common/command_line.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/metrics_server.h"
#include "common/mqtt_flags.h"
#include "common/process.h"
#include "mqtt-bridge/bridge.h"
#include "mqtt-bridge/bridge_metrics.h"

ABSL_FLAG(std::string, gateway_id, "", "this bridge's registered gateway id (required)");
ABSL_FLAG(std::string, gateway_key, "", "the gateway's private key FILE (required)");
ABSL_FLAG(std::string, nodes, "",
          "ledger node addresses HOST:PORT[,...], failover in order (required)");
ABSL_FLAG(std::string, data_dir, "", "DIR of the intake and outbox (required)");
ABSL_FLAG(std::string, broker, "tcp://127.0.0.1:1883", "MQTT broker URI");
ABSL_FLAG(std::string, topic_prefix, "devices", "topic prefix");
ABSL_FLAG(std::string, share_group, "", "subscribe through $share/NAME/... (several bridges)");
ABSL_FLAG(std::string, share_secret, "",
          "KEYFILE, the same on every bridge of the group: MAC sessions are shared");
ABSL_FLAG(std::vector<std::string>, policy, {},
          "write policy ITEM:all|ITEM:periodic:MS|ITEM:change:THRESHOLD (repeatable)");
ABSL_FLAG(uint64_t, max_payload_bytes, 1048576, "largest payload accepted");
ABSL_FLAG(uint64_t, clock_window_ms, 300000, "|device ts - bridge clock| above this is stale");
ABSL_FLAG(uint64_t, session_lifetime_ms, 86400000, "session key lifetime");
ABSL_FLAG(uint64_t, grace_ms, 10000, "MACs under a replaced session are accepted this long");
ABSL_FLAG(uint64_t, replay_window, 1024, "replay window width (seqs)");
ABSL_FLAG(bool, quarantine, true, "refuse readings of untrusted devices with quarantined");
ABSL_FLAG(uint64_t, max_batch_records, 1000, "records per submitted batch");
ABSL_FLAG(uint64_t, max_batch_bytes, 16777216, "bytes per submitted batch (>= 1 record)");
ABSL_FLAG(uint64_t, batch_timeout_ms, 100,
          "a short batch waits at most this long for the batch in flight to be answered");
ABSL_FLAG(uint64_t, inbox_capacity, 200000, "messages between the MQTT client and the verifier");
ABSL_FLAG(uint64_t, inbox_capacity_bytes, 268435456, "... and their bytes");
ABSL_FLAG(uint64_t, submit_workers, 4, "batches in flight towards the ledger, at most");
ABSL_FLAG(uint64_t, registry_refresh_ms, 1000, "registry refresh period");
ABSL_FLAG(uint64_t, stats_interval_ms, 10000, "bridge_stats log period");
ABSL_FLAG(uint64_t, drain_timeout_ms, 10000, "on stop: settle the outbox and answers this long");
ABSL_FLAG(bool, intake_sync, true, "sync a reading to disk before its PUBACK");
ABSL_FLAG(std::string, mqtt_consumer, "acked",
          "acked: PUBACKs after each batch's intake write (one sync per batch); library: "
          "libmosquitto's, PUBACK before the write (one sync per reading; for one release)");
ABSL_FLAG(bool, publish_firmware, true,
          "publish recorded firmware manifests retained on update/code (docs/FIRMWARE.md)");
ABSL_FLAG(uint64_t, submit_timeout_ms, 6000,
          "deadline of one batch on one node (~3x the nodes' --view_change_timeout_ms)");
ABSL_FLAG(uint64_t, read_timeout_ms, 2000, "deadline of a read on one node");
ABSL_FLAG(uint64_t, startup_timeout_ms, 30000,
          "at start, wait this long for a node to answer and for --gateway_id to be registered "
          "on one of --nodes (a node may not have applied a new registration yet; NOT_FOUND, "
          "UNAVAILABLE and DEADLINE_EXCEEDED are retried with backoff, a line on stderr per "
          "try), then exit 1 naming what each node said; PERMISSION_DENIED exits at once");
ABSL_FLAG(std::string, client_id, "", "MQTT client id (default pl-bridge-<gateway>)");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on at /metrics (default: none; a port in use "
          "exits 2)");
ABSL_FLAG(std::string, config, "", "FILE.json: an object of these flag names; flags win");
ABSL_FLAG(std::string, log_level, "info", "debug|info|warn");

namespace provledger::bridge {
namespace {

const std::vector<std::string> kFlagOrder = {"gateway_id",
                                             "gateway_key",
                                             "nodes",
                                             "data_dir",
                                             "broker",
                                             "broker_ca",
                                             "broker_cert",
                                             "broker_key",
                                             "broker_user",
                                             "broker_password_file",
                                             "topic_prefix",
                                             "share_group",
                                             "share_secret",
                                             "policy",
                                             "max_payload_bytes",
                                             "clock_window_ms",
                                             "session_lifetime_ms",
                                             "grace_ms",
                                             "replay_window",
                                             "quarantine",
                                             "max_batch_records",
                                             "max_batch_bytes",
                                             "batch_timeout_ms",
                                             "inbox_capacity",
                                             "inbox_capacity_bytes",
                                             "submit_workers",
                                             "registry_refresh_ms",
                                             "stats_interval_ms",
                                             "drain_timeout_ms",
                                             "intake_sync",
                                             "mqtt_consumer",
                                             "publish_firmware",
                                             "submit_timeout_ms",
                                             "read_timeout_ms",
                                             "startup_timeout_ms",
                                             "client_id",
                                             "metrics_listen",
                                             "tls_ca",
                                             "tls_cert",
                                             "tls_key",
                                             "insecure",
                                             "config",
                                             "log_level"};

constexpr int kExitListenFailed = 2;

// The counts the bridge keeps (BridgeStats) as metrics, read at each scrape.
std::unique_ptr<metrics::ScopedCallbacks> RegisterBridgeStats(const Bridge* b) {
  (void)Metrics();  // the instrumented families show from the first scrape
  auto cb = std::make_unique<metrics::ScopedCallbacks>(&metrics::DefaultRegistry());
  struct Stat {
    const char* name;
    const char* help;
    uint64_t BridgeStats::*field;
  };
  static const Stat kCounters[] = {
      {"provledger_bridge_received_total", "MQTT messages received from the broker (readings in).",
       &BridgeStats::received},
      {"provledger_bridge_accepted_total", "Messages verified and queued for the ledger.",
       &BridgeStats::accepted},
      {"provledger_bridge_refused_total", "Messages refused and answered with an error.",
       &BridgeStats::refused},
      {"provledger_bridge_skipped_total", "Readings left off the ledger by the write policy.",
       &BridgeStats::skipped},
      {"provledger_bridge_ignored_total",
       "Messages ignored without an answer (retained, invalid topic, broker resends).",
       &BridgeStats::ignored},
      {"provledger_bridge_dropped_total", "Messages refused because the inbox was full.",
       &BridgeStats::dropped},
      {"provledger_bridge_committed_total",
       "Records the ledger confirmed (committed or already there): readings out.",
       &BridgeStats::committed},
      {"provledger_bridge_submit_errors_total", "Failed Submit calls to the ledger (retried).",
       &BridgeStats::submit_errors},
      {"provledger_bridge_ledger_refused_total", "Readings the ledger refused for good.",
       &BridgeStats::ledger_refused},
      {"provledger_bridge_shared_sessions_total",
       "Sessions installed from other bridges of the share group.", &BridgeStats::shared_sessions},
      {"provledger_bridge_appraised_total", "Integrity reports appraised.",
       &BridgeStats::appraised},
      {"provledger_bridge_answers_not_queued_total",
       "Answers the full answer queue did not take (logged).", &BridgeStats::answers_not_queued},
      {"provledger_bridge_answers_refused_total",
       "Answers the broker refused (PUBACK >= 0x80, e.g. its ACL): settled, not sent again.",
       &BridgeStats::answers_refused},
  };
  for (const Stat& st : kCounters) {
    cb->Add(st.name, st.help, metrics::MetricType::kCounter,
            [b, f = st.field] { return static_cast<double>(b->stats().*f); });
  }
  cb->Add("provledger_bridge_outbox_depth",
          "Readings accepted and not yet confirmed by the ledger (the outbox).",
          metrics::MetricType::kGauge, [b] { return static_cast<double>(b->stats().outbox); });
  return cb;
}

Status Run(int argc, char** argv, int* exit_code) {
  PL_ASSIGN_OR_RETURN(bool run, ReadDaemonCommandLine(argc, argv,
                                                      "usage: mqtt_bridge --gateway_id=ID "
                                                      "--gateway_key=FILE --nodes=HOST:PORT[,...] "
                                                      "--data_dir=DIR [flags]\n",
                                                      kFlagOrder, {"policy"}));
  if (!run) return OkStatus();
  PL_RETURN_IF_ERROR(SetLogLevelByName(absl::GetFlag(FLAGS_log_level)));
  BridgeOptions o;
  PL_ASSIGN_OR_RETURN(o.gateway_id, Require(FLAGS_gateway_id));
  SetLogContext("bridge", o.gateway_id);
  PL_ASSIGN_OR_RETURN(std::string key_path, Require(FLAGS_gateway_key));
  PL_ASSIGN_OR_RETURN(std::string nodes, Require(FLAGS_nodes));
  o.nodes = SplitFlagList(nodes);
  PL_ASSIGN_OR_RETURN(o.data_dir, Require(FLAGS_data_dir));
  o.broker_uri = absl::GetFlag(FLAGS_broker);
  PL_ASSIGN_OR_RETURN(o.broker_security, BrokerSecurityFromFlags());
  PL_RETURN_IF_ERROR(client::ConfigureTransportFromFlags("mqtt_bridge"));
  o.share_group = absl::GetFlag(FLAGS_share_group);
  if (!absl::GetFlag(FLAGS_share_secret).empty()) {
    // A key file (ledgerctl keygen), the same on every bridge of the group, mode 0600.
    PL_ASSIGN_OR_RETURN(PrivateKey secret, ReadKeyFile(absl::GetFlag(FLAGS_share_secret)));
    o.share_secret = secret.secret();
  }
  o.client_id = absl::GetFlag(FLAGS_client_id);
  o.verifier.topic_prefix = absl::GetFlag(FLAGS_topic_prefix);
  PL_ASSIGN_OR_RETURN(o.verifier.max_payload_bytes,
                      NarrowFlag<size_t>(FLAGS_max_payload_bytes, "max_payload_bytes"));
  o.verifier.clock_window_ms = absl::GetFlag(FLAGS_clock_window_ms);
  o.sessions.clock_window_ms = o.verifier.clock_window_ms;
  o.sessions.session_lifetime_ms = absl::GetFlag(FLAGS_session_lifetime_ms);
  o.sessions.grace_ms = absl::GetFlag(FLAGS_grace_ms);
  PL_ASSIGN_OR_RETURN(o.verifier.replay_window,
                      NarrowFlag<uint32_t>(FLAGS_replay_window, "replay_window"));
  o.verifier.quarantine = absl::GetFlag(FLAGS_quarantine);
  PL_ASSIGN_OR_RETURN(o.max_batch_records,
                      NarrowFlag<size_t>(FLAGS_max_batch_records, "max_batch_records"));
  PL_ASSIGN_OR_RETURN(o.max_batch_bytes,
                      NarrowFlag<size_t>(FLAGS_max_batch_bytes, "max_batch_bytes"));
  PL_ASSIGN_OR_RETURN(o.inbox_capacity, NarrowFlag<size_t>(FLAGS_inbox_capacity, "inbox_capacity"));
  PL_ASSIGN_OR_RETURN(o.inbox_capacity_bytes,
                      NarrowFlag<size_t>(FLAGS_inbox_capacity_bytes, "inbox_capacity_bytes"));
  PL_ASSIGN_OR_RETURN(o.batch_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_batch_timeout_ms, "batch_timeout_ms"));
  PL_ASSIGN_OR_RETURN(o.submit_workers, NarrowFlag<size_t>(FLAGS_submit_workers, "submit_workers"));
  PL_ASSIGN_OR_RETURN(o.registry_refresh_ms,
                      NarrowFlag<uint32_t>(FLAGS_registry_refresh_ms, "registry_refresh_ms"));
  PL_ASSIGN_OR_RETURN(o.stats_interval_ms,
                      NarrowFlag<uint32_t>(FLAGS_stats_interval_ms, "stats_interval_ms"));
  PL_ASSIGN_OR_RETURN(o.submit_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_submit_timeout_ms, "submit_timeout_ms"));
  PL_ASSIGN_OR_RETURN(o.read_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_read_timeout_ms, "read_timeout_ms"));
  PL_ASSIGN_OR_RETURN(o.startup_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_startup_timeout_ms, "startup_timeout_ms"));
  PL_ASSIGN_OR_RETURN(o.drain_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_drain_timeout_ms, "drain_timeout_ms"));
  o.intake_sync = absl::GetFlag(FLAGS_intake_sync);
  const std::string consumer = absl::GetFlag(FLAGS_mqtt_consumer);
  if (consumer == "acked") {
    o.consumer = BridgeOptions::Consumer::kAcked;
  } else if (consumer == "library") {
    o.consumer = BridgeOptions::Consumer::kLibrary;
  } else {
    return InvalidArgumentError("--mqtt_consumer must be acked or library, not '" + consumer + "'");
  }
  o.publish_firmware = absl::GetFlag(FLAGS_publish_firmware);
  for (const auto& p : absl::GetFlag(FLAGS_policy)) {
    PL_RETURN_IF_ERROR(ParsePolicySpec(p, &o.policies));
  }
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(key_path));
  // Before the bridge starts: a metrics port in use stops it at once.
  auto metrics_server = metrics::StartMetricsServer(absl::GetFlag(FLAGS_metrics_listen));
  if (!metrics_server.ok()) {
    *exit_code = kExitListenFailed;
    return metrics_server.status();
  }

  PL_ASSIGN_OR_RETURN(auto bridge, Bridge::Start(std::move(o), std::move(key)));
  auto stats_metrics = RegisterBridgeStats(bridge.get());
  RunUntilStopSignal(nullptr);
  stats_metrics.reset();
  bridge->Stop();  // logs bridge_stopping once it takes no more messages, then drains
  bridge.reset();
  return OkStatus();
}

}  // namespace
}  // namespace provledger::bridge

int main(int argc, char** argv) {
  int exit_code = 1;
  provledger::Status s = provledger::bridge::Run(argc, argv, &exit_code);
  if (!s.ok()) {
    std::fprintf(stderr, "mqtt_bridge: %s\n", s.ToString().c_str());
    return exit_code;
  }
  return 0;
}
