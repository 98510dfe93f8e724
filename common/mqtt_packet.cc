#include "common/mqtt_packet.h"

#include <string>
#include <utility>

namespace provledger::mqtt {

namespace {

// Packet types (MQTT v5 2.1.2).
constexpr uint8_t kConnect = 1, kConnack = 2, kPublish = 3, kPuback = 4, kSubscribe = 8,
                  kSuback = 9, kPingreq = 12, kPingresp = 13, kDisconnect = 14;

// Property identifiers (MQTT v5 2.2.2.2) the decoder reads or the encoder writes.
constexpr uint8_t kPropSessionExpiry = 0x11, kPropAssignedClientId = 0x12,
                  kPropServerKeepalive = 0x13, kPropReasonString = 0x1F, kPropReceiveMaximum = 0x21,
                  kPropTopicAlias = 0x23, kPropUserProperty = 0x26, kPropMaximumPacketSize = 0x27;

void PutU16(Bytes* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xFF));
}

void PutU32(Bytes* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xFF));
}

void PutVarint(Bytes* out, uint32_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v > 0) b |= 0x80;
    out->push_back(static_cast<char>(b));
  } while (v > 0);
}

Status PutString(Bytes* out, std::string_view s, const char* what) {
  if (s.size() > 65535) return InvalidArgumentError(std::string(what) + " above 65535 bytes");
  PutU16(out, static_cast<uint16_t>(s.size()));
  out->append(s.data(), s.size());
  return OkStatus();
}

// Fixed header (type, flags, Remaining Length) + body.
Bytes Frame(uint8_t type, uint8_t flags, const Bytes& body) {
  Bytes out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<char>((type << 4) | flags));
  PutVarint(&out, static_cast<uint32_t>(body.size()));
  out += body;
  return out;
}

