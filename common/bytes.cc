#include "common/bytes.h"

namespace provledger {

namespace {
constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

std::string HexEncode(ByteView data) {
  std::string out;
  out.resize(data.size() * 2);
  for (size_t i = 0; i < data.size(); ++i) {
    const auto b = static_cast<uint8_t>(data[i]);
    out[2 * i] = kHexDigits[b >> 4];
    out[2 * i + 1] = kHexDigits[b & 0xf];
  }
  return out;
}

StatusOr<Bytes> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return InvalidArgumentError("hex string has odd length");
  Bytes out;
  out.resize(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return InvalidArgumentError("not lowercase hex at offset " + std::to_string(2 * i));
    }
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

StatusOr<Bytes> HexDecodeFixed(std::string_view hex, size_t size) {
  if (hex.size() != 2 * size) {
    return InvalidArgumentError("expected " + std::to_string(2 * size) + " hex digits, got " +
                                std::to_string(hex.size()));
  }
  return HexDecode(hex);
}

std::string ShortHex(ByteView data) { return HexEncode(data.substr(0, 4)); }

void AppendU8(Bytes* out, uint8_t v) { out->push_back(static_cast<char>(v)); }

void AppendU32(Bytes* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void AppendU64(Bytes* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void AppendLp(Bytes* out, ByteView x) {
  AppendU32(out, static_cast<uint32_t>(x.size()));
  out->append(x.data(), x.size());
}

void AppendStr0(Bytes* out, ByteView s) {
  out->append(s.data(), s.size());
  out->push_back('\0');
}

Status ByteReader::ReadU8(uint8_t* v) {
  if (remaining() < 1) return InvalidArgumentError("truncated: expected u8");
  *v = static_cast<uint8_t>(data_[pos_++]);
  return OkStatus();
}

Status ByteReader::ReadU32(uint32_t* v) {
  if (remaining() < 4) return InvalidArgumentError("truncated: expected u32");
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r = (r << 8) | static_cast<uint8_t>(data_[pos_ + i]);
  pos_ += 4;
  *v = r;
  return OkStatus();
}

Status ByteReader::ReadU64(uint64_t* v) {
  if (remaining() < 8) return InvalidArgumentError("truncated: expected u64");
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r = (r << 8) | static_cast<uint8_t>(data_[pos_ + i]);
  pos_ += 8;
  *v = r;
  return OkStatus();
}

Status ByteReader::ReadFixed(size_t n, Bytes* v) {
  if (remaining() < n) {
    return InvalidArgumentError("truncated: expected " + std::to_string(n) + " bytes");
  }
  v->assign(data_.data() + pos_, n);
  pos_ += n;
  return OkStatus();
}

Status ByteReader::ReadLp(Bytes* v, size_t max_len) {
  ByteReader saved = *this;
  uint32_t len = 0;
  PL_RETURN_IF_ERROR(ReadU32(&len));
  if (len > max_len) {
    *this = saved;
    return InvalidArgumentError("length prefix " + std::to_string(len) + " above limit");
  }
  Status s = ReadFixed(len, v);
  if (!s.ok()) *this = saved;
  return s;
}

Status ByteReader::ExpectLiteral(ByteView literal) {
  if (remaining() < literal.size() || data_.substr(pos_, literal.size()) != literal) {
    return InvalidArgumentError("expected tag \"" + std::string(literal) + "\"");
  }
  pos_ += literal.size();
  return OkStatus();
}

void Wipe(Bytes* secret) {
  volatile char* p = secret->data();
  for (size_t i = 0; i < secret->size(); ++i) p[i] = 0;
}

}  // namespace provledger
