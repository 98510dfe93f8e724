// The MQTT v5 packet codec of the consumer (common/mqtt_packet): encodings byte for byte,
// and the decoder on well-formed, partial, oversized and malformed input.
#include "common/mqtt_packet.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace provledger::mqtt {
namespace {

std::string B(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

Publish SamplePublish() {
  Publish p;
  p.packet_id = 0x1234;
  p.message.topic = "devices/dev-1/data/temp";
  p.message.payload = std::string("21.5\0x", 6);
  p.message.qos = 1;
  p.message.retained = false;
  p.message.duplicate = true;
  p.message.user_properties = {{"pl-seq", "7"}, {"pl-sig", "ab"}, {"pl-seq", "dup"}};
  return p;
}

TEST(MqttPacketTest, EncodesConnectSubscribePubackPing) {
  ConnectParams c;
  c.client_id = "br";
  c.clean_start = false;
  c.keepalive_s = 20;
  c.session_expiry_s = 604800;
  c.receive_maximum = 1024;
  c.username = "u";
  c.password = "pw";
  auto connect = EncodeConnect(c);
  ASSERT_TRUE(connect.ok());
  EXPECT_EQ(*connect,
            B({0x10, 30,   0,    4,    'M',  'Q', 'T', 'T', 5,   0xC0, 0, 20,  8, 0x11, 0,   9,
               0x3A, 0x80, 0x21, 0x04, 0x00, 0,   2,   'b', 'r', 0,    1, 'u', 0, 2,    'p', 'w'}));
  // No username: no password either, whatever is set; clean start.
  c.username.clear();
  c.clean_start = true;
  c.session_expiry_s = 0;
  c.receive_maximum = 0;
  EXPECT_EQ(*EncodeConnect(c),
            B({0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 20, 0, 0, 2, 'b', 'r'}));
  auto sub = EncodeSubscribe(5, {"a/#", "b"}, 1);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(*sub, B({0x82, 13, 0, 5, 0, 0, 3, 'a', '/', '#', 1, 0, 1, 'b', 1}));
  EXPECT_FALSE(EncodeSubscribe(0, {"a"}, 1).ok());
  EXPECT_FALSE(EncodeSubscribe(1, {}, 1).ok());
  EXPECT_FALSE(EncodeSubscribe(1, {"a"}, 2).ok());
  EXPECT_EQ(EncodePuback(0x0107), B({0x40, 2, 0x01, 0x07}));
  EXPECT_EQ(EncodePingreq(), B({0xC0, 0}));
  EXPECT_EQ(EncodeDisconnect(), B({0xE0, 0}));
  EXPECT_FALSE(EncodeConnect(ConnectParams{std::string(70000, 'x')}).ok());
}

TEST(MqttPacketTest, PublishRoundTripsWithEveryField) {
  const Publish p = SamplePublish();
  auto bytes = EncodePublish(p);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(static_cast<uint8_t>((*bytes)[0]), 0x3A);  // PUBLISH, DUP, QoS 1
  auto d = DecodeServerPacket(*bytes + "trailing", 1 << 20);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->consumed, bytes->size());
  const auto* got = std::get_if<Publish>(&d->packet);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->packet_id, 0x1234);
  EXPECT_EQ(got->message.topic, p.message.topic);
  EXPECT_EQ(got->message.payload, p.message.payload);
  EXPECT_EQ(got->message.qos, 1);
  EXPECT_TRUE(got->message.duplicate);
  EXPECT_FALSE(got->message.retained);
  EXPECT_EQ(got->message.user_properties, p.message.user_properties);

  Publish q0;
  q0.message.topic = "t";
  q0.message.retained = true;
  auto b0 = EncodePublish(q0);
  ASSERT_TRUE(b0.ok());
  auto d0 = DecodeServerPacket(*b0, 1 << 20);
  ASSERT_TRUE(d0.ok());
  const auto& m0 = std::get<Publish>(d0->packet);
  EXPECT_EQ(m0.packet_id, 0);
  EXPECT_EQ(m0.message.qos, 0);
  EXPECT_TRUE(m0.message.retained);
  EXPECT_TRUE(m0.message.payload.empty());
}

TEST(MqttPacketTest, EveryPrefixAsksForMore) {
  const std::string bytes = *EncodePublish(SamplePublish());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto d = DecodeServerPacket(std::string_view(bytes).substr(0, n), 1 << 20);
    ASSERT_TRUE(d.ok()) << n << ": " << d.status().ToString();
    EXPECT_EQ(d->consumed, 0u) << n;
  }
}

