// mqtt_bridge: verifies device readings published to an MQTT v5 broker (PROTOCOL.md 1-5),
// records them on the ledger through gateway-signed batches, and answers the devices once
// their readings are committed.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/flags.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/process.h"
#include "mqtt-bridge/bridge.h"

namespace provledger::bridge {
namespace {

const char kUsage[] =
    "usage: mqtt_bridge --gateway_id=ID --gateway_key=FILE --nodes=HOST:PORT[,...] --data_dir=DIR\n"
    "  [--broker=tcp://127.0.0.1:1883] [--topic_prefix=devices] [--share_group=NAME]\n"
    "  [--share_secret=KEYFILE (same on every bridge of the group: MAC sessions are shared)]\n"
    "  [--policy=ITEM:all|ITEM:periodic:MS|ITEM:change:THRESHOLD ...]\n"
    "  [--max_payload_bytes=1048576] [--clock_window_ms=300000] [--session_lifetime_ms=86400000]\n"
    "  [--grace_ms=10000] [--replay_window=1024]\n"
    "  [--max_batch_records=1000] [--max_batch_bytes=16777216] [--batch_timeout_ms=10]\n"
    "  [--inbox_capacity=200000] [--inbox_capacity_bytes=268435456] [--submit_workers=4]\n"
    "  [--registry_refresh_ms=1000] [--stats_interval_ms=10000] [--drain_timeout_ms=10000]\n"
    "  [--intake_sync=true|false]\n"
    "  [--submit_timeout_ms=6000 (~3x the nodes' --view_change_timeout_ms)]"
    " [--read_timeout_ms=2000]\n"
    "  [--client_id=ID] [--config=FILE.json] [--log_level=debug|info|warn]\n";

Status Run(int argc, char** argv) {
  std::vector<std::string> policies;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--policy=", 0) == 0) {
      policies.push_back(a.substr(9));
    } else {
      rest.push_back(argv[i]);
    }
  }
  PL_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(static_cast<int>(rest.size()), rest.data(), 1,
                                                {"gateway_id",
                                                 "gateway_key",
                                                 "nodes",
                                                 "data_dir",
                                                 "broker",
                                                 "topic_prefix",
                                                 "share_group",
                                                 "max_payload_bytes",
                                                 "clock_window_ms",
                                                 "session_lifetime_ms",
                                                 "grace_ms",
                                                 "replay_window",
                                                 "max_batch_records",
                                                 "batch_timeout_ms",
                                                 "submit_workers",
                                                 "registry_refresh_ms",
                                                 "stats_interval_ms",
                                                 "drain_timeout_ms",
                                                 "intake_sync",
                                                 "client_id",
                                                 "log_level",
                                                 "help",
                                                 "quarantine",
                                                 "share_secret",
                                                 "max_batch_bytes",
                                                 "inbox_capacity",
                                                 "inbox_capacity_bytes",
                                                 "submit_timeout_ms",
                                                 "read_timeout_ms"},
                                                {"help"}));
  if (flags.GetBool("help")) {
    std::fputs(kUsage, stdout);
    return OkStatus();
  }
  PL_RETURN_IF_ERROR(SetLogLevelByName(flags.Get("log_level", "info")));
  BridgeOptions o;
  PL_ASSIGN_OR_RETURN(o.gateway_id, flags.Require("gateway_id"));
  SetLogContext("bridge", o.gateway_id);
  PL_ASSIGN_OR_RETURN(std::string key_path, flags.Require("gateway_key"));
  PL_ASSIGN_OR_RETURN(std::string nodes, flags.Require("nodes"));
  size_t start = 0;
  while (start <= nodes.size()) {
    size_t comma = nodes.find(',', start);
    if (comma == std::string::npos) comma = nodes.size();
    if (comma > start) o.nodes.push_back(nodes.substr(start, comma - start));
    start = comma + 1;
  }
  PL_ASSIGN_OR_RETURN(o.data_dir, flags.Require("data_dir"));
  o.broker_uri = flags.Get("broker", o.broker_uri);
  o.share_group = flags.Get("share_group");
  if (flags.Has("share_secret")) {
    // A key file (ledgerctl keygen), the same on every bridge of the group, mode 0600.
    PL_ASSIGN_OR_RETURN(PrivateKey secret, ReadKeyFile(flags.Get("share_secret")));
    o.share_secret = secret.secret();
  }
  o.client_id = flags.Get("client_id");
  o.verifier.topic_prefix = flags.Get("topic_prefix", o.verifier.topic_prefix);
  PL_ASSIGN_OR_RETURN(o.verifier.max_payload_bytes,
                      flags.GetUint("max_payload_bytes", o.verifier.max_payload_bytes));
  PL_ASSIGN_OR_RETURN(o.verifier.clock_window_ms,
                      flags.GetUint("clock_window_ms", o.verifier.clock_window_ms));
  o.sessions.clock_window_ms = o.verifier.clock_window_ms;
  PL_ASSIGN_OR_RETURN(o.sessions.session_lifetime_ms,
                      flags.GetUint("session_lifetime_ms", o.sessions.session_lifetime_ms));
  PL_ASSIGN_OR_RETURN(o.sessions.grace_ms, flags.GetUint("grace_ms", o.sessions.grace_ms));
  PL_ASSIGN_OR_RETURN(uint64_t window, flags.GetUint("replay_window", o.verifier.replay_window));
  o.verifier.replay_window = static_cast<uint32_t>(window);
  if (flags.Has("quarantine")) o.verifier.quarantine = flags.GetBool("quarantine");
  PL_ASSIGN_OR_RETURN(o.max_batch_records, flags.GetUint("max_batch_records", o.max_batch_records));
  PL_ASSIGN_OR_RETURN(o.max_batch_bytes, flags.GetUint("max_batch_bytes", o.max_batch_bytes));
  PL_ASSIGN_OR_RETURN(o.inbox_capacity, flags.GetUint("inbox_capacity", o.inbox_capacity));
  PL_ASSIGN_OR_RETURN(o.inbox_capacity_bytes,
                      flags.GetUint("inbox_capacity_bytes", o.inbox_capacity_bytes));
  PL_ASSIGN_OR_RETURN(uint64_t bt, flags.GetUint("batch_timeout_ms", o.batch_timeout_ms));
  o.batch_timeout_ms = static_cast<uint32_t>(bt);
  PL_ASSIGN_OR_RETURN(o.submit_workers, flags.GetUint("submit_workers", o.submit_workers));
  PL_ASSIGN_OR_RETURN(uint64_t rr, flags.GetUint("registry_refresh_ms", o.registry_refresh_ms));
  o.registry_refresh_ms = static_cast<uint32_t>(rr);
  PL_ASSIGN_OR_RETURN(uint64_t si, flags.GetUint("stats_interval_ms", o.stats_interval_ms));
  o.stats_interval_ms = static_cast<uint32_t>(si);
  PL_ASSIGN_OR_RETURN(uint64_t st, flags.GetUint("submit_timeout_ms", o.submit_timeout_ms));
  o.submit_timeout_ms = static_cast<uint32_t>(st);
  PL_ASSIGN_OR_RETURN(uint64_t rt, flags.GetUint("read_timeout_ms", o.read_timeout_ms));
  o.read_timeout_ms = static_cast<uint32_t>(rt);
  PL_ASSIGN_OR_RETURN(uint64_t dt, flags.GetUint("drain_timeout_ms", o.drain_timeout_ms));
  o.drain_timeout_ms = static_cast<uint32_t>(dt);
  if (flags.Has("intake_sync")) o.intake_sync = flags.GetBool("intake_sync");
  for (const auto& p : policies) PL_RETURN_IF_ERROR(ParsePolicySpec(p, &o.policies));
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
