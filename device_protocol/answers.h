// The JSON payloads the bridge answers devices with (PROTOCOL.md sections 3 and 4).
// Compact JSON, members in the order the protocol writes them, "v":1 first.
//
// Thread rules: pure functions; safe from any thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_ANSWERS_H_
#define PROVLEDGER_DEVICE_PROTOCOL_ANSWERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "device_protocol/error_codes.h"

namespace provledger {
namespace device_protocol {

// {"v":1,"code":..,"reason":..[,"seq":N][,"item":..][,"nonce":"<32 hex>"]}.
// `nonce` is the 16 raw bytes of a key request's nonce; `reason` is for people and must
// hold no key, secret or payload.
std::string ErrorJson(DeviceError error, std::string_view reason,
                      std::optional<uint64_t> seq = std::nullopt,
                      std::optional<std::string> item = std::nullopt,
                      std::optional<Bytes> nonce = std::nullopt);

// {"v":1,"seq":N,"seqs":[..],"recorded":true,"record":"<64 hex>","height":H}: the readings
// `seqs` (ascending, each once, `seq` the highest) committed at `height`, `seq` being
// record `record_id` (32 raw bytes).
std::string AckJson(uint64_t seq, const std::vector<uint64_t>& seqs, ByteView record_id,
                    uint64_t height);

// {"v":1,"seq":N,"recorded":false}: accepted, and left off the ledger by the write policy.
std::string SkippedAckJson(uint64_t seq);

// {"v":1,"seq":N,"verdict":"trusted"|"untrusted","failures":[{"path":..,"hash":..},..],
//  "record":"<64 hex>","height":H}: section 7's answer once the attestation `record_id` (32
// raw bytes) of report `seq` is committed at `height`; `failures` (path, hash) in report
// order, as the report wrote them.
std::string VerdictJson(uint64_t seq, bool trusted,
                        const std::vector<std::pair<std::string, std::string>>& failures,
                        ByteView record_id, uint64_t height);

// The key reply of section 4, raw bytes of the stated sizes.
struct KeyReply {
  std::string gateway;
  Bytes eph;    // bridge ephemeral public key, 33
  Bytes nonce;  // bridge nonce, 16
  Bytes kid;    // 8
  uint64_t expires = 0;
  Bytes sig;  // gateway signature over the key-reply digest, 64
};

// {"v":1,"gateway":..,"eph":..,"nonce":..,"kid":..,"expires":..,"sig":..}.
std::string KeyReplyJson(const KeyReply& reply);

}  // namespace device_protocol
}  // namespace provledger

#endif  // PROVLEDGER_DEVICE_PROTOCOL_ANSWERS_H_
