// One device's replay window (PROTOCOL.md section 5): the highest accepted seq H and
// which of H-W+1 .. H were accepted. A seq is a replay when seq <= H - W or it was
// accepted before; anything above H is new, as is an unaccepted seq within the window
// (bounded disorder).
//
// The outbox writer persists Serialize() with each accepted message, so that after a
// restart a replayed message is still refused.
//
// Thread rules: a value type; not thread-safe, owned by the verify thread.
#ifndef PROVLEDGER_MQTT_BRIDGE_REPLAY_WINDOW_H_
#define PROVLEDGER_MQTT_BRIDGE_REPLAY_WINDOW_H_

#include <cstdint>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger {
namespace bridge {

class ReplayWindow {
 public:
  static constexpr uint32_t kDefaultWidth = 1024;
  static constexpr uint32_t kMaxWidth = 1u << 20;

  // An empty window (nothing accepted yet) of `width` seqs, 1 .. kMaxWidth (clamped).
  explicit ReplayWindow(uint32_t width = kDefaultWidth);

  // OK when `seq` would be accepted; kAlreadyExists (=> `replay`) when seq <= H - W or
  // seq was accepted before; kInvalidArgument for seq 0.
  Status Check(uint64_t seq) const;

  // Marks `seq` accepted (moving H up if seq > H). Same errors as Check, and then the
  // window is unchanged.
  Status Accept(uint64_t seq);

  // The highest accepted seq, 0 when nothing was accepted.
  uint64_t highest() const { return highest_; }
  uint32_t width() const { return width_; }

  // Canonical bytes: u8(1) || u32be(W) || u64be(H) || ceil(W/8) bytes where bit i (byte
  // i/8, bit 7 - i%8) says whether seq H - i was accepted.
  Bytes Serialize() const;
  // Inverse of Serialize. kInvalidArgument for bytes Serialize cannot make (version,
  // width, length, bits for seqs below 1 or set while H is 0, bit 0 clear while H > 0).
  static StatusOr<ReplayWindow> Deserialize(ByteView bytes);

  bool operator==(const ReplayWindow& other) const;

 private:
  bool Bit(uint64_t seq) const;
  void SetBit(uint64_t seq, bool value);

  uint32_t width_;
  uint64_t highest_ = 0;
  std::vector<uint64_t> ring_;  // bit (seq % width_) for seqs in H-W+1 .. H
};

}  // namespace bridge
}  // namespace provledger

#endif  // PROVLEDGER_MQTT_BRIDGE_REPLAY_WINDOW_H_
