#include "device_protocol/message_auth.h"

#include "common/sha256.h"

namespace provledger::device_protocol {

Bytes MessageDigest(const MessageSpec& spec, std::string_view payload) {
  return DataDigest(spec.device, spec.item, spec.seq, spec.ts, Sha256(payload));
}

UserProperties MacProperties(const MessageSpec& spec, std::string_view payload,
                             const Session& session) {
  return {{"pl-seq", std::to_string(spec.seq)},
          {"pl-ts", std::to_string(spec.ts)},
          {"pl-kid", HexEncode(session.kid)},
          {"pl-mac", HexEncode(HmacSha256(session.key, MessageDigest(spec, payload)))}};
}

StatusOr<UserProperties> SigProperties(const MessageSpec& spec, std::string_view payload,
                                       const PrivateKey& key) {
  PL_ASSIGN_OR_RETURN(Bytes sig, key.Sign(MessageDigest(spec, payload)));
  return UserProperties{{"pl-seq", std::to_string(spec.seq)},
                        {"pl-ts", std::to_string(spec.ts)},
                        {"pl-sig", HexEncode(sig)}};
}

}  // namespace provledger::device_protocol
