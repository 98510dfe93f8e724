// A validator set (docs/VALIDATOR_SET.md): its members in primary order, the quorum of any
// N >= 1 and the digest that names it. The genesis set is the first; later ones come from
// SetValidators registry ops (ledger/validator_schedule.h).
//
// Thread rules: immutable once built; share it freely.
#ifndef PROVLEDGER_LEDGER_VALIDATOR_SET_H_
#define PROVLEDGER_LEDGER_VALIDATOR_SET_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "ledger/genesis.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {

// The most members a set may have.
constexpr size_t kMaxValidators = 100;

class ValidatorSet {
 public:
  // The genesis validators (N = 3f+1, already checked by ParseGenesis).
  static ValidatorSet FromGenesis(const Genesis& genesis);
  // The members of a SetValidators op: 1 .. kMaxValidators, valid names, valid 33-byte
  // compressed keys, unique ids and keys, addresses host:port. kInvalidArgument naming the
  // first fault.
  static StatusOr<ValidatorSet> FromEntries(
      const google::protobuf::RepeatedPtrField<provledger::v1::ValidatorEntry>& entries);
  // Same checks for plain members.
  static StatusOr<ValidatorSet> FromMembers(std::vector<Validator> members);

  const std::vector<Validator>& members() const { return members_; }
  size_t n() const { return members_.size(); }
  // f = floor((N-1)/3).
  size_t f() const { return (members_.size() - 1) / 3; }
  // Signatures a certificate needs: floor((N+f)/2)+1 (2f+1 when N = 3f+1).
  size_t quorum() const { return (n() + f()) / 2 + 1; }
  // f+1: enough to include one honest member.
  size_t weak() const { return f() + 1; }
  // The primary of `view`: members[view mod N].
  const Validator& Primary(uint64_t view) const { return members_[view % members_.size()]; }
  std::optional<uint32_t> IndexOf(const std::string& id) const;
  std::optional<uint32_t> IndexOfKey(ByteView pubkey) const;
  // SHA256("pl/v1/validators" || u32be(n) || n x (lp(id) || pubkey(33) || lp(address))).
  const Bytes& Digest() const { return digest_; }
  // The members as SetValidators entries (primary order).
  void ToEntries(google::protobuf::RepeatedPtrField<provledger::v1::ValidatorEntry>* entries) const;

 private:
  explicit ValidatorSet(std::vector<Validator> members);
  std::vector<Validator> members_;
  Bytes digest_;
};

// OK when `address` is host:port with a non-empty host and a port in 1 .. 65535.
Status ValidateHostPort(const std::string& address);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_VALIDATOR_SET_H_
