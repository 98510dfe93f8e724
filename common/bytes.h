// Bytes, hex and big-endian encoding.
//
// Binary data is held in a std::string (`Bytes`) and borrowed as a std::string_view
// (`ByteView`); the caller keeps the storage alive and nobody keeps a view in a member.
// Hex is PROTOCOL.md's: lowercase, two digits per byte, no prefix. Thread rules: pure
// functions; a ByteReader is owned by one thread.
#ifndef PROVLEDGER_COMMON_BYTES_H_
#define PROVLEDGER_COMMON_BYTES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace provledger {

using Bytes = std::string;
using ByteView = std::string_view;

// Lowercase hex of `data`.
std::string HexEncode(ByteView data);
// Decodes strict lowercase hex. kInvalidArgument on odd length, upper case or a non-hex char.
StatusOr<Bytes> HexDecode(std::string_view hex);
// As HexDecode, and kInvalidArgument unless the result is exactly `size` bytes.
StatusOr<Bytes> HexDecodeFixed(std::string_view hex, size_t size);
// First 8 hex digits of `data` (for logs: never log whole secrets, only hash prefixes).
std::string ShortHex(ByteView data);

// Appends big-endian integers and PROTOCOL.md's length-prefixed / NUL-terminated strings.
void AppendU8(Bytes* out, uint8_t v);
void AppendU32(Bytes* out, uint32_t v);
void AppendU64(Bytes* out, uint64_t v);
// lp(x) = u32be(len) || x.
void AppendLp(Bytes* out, ByteView x);
// str0(s) = s || 0x00.
void AppendStr0(Bytes* out, ByteView s);

// Overwrites every byte of `secret` with zero in a way the compiler keeps (key material,
// PINs), before it is freed or reused. The size is unchanged.
void Wipe(Bytes* secret);

// Reads the encodings above from a view, failing with kInvalidArgument ("truncated ...")
// when fewer bytes remain than asked. On failure the out-parameter is left unchanged.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}
  Status ReadU8(uint8_t* v);
  Status ReadU32(uint32_t* v);
  Status ReadU64(uint64_t* v);
  // Reads exactly n raw bytes.
  Status ReadFixed(size_t n, Bytes* v);
  // Reads lp(x); refuses a length above `max_len`.
  Status ReadLp(Bytes* v, size_t max_len = 1 << 20);
  // Reads a literal prefix; kInvalidArgument if the bytes differ.
  Status ExpectLiteral(ByteView literal);
  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_BYTES_H_
