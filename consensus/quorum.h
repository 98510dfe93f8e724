// Quorum sizes of PBFT with N = 3f+1 validators, and the primary of a view.
//
// Thread rules: an immutable value; share freely.
#ifndef PROVLEDGER_CONSENSUS_QUORUM_H_
#define PROVLEDGER_CONSENSUS_QUORUM_H_

#include <cstdint>

namespace provledger {
namespace consensus {

class Quorum {
 public:
  // `n` validators; tolerates f = (n-1)/3 faults. Valid() is false unless n = 3f+1.
  explicit Quorum(uint32_t n) : n_(n), f_(n == 0 ? 0 : (n - 1) / 3) {}

  // True when n = 3f+1 for some f >= 0 (PROTOCOL.md section 9).
  bool Valid() const { return n_ >= 1 && n_ == 3 * f_ + 1; }
  uint32_t n() const { return n_; }
  uint32_t f() const { return f_; }
  // Matching votes that prove agreement (commit certificate, stable checkpoint, new view).
  uint32_t Strong() const { return 2 * f_ + 1; }
  // Votes that include at least one honest validator.
  uint32_t Weak() const { return f_ + 1; }
  // Prepares from distinct backups that, with the pre-prepare, make a block prepared.
  uint32_t Prepares() const { return 2 * f_; }
  // Validator index of the primary of `view`: view mod N.
  uint32_t Primary(uint64_t view) const { return static_cast<uint32_t>(view % n_); }

 private:
  uint32_t n_;
  uint32_t f_;
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_QUORUM_H_
