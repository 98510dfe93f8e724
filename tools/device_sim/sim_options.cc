#include "tools/device_sim/sim_options.h"

#include <cstdio>
#include <optional>
#include <utility>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "common/log.h"
#include "common/mqtt_flags.h"
#include "common/pkcs11_flags.h"
#include "device_protocol/topics.h"
#include "ledger/record.h"

// The flags, defaults on the definitions; PrintUsage lists them in these groups.
ABSL_FLAG(uint64_t, devices, 1, "devices to simulate");
ABSL_FLAG(std::string, device_prefix, "sim", "devices are named P-0 .. P-(N-1)");
ABSL_FLAG(std::string, keys_dir, "device_sim_keys",
          "one DEVICE.key per device, made (mode 0600) if missing");
ABSL_FLAG(bool, register, false,
          "register each device's key on the ledger first (skips those already registered "
          "with the same key); needs --node, --genesis, --admin_key");
ABSL_FLAG(std::string, node, "", "ledger node(s), HOST:PORT[,HOST:PORT...]");
ABSL_FLAG(std::string, genesis, "", "genesis FILE (chain id)");
ABSL_FLAG(std::string, admin_key, "", "admin private key FILE");
ABSL_FLAG(uint64_t, register_grace_ms, 5000,
          "after registering, retry `unregistered` answers this long while the bridge catches "
          "up");
ABSL_FLAG(std::string, broker, "tcp://127.0.0.1:1883", "MQTT broker URI");
ABSL_FLAG(std::string, client_id, "", "MQTT client id (default random); one connection for all");
ABSL_FLAG(bool, persistent_session, false,
          "keep the MQTT session at the broker across disconnects (clean start off; needs "
          "--client_id), so answers published while reconnecting wait at the broker");
ABSL_FLAG(std::string, topic_prefix, "devices", "topic prefix");
ABSL_FLAG(bool, wildcard_subscribe, false,
          "subscribe P/+/... answer topics once instead of per device (automatic above 16 "
          "devices)");
ABSL_FLAG(std::string, mode, "mac",
          "mac: agree a session key (section 4), MAC readings; sig: sign every reading with the "
          "device key");
ABSL_FLAG(std::string, gateway_pubkey, "", "66 hex: key replies must be signed by this key");
ABSL_FLAG(std::string, gateway_id, "", "key replies must come from this gateway");
ABSL_FLAG(uint64_t, key_timeout_ms, 10000, "wait this long for key/success");
ABSL_FLAG(uint64_t, session_overrun_ms, 0, "test aid: keep using a session MS past its expiry");
ABSL_FLAG(uint64_t, count, 10, "readings per device");
ABSL_FLAG(std::string, item, "temp", "data item");
ABSL_FLAG(uint64_t, qos, 1, "QoS of readings, 0 or 1");
ABSL_FLAG(uint64_t, rate, 0, "readings/s per device, 0 = as fast as possible");
ABSL_FLAG(std::optional<std::string>, payload, std::nullopt,
          "fixed payload TEXT (default {\"value\":21.5,\"n\":7}-style JSON)");
ABSL_FLAG(uint64_t, payload_size, 0, "pad generated payloads to BYTES (0: no padding)");
ABSL_FLAG(std::optional<uint64_t>, seq_start, std::nullopt,
          "first pl-seq (default: the clock in microseconds)");
ABSL_FLAG(uint64_t, workers, 4, "publishing threads");
ABSL_FLAG(uint64_t, account_every, 0,
          "publish an account (docs/ACCOUNTS.md) every N readings of a device (0: not by count)");
ABSL_FLAG(uint64_t, account_interval_ms, 0,
          "publish an account of a device's readings every MS (0: not by time)");
ABSL_FLAG(uint64_t, ack_timeout_ms, 30000, "wait this long after the last publish");
ABSL_FLAG(uint64_t, list_records, 5, "records listed in the summary");
ABSL_FLAG(std::optional<std::string>, expect_error, std::nullopt,
          "succeed only if every reading is refused with CODE (default: the --fault's code)");
