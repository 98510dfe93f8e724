#include "mqtt-bridge/replay_window.h"

#include <algorithm>

namespace provledger {
namespace bridge {
namespace {
constexpr uint8_t kFormatVersion = 1;
}  // namespace

ReplayWindow::ReplayWindow(uint32_t width)
    : width_(std::clamp<uint32_t>(width, 1, kMaxWidth)), ring_((width_ + 63) / 64, 0) {}

bool ReplayWindow::Bit(uint64_t seq) const {
  uint64_t i = seq % width_;
  return (ring_[i / 64] >> (i % 64)) & 1;
}

void ReplayWindow::SetBit(uint64_t seq, bool value) {
  uint64_t i = seq % width_;
  if (value) {
    ring_[i / 64] |= (uint64_t{1} << (i % 64));
  } else {
    ring_[i / 64] &= ~(uint64_t{1} << (i % 64));
  }
}

Status ReplayWindow::Check(uint64_t seq) const {
  if (seq == 0) return InvalidArgumentError("seq 0 is out of range");
  if (seq > highest_) return OkStatus();
  if (seq + width_ <= highest_) {
    return AlreadyExistsError("seq " + std::to_string(seq) + " is below the replay window");
  }
  if (Bit(seq)) return AlreadyExistsError("seq " + std::to_string(seq) + " already accepted");
  return OkStatus();
}

Status ReplayWindow::Accept(uint64_t seq) {
  PL_RETURN_IF_ERROR(Check(seq));
  if (seq > highest_) {
    // Forget the seqs that leave the window: those sharing ring bits with H+1 .. seq.
    if (seq - highest_ >= width_) {
      std::fill(ring_.begin(), ring_.end(), 0);
    } else {
      for (uint64_t s = highest_ + 1; s < seq; ++s) SetBit(s, false);
    }
    highest_ = seq;
  }
  SetBit(seq, true);
  return OkStatus();
}

Bytes ReplayWindow::Serialize() const {
  Bytes out;
  AppendU8(&out, kFormatVersion);
  AppendU32(&out, width_);
  AppendU64(&out, highest_);
  Bytes bits((width_ + 7) / 8, '\0');
  // Bit i is seq highest_ - i; its ring position walks down from highest_ % width_ with a
  // wrap (written for every touched device with every verified chunk: no division per bit).
  uint64_t pos = highest_ % width_;
  for (uint64_t i = 0; i < width_ && i < highest_; ++i) {
    if ((ring_[pos / 64] >> (pos % 64)) & 1) {
      bits[i / 8] = static_cast<char>(bits[i / 8] | (0x80 >> (i % 8)));
    }
    pos = pos == 0 ? width_ - 1 : pos - 1;
  }
  out.append(bits);
  return out;
}

StatusOr<ReplayWindow> ReplayWindow::Deserialize(ByteView bytes) {
  ByteReader r(bytes);
  uint8_t version = 0;
  uint32_t width = 0;
  uint64_t highest = 0;
  PL_RETURN_IF_ERROR(r.ReadU8(&version));
  if (version != kFormatVersion) return InvalidArgumentError("replay window: unknown version");
  PL_RETURN_IF_ERROR(r.ReadU32(&width));
  if (width == 0 || width > kMaxWidth) return InvalidArgumentError("replay window: bad width");
  PL_RETURN_IF_ERROR(r.ReadU64(&highest));
  Bytes bits;
  PL_RETURN_IF_ERROR(r.ReadFixed((width + 7) / 8, &bits));
  if (!r.done()) return InvalidArgumentError("replay window: trailing bytes");
  ReplayWindow w(width);
  w.highest_ = highest;
  for (uint64_t i = 0; i < static_cast<uint64_t>(bits.size()) * 8; ++i) {
    bool set = (static_cast<uint8_t>(bits[i / 8]) >> (7 - i % 8)) & 1;
    if (!set) continue;
    if (i >= width || i >= highest) {
      return InvalidArgumentError("replay window: bit set outside the window");
    }
    w.SetBit(highest - i, true);
  }
  if (highest > 0 && !w.Bit(highest)) {
    return InvalidArgumentError("replay window: highest seq not marked accepted");
  }
  return w;
}

bool ReplayWindow::operator==(const ReplayWindow& other) const {
  return width_ == other.width_ && highest_ == other.highest_ && ring_ == other.ring_;
}

}  // namespace bridge
}  // namespace provledger
