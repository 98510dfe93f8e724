#include "ledger/validator_set.h"

#include <set>
#include <utility>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/record.h"

namespace provledger::ledger {

namespace {

Bytes SetDigest(const std::vector<Validator>& members) {
  Bytes m = "pl/v1/validators";
  AppendU32(&m, static_cast<uint32_t>(members.size()));
  for (const auto& v : members) {
    AppendLp(&m, v.id);
    m += v.pubkey;
    AppendLp(&m, v.address);
  }
  return Sha256(m);
}

}  // namespace

Status ValidateHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgumentError("address '" + address + "' is not host:port");
  }
  const std::string port = address.substr(colon + 1);
  if (port.size() > 5) return InvalidArgumentError("address '" + address + "': bad port");
  uint32_t p = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9') return InvalidArgumentError("address '" + address + "': bad port");
    p = p * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (p == 0 || p > 65535) return InvalidArgumentError("address '" + address + "': bad port");
  for (char ch : address.substr(0, colon)) {
    if (ch == ' ' || ch == '/' || static_cast<unsigned char>(ch) < 0x21) {
      return InvalidArgumentError("address '" + address + "': bad host");
    }
  }
  return OkStatus();
}

ValidatorSet::ValidatorSet(std::vector<Validator> members)
    : members_(std::move(members)), digest_(SetDigest(members_)) {}

ValidatorSet ValidatorSet::FromGenesis(const Genesis& genesis) {
  return ValidatorSet(genesis.validators);
}

StatusOr<ValidatorSet> ValidatorSet::FromMembers(std::vector<Validator> members) {
  if (members.empty() || members.size() > kMaxValidators) {
    return InvalidArgumentError("a validator set has 1 .. " + std::to_string(kMaxValidators) +
                                " members, not " + std::to_string(members.size()));
  }
  std::set<std::string> ids;
  std::set<Bytes> keys;
  for (const auto& v : members) {
    if (!IsValidName(v.id))
      return InvalidArgumentError("validator id '" + v.id + "' is not a valid name");
    if (v.pubkey.size() != kPublicKeySize)
      return InvalidArgumentError("validator " + v.id + " public key is not 33 bytes");
    Status k = ValidatePublicKey(v.pubkey);
    if (!k.ok()) return k.Annotate("validator " + v.id + " public key");
    PL_RETURN_IF_ERROR(ValidateHostPort(v.address).Annotate("validator " + v.id));
    if (!ids.insert(v.id).second)
      return InvalidArgumentError("validator id '" + v.id + "' listed twice");
    if (!keys.insert(v.pubkey).second)
      return InvalidArgumentError("validator " + v.id + " reuses a public key");
  }
  return ValidatorSet(std::move(members));
}

StatusOr<ValidatorSet> ValidatorSet::FromEntries(
    const google::protobuf::RepeatedPtrField<provledger::v1::ValidatorEntry>& entries) {
  std::vector<Validator> members;
  members.reserve(entries.size());
  for (const auto& e : entries) members.push_back(Validator{e.id(), e.pubkey(), e.address()});
  return FromMembers(std::move(members));
}

std::optional<uint32_t> ValidatorSet::IndexOf(const std::string& id) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].id == id) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

std::optional<uint32_t> ValidatorSet::IndexOfKey(ByteView pubkey) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].pubkey == pubkey) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

void ValidatorSet::ToEntries(
    google::protobuf::RepeatedPtrField<provledger::v1::ValidatorEntry>* entries) const {
  for (const auto& v : members_) {
    auto* e = entries->Add();
    e->set_id(v.id);
    e->set_pubkey(v.pubkey);
    e->set_address(v.address);
  }
}

}  // namespace provledger::ledger