ABSL_FLAG(uint64_t, progress_ms, 1000, "progress line period on stderr, 0 = none");
ABSL_FLAG(std::string, fault, "none", "fault to inject, see below");
ABSL_FLAG(int64_t, clock_offset_ms, 0,
          "add MS (may be negative) to the device clock in pl-ts and key requests; past the "
          "bridge's clock window every reading is answered stale (with --expect_error=stale)");
ABSL_FLAG(std::string, integrity_report, "",
          "one-shot: publish this integrity report FILE ('-': stdin) for device 0, print the "
          "answer (verdict or error) as JSON");
ABSL_FLAG(std::string, replay_file, "", "write accepted readings (verbatim) to FILE");
ABSL_FLAG(std::string, replay_from, "",
          "only resend FILE's readings verbatim, expecting replay (use --mode=sig in the first "
          "run if the bridge restarts between runs: a restarted bridge forgets sessions)");

namespace provledger::device_sim {

namespace {

struct FaultRow {
  Fault fault;
  std::string_view name;
  std::string_view code;
};
constexpr FaultRow kFaults[] = {
    {Fault::kNone, "none", ""},
    {Fault::kBadMac, "bad_mac", "bad_auth"},
    {Fault::kBadSig, "bad_sig", "bad_auth"},
    {Fault::kStale, "stale", "stale"},
    {Fault::kReplay, "replay", ""},
    {Fault::kReplayAfter, "replay_after", ""},
    {Fault::kMalformed, "malformed", "malformed"},
    {Fault::kTooLarge, "too_large", "too_large"},
    {Fault::kNoSession, "no_session", "no_session"},
    {Fault::kReservedItem, "reserved_item", "malformed"},
};

bool IsErrorCodeText(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

}  // namespace

void PrintUsage(std::FILE* out) {
  std::fputs(
      "device_sim: simulates MQTT v5 devices speaking PROTOCOL.md sections 3-5.\n"
      "\n"
      "usage: device_sim [flags]   (--flagfile=FILE: flags from FILE, one a line)\n",
      out);
  struct Group {
    const char* title;
    std::vector<std::string> flags;
  };
  const Group groups[] = {
      {"devices and keys",
       {"devices", "device_prefix", "keys_dir", "register", "node", "genesis", "admin_key",
        "register_grace_ms"}},
      {"device key in a PKCS#11 token (one device: --devices=1)", Pkcs11FlagNames()},
      {"MQTT",
       {"broker", "broker_ca", "broker_cert", "broker_key", "broker_user", "broker_password_file",
        "client_id", "persistent_session", "topic_prefix", "wildcard_subscribe"}},
      {"gRPC to the nodes (--register)", {"tls_ca", "tls_cert", "tls_key", "insecure"}},
      {"authentication",
       {"mode", "gateway_pubkey", "gateway_id", "key_timeout_ms", "session_overrun_ms"}},
      {"readings",
       {"count", "item", "qos", "rate", "payload", "payload_size", "seq_start", "workers"}},
      {"accounts (docs/ACCOUNTS.md; off unless one is set)",
       {"account_every", "account_interval_ms"}},
      {"answers and result", {"ack_timeout_ms", "list_records", "expect_error", "progress_ms"}},
      {"fault injection", {"fault", "clock_offset_ms", "replay_file", "replay_from"}},
      {"integrity (one-shot)", {"integrity_report"}},
  };
  for (const Group& g : groups) {
    std::fprintf(out, "\n%s\n", g.title);
    PrintFlagHelp(out, g.flags);
  }
  std::fputs(
      "\nfaults (--fault=NAME; implies --expect_error of the code in brackets)\n"
      "  bad_mac [bad_auth]  bad_sig [bad_auth]  stale [stale]  malformed [malformed]\n"
      "  too_large [too_large] (set --payload_size above the bridge limit)\n"
      "  no_session [no_session]  reserved_item [malformed]\n"
      "  replay        each reading twice with one seq; copies must get replay, readings acks\n"
      "  replay_after  all readings, then the same copies again, expecting replay\n"
      "\n"
      "output: one JSON summary line on stdout; progress on stderr.\n"
      "exit: 0 success, 1 readings not answered as required, 2 bad flags, 3 setup failed\n",
      out);
}

StatusOr<Fault> ParseFault(std::string_view name) {
  for (const FaultRow& r : kFaults) {
    if (r.name == name) return r.fault;
  }
  return InvalidArgumentError("--fault: unknown fault '" + std::string(name) + "'");
}

std::string_view FaultName(Fault fault) {
  for (const FaultRow& r : kFaults) {
    if (r.fault == fault) return r.name;
  }
  return "none";
}

std::string_view FaultExpectedCode(Fault fault) {
  for (const FaultRow& r : kFaults) {
    if (r.fault == fault) return r.code;
  }
  return "";
}

std::string SimOptions::DeviceName(uint64_t i) const {
  return device_prefix + "-" + std::to_string(i);
}

uint64_t SimOptions::DeviceClockMs() const {
  return static_cast<uint64_t>(static_cast<int64_t>(NowMs()) + clock_offset_ms);
}

std::string SimOptions::PublishItem() const { return fault == Fault::kReservedItem ? "_x" : item; }

Status SimOptions::Validate() const {
  if (devices == 0) return InvalidArgumentError("--devices must be at least 1");
  if (!ledger::IsValidName(DeviceName(devices - 1))) {
    return InvalidArgumentError("--device_prefix: '" + DeviceName(devices - 1) +
                                "' is not a valid device id ([A-Za-z0-9_.-]{1,64})");
  }
  if (!ledger::IsValidName(item) || item[0] == '_') {
    return InvalidArgumentError("--item: '" + item + "' is not a valid, unreserved item");
  }
  PL_RETURN_IF_ERROR(device_protocol::ValidateTopicPrefix(topic_prefix).Annotate("--topic_prefix"));
  if (qos != 0 && qos != 1) return InvalidArgumentError("--qos must be 0 or 1");
  if (count == 0 && replay_from.empty()) return InvalidArgumentError("--count must be >= 1");
  if (workers == 0) return InvalidArgumentError("--workers must be >= 1");
  if (persistent_session && client_id.empty()) {
    return InvalidArgumentError("--persistent_session needs a --client_id");
  }
  if (keys_dir.empty()) return InvalidArgumentError("--keys_dir must not be empty");
  if (do_register && (nodes.empty() || genesis_path.empty() || admin_key_path.empty())) {
    return InvalidArgumentError("--register needs --node, --genesis and --admin_key");
  }
  if (!gateway_id.empty() && !ledger::IsValidName(gateway_id)) {
    return InvalidArgumentError("--gateway_id: not a valid name");
  }
  if (payload.has_value() && payload_size > 0) {
    return InvalidArgumentError("--payload and --payload_size exclude each other");
  }
  if (fault == Fault::kTooLarge && payload_size == 0) {
    return InvalidArgumentError("--fault=too_large needs --payload_size above the bridge limit");
  }
  if ((fault == Fault::kBadMac || fault == Fault::kNoSession) && mode != AuthMode::kMac) {
    return InvalidArgumentError("--fault=" + std::string(FaultName(fault)) + " needs --mode=mac");
  }
  if (fault == Fault::kBadSig && mode != AuthMode::kSig) {
    return InvalidArgumentError("--fault=bad_sig needs --mode=sig");
  }
  if (!expect_error.empty() && !IsErrorCodeText(expect_error)) {
    return InvalidArgumentError("--expect_error: '" + expect_error + "' is not an error code");
  }
  if (seq_start.has_value() && (*seq_start == 0 || *seq_start + count > (1ull << 53))) {
    return InvalidArgumentError("--seq_start: seqs must stay in 1 .. 2^53-1");
  }
  if (!replay_from.empty() && (fault != Fault::kNone || do_register || !replay_file.empty())) {
    return InvalidArgumentError("--replay_from excludes --fault, --register and --replay_file");
  }
  if (token_key.has_value()) {
    // One key in a token is one device's identity: devices sharing it could not be told
    // apart by their signatures.
    if (devices != 1) return InvalidArgumentError("--pkcs11_module needs --devices=1");
    if (!replay_from.empty()) return InvalidArgumentError("--replay_from excludes --pkcs11_module");
  }
  return OkStatus();
}

StatusOr<SimOptions> OptionsFromFlags() {
  SimOptions o;
  o.broker = absl::GetFlag(FLAGS_broker);
  PL_ASSIGN_OR_RETURN(o.broker_security, BrokerSecurityFromFlags());
  o.client_id = absl::GetFlag(FLAGS_client_id);
  o.persistent_session = absl::GetFlag(FLAGS_persistent_session);
  o.topic_prefix = absl::GetFlag(FLAGS_topic_prefix);
  o.device_prefix = absl::GetFlag(FLAGS_device_prefix);
  o.devices = absl::GetFlag(FLAGS_devices);
  o.keys_dir = absl::GetFlag(FLAGS_keys_dir);
  PL_ASSIGN_OR_RETURN(o.token_key, Pkcs11KeyFromFlags());
  o.do_register = absl::GetFlag(FLAGS_register);
  o.nodes = SplitFlagList(absl::GetFlag(FLAGS_node));
  o.genesis_path = absl::GetFlag(FLAGS_genesis);
  o.admin_key_path = absl::GetFlag(FLAGS_admin_key);
  o.register_grace_ms = absl::GetFlag(FLAGS_register_grace_ms);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "mac") {
    o.mode = AuthMode::kMac;
  } else if (mode == "sig") {
    o.mode = AuthMode::kSig;
  } else {
    return InvalidArgumentError("--mode must be mac or sig");
  }
  if (!absl::GetFlag(FLAGS_gateway_pubkey).empty()) {
    auto pk = HexDecodeFixed(absl::GetFlag(FLAGS_gateway_pubkey), 33);
    if (!pk.ok()) return InvalidArgumentError("--gateway_pubkey: 66 lowercase hex digits");
    o.gateway_pubkey = *pk;
  }
  o.gateway_id = absl::GetFlag(FLAGS_gateway_id);
  o.item = absl::GetFlag(FLAGS_item);
  o.count = absl::GetFlag(FLAGS_count);
  const uint64_t qos = absl::GetFlag(FLAGS_qos);
  o.qos = qos > 1 ? 2 : static_cast<int>(qos);
  o.rate = absl::GetFlag(FLAGS_rate);
  o.payload = absl::GetFlag(FLAGS_payload);
  o.payload_size = absl::GetFlag(FLAGS_payload_size);
  o.seq_start = absl::GetFlag(FLAGS_seq_start);
  o.account_every = absl::GetFlag(FLAGS_account_every);
  o.account_interval_ms = absl::GetFlag(FLAGS_account_interval_ms);
  o.ack_timeout_ms = absl::GetFlag(FLAGS_ack_timeout_ms);
  o.key_timeout_ms = absl::GetFlag(FLAGS_key_timeout_ms);
  o.session_overrun_ms = absl::GetFlag(FLAGS_session_overrun_ms);
  o.clock_offset_ms = absl::GetFlag(FLAGS_clock_offset_ms);
  o.list_records = absl::GetFlag(FLAGS_list_records);
  PL_ASSIGN_OR_RETURN(o.fault, ParseFault(absl::GetFlag(FLAGS_fault)));
  o.expect_error =
      absl::GetFlag(FLAGS_expect_error).value_or(std::string(FaultExpectedCode(o.fault)));
  o.replay_file = absl::GetFlag(FLAGS_replay_file);
  o.replay_from = absl::GetFlag(FLAGS_replay_from);
  o.workers = absl::GetFlag(FLAGS_workers);
  o.wildcard_subscribe = absl::GetFlag(FLAGS_wildcard_subscribe) || o.devices > 16;
  o.progress_ms = absl::GetFlag(FLAGS_progress_ms);
  o.integrity_report = absl::GetFlag(FLAGS_integrity_report);
  PL_RETURN_IF_ERROR(o.Validate());
  return o;
}

StatusOr<SimOptions> ParseOptions(int argc, char** argv, bool* help) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  *help = cl.help;
  if (cl.help) return SimOptions();
  if (!cl.positional.empty()) {
    return InvalidArgumentError("unexpected argument '" + cl.positional[0] + "'");
  }
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  return OptionsFromFlags();
}

}  // namespace provledger::device_sim
