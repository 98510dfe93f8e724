// What the bridge answers the agent (PROTOCOL.md sections 3, 4 and 7), parsed strictly
// (section 1's JSON rules), and what the agent does about each refusal code.
//
// Thread rules: pure functions over values; safe from any thread.
#ifndef PROVLEDGER_AGENT_BRIDGE_ANSWERS_H_
#define PROVLEDGER_AGENT_BRIDGE_ANSWERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::agent {

// {"v":1,"seq":N,"verdict":"trusted"|"untrusted","failures":[{"path":..,"hash":..}],
//  "record":"<64 hex>","height":H}
struct Verdict {
  uint64_t seq = 0;
  std::string verdict;
  std::vector<std::pair<std::string, std::string>> failures;  // (path, hash)
  Bytes record;                                               // 32 raw bytes
  uint64_t height = 0;
};

// kInvalidArgument naming the member at fault ("v" not 1, a member missing or of another
// type, a verdict other than the two, record not 64 lowercase hex).
StatusOr<Verdict> ParseVerdict(std::string_view json);

// {"v":1,"code":..,"reason":..[,"seq":N][,"item":..][,"nonce":"<32 hex>"]}
struct ErrorAnswer {
  std::string code;
  std::string reason;
  std::optional<uint64_t> seq;
  std::optional<std::string> item;
  std::optional<Bytes> nonce;  // 16 raw bytes (key requests)
};

// kInvalidArgument when "v" is not 1, code is missing or a present member is malformed.
StatusOr<ErrorAnswer> ParseErrorAnswer(std::string_view json);

// What the agent does with a refused report (docs/AGENT.md, "Refusals").
enum class Refusal {
  kRenewSession,  // no_session: agree a new key, send again with a new seq
  kRetry,         // internal, stale, replay, unregistered, an unknown code: back off, send
                  // again with a new seq
  kDropReport,    // malformed, too_large: never sent again; the position moves past it
  kStopAgent,     // bad_auth: the device key is wrong; nothing more is sent
};
Refusal ClassifyRefusal(std::string_view code);

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_BRIDGE_ANSWERS_H_
