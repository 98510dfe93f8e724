#include "tools/device_sim/sim_options.h"

#include <utility>

#include "ledger/record.h"
#include "mqtt-bridge/topics.h"

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

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool IsErrorCodeText(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

}  // namespace

const char kUsage[] =
    "device_sim: simulates MQTT v5 devices speaking PROTOCOL.md sections 3-5.\n"
    "\n"
    "usage: device_sim [flags]\n"
    "\n"
    "devices and keys\n"
    "  --devices=N            devices to simulate (default 1)\n"
    "  --device_prefix=P      devices are named P-0 .. P-(N-1) (default sim)\n"
    "  --keys_dir=DIR         one DEVICE.key per device, made (mode 0600) if missing\n"
    "                         (default device_sim_keys)\n"
    "  --register             register each device's key on the ledger first (skips those\n"
    "                         already registered with the same key); needs:\n"
    "  --node=HOST:PORT[,..]  ledger node(s)\n"
    "  --genesis=FILE         genesis file (chain id)\n"
    "  --admin_key=FILE       admin private key file\n"
    "  --register_grace_ms=MS after registering, retry `unregistered` answers this long\n"
    "                         while the bridge catches up (default 5000)\n"
    "\n"
    "MQTT\n"
    "  --broker=URI           broker (default tcp://127.0.0.1:1883)\n"
    "  --client_id=ID         MQTT client id (default random); one connection for all devices\n"
    "  --topic_prefix=P       topic prefix (default devices)\n"
    "  --wildcard_subscribe   subscribe P/+/... answer topics once instead of per device\n"
    "                         (automatic above 16 devices)\n"
    "\n"
    "authentication\n"
    "  --mode=mac|sig         mac (default): agree a session key (section 4), MAC readings;\n"
    "                         sig: sign every reading with the device key\n"
    "  --gateway_pubkey=HEX   66 hex: key replies must be signed by this key\n"
    "  --gateway_id=ID        key replies must come from this gateway\n"
    "  --key_timeout_ms=MS    wait for key/success (default 10000)\n"
    "  --session_overrun_ms=MS  test aid: keep using a session MS past its expiry\n"
    "\n"
    "readings\n"
    "  --count=N              readings per device (default 10)\n"
    "  --item=ITEM            data item (default temp)\n"
    "  --qos=0|1              QoS of readings (default 1)\n"
    "  --rate=R               readings/s per device, 0 = as fast as possible (default 0)\n"
    "  --payload=TEXT         fixed payload (default {\"value\":21.5,\"n\":7}-style JSON)\n"
    "  --payload_size=BYTES   pad generated payloads to BYTES\n"
    "  --seq_start=N          first pl-seq (default: the clock in microseconds)\n"
    "  --workers=N            publishing threads (default 4)\n"
    "\n"
    "answers and result\n"
    "  --ack_timeout_ms=MS    wait this long after the last publish (default 30000)\n"
    "  --list_records=N       records listed in the summary (default 5)\n"
    "  --expect_error=CODE    succeed only if every reading is refused with CODE\n"
    "  --progress_ms=MS       progress line period on stderr, 0 = none (default 1000)\n"
    "\n"
    "fault injection (--fault=NAME; implies --expect_error of the code in brackets)\n"
    "  bad_mac [bad_auth]  bad_sig [bad_auth]  stale [stale]  malformed [malformed]\n"
    "  too_large [too_large] (set --payload_size above the bridge limit)\n"
    "  no_session [no_session]  reserved_item [malformed]\n"
    "  replay        each reading twice with one seq; copies must get replay, readings acks\n"
    "  replay_after  all readings, then the same copies again, expecting replay\n"
    "  --replay_file=FILE     write accepted readings (verbatim) to FILE\n"
    "  --replay_from=FILE     only resend FILE's readings verbatim, expecting replay\n"
    "                         (use --mode=sig in the first run if the bridge restarts\n"
    "                         between runs: a restarted bridge forgets sessions)\n"
    "\n"
    "output: one JSON summary line on stdout; progress on stderr.\n"
    "exit: 0 success, 1 readings not answered as required, 2 bad flags, 3 setup failed\n";

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
  PL_RETURN_IF_ERROR(bridge::ValidateTopicPrefix(topic_prefix).Annotate("--topic_prefix"));
  if (qos != 0 && qos != 1) return InvalidArgumentError("--qos must be 0 or 1");
  if (count == 0 && replay_from.empty()) return InvalidArgumentError("--count must be >= 1");
  if (workers == 0) return InvalidArgumentError("--workers must be >= 1");
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
  return OkStatus();
}

