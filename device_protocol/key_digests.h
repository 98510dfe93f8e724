// Key agreement (PROTOCOL.md section 4), both sides: the digests a key request and a key
// reply sign, and the session key and kid both sides derive. Pure functions, no state.
//
// Thread rules: all functions are thread-safe (no shared state).
#ifndef PROVLEDGER_DEVICE_PROTOCOL_KEY_DIGESTS_H_
#define PROVLEDGER_DEVICE_PROTOCOL_KEY_DIGESTS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger {
namespace device_protocol {

// Returns `n` random bytes (production: provledger::RandomBytes; tests: fixed bytes).
using RandomSource = std::function<Bytes(size_t n)>;

constexpr size_t kNonceSize = 16;
constexpr size_t kSessionKeySize = 32;

// SHA256("pl/v1/key-request" || str0(device) || eph (33) || nonce (16) || u64be(ts)).
Bytes KeyRequestDigest(std::string_view device, ByteView eph, ByteView nonce, uint64_t ts);

// SHA256("pl/v1/key-reply" || str0(device) || str0(gateway) || device_eph (33) ||
// bridge_eph (33) || bridge_nonce (16) || kid (8) || u64be(expires)).
Bytes KeyReplyDigest(std::string_view device, std::string_view gateway, ByteView device_eph,
                     ByteView bridge_eph, ByteView bridge_nonce, ByteView kid, uint64_t expires);

// HKDF-SHA256(IKM = shared, salt = device_nonce || bridge_nonce,
// info = "pl/v1/session" || str0(device), L = 32). kInvalidArgument on bad sizes.
StatusOr<Bytes> DeriveSessionKey(ByteView shared, ByteView device_nonce, ByteView bridge_nonce,
                                 std::string_view device);

// kid = the first 8 bytes of SHA256(session_key).
Bytes SessionKid(ByteView session_key);

}  // namespace device_protocol
}  // namespace provledger

#endif  // PROVLEDGER_DEVICE_PROTOCOL_KEY_DIGESTS_H_
