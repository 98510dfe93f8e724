// Device topics (PROTOCOL.md sections 2 and 3): parsing what devices publish to, and
// building the topics the bridge answers on.
//
// Thread rules: pure functions over values; safe from any thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_TOPICS_H_
#define PROVLEDGER_DEVICE_PROTOCOL_TOPICS_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "ledger/record.h"

namespace provledger {
namespace device_protocol {

constexpr std::string_view kDefaultTopicPrefix = "devices";
// The items that stand in D for reports (PROTOCOL.md sections 7 and 8), and the name rule
// of section 2: the ledger's own, so bridge and ledger can never disagree on a name.
using ::provledger::ledger::IsValidName;
using ::provledger::ledger::kAccountItem;
using ::provledger::ledger::kIntegrityItem;
using ::provledger::ledger::kUpdateItem;

// What a device published to.
enum class TopicKind {
  kKey,           // {prefix}/{device}/key
  kData,          // {prefix}/{device}/data/{item}
  kIntegrity,     // {prefix}/{device}/integrity
  kUpdateStatus,  // {prefix}/{device}/update/status
  kAccount,       // {prefix}/{device}/account (docs/ACCOUNTS.md)
};

struct DeviceTopic {
  std::string device;
  TopicKind kind = TopicKind::kData;
  // The topic's item for kData; "_integrity" for kIntegrity, "_update" for kUpdateStatus
  // and "_account" for kAccount (the item that goes into D); empty for kKey.
  std::string item;
};

// IsValidName: [A-Za-z0-9_.-]{1,64}. Reserved items (a leading '_') are valid names;
// refusing them on a data topic is the verifier's job (malformed).

// OK when `prefix` is one or more levels of [A-Za-z0-9_.-]+ joined by '/', without
// wildcard, leading '$' or empty level. kInvalidArgument naming the fault otherwise.
Status ValidateTopicPrefix(std::string_view prefix);

// Parses a device -> bridge topic under `prefix` (assumed valid). kInvalidArgument when
// the topic is not one of the five device topics or holds an invalid name: such a
// message is dropped without an answer (PROTOCOL.md section 3).
StatusOr<DeviceTopic> ParseDeviceTopic(std::string_view prefix, std::string_view topic);

// The topic `parsed` came from, rebuilt.
std::string DeviceTopicString(std::string_view prefix, const DeviceTopic& parsed);

// Answer topics (bridge -> device). Arguments are assumed to be valid names.
std::string KeySuccessTopic(std::string_view prefix, std::string_view device);
std::string KeyFailTopic(std::string_view prefix, std::string_view device);
std::string UnauthTopic(std::string_view prefix, std::string_view device);
std::string ForbiddenTopic(std::string_view prefix, std::string_view device);
std::string DataDatasTopic(std::string_view prefix, std::string_view device, std::string_view item);
std::string DataSuccessTopic(std::string_view prefix, std::string_view device,
                             std::string_view item);
std::string DataErrorTopic(std::string_view prefix, std::string_view device, std::string_view item);
std::string IntegrityVerdictTopic(std::string_view prefix, std::string_view device);
std::string IntegrityErrorTopic(std::string_view prefix, std::string_view device);
std::string UpdateCodeTopic(std::string_view prefix, std::string_view device);
std::string UpdateStatusSuccessTopic(std::string_view prefix, std::string_view device);
std::string UpdateStatusErrorTopic(std::string_view prefix, std::string_view device);
std::string AccountSuccessTopic(std::string_view prefix, std::string_view device);
std::string AccountErrorTopic(std::string_view prefix, std::string_view device);

// The error topic of a message (section 3): its topic plus "/error", and key/fail for a
// key request.
std::string ErrorTopic(std::string_view prefix, const DeviceTopic& parsed);

}  // namespace device_protocol
}  // namespace provledger

#endif  // PROVLEDGER_DEVICE_PROTOCOL_TOPICS_H_