const std::set<std::string>& KnownFlags() {
  static const std::set<std::string> kKnown = {"help",
                                               "broker",
                                               "client_id",
                                               "topic_prefix",
                                               "device_prefix",
                                               "devices",
                                               "keys_dir",
                                               "register",
                                               "node",
                                               "genesis",
                                               "admin_key",
                                               "mode",
                                               "gateway_pubkey",
                                               "gateway_id",
                                               "item",
                                               "count",
                                               "qos",
                                               "rate",
                                               "payload",
                                               "payload_size",
                                               "seq_start",
                                               "ack_timeout_ms",
                                               "key_timeout_ms",
                                               "session_overrun_ms",
                                               "list_records",
                                               "expect_error",
                                               "fault",
                                               "replay_file",
                                               "replay_from",
                                               "workers",
                                               "wildcard_subscribe",
                                               "progress_ms",
                                               "register_grace_ms"};
  return kKnown;
}

const std::set<std::string>& BooleanFlags() {
  static const std::set<std::string> kBool = {"help", "register", "wildcard_subscribe"};
  return kBool;
}

StatusOr<SimOptions> OptionsFromFlags(const Flags& f) {
  SimOptions o;
  o.broker = f.Get("broker", o.broker);
  o.client_id = f.Get("client_id");
  o.topic_prefix = f.Get("topic_prefix", o.topic_prefix);
  o.device_prefix = f.Get("device_prefix", o.device_prefix);
  PL_ASSIGN_OR_RETURN(o.devices, f.GetUint("devices", o.devices));
  o.keys_dir = f.Get("keys_dir", o.keys_dir);
  o.do_register = f.GetBool("register");
  o.nodes = SplitComma(f.Get("node"));
  o.genesis_path = f.Get("genesis");
  o.admin_key_path = f.Get("admin_key");
  PL_ASSIGN_OR_RETURN(o.register_grace_ms, f.GetUint("register_grace_ms", o.register_grace_ms));
  const std::string mode = f.Get("mode", "mac");
  if (mode == "mac") {
    o.mode = AuthMode::kMac;
  } else if (mode == "sig") {
    o.mode = AuthMode::kSig;
  } else {
    return InvalidArgumentError("--mode must be mac or sig");
  }
  if (f.Has("gateway_pubkey")) {
    auto pk = HexDecodeFixed(f.Get("gateway_pubkey"), 33);
    if (!pk.ok()) return InvalidArgumentError("--gateway_pubkey: 66 lowercase hex digits");
    o.gateway_pubkey = *pk;
  }
  o.gateway_id = f.Get("gateway_id");
  o.item = f.Get("item", o.item);
  PL_ASSIGN_OR_RETURN(o.count, f.GetUint("count", o.count));
  PL_ASSIGN_OR_RETURN(uint64_t qos, f.GetUint("qos", 1));
  o.qos = qos > 1 ? 2 : static_cast<int>(qos);
  PL_ASSIGN_OR_RETURN(o.rate, f.GetUint("rate", 0));
  if (f.Has("payload")) o.payload = f.Get("payload");
  PL_ASSIGN_OR_RETURN(o.payload_size, f.GetUint("payload_size", 0));
  if (f.Has("seq_start")) {
    PL_ASSIGN_OR_RETURN(uint64_t s, f.GetUint("seq_start", 0));
    o.seq_start = s;
  }
  PL_ASSIGN_OR_RETURN(o.ack_timeout_ms, f.GetUint("ack_timeout_ms", o.ack_timeout_ms));
  PL_ASSIGN_OR_RETURN(o.key_timeout_ms, f.GetUint("key_timeout_ms", o.key_timeout_ms));
  PL_ASSIGN_OR_RETURN(o.session_overrun_ms, f.GetUint("session_overrun_ms", o.session_overrun_ms));
  PL_ASSIGN_OR_RETURN(o.list_records, f.GetUint("list_records", o.list_records));
  PL_ASSIGN_OR_RETURN(o.fault, ParseFault(f.Get("fault", "none")));
  o.expect_error = f.Get("expect_error", std::string(FaultExpectedCode(o.fault)));
  o.replay_file = f.Get("replay_file");
  o.replay_from = f.Get("replay_from");
  PL_ASSIGN_OR_RETURN(o.workers, f.GetUint("workers", o.workers));
  o.wildcard_subscribe = f.GetBool("wildcard_subscribe") || o.devices > 16;
  PL_ASSIGN_OR_RETURN(o.progress_ms, f.GetUint("progress_ms", o.progress_ms));
  PL_RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace provledger::device_sim
