// integrity_agent: pushes the device's integrity measurements to the bridge (docs/AGENT.md;
// `integrity_agent --help` lists the flags). Exit 0 when done (--once) or stopped by
// SIGTERM/SIGINT, 1 on a failure worth retrying later, 2 on a usage error (a
// --metrics_listen port in use included), 3 when the
// bridge refused the device for good (bad_auth, a gateway it does not trust).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "agent/agent_metrics.h"
#include "agent/firmware_updater.h"
#include "agent/integrity_agent.h"
#include "common/bytes.h"
#include "common/command_line.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/metrics_server.h"
#include "common/mqtt_flags.h"
#include "common/pkcs11_flags.h"
#include "common/pkcs11_signer.h"
#include "common/signer.h"

ABSL_FLAG(std::string, device, "", "device id, as registered on the ledger (required)");
ABSL_FLAG(std::string, key_file, "",
          "the device's private key FILE (64 hex, mode 0600), as `ledgerctl keygen` writes it "
          "(required unless the key is in a token: --pkcs11_*)");
ABSL_FLAG(std::string, broker, "tcp://127.0.0.1:1883", "MQTT broker URI");
ABSL_FLAG(std::string, client_id, "", "MQTT client id (default pl-agent-DEVICE)");
ABSL_FLAG(std::string, topic_prefix, "devices", "topic prefix the bridge serves");
ABSL_FLAG(std::string, auth, "mac",
          "mac: agree a session key (PROTOCOL.md section 4) and MAC reports; sig: sign every "
          "report with the device key (pl-sig)");
ABSL_FLAG(std::string, gateway_id, "",
          "accept key replies only from this gateway (empty: any gateway id)");
ABSL_FLAG(std::string, gateway_pubkey, "",
          "66 hex: key replies must be signed by this gateway key (empty: kid check only)");
ABSL_FLAG(std::string, source, "ima",
          "ima: the kernel's IMA list; files: measure --watch paths (machines without IMA)");
ABSL_FLAG(std::string, ima_list, "/sys/kernel/security/ima/ascii_runtime_measurements",
          "the IMA measurement list (ascii_runtime_measurements or _sha256)");
ABSL_FLAG(std::string, boot_id_path, "/proc/sys/kernel/random/boot_id",
          "file holding the boot id (a new id starts a new list)");
ABSL_FLAG(std::vector<std::string>, watch, {},
          "--source=files: files and folders to measure and watch (comma separated; folders "
          "recursively)");
ABSL_FLAG(std::string, hash, "sha256", "--source=files: sha256 or sm3");
ABSL_FLAG(std::string, state_dir, "/var/lib/provledger-agent",
          "folder for agent_state.json (position, seq) and the agent's own lists (mode 0700)");
ABSL_FLAG(uint64_t, batch, 500, "entries per report at most");
ABSL_FLAG(uint64_t, max_report_bytes, 262144,
          "report JSON bytes at most (a report of one long entry may pass it); keep it below "
          "the bridge's --max_payload_bytes");
ABSL_FLAG(bool, once, false, "send what is new, wait for its verdicts, exit (tests, cron)");
ABSL_FLAG(uint64_t, once_timeout_ms, 120000, "--once: give up (exit 1) after this long");
ABSL_FLAG(uint64_t, poll_ms, 2000,
          "re-read the IMA list this often (securityfs offers no inotify); with "
          "--source=files, the longest inotify wait");
ABSL_FLAG(uint64_t, answer_timeout_ms, 30000,
          "wait this long for a verdict before sending the report again (new seq)");
ABSL_FLAG(uint64_t, key_timeout_ms, 10000, "wait this long for key/success");
ABSL_FLAG(uint64_t, account_every, 0,
          "publish an account of the reports sent (docs/ACCOUNTS.md) every N reports (0: not by "
          "count)");
ABSL_FLAG(uint64_t, account_interval_ms, 0,
          "publish an account of the reports sent every MS (0: not by time)");
ABSL_FLAG(uint64_t, backoff_max_ms, 30000, "longest wait between retries (doubling from 500)");
ABSL_FLAG(std::string, model, "", "firmware: this device's model, as registered");
ABSL_FLAG(std::vector<std::string>, vendor_key, {},
          "firmware: VENDOR:HEX (66 hex) a vendor key the device trusts; repeatable or a comma "
          "list");
ABSL_FLAG(std::string, install_command, "",
          "firmware: executable run with the checked image's path as its one argument (no "
          "shell); setting it turns firmware updates on");
