// The agent's durable state, one JSON file in its state folder (mode 0600, written
// atomically through common/file_io.h):
//
//   {"v":1,"boot":"<boot id>","index":N,"offset":N,"line":N,"next_seq":N}
//
// `boot`, `index`, `offset` and `line` say how far the measurement list of that boot has
// been reported AND acknowledged by the bridge: the index of the next entry to report, the
// byte offset of the next unread line in the list file and its 1-based line number.
// `next_seq` is the lowest pl-seq never handed out (PROTOCOL.md section 5: a seq is never
// published twice), written before the seq is used.
//
// Thread rules: StateStore is thread-safe (the report pusher and, say, a firmware updater
// take seqs from one store: a device has one sequence).
#ifndef PROVLEDGER_AGENT_AGENT_STATE_H_
#define PROVLEDGER_AGENT_AGENT_STATE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace provledger::agent {

struct ListPosition {
  std::string boot;          // empty: nothing read yet
  uint64_t next_index = 0;   // index of the next entry to report in this boot's list
  uint64_t byte_offset = 0;  // where the next unread line starts
  uint64_t next_line = 1;    // its 1-based line number (for messages)

  bool operator==(const ListPosition& o) const {
    return boot == o.boot && next_index == o.next_index && byte_offset == o.byte_offset &&
           next_line == o.next_line;
  }
  bool operator!=(const ListPosition& o) const { return !(*this == o); }
};

struct AgentState {
  ListPosition position;
  uint64_t next_seq = 0;  // 0: none handed out yet (the first seq is then taken from the clock)
};

// The state as the JSON object above.
std::string AgentStateJson(const AgentState& state);
// kInvalidArgument naming the member for anything but that object ("v" 1, every member an
// integer or, for boot, empty or a boot id).
StatusOr<AgentState> ParseAgentState(std::string_view json);

class StateStore {
 public:
  // Loads `path`, or starts from an empty state when it does not exist. Errors of ReadFile
  // and ParseAgentState otherwise (a corrupt state file is never silently reset: that could
  // repeat a pl-seq).
  static StatusOr<StateStore> Open(const std::string& path);

  AgentState state() const;

  // Makes `position` durable. kInternal on I/O (the stored state is then unchanged).
  Status SetPosition(const ListPosition& position);

  // The next pl-seq, made durable as used before it is returned: strictly above every seq
  // returned before, and at least `floor` (the clock in microseconds for a first seq, or
  // after a `replay`). kInternal on I/O; no seq is returned then.
  StatusOr<uint64_t> TakeSeq(uint64_t floor);

 private:
  StateStore(std::string path, AgentState state)
      : path_(std::move(path)), state_(std::move(state)), mu_(std::make_unique<std::mutex>()) {}
  Status SaveLocked(const AgentState& next);

  std::string path_;
  AgentState state_;                // guarded by *mu_
  std::unique_ptr<std::mutex> mu_;  // a pointer: the store is movable
};

}  // namespace provledger::agent

#endif  // PROVLEDGER_AGENT_AGENT_STATE_H_
