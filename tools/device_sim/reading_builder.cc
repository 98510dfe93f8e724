#include "tools/device_sim/reading_builder.h"

#include <utility>

#include "common/json.h"
#include "common/sha256.h"
#include "ledger/record.h"

namespace provledger::device_sim {

namespace {

// A malformed pl-seq: the same number with a leading zero.
void MalformSeq(UserProperties* props) {
  for (auto& [name, value] : *props) {
    if (name == "pl-seq") value = "0" + value;
  }
}

void FlipLowestBit(Bytes* b) {
  if (!b->empty()) b->back() = static_cast<char>(b->back() ^ 0x01);
}

// Applies `fault` to the hex value of property `name`.
void FlipProperty(UserProperties* props, const std::string& name) {
  for (auto& [n, value] : *props) {
    if (n != name) continue;
    StatusOr<Bytes> raw = HexDecode(value);
    if (!raw.ok()) return;
    FlipLowestBit(&*raw);
    value = HexEncode(*raw);
  }
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
  UserProperties props = device_protocol::MacProperties(r, payload, session);
  if (fault == Fault::kBadMac) FlipProperty(&props, "pl-mac");
  if (fault == Fault::kMalformed) MalformSeq(&props);
  return props;
}

StatusOr<UserProperties> SigProperties(const ReadingSpec& r, std::string_view payload,
                                       const PrivateKey& key, Fault fault) {
  return SigProperties(r, payload, LocalSigner(key), fault);
}

StatusOr<UserProperties> SigProperties(const ReadingSpec& r, std::string_view payload,
                                       const Signer& key, Fault fault) {
  PL_ASSIGN_OR_RETURN(UserProperties props, device_protocol::SigProperties(r, payload, key));
  if (fault == Fault::kBadSig) FlipProperty(&props, "pl-sig");
  if (fault == Fault::kMalformed) MalformSeq(&props);
  return props;
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