ABSL_FLAG(uint64_t, install_timeout_ms, 300000,
          "firmware: kill the install command and refuse the update after this long");
ABSL_FLAG(bool, firmware, true,
          "serve firmware updates (update/code) when --install_command is set; false ignores "
          "them");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on at /metrics (default: none; a port in use "
          "exits 2)");
ABSL_FLAG(bool, debug, false, "log debug lines too");

namespace provledger::agent {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRefused = 3;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

const std::vector<std::string> kFlagOrder = {
    "device",
    "key_file",
    "broker",
    "broker_ca",
    "broker_cert",
    "broker_key",
    "broker_user",
    "broker_password_file",
    "client_id",
    "topic_prefix",
    "auth",
    "gateway_id",
    "gateway_pubkey",
    "source",
    "ima_list",
    "boot_id_path",
    "watch",
    "hash",
    "state_dir",
    "batch",
    "max_report_bytes",
    "once",
    "once_timeout_ms",
    "poll_ms",
    "answer_timeout_ms",
    "key_timeout_ms",
    "backoff_max_ms",
    "account_every",
    "account_interval_ms",
    "firmware",
    "model",
    "vendor_key",
    "install_command",
    "install_timeout_ms",
    "metrics_listen",
    "debug",
};

void PrintUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: integrity_agent --device=ID (--key_file=FILE | --pkcs11_...) [flags]\n"
               "Pushes the device's integrity measurements (IMA, or files it measures) to the\n"
               "bridge as incremental reports (PROTOCOL.md section 7). docs/AGENT.md has more.\n"
               "--flagfile=FILE reads one --name=value a line (ops/provledger-agent.flags).\n\n");
  PrintFlagHelp(out, kFlagOrder);
  std::fprintf(out,
               "\nthe device key in a PKCS#11 token instead of --key_file (docs/TOKENS.md):\n");
  PrintFlagHelp(out, Pkcs11FlagNames());
}

// The device key: a token's (--pkcs11_*) or a key file's, never both.
StatusOr<std::unique_ptr<Signer>> OpenSigner() {
  PL_ASSIGN_OR_RETURN(std::optional<Pkcs11KeyRef> token, Pkcs11KeyFromFlags());
  const std::string key_path = absl::GetFlag(FLAGS_key_file);
  if (token.has_value()) {
    if (!key_path.empty()) {
      return InvalidArgumentError("--key_file and --pkcs11_* name two keys: give one");
    }
    return OpenPkcs11Signer(*token);  // reads and wipes the PIN
  }
  if (key_path.empty()) return InvalidArgumentError("--key_file (or --pkcs11_*) is required");
  StatusOr<PrivateKey> key = ReadKeyFile(key_path);
  if (!key.ok()) return key.status().Annotate("--key_file");
  return std::unique_ptr<Signer>(std::make_unique<LocalSigner>(std::move(key).value()));
}

