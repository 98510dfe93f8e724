// Readings as a device publishes them (PROTOCOL.md section 5): generated payloads, the
// pl- user properties in MAC or signature mode with optional injected faults, and the
// one-line JSON form of a sent message kept for replaying it verbatim later.
//
// Thread rules: pure functions over values; safe from any thread.
#ifndef PROVLEDGER_TOOLS_DEVICE_SIM_READING_BUILDER_H_
#define PROVLEDGER_TOOLS_DEVICE_SIM_READING_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/signer.h"
#include "common/status.h"
#include "device_protocol/device_message.h"
#include "device_protocol/key_agreement.h"
#include "device_protocol/message_auth.h"
#include "tools/device_sim/sim_options.h"

namespace provledger::device_sim {

using device_protocol::UserProperties;

// A stale pl-ts lies this far in the past (twice the default clock window).
constexpr uint64_t kStaleOffsetMs = 600000;

// Reading `n` of a device: {"value":V,"n":n} (V from 20.0 to 24.9 by n), padded with a
// "pad" member of 'x's to exactly `size` bytes when size is larger than that.
std::string GeneratePayload(uint64_t n, uint64_t size);

// What goes into one reading's verification header.
using ReadingSpec = device_protocol::MessageSpec;
using device_protocol::GatewayTrust;
using device_protocol::KeyAgreement;
using device_protocol::Session;

// pl-seq, pl-ts, pl-kid, pl-mac over D (section 5) under `session`. Faults: kBadMac flips
// the MAC's lowest bit; kMalformed writes pl-seq with a leading zero; kStale is the
// caller's (it picks ts). Others do not change MAC properties.
UserProperties MacProperties(const ReadingSpec& r, std::string_view payload, const Session& session,
                             Fault fault);

// pl-seq, pl-ts, pl-sig over D with `key`. kBadSig flips the signature's lowest bit;
// kMalformed as above. kInternal if signing fails.
StatusOr<UserProperties> SigProperties(const ReadingSpec& r, std::string_view payload,
                                       const PrivateKey& key, Fault fault);
// As above, signed by `key` (in memory or in a token); its error, if signing fails, as is.
StatusOr<UserProperties> SigProperties(const ReadingSpec& r, std::string_view payload,
                                       const Signer& key, Fault fault);

// A published reading, as replayed verbatim.
struct SentMessage {
  std::string device;
  std::string item;
  uint64_t seq = 0;
  std::string topic;
  std::string payload;
  UserProperties props;
};

// One line of JSON: {"device":..,"item":..,"seq":N,"topic":..,"payload":"<hex>",
// "props":[[name,value],..]} (no newline).
std::string SentMessageJson(const SentMessage& m);
// Inverse of SentMessageJson. kInvalidArgument for anything else.
StatusOr<SentMessage> ParseSentMessage(std::string_view line);

}  // namespace provledger::device_sim

#endif  // PROVLEDGER_TOOLS_DEVICE_SIM_READING_BUILDER_H_
