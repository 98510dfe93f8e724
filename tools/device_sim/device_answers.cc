#include "tools/device_sim/device_answers.h"

#include <utility>

#include "common/json.h"
#include "ledger/record.h"

namespace provledger::device_sim {

namespace {

std::vector<std::string_view> SplitLevels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find('/', start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

StatusOr<JsonValue> ParseV1Object(std::string_view json) {
  PL_ASSIGN_OR_RETURN(JsonValue doc, ParseJson(json));
  if (!doc.is_object()) return InvalidArgumentError("answer is not a JSON object");
  PL_ASSIGN_OR_RETURN(uint64_t v, doc.GetInt("v"));
  if (v != 1) return InvalidArgumentError("answer has \"v\":" + std::to_string(v) + ", not 1");
  return doc;
}

}  // namespace

StatusOr<AnswerTopic> ParseAnswerTopic(std::string_view prefix, std::string_view topic) {
  if (topic.size() <= prefix.size() + 1 || topic.substr(0, prefix.size()) != prefix ||
      topic[prefix.size()] != '/') {
    return InvalidArgumentError("not under the topic prefix");
  }
  const std::vector<std::string_view> l = SplitLevels(topic.substr(prefix.size() + 1));
  if (l.empty() || !ledger::IsValidName(l[0])) return InvalidArgumentError("bad device id");
  AnswerTopic t;
  t.device = std::string(l[0]);
  if (l.size() == 2 && l[1] == "unauth") {
    t.kind = AnswerKind::kUnauth;
  } else if (l.size() == 2 && l[1] == "forbidden") {
    t.kind = AnswerKind::kForbidden;
  } else if (l.size() == 3 && l[1] == "key" && l[2] == "success") {
    t.kind = AnswerKind::kKeySuccess;
  } else if (l.size() == 3 && l[1] == "key" && l[2] == "fail") {
    t.kind = AnswerKind::kKeyFail;
  } else if (l.size() == 3 && l[1] == "account" && (l[2] == "success" || l[2] == "error")) {
    t.kind = l[2] == "success" ? AnswerKind::kAccountSuccess : AnswerKind::kAccountError;
  } else if (l.size() == 4 && l[1] == "data" && ledger::IsValidName(l[2])) {
    t.item = std::string(l[2]);
    if (l[3] == "datas") {
      t.kind = AnswerKind::kDatas;
    } else if (l[3] == "success") {
      t.kind = AnswerKind::kSuccess;
    } else if (l[3] == "error") {
      t.kind = AnswerKind::kDataError;
    } else {
      return InvalidArgumentError("not a data answer topic");
    }
  } else {
    return InvalidArgumentError("not an answer topic");
  }
  return t;
}

StatusOr<Ack> ParseAck(std::string_view json) {
  PL_ASSIGN_OR_RETURN(JsonValue doc, ParseV1Object(json));
  Ack ack;
  PL_ASSIGN_OR_RETURN(ack.seq, doc.GetInt("seq"));
  const JsonValue* rec = doc.Find("recorded");
  if (rec == nullptr || !rec->is_bool()) return InvalidArgumentError("ack without \"recorded\"");
  ack.recorded = rec->bool_value();
  if (!ack.recorded) return ack;
  PL_ASSIGN_OR_RETURN(const JsonValue* seqs, doc.GetArray("seqs"));
  for (const JsonValue& s : seqs->items()) {
    if (!s.is_int()) return InvalidArgumentError("ack \"seqs\" holds a non-integer");
    if (!ack.seqs.empty() && s.int_value() <= ack.seqs.back()) {
      return InvalidArgumentError("ack \"seqs\" not ascending");
    }
    ack.seqs.push_back(s.int_value());
  }
  if (ack.seqs.empty() || ack.seqs.back() != ack.seq) {
    return InvalidArgumentError("ack \"seqs\" does not end with \"seq\"");
  }
  PL_ASSIGN_OR_RETURN(std::string record_hex, doc.GetString("record"));
  auto record = HexDecodeFixed(record_hex, 32);
  if (!record.ok()) return InvalidArgumentError("ack \"record\" is not 64 lowercase hex");
  ack.record = *record;
  PL_ASSIGN_OR_RETURN(ack.height, doc.GetInt("height"));
  return ack;
}

StatusOr<ErrorAnswer> ParseErrorAnswer(std::string_view json) {
  PL_ASSIGN_OR_RETURN(JsonValue doc, ParseV1Object(json));
  ErrorAnswer e;
  PL_ASSIGN_OR_RETURN(e.code, doc.GetString("code"));
  if (e.code.empty()) return InvalidArgumentError("error answer with an empty code");
  if (const JsonValue* r = doc.Find("reason"); r != nullptr && r->is_string()) {
    e.reason = r->string_value();
  }
  if (doc.Find("seq") != nullptr) {
    PL_ASSIGN_OR_RETURN(uint64_t seq, doc.GetInt("seq"));
    e.seq = seq;
  }
  if (doc.Find("item") != nullptr) {
    PL_ASSIGN_OR_RETURN(std::string item, doc.GetString("item"));
    e.item = std::move(item);
  }
  if (doc.Find("nonce") != nullptr) {
    PL_ASSIGN_OR_RETURN(std::string nonce_hex, doc.GetString("nonce"));
    auto nonce = HexDecodeFixed(nonce_hex, 16);
    if (!nonce.ok()) return InvalidArgumentError("error \"nonce\" is not 32 lowercase hex");
    e.nonce = *nonce;
  }
  return e;
}

}  // namespace provledger::device_sim