TEST(MqttPacketTest, RefusesPacketsAboveTheMaximumBeforeTheyArrive) {
  Publish p = SamplePublish();
  p.message.payload.assign(1000, 'x');
  const std::string bytes = *EncodePublish(p);
  // Only the fixed header is here: the size is known and refused without waiting.
  auto d = DecodeServerPacket(std::string_view(bytes).substr(0, 3), 500);
  EXPECT_EQ(d.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(DecodeServerPacket(bytes, static_cast<uint32_t>(bytes.size())).ok());
  EXPECT_EQ(DecodeServerPacket(bytes, static_cast<uint32_t>(bytes.size() - 1)).status().code(),
            StatusCode::kResourceExhausted);
  // The largest Remaining Length (4 bytes) against a small limit.
  EXPECT_EQ(DecodeServerPacket(B({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), 1 << 20).status().code(),
            StatusCode::kResourceExhausted);
}

void ExpectMalformed(const std::string& bytes, const char* what) {
  auto d = DecodeServerPacket(bytes, 1 << 20);
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument)
      << what << ": " << d.status().ToString();
}

TEST(MqttPacketTest, RefusesMalformedPackets) {
  ExpectMalformed(B({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), "five-byte Remaining Length");
  // PUBLISH QoS 1, topic "t", packet id 1, property length 5 with 0 bytes left.
  ExpectMalformed(B({0x32, 6, 0, 1, 't', 0, 1, 5}), "property length beyond the packet");
  ExpectMalformed(B({0x32, 4, 0, 9, 't', 0}), "topic length beyond the packet");
  ExpectMalformed(B({0x34, 6, 0, 1, 't', 0, 1, 0}), "QoS 2");
  ExpectMalformed(B({0x36, 6, 0, 1, 't', 0, 1, 0}), "QoS 3");
  ExpectMalformed(B({0x38, 4, 0, 1, 't', 0}), "DUP at QoS 0");
  ExpectMalformed(B({0x32, 6, 0, 1, 't', 0, 0, 0}), "packet id 0");
  ExpectMalformed(B({0x30, 3, 0, 0, 0}), "empty topic");
  ExpectMalformed(B({0x30, 4, 0, 1, 0, 0}), "NUL in the topic");
  ExpectMalformed(B({0x30, 5, 0, 2, 0xC0, 0x80, 0}), "overlong UTF-8");
  ExpectMalformed(B({0x30, 6, 0, 3, 0xED, 0xA0, 0x80, 0}), "a surrogate");
  ExpectMalformed(B({0x30, 4, 0, 1, 0xFF, 0}), "not UTF-8");
  ExpectMalformed(B({0x30, 4, 0, 1, '#', 0}), "a wildcard topic");
  ExpectMalformed(B({0x30, 7, 0, 1, 't', 3, 0x23, 0, 1}), "a topic alias");
  ExpectMalformed(B({0x30, 6, 0, 1, 't', 2, 0x7F, 0}), "an unknown property");
  ExpectMalformed(B({0x30, 9, 0, 1, 't', 5, 0x26, 0, 1, 'k', 0}), "a user property cut short");
  ExpectMalformed(B({0x62, 2, 0, 1}), "PUBREL (never sent at QoS <= 1)");
  ExpectMalformed(B({0x10, 0}), "CONNECT from the broker");
  ExpectMalformed(B({0xD0, 1, 0}), "PINGRESP with a body");
  ExpectMalformed(B({0x90, 3, 0, 1, 0}), "SUBACK without a reason code");
  ExpectMalformed(B({0x20, 2, 0, 0}), "CONNACK without a property length");
  ExpectMalformed(B({0x20, 3, 2, 0, 0}), "CONNACK with reserved flags");
  ExpectMalformed(B({0x20, 6, 0, 0, 3, 0x21, 0, 0}), "Receive Maximum 0");
}

TEST(MqttPacketTest, DecodesConnackSubackPingrespDisconnect) {
  // Session present; Receive Maximum 20, Server Keep Alive 5, assigned id "x".
  auto c = DecodeServerPacket(B({0x20, 13, 1, 0, 10, 0x21, 0, 20, 0x13, 0, 5, 0x12, 0, 1, 'x'}),
                              1 << 20);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& ack = std::get<Connack>(c->packet);
  EXPECT_TRUE(ack.session_present);
  EXPECT_EQ(ack.reason, 0);
  EXPECT_EQ(ack.receive_maximum, 20);
  EXPECT_EQ(ack.server_keepalive_s, 5);
  EXPECT_EQ(ack.assigned_client_id, "x");
  auto refused = DecodeServerPacket(B({0x20, 3, 0, 0x87, 0}), 1 << 20);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(std::get<Connack>(refused->packet).reason, 0x87);

  auto s = DecodeServerPacket(B({0x90, 5, 0, 9, 0, 1, 0x87}), 1 << 20);
  ASSERT_TRUE(s.ok());
  const auto& suback = std::get<Suback>(s->packet);
  EXPECT_EQ(suback.packet_id, 9);
  EXPECT_EQ(suback.reasons, (std::vector<uint8_t>{1, 0x87}));

  auto p = DecodeServerPacket(B({0xD0, 0}), 1 << 20);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(std::holds_alternative<Pingresp>(p->packet));

  auto d0 = DecodeServerPacket(B({0xE0, 0}), 1 << 20);
  ASSERT_TRUE(d0.ok());
  EXPECT_EQ(std::get<Disconnect>(d0->packet).reason, 0);
  auto d1 = DecodeServerPacket(B({0xE0, 6, 0x8E, 4, 0x1F, 0, 1, 'z'}), 1 << 20);
  ASSERT_TRUE(d1.ok()) << d1.status().ToString();
  EXPECT_EQ(std::get<Disconnect>(d1->packet).reason, 0x8E);
  EXPECT_EQ(std::get<Disconnect>(d1->packet).reason_string, "z");
}

}  // namespace
}  // namespace provledger::mqtt
