// Write policies (DESIGN.md "Write policies"): per data item, which accepted readings
// become records. `all` keeps every reading; `periodic` at most one per interval;
// `change` only when the value moved by at least a threshold since the last recorded one.
// Skipped readings are acknowledged as not recorded (SkippedAckJson).
//
// State (last recorded time and value per device and item) lives in memory and is made
// durable by the caller: Dirty() names what Decide changed, to be written in the same synced
// batch as the readings concerned (the bridge's Outbox), then Commit() (written) or
// Rollback() (not written: Decide's changes undone). At start-up Restore() puts it back,
// so a restarted bridge skips what its policy would have skipped.
//
// Thread rules: not thread-safe; owned by the verify thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_POLICY_FILTER_H_
#define PROVLEDGER_MQTT_BRIDGE_POLICY_FILTER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger {
namespace bridge {

struct WritePolicy {
  enum class Kind { kAll, kPeriodic, kChange };
  Kind kind = Kind::kAll;
  uint64_t interval_ms = 0;  // kPeriodic: a reading is recorded when ts >= last + interval
  double threshold = 0;      // kChange: recorded when |value - last recorded| >= threshold

  static WritePolicy All() { return {}; }
  static WritePolicy Periodic(uint64_t interval_ms) { return {Kind::kPeriodic, interval_ms, 0}; }
  static WritePolicy Change(double threshold) { return {Kind::kChange, 0, threshold}; }
  // kInvalidArgument for a periodic interval of 0 or a negative or non-finite threshold.
  Status Validate() const;
};

enum class PolicyDecision { kRecord, kSkip };

// The numeric value of a reading for `change`: the payload as plain decimal text
// (optional '-', digits, optional '.' and digits; surrounding ASCII whitespace allowed),
// or a JSON object whose top-level "value" member is a JSON number that is finite as a
// double, the object being strict JSON as common/json.h's ParseJsonNumberMember reads it
// (no repeated keys, no byte-order mark, depth limit). nullopt otherwise.
std::optional<double> NumericValue(ByteView payload);

// Parses a write policy spec "ITEM:all", "ITEM:periodic:MS" or "ITEM:change:THRESHOLD"
// (the bridge's --policy flag) into (*out)[ITEM]. kInvalidArgument naming the spec when
// ITEM is not a valid name, the kind is unknown, the number does not parse, or the policy
// is not valid.
Status ParsePolicySpec(const std::string& spec, std::map<std::string, WritePolicy>* out);

class PolicyFilter {
 public:
  // `per_item` maps item names to policies; other items get `default_policy`. All
  // policies must be valid.
  explicit PolicyFilter(std::map<std::string, WritePolicy> per_item = {},
                        WritePolicy default_policy = WritePolicy::All());

  // OK when every policy is valid (see WritePolicy::Validate).
  Status Validate() const;

  // The policy that applies to `item`.
  const WritePolicy& PolicyFor(const std::string& item) const;

  // Decides whether an accepted reading of `device`/`item` made at `ts` (its pl-ts) is
  // recorded, and remembers it when it is. `periodic`: recorded when it is the first of
  // its device and item or ts >= last recorded ts + interval. `change`: recorded when the
  // payload is not numeric, or it is the first numeric one, or it moved by at least the
  // threshold from the last recorded numeric value.
  PolicyDecision Decide(const std::string& device, const std::string& item, uint64_t ts,
                        ByteView payload);

  // The (key, state) of every device and item whose state Decide changed since the last
  // Commit() or Rollback(), in key order, for the caller to persist. Keys and states are
  // opaque bytes that Restore() reads back.
  std::vector<std::pair<Bytes, Bytes>> Dirty() const;
  // The dirty states were persisted: forget that they changed.
  void Commit();
  // The dirty states could not be persisted: put back the states they had before.
  void Rollback();
  // Installs one persisted (key, state) from Dirty(). kInvalidArgument (filter unchanged)
  // when either does not parse.
  Status Restore(ByteView key, ByteView state);

 private:
  struct ItemState {
    std::optional<uint64_t> last_ts;
    std::optional<double> last_value;
  };
  using StateKey = std::pair<std::string, std::string>;  // device, item
  ItemState& Touch(const std::string& device, const std::string& item);

  std::map<std::string, WritePolicy> per_item_;
  WritePolicy default_policy_;
  std::map<StateKey, ItemState> state_;
  // Keys changed since the last Commit/Rollback, with the state each had before (nullopt:
  // none).
  std::map<StateKey, std::optional<ItemState>> before_;
};

}  // namespace bridge
}  // namespace provledger

#endif  // PROVLEDGER_MQTT_BRIDGE_POLICY_FILTER_H_
