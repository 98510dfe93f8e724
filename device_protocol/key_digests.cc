#include "device_protocol/key_digests.h"

#include "common/sha256.h"

namespace provledger {
namespace device_protocol {

Bytes KeyRequestDigest(std::string_view device, ByteView eph, ByteView nonce, uint64_t ts) {
  Bytes m = "pl/v1/key-request";
  AppendStr0(&m, device);
  m.append(eph);
  m.append(nonce);
  AppendU64(&m, ts);
  return Sha256(m);
}

Bytes KeyReplyDigest(std::string_view device, std::string_view gateway, ByteView device_eph,
                     ByteView bridge_eph, ByteView bridge_nonce, ByteView kid, uint64_t expires) {
  Bytes m = "pl/v1/key-reply";
  AppendStr0(&m, device);
  AppendStr0(&m, gateway);
  m.append(device_eph);
  m.append(bridge_eph);
  m.append(bridge_nonce);
  m.append(kid);
  AppendU64(&m, expires);
  return Sha256(m);
}

StatusOr<Bytes> DeriveSessionKey(ByteView shared, ByteView device_nonce, ByteView bridge_nonce,
                                 std::string_view device) {
  if (shared.size() != 32 || device_nonce.size() != kNonceSize ||
      bridge_nonce.size() != kNonceSize) {
    return InvalidArgumentError("session key: bad input sizes");
  }
  Bytes salt(device_nonce);
  salt.append(bridge_nonce);
  Bytes info = "pl/v1/session";
  AppendStr0(&info, device);
  return HkdfSha256(shared, salt, info, kSessionKeySize);
}

Bytes SessionKid(ByteView session_key) { return Sha256(session_key).substr(0, 8); }

}  // namespace device_protocol
}  // namespace provledger
