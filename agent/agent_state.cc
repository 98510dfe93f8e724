#include "agent/agent_state.h"

#include <algorithm>
#include <utility>

#include "common/file_io.h"
#include "common/json.h"
#include "device_protocol/integrity_report.h"

namespace provledger::agent {

std::string AgentStateJson(const AgentState& state) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("boot", JsonValue::String(state.position.boot));
  o.Set("index", JsonValue::Int(state.position.next_index));
  o.Set("offset", JsonValue::Int(state.position.byte_offset));
  o.Set("line", JsonValue::Int(state.position.next_line));
  o.Set("next_seq", JsonValue::Int(state.next_seq));
  return WriteJson(o);
}

StatusOr<AgentState> ParseAgentState(std::string_view json) {
  PL_ASSIGN_OR_RETURN(JsonValue o, ParseJson(json));
  if (!o.is_object()) return InvalidArgumentError("state is not a JSON object");
  PL_ASSIGN_OR_RETURN(uint64_t v, o.GetInt("v"));
  if (v != 1) return InvalidArgumentError("state: v is not 1");
  AgentState s;
  PL_ASSIGN_OR_RETURN(s.position.boot, o.GetString("boot"));
  if (!s.position.boot.empty() && !device_protocol::IsBootId(s.position.boot)) {
    return InvalidArgumentError("state: boot is not a boot id");
  }
  PL_ASSIGN_OR_RETURN(s.position.next_index, o.GetInt("index"));
  PL_ASSIGN_OR_RETURN(s.position.byte_offset, o.GetInt("offset"));
  PL_ASSIGN_OR_RETURN(s.position.next_line, o.GetInt("line"));
  PL_ASSIGN_OR_RETURN(s.next_seq, o.GetInt("next_seq"));
  return s;
}

StatusOr<StateStore> StateStore::Open(const std::string& path) {
  StatusOr<Bytes> text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return StateStore(path, AgentState{});
    return text.status();
  }
  StatusOr<AgentState> s = ParseAgentState(*text);
  if (!s.ok()) return s.status().Annotate(path);
  return StateStore(path, std::move(s).value());
}

AgentState StateStore::state() const {
  std::lock_guard<std::mutex> lock(*mu_);
  return state_;
}

Status StateStore::SaveLocked(const AgentState& next) {
  PL_RETURN_IF_ERROR(WriteFileAtomically(path_, AgentStateJson(next), 0600));
  state_ = next;
  return Status();
}

Status StateStore::SetPosition(const ListPosition& position) {
  std::lock_guard<std::mutex> lock(*mu_);
  AgentState next = state_;
  next.position = position;
  return SaveLocked(next);
}

StatusOr<uint64_t> StateStore::TakeSeq(uint64_t floor) {
  std::lock_guard<std::mutex> lock(*mu_);
  AgentState next = state_;
  const uint64_t seq = std::max({state_.next_seq, floor, uint64_t{1}});
  next.next_seq = seq + 1;
  PL_RETURN_IF_ERROR(SaveLocked(next));
  return seq;
}

}  // namespace provledger::agent
