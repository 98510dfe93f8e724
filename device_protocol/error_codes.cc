#include "device_protocol/error_codes.h"

namespace provledger {
namespace device_protocol {

std::string_view DeviceErrorCode(DeviceError error) {
  switch (error) {
    case DeviceError::kTooLarge:
      return "too_large";
    case DeviceError::kMalformed:
      return "malformed";
    case DeviceError::kUnregistered:
      return "unregistered";
    case DeviceError::kNoSession:
      return "no_session";
    case DeviceError::kBadAuth:
      return "bad_auth";
    case DeviceError::kQuarantined:
      return "quarantined";
    case DeviceError::kStale:
      return "stale";
    case DeviceError::kReplay:
      return "replay";
    case DeviceError::kInternal:
      return "internal";
  }
  return "internal";
}

AnswerTopicKind AnswerTopicKindOf(DeviceError error) {
  switch (error) {
    case DeviceError::kUnregistered:
      return AnswerTopicKind::kUnauth;
    case DeviceError::kNoSession:
    case DeviceError::kQuarantined:
      return AnswerTopicKind::kForbidden;
    default:
      return AnswerTopicKind::kErrorTopic;
  }
}

std::string RefusalTopic(std::string_view prefix, const DeviceTopic& parsed, DeviceError error) {
  switch (AnswerTopicKindOf(error)) {
    case AnswerTopicKind::kUnauth:
      return UnauthTopic(prefix, parsed.device);
    case AnswerTopicKind::kForbidden:
      return ForbiddenTopic(prefix, parsed.device);
    case AnswerTopicKind::kErrorTopic:
      break;
  }
  return ErrorTopic(prefix, parsed);
}

}  // namespace device_protocol
}  // namespace provledger
