// mqtt_bridge: verifies device readings published to an MQTT v5 broker (PROTOCOL.md 1-5),
// records them on the ledger through gateway-signed batches, and answers the devices once
// their readings are committed.
//
// Flags are Abseil flags (defaults on the definitions, --flagfile=FILE); --config=FILE (a
// JSON object of the same names) keeps working, the command line winning over it.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/process.h"
#include "mqtt-bridge/bridge.h"

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
ABSL_FLAG(uint64_t, batch_timeout_ms, 10, "wait this long for a batch to fill");
ABSL_FLAG(uint64_t, inbox_capacity, 200000, "messages between Paho and the verifier");
ABSL_FLAG(uint64_t, inbox_capacity_bytes, 268435456, "... and their bytes");
ABSL_FLAG(uint64_t, submit_workers, 4, "batches in flight towards the ledger");
ABSL_FLAG(uint64_t, registry_refresh_ms, 1000, "registry refresh period");
ABSL_FLAG(uint64_t, stats_interval_ms, 10000, "bridge_stats log period");
ABSL_FLAG(uint64_t, drain_timeout_ms, 10000, "on stop: settle the outbox and answers this long");
ABSL_FLAG(bool, intake_sync, true, "sync a reading to disk before its PUBACK");
ABSL_FLAG(bool, publish_firmware, true,
          "publish recorded firmware manifests retained on update/code (docs/FIRMWARE.md)");
ABSL_FLAG(uint64_t, submit_timeout_ms, 6000,
          "deadline of one batch on one node (~3x the nodes' --view_change_timeout_ms)");
ABSL_FLAG(uint64_t, read_timeout_ms, 2000, "deadline of a read on one node");
ABSL_FLAG(std::string, client_id, "", "MQTT client id (default pl-bridge-<gateway>)");
ABSL_FLAG(std::string, config, "", "FILE.json: an object of these flag names; flags win");
ABSL_FLAG(std::string, log_level, "info", "debug|info|warn");

namespace provledger::bridge {
namespace {

const std::vector<std::string> kFlagOrder = {"gateway_id",
                                             "gateway_key",
                                             "nodes",
                                             "data_dir",
                                             "broker",
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
                                             "publish_firmware",
                                             "submit_timeout_ms",
                                             "read_timeout_ms",
                                             "client_id",
                                             "config",
                                             "log_level"};

Status Run(int argc, char** argv) {
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
  PL_ASSIGN_OR_RETURN(o.drain_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_drain_timeout_ms, "drain_timeout_ms"));
  o.intake_sync = absl::GetFlag(FLAGS_intake_sync);
  o.publish_firmware = absl::GetFlag(FLAGS_publish_firmware);
  for (const auto& p : absl::GetFlag(FLAGS_policy)) {
    PL_RETURN_IF_ERROR(ParsePolicySpec(p, &o.policies));
  }
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(key_path));

  PL_ASSIGN_OR_RETURN(auto bridge, Bridge::Start(std::move(o), std::move(key)));
  RunUntilStopSignal(nullptr);
  bridge->Stop();  // logs bridge_stopping once it takes no more messages, then drains
  bridge.reset();
  return OkStatus();
}

}  // namespace
}  // namespace provledger::bridge

int main(int argc, char** argv) {
  provledger::Status s = provledger::bridge::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "mqtt_bridge: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
