// KeyAgreement: the device side of one session-key exchange (PROTOCOL.md section 4). It
// makes the signed key request and checks the bridge's reply against it: gateway id and
// key, the reply's signature over this request's ephemeral key, and the kid of the key it
// derives itself. No I/O: the clock and randomness are passed in.
//
// Thread rules: a KeyAgreement is owned by the thread driving its device; not thread-safe.
#ifndef PROVLEDGER_DEVICE_PROTOCOL_KEY_AGREEMENT_H_
#define PROVLEDGER_DEVICE_PROTOCOL_KEY_AGREEMENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/signer.h"
#include "common/status.h"
#include "device_protocol/key_digests.h"

namespace provledger::device_protocol {

// The gateways a device accepts replies from. An empty id accepts any gateway id; a
// missing key skips the signature check (the kid is always checked).
struct GatewayTrust {
  std::string gateway_id;
  std::optional<Bytes> gateway_pubkey;  // 33 bytes
};

// A session agreed with a bridge.
struct Session {
  std::string gateway;
  Bytes key;             // 32 bytes; never logged
  Bytes kid;             // 8 bytes
  uint64_t expires = 0;  // bridge clock, ms
};

class KeyAgreement {
 public:
  // Draws the ephemeral secret (random(32), drawn again while not a valid scalar) and then
  // the nonce (random(16)), and signs the request for `device` at `now_ms` with
  // `device_key`. kInternal if no valid scalar comes in 8 draws or signing fails.
  static StatusOr<KeyAgreement> Start(const std::string& device, const PrivateKey& device_key,
                                      uint64_t now_ms, const RandomSource& random);
  // As above, the request signed by `device_key` (a key in a token, say): its error, if
  // signing fails, is returned as is (kUnavailable from a token that may come back).
  static StatusOr<KeyAgreement> Start(const std::string& device, const Signer& device_key,
                                      uint64_t now_ms, const RandomSource& random);

  // {"v":1,"device":..,"eph":..,"nonce":..,"ts":..,"sig":..}: publish to devices/{d}/key.
  const std::string& request_json() const { return request_json_; }
  const Bytes& nonce() const { return nonce_; }
  const Bytes& eph_public() const { return eph_public_; }

  // Checks a key/success payload and derives the session. kInvalidArgument for a
  // malformed reply ("v" not 1, missing fields, hex of the wrong size or case);
  // kPermissionDenied for a gateway id other than trust's; kUnauthenticated when the
  // signature does not verify with trust's key or the kid is not that of the derived key.
  StatusOr<Session> Finish(std::string_view reply_json, const GatewayTrust& trust) const;

 private:
  using SignFn = std::function<StatusOr<Bytes>(ByteView digest32)>;
  // The one code path of both Starts.
  static StatusOr<KeyAgreement> StartWith(const std::string& device, const SignFn& sign,
                                          uint64_t now_ms, const RandomSource& random);
  KeyAgreement(std::string device, PrivateKey eph_key)
      : device_(std::move(device)), eph_key_(std::move(eph_key)) {}

  std::string device_;
  PrivateKey eph_key_;
  Bytes eph_public_;
  Bytes nonce_;
  std::string request_json_;
};

}  // namespace provledger::device_protocol

#endif  // PROVLEDGER_DEVICE_PROTOCOL_KEY_AGREEMENT_H_
