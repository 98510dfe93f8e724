// Quorum sizes of PBFT for any N >= 1 validators, and the primary of a view.
//
// f = floor((N-1)/3) faults are tolerated and a quorum is q = floor((N+f)/2) + 1 (2f+1 when
// N = 3f+1). Two quorums share 2q-N >= f+1 validators, so at least one honest one (safety:
// a view change or checkpoint always meets a replica that saw what a quorum agreed on),
// and N-f >= q, so the honest validators alone form a quorum (liveness). A genesis file
// still needs N = 3f+1 (ThreeFPlusOne()); a set changed later may have any N >= 1.
//
// Thread rules: an immutable value; share freely.
#ifndef PROVLEDGER_CONSENSUS_QUORUM_H_
#define PROVLEDGER_CONSENSUS_QUORUM_H_

#include <cstdint>

namespace provledger {
namespace consensus {

class Quorum {
 public:
  // `n` validators; tolerates f = (n-1)/3 faults. Valid() is false for n = 0.
  explicit Quorum(uint32_t n) : n_(n), f_(n == 0 ? 0 : (n - 1) / 3) {}

  // True when n >= 1: every such set has quorums that intersect in an honest validator.
  bool Valid() const { return n_ >= 1; }
  // True when n = 3f+1 for some f >= 0 (PROTOCOL.md section 9: what a genesis file needs).
  bool ThreeFPlusOne() const { return n_ >= 1 && n_ == 3 * f_ + 1; }
  uint32_t n() const { return n_; }
  uint32_t f() const { return f_; }
  // Matching votes that prove agreement (commit certificate, stable checkpoint, new view):
  // q = (n+f)/2 + 1, which is 2f+1 when n = 3f+1.
  uint32_t Strong() const { return (n_ + f_) / 2 + 1; }
  // Votes that include at least one honest validator.
  uint32_t Weak() const { return f_ + 1; }
  // Prepares from distinct backups that, with the pre-prepare, make a block prepared: q-1.
  uint32_t Prepares() const { return Strong() - 1; }
  // Validator index of the primary of `view`: view mod N.
  uint32_t Primary(uint64_t view) const { return static_cast<uint32_t>(view % n_); }

 private:
  uint32_t n_;
  uint32_t f_;
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_QUORUM_H_
