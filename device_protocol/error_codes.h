// The device-facing error codes of PROTOCOL.md section 3, and where each is answered.
// This is the one place that spells the code strings.
//
// Thread rules: pure functions; safe from any thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_ERROR_CODES_H_
#define PROVLEDGER_DEVICE_PROTOCOL_ERROR_CODES_H_

#include <string>
#include <string_view>

#include "device_protocol/topics.h"

namespace provledger {
namespace device_protocol {

// In section 3's checking order, from first to last (kInternal aside).
enum class DeviceError {
  kTooLarge,
  kMalformed,
  kUnregistered,
  kNoSession,
  kBadAuth,
  kQuarantined,
  kStale,
  kReplay,
  kInternal,
};

// The wire code: "too_large", "malformed", "unregistered", "no_session", "bad_auth",
// "quarantined", "stale", "replay", "internal".
std::string_view DeviceErrorCode(DeviceError error);

// Which topic an error is answered on.
enum class AnswerTopicKind {
  kErrorTopic,  // the message's error topic (…/error, or key/fail for a key request)
  kUnauth,      // {prefix}/{device}/unauth
  kForbidden,   // {prefix}/{device}/forbidden
};
AnswerTopicKind AnswerTopicKindOf(DeviceError error);

// The full topic on which `error`, caused by a message published to `parsed`, is answered.
std::string RefusalTopic(std::string_view prefix, const DeviceTopic& parsed, DeviceError error);

}  // namespace device_protocol
}  // namespace provledger

#endif  // PROVLEDGER_DEVICE_PROTOCOL_ERROR_CODES_H_
