// The MQTT v5 packets of a subscribing client (common/mqtt_consumer): encoders for what it
// sends (CONNECT, SUBSCRIBE, PUBACK, PINGREQ, DISCONNECT) and a decoder for what a broker
// sends it (CONNACK, PUBLISH, SUBACK, PINGRESP, DISCONNECT), as pure functions over bytes.
//
// The decoder reads bytes from the network, so it treats them as hostile: every length and
// variable byte integer is bounds-checked against the packet and the packet against
// `max_packet_size`, strings must be UTF-8 without U+0000 (MQTT v5 1.5.4), and a packet the
// client cannot get from a conforming broker (a PUBLISH at QoS 2 or 3, a topic alias, a
// packet type a broker never sends to a subscriber) is refused. Refusing ends the connection
// (MQTT v5 4.13), so nothing is lost: the broker's session keeps what was not acknowledged.
//
// Thread rules: pure functions; call from any thread.
#ifndef PROVLEDGER_COMMON_MQTT_PACKET_H_
#define PROVLEDGER_COMMON_MQTT_PACKET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/mqtt_message.h"
#include "common/status.h"

namespace provledger::mqtt {

// The largest Remaining Length a variable byte integer can hold (MQTT v5 1.5.5).
constexpr uint32_t kMaxRemainingLength = 268435455;

struct ConnectParams {
  std::string client_id;
  bool clean_start = true;
  uint16_t keepalive_s = 20;
  uint32_t session_expiry_s = 0;     // 0: the session ends with the connection
  uint16_t receive_maximum = 0;      // 0: not sent (the broker assumes 65535)
  uint32_t maximum_packet_size = 0;  // 0: not sent (no limit but the protocol's)
  std::string username;              // empty: none
  std::string password;              // sent only with a username, and only when non-empty
};

// CONNECT, protocol level 5. kInvalidArgument for a client id, username or password above
// 65535 bytes.
StatusOr<Bytes> EncodeConnect(const ConnectParams& p);
// SUBSCRIBE of every filter at `qos` (0 or 1; no-local, retain-as-published off, retain
// handling 0). kInvalidArgument for no filter, a filter above 65535 bytes, a packet id of 0.
StatusOr<Bytes> EncodeSubscribe(uint16_t packet_id, const std::vector<std::string>& filters,
                                int qos);
// PUBACK, reason 0 (success) left implicit (MQTT v5 3.4.2.1).
Bytes EncodePuback(uint16_t packet_id);
Bytes EncodePingreq();
// DISCONNECT, reason 0 (normal): the broker discards no session and sends no will.
Bytes EncodeDisconnect();

struct Connack {
  bool session_present = false;
  uint8_t reason = 0;  // >= 0x80: refused
  uint16_t receive_maximum = 65535;
  uint32_t maximum_packet_size = 0;  // 0: none given
  int server_keepalive_s = -1;       // -1: none given (keep ours)
  std::string assigned_client_id;
  std::string reason_string;
};

struct Publish {
  uint16_t packet_id = 0;  // 0 at QoS 0
  MqttMessage message;     // topic, payload, qos, retained, duplicate, user properties
};

struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> reasons;  // one per filter; >= 0x80: refused
};

struct Pingresp {};

struct Disconnect {
  uint8_t reason = 0;
  std::string reason_string;
};

using ServerPacket = std::variant<Connack, Publish, Suback, Pingresp, Disconnect>;

struct Decoded {
  size_t consumed = 0;  // 0: `bytes` holds only the start of a packet; read more
  ServerPacket packet;  // valid when consumed > 0
};

// Decodes the first packet of `bytes` (a stream from a broker, possibly holding several
// packets or part of one). OK with consumed == 0 when more bytes are needed (never more than
// 5 header bytes + max_packet_size are needed to decide); kResourceExhausted for a packet
// above `max_packet_size` (whole packet, fixed header included); kInvalidArgument for a
// malformed packet or one a broker does not send a subscriber (naming why).
StatusOr<Decoded> DecodeServerPacket(ByteView bytes, uint32_t max_packet_size);

// The PUBLISH a broker sends for `p` (tests and fuzz seeds; the client never publishes).
// kInvalidArgument for an empty topic, a QoS above 1, or a QoS 1 publish with packet id 0.
StatusOr<Bytes> EncodePublish(const Publish& p);

}  // namespace provledger::mqtt

#endif  // PROVLEDGER_COMMON_MQTT_PACKET_H_