StatusOr<AgentOptions> OptionsFromFlags() {
  AgentOptions o;
  PL_ASSIGN_OR_RETURN(o.pusher.device, Require(FLAGS_device));
  o.broker = absl::GetFlag(FLAGS_broker);
  PL_ASSIGN_OR_RETURN(o.broker_security, BrokerSecurityFromFlags());
  o.client_id = absl::GetFlag(FLAGS_client_id);
  o.pusher.topic_prefix = absl::GetFlag(FLAGS_topic_prefix);
  const std::string auth = absl::GetFlag(FLAGS_auth);
  if (auth == "mac") {
    o.pusher.auth = AuthMode::kMac;
  } else if (auth == "sig") {
    o.pusher.auth = AuthMode::kSig;
  } else {
    return InvalidArgumentError("--auth must be mac or sig");
  }
  o.pusher.trust.gateway_id = absl::GetFlag(FLAGS_gateway_id);
  if (!absl::GetFlag(FLAGS_gateway_pubkey).empty()) {
    StatusOr<Bytes> pk = HexDecodeFixed(absl::GetFlag(FLAGS_gateway_pubkey), 33);
    if (!pk.ok() || !ValidatePublicKey(*pk).ok()) {
      return InvalidArgumentError("--gateway_pubkey: 66 lowercase hex digits of a public key");
    }
    o.pusher.trust.gateway_pubkey = *pk;
  }
  o.pusher.answer_timeout_ms = static_cast<uint32_t>(absl::GetFlag(FLAGS_answer_timeout_ms));
  o.pusher.key_timeout_ms = static_cast<uint32_t>(absl::GetFlag(FLAGS_key_timeout_ms));
  o.pusher.backoff_max_ms = static_cast<uint32_t>(absl::GetFlag(FLAGS_backoff_max_ms));
  o.pusher.account_every = static_cast<uint32_t>(absl::GetFlag(FLAGS_account_every));
  o.pusher.account_interval_ms = static_cast<uint32_t>(absl::GetFlag(FLAGS_account_interval_ms));
  const std::string source = absl::GetFlag(FLAGS_source);
  if (source == "ima") {
    o.source = Source::kIma;
  } else if (source == "files") {
    o.source = Source::kFiles;
  } else {
    return InvalidArgumentError("--source must be ima or files");
  }
  o.ima_list = absl::GetFlag(FLAGS_ima_list);
  o.boot_id_path = absl::GetFlag(FLAGS_boot_id_path);
  o.watch = absl::GetFlag(FLAGS_watch);
  o.hash = absl::GetFlag(FLAGS_hash);
  o.state_dir = absl::GetFlag(FLAGS_state_dir);
  o.batch = absl::GetFlag(FLAGS_batch);
  o.max_report_bytes = absl::GetFlag(FLAGS_max_report_bytes);
  o.once = absl::GetFlag(FLAGS_once);
  o.once_timeout_ms = absl::GetFlag(FLAGS_once_timeout_ms);
  o.poll_ms = static_cast<uint32_t>(absl::GetFlag(FLAGS_poll_ms));
  o.firmware_options.install_command = absl::GetFlag(FLAGS_install_command);
  o.firmware = absl::GetFlag(FLAGS_firmware) && !o.firmware_options.install_command.empty();
  o.firmware_options.model = absl::GetFlag(FLAGS_model);
  PL_ASSIGN_OR_RETURN(o.firmware_options.vendor_keys,
                      ParseVendorKeys(absl::GetFlag(FLAGS_vendor_key)));
  PL_ASSIGN_OR_RETURN(o.firmware_options.install_timeout_ms,
                      NarrowFlag<uint32_t>(FLAGS_install_timeout_ms, "install_timeout_ms"));
  PL_RETURN_IF_ERROR(o.Validate());
  return o;
}

int Main(int argc, char** argv) {
  StatusOr<CommandLine> cl = SplitCommandLine(argc, argv, 1, {"watch", "vendor_key"});
  if (cl.ok() && cl->help) {
    PrintUsage(stdout);
    return 0;
  }
  Status applied = cl.ok() ? ApplyCommandLine(argv[0], *cl) : cl.status();
  if (applied.ok() && !cl->positional.empty()) {
    applied = InvalidArgumentError("unexpected argument '" + cl->positional[0] + "'");
  }
  StatusOr<AgentOptions> o = applied.ok() ? OptionsFromFlags() : StatusOr<AgentOptions>(applied);
  if (!o.ok()) {
    std::fprintf(stderr, "integrity_agent: %s\n(run 'integrity_agent --help')\n",
                 o.status().message().c_str());
    return kExitUsage;
  }
  if (absl::GetFlag(FLAGS_debug)) SetLogLevel(LogLevel::kDebug);
  SetLogContext("agent", o->pusher.device);
  StatusOr<std::unique_ptr<Signer>> signer = OpenSigner();
  if (!signer.ok()) {
    std::fprintf(stderr, "integrity_agent: %s\n", signer.status().ToString().c_str());
    return kExitUsage;
  }
  if (o->pusher.auth == AuthMode::kMac && !o->pusher.trust.gateway_pubkey) {
    LogWarn("gateway_unpinned").Kv("note", "no --gateway_pubkey: key replies checked by kid only");
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Before the agent starts: a metrics port in use is a usage error (exit 2).
  auto metrics_server = metrics::StartMetricsServer(absl::GetFlag(FLAGS_metrics_listen));
  if (!metrics_server.ok()) {
    std::fprintf(stderr, "integrity_agent: %s\n", metrics_server.status().ToString().c_str());
    return kExitUsage;
  }
  (void)Metrics();  // every family shows from the first scrape
  IntegrityAgent agent(std::move(o).value(), std::move(signer).value());
  StatusOr<RunEnd> end = agent.Run(g_stop);
  if (end.ok()) return 0;
  LogError("agent_failed").Kv("error", end.status().ToString());
  return end.status().code() == StatusCode::kPermissionDenied ? kExitRefused : kExitFailed;
}

}  // namespace
}  // namespace provledger::agent

int main(int argc, char** argv) { return provledger::agent::Main(argc, argv); }
