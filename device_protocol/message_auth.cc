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

namespace {

// The one code path of both SigProperties.
template <typename Key>
StatusOr<UserProperties> SigPropertiesWith(const MessageSpec& spec, std::string_view payload,
                                           const Key& key) {
  PL_ASSIGN_OR_RETURN(Bytes sig, key.Sign(MessageDigest(spec, payload)));
  return UserProperties{{"pl-seq", std::to_string(spec.seq)},
                        {"pl-ts", std::to_string(spec.ts)},
                        {"pl-sig", HexEncode(sig)}};
}

}  // namespace

StatusOr<UserProperties> SigProperties(const MessageSpec& spec, std::string_view payload,
                                       const PrivateKey& key) {
  return SigPropertiesWith(spec, payload, key);
}

StatusOr<UserProperties> SigProperties(const MessageSpec& spec, std::string_view payload,
                                       const Signer& key) {
  return SigPropertiesWith(spec, payload, key);
}

}  // namespace provledger::device_protocol
