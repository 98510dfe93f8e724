// The device side of PROTOCOL.md section 3: which answer topic a bridge message came on,
// and the acknowledgement and error payloads parsed strictly (section 1 JSON rules).
//
// Thread rules: pure functions over values; safe from any thread.
#ifndef PROVLEDGER_TOOLS_DEVICE_SIM_DEVICE_ANSWERS_H_
#define PROVLEDGER_TOOLS_DEVICE_SIM_DEVICE_ANSWERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger::device_sim {

enum class AnswerKind {
  kKeySuccess,      // {prefix}/{device}/key/success
  kKeyFail,         // {prefix}/{device}/key/fail
  kUnauth,          // {prefix}/{device}/unauth
  kForbidden,       // {prefix}/{device}/forbidden
  kDatas,           // {prefix}/{device}/data/{item}/datas
  kSuccess,         // {prefix}/{device}/data/{item}/success
  kDataError,       // {prefix}/{device}/data/{item}/error
  kAccountSuccess,  // {prefix}/{device}/account/success (docs/ACCOUNTS.md)
  kAccountError,    // {prefix}/{device}/account/error
};

struct AnswerTopic {
  std::string device;
  AnswerKind kind = AnswerKind::kSuccess;
  std::string item;  // data answers only
};

// Parses a bridge -> device answer topic under `prefix`. kInvalidArgument for any other
// topic (the device's own publishes, other answer kinds, invalid names).
StatusOr<AnswerTopic> ParseAnswerTopic(std::string_view prefix, std::string_view topic);

// An acknowledgement (datas / success).
struct Ack {
  uint64_t seq = 0;
  bool recorded = false;
  std::vector<uint64_t> seqs;  // recorded only: ascending, each once, ending with seq
  Bytes record;                // recorded only: 32 raw bytes, the record of `seq`
  uint64_t height = 0;         // recorded only
};

// Parses {"v":1,"seq":N,"seqs":[..],"recorded":true,"record":"<64 hex>","height":H} or
// {"v":1,"seq":N,"recorded":false}. kInvalidArgument when "v" is not 1, a field is missing
// or of another type, seqs are not ascending or do not end with seq, or hex is not exact.
StatusOr<Ack> ParseAck(std::string_view json);

// An error answer (…/error, key/fail, unauth, forbidden).
struct ErrorAnswer {
  std::string code;
  std::string reason;
  std::optional<uint64_t> seq;
  std::optional<std::string> item;
  std::optional<Bytes> nonce;  // 16 raw bytes (key requests)
};

// Parses {"v":1,"code":..,"reason":..[,"seq":N][,"item":..][,"nonce":"<32 hex>"]}.
// kInvalidArgument when "v" is not 1, code is missing or a present field is malformed.
StatusOr<ErrorAnswer> ParseErrorAnswer(std::string_view json);

}  // namespace provledger::device_sim

#endif  // PROVLEDGER_TOOLS_DEVICE_SIM_DEVICE_ANSWERS_H_
