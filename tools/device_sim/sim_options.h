// SimOptions: what one device_sim run does, parsed from its command line. The flags are
// Abseil flags defined in sim_options.cc (defaults and help on the definitions; --help prints
// them). Plain data once parsed.
//
// Thread rules: parse once in main, then read-only; share freely.
#ifndef PROVLEDGER_TOOLS_DEVICE_SIM_SIM_OPTIONS_H_
#define PROVLEDGER_TOOLS_DEVICE_SIM_SIM_OPTIONS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/mqtt_client.h"
#include "common/pkcs11_signer.h"
#include "common/status.h"

namespace provledger::device_sim {

enum class AuthMode { kMac, kSig };

// Fault injection (--fault): what a run deliberately gets wrong.
enum class Fault {
  kNone,
  kBadMac,        // flips one MAC bit => bad_auth
  kBadSig,        // flips one signature bit => bad_auth
  kStale,         // pl-ts 10 minutes in the past => stale
  kReplay,        // each reading published twice, same seq: the copy => replay
  kReplayAfter,   // all readings, then the same copies again => replay
  kMalformed,     // pl-seq with a leading zero => malformed (answer without seq)
  kTooLarge,      // payload of --payload_size bytes => too_large
  kNoSession,     // MAC under a random kid, never agreeing => no_session
  kReservedItem,  // item "_x" => malformed
};

// "bad_mac", ... as on the command line; kInvalidArgument for an unknown name.
StatusOr<Fault> ParseFault(std::string_view name);
std::string_view FaultName(Fault fault);
// The error code a fault provokes on every reading; empty for kNone, kReplay, kReplayAfter.
std::string_view FaultExpectedCode(Fault fault);

struct SimOptions {
  std::string broker = "tcp://127.0.0.1:1883";
  MqttSecurity broker_security;     // TLS files, username and password for the broker
  std::string client_id;            // empty: random
  bool persistent_session = false;  // clean start off, so answers wait while reconnecting
  std::string topic_prefix = "devices";
  std::string device_prefix = "sim";
  uint64_t devices = 1;
  std::string keys_dir = "device_sim_keys";
  std::optional<Pkcs11KeyRef> token_key;  // set: the one device's key is in this token
  // Registration on the ledger (--register needs node, genesis and admin_key).
  bool do_register = false;
  std::vector<std::string> nodes;
  std::string genesis_path;
  std::string admin_key_path;
  // After this run registered a device, `unregistered` answers are retried for this long
  // (the bridge sees registrations within its registry refresh interval).
  uint64_t register_grace_ms = 5000;
  bool just_registered = false;  // not a flag: set by main when --register registered one
  AuthMode mode = AuthMode::kMac;
  std::optional<Bytes> gateway_pubkey;  // 33 bytes; checks key replies' sig when set
  std::string gateway_id;               // empty: any gateway
  std::string item = "temp";
  uint64_t count = 10;
  int qos = 1;
  uint64_t rate = 0;  // readings/s per device; 0 = as fast as possible
  std::optional<std::string> payload;
  uint64_t payload_size = 0;          // pad generated payloads to this size (0: no padding)
  std::optional<uint64_t> seq_start;  // default: the clock in microseconds
  // Accounts (docs/ACCOUNTS.md): one every `account_every` readings and/or every
  // `account_interval_ms`, and one for the rest once every reading is answered. 0 and 0: none.
  uint64_t account_every = 0;
  uint64_t account_interval_ms = 0;
  bool accounts() const { return account_every > 0 || account_interval_ms > 0; }
  uint64_t ack_timeout_ms = 30000;
  uint64_t key_timeout_ms = 10000;
  // Test aid: keep MACing under a session this long past its expiry instead of renewing
  // before it, so the bridge's refusal of an expired session (forbidden, no_session) and
  // the device's renew-and-resend are exercised. 0 = renew ahead, as a device should.
  uint64_t session_overrun_ms = 0;
  // Test aid: added to the device's clock (may be negative) in every pl-ts and key request,
  // as a device whose clock is off; past the bridge's window they are answered `stale`.
  int64_t clock_offset_ms = 0;
  // The device's clock: the wall clock in ms plus clock_offset_ms.
  uint64_t DeviceClockMs() const;
  uint64_t list_records = 5;
  std::string expect_error;  // empty: every reading must be acknowledged
  Fault fault = Fault::kNone;
  std::string replay_file;  // write accepted readings here (for a later --replay_from)
  std::string replay_from;  // resend these verbatim, expecting `replay`
  uint64_t workers = 4;     // publishing threads
  bool wildcard_subscribe = false;
  uint64_t progress_ms = 1000;  // stderr progress period; 0 = none
  // Non-empty: publish this integrity report FILE ('-': stdin) for device 0 and print the
  // answer (report_sender.h) instead of publishing readings.
  std::string integrity_report;

  // The name of device i (0-based): "<device_prefix>-<i>".
  std::string DeviceName(uint64_t i) const;
  // The item readings are published to ("_x" under --fault=reserved_item).
  std::string PublishItem() const;
  // kInvalidArgument naming the flag when values or combinations are not allowed.
  Status Validate() const;
};

// The usage printed on --help and on flag errors, generated from the flag definitions.
void PrintUsage(std::FILE* out);

// Fills SimOptions from the (already set) flags and validates them. kInvalidArgument naming
// the flag.
StatusOr<SimOptions> OptionsFromFlags();

// Sets the flags from argv (common/command_line.h forms, --flagfile included) and returns
// OptionsFromFlags(). `*help` is set when --help was given (then nothing else is done).
// kInvalidArgument naming the word or flag; a bad line in a flag file exits(1) (Abseil).
StatusOr<SimOptions> ParseOptions(int argc, char** argv, bool* help);

}  // namespace provledger::device_sim

#endif  // PROVLEDGER_TOOLS_DEVICE_SIM_SIM_OPTIONS_H_
