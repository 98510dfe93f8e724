#include "device_protocol/topics.h"

#include <vector>

namespace provledger {
namespace device_protocol {
namespace {

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

std::vector<std::string_view> SplitLevels(std::string_view s) {
  std::vector<std::string_view> levels;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      levels.push_back(s.substr(start));
      return levels;
    }
    levels.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string Join(std::string_view prefix, std::string_view device, std::string_view tail) {
  std::string t;
  t.reserve(prefix.size() + device.size() + tail.size() + 2);
  t.append(prefix).append("/").append(device).append("/").append(tail);
  return t;
}

}  // namespace

Status ValidateTopicPrefix(std::string_view prefix) {
  if (prefix.empty()) return InvalidArgumentError("topic prefix: empty");
  for (std::string_view level : SplitLevels(prefix)) {
    if (level.empty()) return InvalidArgumentError("topic prefix: empty level");
    for (char c : level) {
      // '$', '+', '#' and every other character outside the name set are refused here.
      if (!IsNameChar(c)) {
        return InvalidArgumentError(std::string("topic prefix: character '") + c + "' not allowed");
      }
    }
  }
  return OkStatus();
}

StatusOr<DeviceTopic> ParseDeviceTopic(std::string_view prefix, std::string_view topic) {
  if (topic.size() <= prefix.size() + 1 || topic.substr(0, prefix.size()) != prefix ||
      topic[prefix.size()] != '/') {
    return InvalidArgumentError("topic: not under the prefix");
  }
  std::vector<std::string_view> levels = SplitLevels(topic.substr(prefix.size() + 1));
  if (!IsValidName(levels[0])) return InvalidArgumentError("topic: invalid device id");
  DeviceTopic parsed;
  parsed.device = std::string(levels[0]);
  if (levels.size() == 2 && levels[1] == "key") {
    parsed.kind = TopicKind::kKey;
  } else if (levels.size() == 3 && levels[1] == "data") {
    if (!IsValidName(levels[2])) return InvalidArgumentError("topic: invalid item");
    parsed.kind = TopicKind::kData;
    parsed.item = std::string(levels[2]);
  } else if (levels.size() == 2 && levels[1] == "integrity") {
    parsed.kind = TopicKind::kIntegrity;
    parsed.item = std::string(kIntegrityItem);
  } else if (levels.size() == 3 && levels[1] == "update" && levels[2] == "status") {
    parsed.kind = TopicKind::kUpdateStatus;
    parsed.item = std::string(kUpdateItem);
  } else if (levels.size() == 2 && levels[1] == "account") {
    parsed.kind = TopicKind::kAccount;
    parsed.item = std::string(kAccountItem);
  } else {
    return InvalidArgumentError("topic: not a device topic");
  }
  return parsed;
}

std::string DeviceTopicString(std::string_view prefix, const DeviceTopic& parsed) {
  switch (parsed.kind) {
    case TopicKind::kKey:
      return Join(prefix, parsed.device, "key");
    case TopicKind::kData:
      return Join(prefix, parsed.device, "data/" + parsed.item);
    case TopicKind::kIntegrity:
      return Join(prefix, parsed.device, "integrity");
    case TopicKind::kUpdateStatus:
      return Join(prefix, parsed.device, "update/status");
    case TopicKind::kAccount:
      return Join(prefix, parsed.device, "account");
  }
  return Join(prefix, parsed.device, "");
}

std::string KeySuccessTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "key/success");
}
std::string KeyFailTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "key/fail");
}
std::string UnauthTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "unauth");
}
std::string ForbiddenTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "forbidden");
}
std::string DataDatasTopic(std::string_view prefix, std::string_view device,
                           std::string_view item) {
  return Join(prefix, device, "data/" + std::string(item) + "/datas");
}
std::string DataSuccessTopic(std::string_view prefix, std::string_view device,
                             std::string_view item) {
  return Join(prefix, device, "data/" + std::string(item) + "/success");
}
std::string DataErrorTopic(std::string_view prefix, std::string_view device,
                           std::string_view item) {
  return Join(prefix, device, "data/" + std::string(item) + "/error");
}
std::string IntegrityVerdictTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "integrity/verdict");
}
std::string IntegrityErrorTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "integrity/error");
}
std::string UpdateCodeTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "update/code");
}
std::string UpdateStatusSuccessTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "update/status/success");
}
std::string UpdateStatusErrorTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "update/status/error");
}

std::string AccountSuccessTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "account/success");
}
std::string AccountErrorTopic(std::string_view prefix, std::string_view device) {
  return Join(prefix, device, "account/error");
}

std::string ErrorTopic(std::string_view prefix, const DeviceTopic& parsed) {
  if (parsed.kind == TopicKind::kKey) return KeyFailTopic(prefix, parsed.device);
  return DeviceTopicString(prefix, parsed) + "/error";
}

}  // namespace device_protocol
}  // namespace provledger
