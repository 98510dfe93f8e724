// What the ledgerctl commands share: the command table types, the flags owned by more than
// one command group (each defined once, in ctl_common.cc), the connection to a node and the
// decoding of common arguments. One file per command group holds the commands and the
// flags only its commands use; ledgerctl_main.cc dispatches and refuses foreign flags.
//
// Thread rules: single-threaded tool; flags are set once by the dispatcher, then read.
#ifndef PROVLEDGER_TOOLS_LEDGERCTL_CTL_COMMON_H_
#define PROVLEDGER_TOOLS_LEDGERCTL_CTL_COMMON_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "client/ledger_client.h"
#include "common/bytes.h"
#include "common/command_line.h"  // Require(FLAGS_x)
#include "common/json.h"
#include "common/status.h"
#include "ledger/record.h"

ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, node);
ABSL_DECLARE_FLAG(uint64_t, timeout_ms);
ABSL_DECLARE_FLAG(std::string, genesis);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, key);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(std::optional<uint64_t>, seq);
ABSL_DECLARE_FLAG(std::string, item);
ABSL_DECLARE_FLAG(std::string, payload);
ABSL_DECLARE_FLAG(std::optional<uint64_t>, count);

namespace provledger::tools {

namespace v1 = provledger::v1;

// What a command runs with: its words (positional[0] is the command's name) and --json.
struct Ctx {
  std::vector<std::string> positional;
  bool json = false;
};

// One command: its name, usage and the flags it accepts (--json and --flagfile aside); any
// other flag is refused before `run` is called. `run` returns the exit code, or an error
// (exit 2 for kInvalidArgument, 1 otherwise).
struct Command {
  std::string name;
  std::string synopsis;  // what follows the name in the usage line
  std::string summary;   // what it does; may hold several lines
  std::vector<std::string> flags;
  std::function<StatusOr<int>(const Ctx&)> run;
};

struct CommandGroup {
  std::string title;
  std::vector<Command> commands;
};

// One per file, in the order `ledgerctl help` lists them.
CommandGroup KeyCommands();        // keys_commands.cc: keygen, pubkey
CommandGroup CertsCommands();      // certs_command.cc: certs
CommandGroup GenesisCommands();    // genesis_command.cc: genesis
CommandGroup QueryCommands();      // query_commands.cc: status, block, record, history, ...
CommandGroup ProofCommands();      // proof_commands.cc: prove, verify-proof, verify, prove-all
CommandGroup RegistryCommands();   // registry_commands.cc: register-*, revoke-device
CommandGroup AuditCommands();      // audit_commands.cc: verify-chain
CommandGroup SubmitCommands();     // submit_command.cc: submit
CommandGroup FirmwareCommands();   // firmware_commands.cc: firmware sign, publish, list, status
CommandGroup IntegrityCommands();  // integrity_commands.cc: policy, integrity
CommandGroup ValidatorCommands();  // validator_commands.cc: validator list, add, remove, rekey
CommandGroup MonitorCommands();    // monitor_commands.cc: watch

// account_audit_command.cc: audit (docs/ACCOUNTS.md).
CommandGroup AccountAuditCommands();

// `status --all` (monitor_commands.cc): every node of --node and of the validator set in
// force side by side. Exit 0, 1 when a node is unreachable, 3 when two nodes hold different
// blocks at the lowest common height.
StatusOr<int> RunStatusAll(const Ctx& c);

// The flags every command taking --node also takes.
inline const std::vector<std::string> kNodeFlags = {"node", "timeout_ms"};

// Exit code 0 for OK, else the error.
StatusOr<int> Done(Status s);

void PrintJson(const JsonValue& v);

// A client for --node (a comma-separated list) that retries each request's transient
// failures across the nodes until --timeout_ms (client/retry_policy.h), telling each retry
// on stderr.
StatusOr<std::unique_ptr<client::LedgerClient>> Connect(const Ctx& c);

// Signs `op` with --admin_key for the chain of --genesis (its chain id and a fresh nonce
// set), submits it to --node and prints the outcome: with --json an object of record_id,
// height and the members of `extra`; otherwise "<what>: committed at height H as record R".
// The node's refusal (a stale policy version, say) as its status.
Status SubmitAdminOp(const Ctx& c, provledger::v1::RegistryOp op, const std::string& what,
                     JsonValue extra = JsonValue::Object());
// The signing and submission of SubmitAdminOp without the printing: the node's result.
StatusOr<provledger::v1::RecordResult> SignAndSubmitAdminOp(const Ctx& c,
                                                            provledger::v1::RegistryOp op);

// A public key given as 66 hex digits, or read from a key file.
StatusOr<Bytes> PubkeyArg(const std::string& arg);

// The record id (64 hex) in positional[1]; kInvalidArgument when missing or malformed.
StatusOr<Bytes> RecordIdArg(const Ctx& c);

// A record decoded for printing (kind, type and the fields of its kind).
JsonValue RecordToJson(const ledger::Record& r);

}  // namespace provledger::tools

#endif  // PROVLEDGER_TOOLS_LEDGERCTL_CTL_COMMON_H_
