// The verification header a device puts on what it publishes (PROTOCOL.md section 5): the
// pl- user properties of a reading, an integrity report (item "_integrity") or an install
// report (item "_update"), in MAC mode under a session or in signature mode with the
// device's static key. The bridge's side is device_message.h's ParseDeviceHeader.
//
// Thread rules: pure functions; safe from any thread.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_MESSAGE_AUTH_H_
#define PROVLEDGER_DEVICE_PROTOCOL_MESSAGE_AUTH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/signer.h"
#include "common/status.h"
#include "device_protocol/device_message.h"
#include "device_protocol/key_agreement.h"

namespace provledger::device_protocol {

// What one message's verification header covers: the topic's device, the item in D, and
// the message's pl-seq and pl-ts.
struct MessageSpec {
  std::string device;
  std::string item;
  uint64_t seq = 0;
  uint64_t ts = 0;
};

// D of section 5 for `payload` under `spec`.
Bytes MessageDigest(const MessageSpec& spec, std::string_view payload);

// pl-seq, pl-ts, pl-kid and pl-mac = HMAC-SHA256(session.key, D).
UserProperties MacProperties(const MessageSpec& spec, std::string_view payload,
                             const Session& session);

// pl-seq, pl-ts and pl-sig = the signature of `key` over D. kInternal if signing fails.
StatusOr<UserProperties> SigProperties(const MessageSpec& spec, std::string_view payload,
                                       const PrivateKey& key);
// As above, signed by `key` (a key in a token, say); its error, if signing fails, as is.
StatusOr<UserProperties> SigProperties(const MessageSpec& spec, std::string_view payload,
                                       const Signer& key);

}  // namespace provledger::device_protocol

#endif  // PROVLEDGER_DEVICE_PROTOCOL_MESSAGE_AUTH_H_
