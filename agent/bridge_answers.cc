#include "agent/bridge_answers.h"

#include <utility>

#include "common/json.h"

namespace provledger::agent {

namespace {

StatusOr<JsonValue> ParseV1Object(std::string_view json) {
  PL_ASSIGN_OR_RETURN(JsonValue o, ParseJson(json));
  if (!o.is_object()) return InvalidArgumentError("answer is not a JSON object");
  PL_ASSIGN_OR_RETURN(uint64_t v, o.GetInt("v"));
  if (v != 1) return InvalidArgumentError("answer: v is not 1");
  return o;
}

}  // namespace

StatusOr<Verdict> ParseVerdict(std::string_view json) {
  PL_ASSIGN_OR_RETURN(JsonValue o, ParseV1Object(json));
  Verdict v;
  PL_ASSIGN_OR_RETURN(v.seq, o.GetInt("seq"));
  PL_ASSIGN_OR_RETURN(v.verdict, o.GetString("verdict"));
  if (v.verdict != "trusted" && v.verdict != "untrusted") {
    return InvalidArgumentError("verdict: not trusted or untrusted");
  }
  PL_ASSIGN_OR_RETURN(const JsonValue* failures, o.GetArray("failures"));
  for (const JsonValue& f : failures->items()) {
    if (!f.is_object()) return InvalidArgumentError("verdict: a failure is not an object");
    PL_ASSIGN_OR_RETURN(std::string path, f.GetString("path"));
    PL_ASSIGN_OR_RETURN(std::string hash, f.GetString("hash"));
    v.failures.emplace_back(std::move(path), std::move(hash));
  }
  PL_ASSIGN_OR_RETURN(std::string record, o.GetString("record"));
  StatusOr<Bytes> raw = HexDecodeFixed(record, 32);
  if (!raw.ok()) return InvalidArgumentError("verdict: record is not 64 lowercase hex");
  v.record = std::move(raw).value();
  PL_ASSIGN_OR_RETURN(v.height, o.GetInt("height"));
  return v;
}

StatusOr<ErrorAnswer> ParseErrorAnswer(std::string_view json) {
  PL_ASSIGN_OR_RETURN(JsonValue o, ParseV1Object(json));
  ErrorAnswer e;
  PL_ASSIGN_OR_RETURN(e.code, o.GetString("code"));
  if (o.Find("reason") != nullptr) {
    PL_ASSIGN_OR_RETURN(e.reason, o.GetString("reason"));
  }
  if (o.Find("seq") != nullptr) {
    PL_ASSIGN_OR_RETURN(uint64_t seq, o.GetInt("seq"));
    e.seq = seq;
  }
  if (o.Find("item") != nullptr) {
    PL_ASSIGN_OR_RETURN(std::string item, o.GetString("item"));
    e.item = std::move(item);
  }
  if (o.Find("nonce") != nullptr) {
    PL_ASSIGN_OR_RETURN(std::string hex, o.GetString("nonce"));
    StatusOr<Bytes> nonce = HexDecodeFixed(hex, 16);
    if (!nonce.ok()) return InvalidArgumentError("error: nonce is not 32 lowercase hex");
    e.nonce = std::move(nonce).value();
  }
  return e;
}

Refusal ClassifyRefusal(std::string_view code) {
  if (code == "no_session") return Refusal::kRenewSession;
  if (code == "malformed" || code == "too_large") return Refusal::kDropReport;
  if (code == "bad_auth") return Refusal::kStopAgent;
  return Refusal::kRetry;
}

}  // namespace provledger::agent
