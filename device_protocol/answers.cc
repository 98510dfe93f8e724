#include "device_protocol/answers.h"

#include <utility>

#include "common/json.h"

namespace provledger {
namespace device_protocol {

std::string ErrorJson(DeviceError error, std::string_view reason, std::optional<uint64_t> seq,
                      std::optional<std::string> item, std::optional<Bytes> nonce) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("code", JsonValue::String(std::string(DeviceErrorCode(error))));
  o.Set("reason", JsonValue::String(std::string(reason)));
  if (seq) o.Set("seq", JsonValue::Int(*seq));
  if (item) o.Set("item", JsonValue::String(std::move(*item)));
  if (nonce) o.Set("nonce", JsonValue::String(HexEncode(*nonce)));
  return WriteJson(o);
}

std::string AckJson(uint64_t seq, const std::vector<uint64_t>& seqs, ByteView record_id,
                    uint64_t height) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("seq", JsonValue::Int(seq));
  JsonValue list = JsonValue::Array();
  for (uint64_t s : seqs) list.Push(JsonValue::Int(s));
  o.Set("seqs", std::move(list));
  o.Set("recorded", JsonValue::Bool(true));
  o.Set("record", JsonValue::String(HexEncode(record_id)));
  o.Set("height", JsonValue::Int(height));
  return WriteJson(o);
}

std::string SkippedAckJson(uint64_t seq) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("seq", JsonValue::Int(seq));
  o.Set("recorded", JsonValue::Bool(false));
  return WriteJson(o);
}

std::string VerdictJson(uint64_t seq, bool trusted,
                        const std::vector<std::pair<std::string, std::string>>& failures,
                        ByteView record_id, uint64_t height) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("seq", JsonValue::Int(seq));
  o.Set("verdict", JsonValue::String(trusted ? "trusted" : "untrusted"));
  JsonValue list = JsonValue::Array();
  for (const auto& [path, hash] : failures) {
    JsonValue f = JsonValue::Object();
    f.Set("path", JsonValue::String(path));
    f.Set("hash", JsonValue::String(hash));
    list.Push(std::move(f));
  }
  o.Set("failures", std::move(list));
  o.Set("record", JsonValue::String(HexEncode(record_id)));
  o.Set("height", JsonValue::Int(height));
  return WriteJson(o);
}

std::string KeyReplyJson(const KeyReply& reply) {
  JsonValue o = JsonValue::Object();
  o.Set("v", JsonValue::Int(1));
  o.Set("gateway", JsonValue::String(reply.gateway));
  o.Set("eph", JsonValue::String(HexEncode(reply.eph)));
  o.Set("nonce", JsonValue::String(HexEncode(reply.nonce)));
  o.Set("kid", JsonValue::String(HexEncode(reply.kid)));
  o.Set("expires", JsonValue::Int(reply.expires));
  o.Set("sig", JsonValue::String(HexEncode(reply.sig)));
  return WriteJson(o);
}

}  // namespace device_protocol
}  // namespace provledger