// Well-formed UTF-8 (no overlong form, no surrogate, at most U+10FFFF) without U+0000:
// MQTT v5 1.5.4's rules for a UTF-8 Encoded String.
bool ValidMqttUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Reads one packet's body; every read is checked against what is left.
class Reader {
 public:
  explicit Reader(ByteView b) : b_(b) {}
  size_t left() const { return b_.size() - pos_; }
  bool U8(uint8_t* v) {
    if (left() < 1) return false;
    *v = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  bool U16(uint16_t* v) {
    if (left() < 2) return false;
    *v = static_cast<uint16_t>((static_cast<uint8_t>(b_[pos_]) << 8) |
                               static_cast<uint8_t>(b_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    if (left() < 4) return false;
    uint32_t x = 0;
    for (int k = 0; k < 4; ++k) x = (x << 8) | static_cast<uint8_t>(b_[pos_ + k]);
    pos_ += 4;
    *v = x;
    return true;
  }
  // A variable byte integer: at most 4 bytes, minimal encoding not required (1.5.5 only
  // asks the sender for it), value <= kMaxRemainingLength by construction.
  bool Varint(uint32_t* v) {
    uint32_t x = 0;
    for (int k = 0; k < 4; ++k) {
      uint8_t b;
      if (!U8(&b)) return false;
      x |= static_cast<uint32_t>(b & 0x7F) << (7 * k);
      if ((b & 0x80) == 0) {
        *v = x;
        return true;
      }
    }
    return false;  // a fifth byte: malformed
  }
  bool Raw(size_t n, std::string* out) {
    if (left() < n) return false;
    out->assign(b_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool Binary(std::string* out) {
    uint16_t n;
    return U16(&n) && Raw(n, out);
  }
  bool Utf8(std::string* out) { return Binary(out) && ValidMqttUtf8(*out); }
  // The rest of the body.
  std::string Rest() {
    std::string out(b_.substr(pos_));
    pos_ = b_.size();
    return out;
  }
  // A sub-reader over the next n bytes (the property block), skipped here.
  bool Sub(size_t n, Reader* sub) {
    if (left() < n) return false;
    *sub = Reader(b_.substr(pos_, n));
    pos_ += n;
    return true;
  }

 private:
  ByteView b_;
  size_t pos_ = 0;
};

Status Malformed(const std::string& why) { return InvalidArgumentError("mqtt: " + why); }

// What a property block holds that a subscriber uses; the rest is read and skipped.
struct Properties {
  uint32_t session_expiry = 0;
  int server_keepalive = -1;
  uint16_t receive_maximum = 65535;
  uint32_t maximum_packet_size = 0;
  bool topic_alias = false;
  std::string assigned_client_id;
  std::string reason_string;
  UserProperties user;
};

// Reads a property block (its varint length, then the properties), refusing an unknown
// identifier (2.2.2.2: malformed) or one whose value does not fit.
Status ReadProperties(Reader* r, Properties* out) {
  uint32_t len;
  Reader p(ByteView{});
  if (!r->Varint(&len) || !r->Sub(len, &p)) return Malformed("property length beyond the packet");
  while (p.left() > 0) {
    uint32_t id;
    if (!p.Varint(&id)) return Malformed("property identifier");
    // Zero, not indeterminate, where a truncated value is read (then refused below).
    uint8_t b8 = 0;
    uint16_t b16 = 0;
    uint32_t b32 = 0;
    std::string s, v;
    bool ok;
    switch (id) {
      case 0x01:
      case 0x17:
      case 0x19:
      case 0x24:
      case 0x25:
      case 0x28:
      case 0x29:
      case 0x2A:
        ok = p.U8(&b8);
        break;
      case kPropServerKeepalive:
        ok = p.U16(&b16);
        out->server_keepalive = b16;
        break;
      case kPropReceiveMaximum:
        ok = p.U16(&b16) && b16 > 0;  // 0 is a protocol error (3.2.2.3.3)
        out->receive_maximum = b16;
        break;
      case kPropTopicAlias:
        ok = p.U16(&b16);
        out->topic_alias = true;
        break;
      case 0x22:
        ok = p.U16(&b16);
        break;
      case kPropSessionExpiry:
        ok = p.U32(&out->session_expiry);
        break;
      case kPropMaximumPacketSize:
        ok = p.U32(&b32) && b32 > 0;
        out->maximum_packet_size = b32;
        break;
      case 0x02:
      case 0x18:
        ok = p.U32(&b32);
        break;
      case 0x0B:
        ok = p.Varint(&b32) && b32 > 0;
        break;
      case kPropAssignedClientId:
        ok = p.Utf8(&out->assigned_client_id);
        break;
      case kPropReasonString:
        ok = p.Utf8(&out->reason_string);
        break;
      case 0x03:
      case 0x08:
      case 0x15:
      case 0x1A:
      case 0x1C:
        ok = p.Utf8(&s);
        break;
      case 0x09:
      case 0x16:
        ok = p.Binary(&s);
        break;
      case kPropUserProperty:
        ok = p.Utf8(&s) && p.Utf8(&v);
        if (ok) out->user.emplace_back(std::move(s), std::move(v));
        break;
      default:
        return Malformed("unknown property 0x" + std::to_string(id));
    }
    if (!ok) return Malformed("property 0x" + std::to_string(id) + " does not parse");
  }
  return OkStatus();
}

StatusOr<ServerPacket> DecodeBody(uint8_t type, uint8_t flags, ByteView body) {
  Reader r(body);
  Properties props;
  switch (type) {
    case kConnack: {
      uint8_t ack, reason;
      if (flags != 0 || !r.U8(&ack) || !r.U8(&reason) || (ack & 0xFE) != 0) {
        return Malformed("CONNACK header");
      }
      PL_RETURN_IF_ERROR(ReadProperties(&r, &props));
      if (r.left() != 0) return Malformed("CONNACK: trailing bytes");
      Connack c;
      c.session_present = (ack & 1) != 0;
      c.reason = reason;
      c.receive_maximum = props.receive_maximum;
      c.maximum_packet_size = props.maximum_packet_size;
      c.server_keepalive_s = props.server_keepalive;
      c.assigned_client_id = std::move(props.assigned_client_id);
      c.reason_string = std::move(props.reason_string);
      return ServerPacket(std::move(c));
    }
    case kPublish: {
      Publish p;
      const int qos = (flags >> 1) & 3;
      if (qos > 1)
        return Malformed("PUBLISH at QoS " + std::to_string(qos) + " (subscribed at <= 1)");
      p.message.qos = qos;
      p.message.retained = (flags & 1) != 0;
      p.message.duplicate = (flags & 8) != 0;
      if (qos == 0 && p.message.duplicate) return Malformed("PUBLISH: DUP at QoS 0");
      if (!r.Utf8(&p.message.topic)) return Malformed("PUBLISH topic");
      if (p.message.topic.empty())
        return Malformed("PUBLISH without a topic (no alias was allowed)");
      if (p.message.topic.find_first_of("+#") != std::string::npos) {
        return Malformed("PUBLISH topic holds a wildcard");
      }
      if (qos > 0 && (!r.U16(&p.packet_id) || p.packet_id == 0)) {
        return Malformed("PUBLISH packet id");
      }
      PL_RETURN_IF_ERROR(ReadProperties(&r, &props));
      if (props.topic_alias) return Malformed("PUBLISH with a topic alias (none was allowed)");
      p.message.user_properties = std::move(props.user);
      p.message.payload = r.Rest();
      return ServerPacket(std::move(p));
    }
    case kSuback: {
      Suback s;
      if (flags != 0 || !r.U16(&s.packet_id) || s.packet_id == 0) return Malformed("SUBACK header");
      PL_RETURN_IF_ERROR(ReadProperties(&r, &props));
      if (r.left() == 0) return Malformed("SUBACK without a reason code");
      const std::string codes = r.Rest();
      s.reasons.assign(codes.begin(), codes.end());
      return ServerPacket(std::move(s));
    }
    case kPingresp:
      if (flags != 0 || !body.empty()) return Malformed("PINGRESP");
      return ServerPacket(Pingresp{});
    case kDisconnect: {
      Disconnect d;
      if (flags != 0) return Malformed("DISCONNECT flags");
      if (r.left() > 0) {  // 3.14.2.1: no reason code means 0
        if (!r.U8(&d.reason)) return Malformed("DISCONNECT reason");
        if (r.left() > 0) PL_RETURN_IF_ERROR(ReadProperties(&r, &props));
        if (r.left() != 0) return Malformed("DISCONNECT: trailing bytes");
        d.reason_string = std::move(props.reason_string);
      }
      return ServerPacket(std::move(d));
    }
    default:
      return Malformed("packet type " + std::to_string(type) + " is not sent to a subscriber");
  }
}

}  // namespace

StatusOr<Bytes> EncodeConnect(const ConnectParams& p) {
  Bytes body;
  PL_RETURN_IF_ERROR(PutString(&body, "MQTT", "protocol name"));
  body.push_back(5);
  uint8_t flags = p.clean_start ? 0x02 : 0;
  const bool user = !p.username.empty();
  const bool password = user && !p.password.empty();
  if (user) flags |= 0x80;
  if (password) flags |= 0x40;
  body.push_back(static_cast<char>(flags));
  PutU16(&body, p.keepalive_s);
  Bytes props;
  if (p.session_expiry_s > 0) {
    props.push_back(static_cast<char>(kPropSessionExpiry));
    PutU32(&props, p.session_expiry_s);
  }
  if (p.receive_maximum > 0) {
    props.push_back(static_cast<char>(kPropReceiveMaximum));
    PutU16(&props, p.receive_maximum);
  }
  if (p.maximum_packet_size > 0) {
    props.push_back(static_cast<char>(kPropMaximumPacketSize));
    PutU32(&props, p.maximum_packet_size);
  }
  PutVarint(&body, static_cast<uint32_t>(props.size()));
  body += props;
  PL_RETURN_IF_ERROR(PutString(&body, p.client_id, "client id"));
  if (user) PL_RETURN_IF_ERROR(PutString(&body, p.username, "username"));
  if (password) PL_RETURN_IF_ERROR(PutString(&body, p.password, "password"));
  return Frame(kConnect, 0, body);
}

StatusOr<Bytes> EncodeSubscribe(uint16_t packet_id, const std::vector<std::string>& filters,
                                int qos) {
  if (packet_id == 0) return InvalidArgumentError("SUBSCRIBE needs a packet id above 0");
  if (filters.empty()) return InvalidArgumentError("SUBSCRIBE needs a filter");
  if (qos < 0 || qos > 1) return InvalidArgumentError("SUBSCRIBE at QoS 0 or 1 only");
  Bytes body;
  PutU16(&body, packet_id);
  body.push_back(0);  // no properties
  for (const std::string& f : filters) {
    if (f.empty()) return InvalidArgumentError("SUBSCRIBE: empty filter");
    PL_RETURN_IF_ERROR(PutString(&body, f, "topic filter"));
    body.push_back(static_cast<char>(qos));
  }
  return Frame(kSubscribe, 0x02, body);
}

Bytes EncodePuback(uint16_t packet_id) {
  Bytes body;
  PutU16(&body, packet_id);
  return Frame(kPuback, 0, body);
}

Bytes EncodePingreq() { return Frame(kPingreq, 0, {}); }

Bytes EncodeDisconnect() { return Frame(kDisconnect, 0, {}); }

StatusOr<Bytes> EncodePublish(const Publish& p) {
  const MqttMessage& m = p.message;
  if (m.topic.empty()) return InvalidArgumentError("PUBLISH needs a topic");
  if (m.qos < 0 || m.qos > 1) return InvalidArgumentError("PUBLISH at QoS 0 or 1 only");
  if (m.qos == 1 && p.packet_id == 0) return InvalidArgumentError("QoS 1 needs a packet id");
  Bytes body;
  PL_RETURN_IF_ERROR(PutString(&body, m.topic, "topic"));
  if (m.qos == 1) PutU16(&body, p.packet_id);
  Bytes props;
  for (const auto& [k, v] : m.user_properties) {
    props.push_back(static_cast<char>(kPropUserProperty));
    PL_RETURN_IF_ERROR(PutString(&props, k, "user property name"));
    PL_RETURN_IF_ERROR(PutString(&props, v, "user property value"));
  }
  PutVarint(&body, static_cast<uint32_t>(props.size()));
  body += props;
  body += m.payload;
  if (body.size() > kMaxRemainingLength) return InvalidArgumentError("PUBLISH too large");
  const uint8_t flags = static_cast<uint8_t>((m.duplicate && m.qos > 0 ? 8 : 0) | (m.qos << 1) |
                                             (m.retained ? 1 : 0));
  return Frame(kPublish, flags, body);
}

StatusOr<Decoded> DecodeServerPacket(ByteView bytes, uint32_t max_packet_size) {
  Decoded d;
  if (bytes.empty()) return d;
  const uint8_t first = static_cast<uint8_t>(bytes[0]);
  uint32_t remaining = 0;
  size_t header = 1;
  for (int k = 0;; ++k) {
    if (k == 4) return Malformed("Remaining Length above 4 bytes");
    if (header >= bytes.size()) return d;  // the length is not all here yet
    const uint8_t b = static_cast<uint8_t>(bytes[header++]);
    remaining |= static_cast<uint32_t>(b & 0x7F) << (7 * k);
    if ((b & 0x80) == 0) break;
  }
  const uint64_t total = header + static_cast<uint64_t>(remaining);
  if (total > max_packet_size) {
    return ResourceExhaustedError("mqtt: a packet of " + std::to_string(total) +
                                  " bytes, above the maximum of " +
                                  std::to_string(max_packet_size));
  }
  if (bytes.size() < total) return d;
  PL_ASSIGN_OR_RETURN(d.packet,
                      DecodeBody(first >> 4, first & 0x0F, bytes.substr(header, remaining)));
  d.consumed = static_cast<size_t>(total);
  return d;
}

}  // namespace provledger::mqtt
