#include "tools/device_sim/reading_builder.h"

#include <utility>

#include "common/json.h"
#include "common/sha256.h"
#include "ledger/record.h"

namespace provledger::device_sim {

namespace {

Bytes ReadingDigest(const ReadingSpec& r, std::string_view payload) {
  return ledger::DataDigest(r.device, r.item, r.seq, r.ts, Sha256(payload));
}

std::string SeqText(uint64_t seq, Fault fault) {
  return (fault == Fault::kMalformed ? "0" : "") + std::to_string(seq);
}

void FlipLowestBit(Bytes* b) {
  if (!b->empty()) b->back() = static_cast<char>(b->back() ^ 0x01);
}

}  // namespace

std::string GeneratePayload(uint64_t n, uint64_t size) {
  const uint64_t tenths = 200 + n % 50;
  std::string p = "{\"value\":" + std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) +
                  ",\"n\":" + std::to_string(n);
  const std::string pad_open = ",\"pad\":\"";
  const size_t min_padded = p.size() + pad_open.size() + 2;  // closing quote and brace
  if (size >= min_padded) {
    p += pad_open + std::string(size - min_padded, 'x') + "\"";
  }
  return p + "}";
}

UserProperties MacProperties(const ReadingSpec& r, std::string_view payload, const Session& session,
                             Fault fault) {
  Bytes mac = HmacSha256(session.key, ReadingDigest(r, payload));
  if (fault == Fault::kBadMac) FlipLowestBit(&mac);
  return {{"pl-seq", SeqText(r.seq, fault)},
          {"pl-ts", std::to_string(r.ts)},
          {"pl-kid", HexEncode(session.kid)},
          {"pl-mac", HexEncode(mac)}};
}

StatusOr<UserProperties> SigProperties(const ReadingSpec& r, std::string_view payload,
                                       const PrivateKey& key, Fault fault) {
  PL_ASSIGN_OR_RETURN(Bytes sig, key.Sign(ReadingDigest(r, payload)));
  if (fault == Fault::kBadSig) FlipLowestBit(&sig);
  return UserProperties{{"pl-seq", SeqText(r.seq, fault)},
                        {"pl-ts", std::to_string(r.ts)},
                        {"pl-sig", HexEncode(sig)}};
}

std::string SentMessageJson(const SentMessage& m) {
  JsonValue o = JsonValue::Object();
  o.Set("device", JsonValue::String(m.device));
  o.Set("item", JsonValue::String(m.item));
  o.Set("seq", JsonValue::Int(m.seq));
  o.Set("topic", JsonValue::String(m.topic));
  o.Set("payload", JsonValue::String(HexEncode(m.payload)));
  JsonValue props = JsonValue::Array();
  for (const auto& [k, v] : m.props) {
    props.Push(JsonValue::Array({JsonValue::String(k), JsonValue::String(v)}));
  }
  o.Set("props", std::move(props));
  return WriteJson(o);
}

StatusOr<SentMessage> ParseSentMessage(std::string_view line) {
  PL_ASSIGN_OR_RETURN(JsonValue o, ParseJson(line));
  if (!o.is_object()) return InvalidArgumentError("sent message is not a JSON object");
  SentMessage m;
  PL_ASSIGN_OR_RETURN(m.device, o.GetString("device"));
  PL_ASSIGN_OR_RETURN(m.item, o.GetString("item"));
  PL_ASSIGN_OR_RETURN(m.seq, o.GetInt("seq"));
  PL_ASSIGN_OR_RETURN(m.topic, o.GetString("topic"));
  PL_ASSIGN_OR_RETURN(std::string payload_hex, o.GetString("payload"));
  PL_ASSIGN_OR_RETURN(m.payload, HexDecode(payload_hex));
  PL_ASSIGN_OR_RETURN(const JsonValue* props, o.GetArray("props"));
  for (const JsonValue& p : props->items()) {
    if (!p.is_array() || p.items().size() != 2 || !p.items()[0].is_string() ||
        !p.items()[1].is_string()) {
      return InvalidArgumentError("sent message \"props\" must hold [name, value] pairs");
    }
    m.props.emplace_back(p.items()[0].string_value(), p.items()[1].string_value());
  }
  if (!ledger::IsValidName(m.device) || m.seq == 0) {
    return InvalidArgumentError("sent message has a bad device or seq");
  }
  return m;
}

}  // namespace provledger::device_sim
