// Fuzzes the MQTT v5 decoder of the bridge's consumer (common/mqtt_packet.h), which reads
// what comes from the broker's socket: the input is a byte stream framed as the consumer
// frames it (packet after packet until one is incomplete or refused). Invariants: a decoded
// packet consumes at least its 2 header bytes and no more than the stream holds; a packet
// above the limit is refused before it is complete; a PUBLISH re-encodes to at most its own
// size and decodes back to the same message; a strict prefix of a decoded packet asks for
// more bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/mqtt_packet.h"
#include "tests/fuzz/fuzz_check.h"

namespace mqtt = ::provledger::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the limit: 64 B .. 16 MiB, so both sides of it are reached.
  const uint32_t max = 64u << (data[0] % 19);
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!stream.empty()) {
    auto d = mqtt::DecodeServerPacket(stream, max);
    if (!d.ok()) break;
    if (d->consumed == 0) break;
    FUZZ_CHECK(d->consumed >= 2 && d->consumed <= stream.size() && d->consumed <= max);
    const std::string_view packet = stream.substr(0, d->consumed);
    auto prefix = mqtt::DecodeServerPacket(packet.substr(0, packet.size() - 1), max);
    FUZZ_CHECK(prefix.ok() && prefix->consumed == 0);
    if (const auto* p = std::get_if<mqtt::Publish>(&d->packet)) {
      FUZZ_CHECK(!p->message.topic.empty() && p->message.qos <= 1);
      FUZZ_CHECK((p->message.qos == 1) == (p->packet_id != 0));
      auto again = mqtt::EncodePublish(*p);
      FUZZ_CHECK(again.ok() && again->size() <= packet.size());
      auto back = mqtt::DecodeServerPacket(*again, max);
      FUZZ_CHECK(back.ok() && back->consumed == again->size());
      const auto& q = std::get<mqtt::Publish>(back->packet);
      FUZZ_CHECK(q.packet_id == p->packet_id && q.message.topic == p->message.topic &&
                 q.message.payload == p->message.payload && q.message.qos == p->message.qos &&
                 q.message.retained == p->message.retained &&
                 q.message.duplicate == p->message.duplicate &&
                 q.message.user_properties == p->message.user_properties);
    }
    stream.remove_prefix(d->consumed);
  }
  return 0;
}
