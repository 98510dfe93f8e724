#include "ledger/registry.h"

#include <cstdio>
#include <optional>
#include <set>

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/record.h"
#include "re2/re2.h"

namespace provledger::ledger {

namespace {

constexpr char kGatewayPrefix[] = "gw/";
constexpr char kDevicePrefix[] = "dev/";
constexpr char kVendorPrefix[] = "ven/";
constexpr char kPolicyPrefix[] = "pol/";
constexpr char kDeviceBindingPrefix[] = "pbd/";
constexpr char kModelBindingPrefix[] = "pbm/";
// Validator-set changes: "vset/" + 16 hex digits of the committed height + "/" + 4 hex digits
// of its place among that block's changes, so that key order is commit order.
constexpr const char* kValidatorSetPrefix = kValidatorSetRowPrefix;

std::string ValidatorSetKey(uint64_t height, size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx/%04zx", static_cast<unsigned long long>(height), index);
  return kValidatorSetPrefix + std::string(buf);
}

// The schedule plus `op` at `height` when its base is the latest set, else nullopt.
std::optional<ValidatorSchedule> ScheduleWith(const ValidatorSchedule& schedule,
                                              const provledger::v1::SetValidators& op,
                                              uint64_t height) {
  if (!schedule.CheckChange(op).ok()) return std::nullopt;
  auto set = ValidatorSet::FromEntries(op.validators());
  if (!set.ok()) return std::nullopt;  // VerifyRegistryTx refuses it first
  return schedule.WithChange(std::make_shared<const ValidatorSet>(std::move(*set)), height);
}

bool IsLowerHex(const std::string& s) {
  if (s.size() < 2 || s.size() > 128 || s.size() % 2 != 0) return false;
  for (char ch : s) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  return true;
}

Status CheckBinding(const provledger::v1::BindPolicy& b) {
  if (!b.policy().empty() && !IsValidName(b.policy()))
    return InvalidArgumentError("policy name is not a valid name");
  if (b.device().empty() == b.model().empty())
    return InvalidArgumentError("a binding names exactly one of a device and a model");
  const std::string& target = b.device().empty() ? b.model() : b.device();
  if (!IsValidName(target)) return InvalidArgumentError("binding target is not a valid name");
  return OkStatus();
}

Status CheckKeyAndName(const std::string& what, const std::string& id, const std::string& pubkey) {
  if (!IsValidName(id)) return InvalidArgumentError(what + " id '" + id + "' is not a valid name");
  Status s = ValidatePublicKey(pubkey);
  if (!s.ok()) return s.Annotate(what + " " + id + " public key");
  return OkStatus();
}

}  // namespace

Status ValidateRuntimePolicy(const provledger::v1::RuntimePolicy& p) {
  if (!IsValidName(p.name()))
    return InvalidArgumentError("policy name '" + p.name() + "' is not a valid name");
  if (p.version() == 0 || p.version() > (1ull << 53) - 1)
    return InvalidArgumentError("policy version must be in 1 .. 2^53-1");
  if (static_cast<size_t>(p.digests_size()) > kMaxPolicyPaths)
    return InvalidArgumentError("policy lists more than " + std::to_string(kMaxPolicyPaths) +
                                " paths");
  std::set<std::string> paths;
  for (int i = 0; i < p.digests_size(); ++i) {
    const auto& d = p.digests(i);
    const std::string where = "policy digests[" + std::to_string(i) + "]";
    if (d.path().empty() || d.path().size() > kMaxPolicyPathBytes)
      return InvalidArgumentError(where + ": path empty or too long");
    if (!paths.insert(d.path()).second) return InvalidArgumentError(where + ": path repeated");
    if (d.hashes_size() == 0 || static_cast<size_t>(d.hashes_size()) > kMaxPolicyHashesPerPath)
      return InvalidArgumentError(where + ": 1 .. " + std::to_string(kMaxPolicyHashesPerPath) +
                                  " hashes");
    for (const auto& h : d.hashes()) {
      if (!IsLowerHex(h))
        return InvalidArgumentError(where + ": a hash is not 2 .. 128 lowercase hex digits");
    }
  }
  if (static_cast<size_t>(p.excludes_size()) > kMaxPolicyExcludes)
    return InvalidArgumentError("policy has more than " + std::to_string(kMaxPolicyExcludes) +
                                " excludes");
  for (int i = 0; i < p.excludes_size(); ++i) {
    const std::string& ex = p.excludes(i);
    if (ex.empty() || ex.size() > kMaxPolicyPathBytes)
      return InvalidArgumentError("policy excludes[" + std::to_string(i) + "]: empty or too long");
    RE2::Options opts;
    opts.set_log_errors(false);
    RE2 re(ex, opts);
    if (!re.ok())
      return InvalidArgumentError("policy excludes[" + std::to_string(i) +
                                  "] is not an RE2 regex: " + re.error());
  }
  return OkStatus();
}

Bytes RegistryDigest(const std::string& chain_id, ByteView op_bytes) {
  Bytes m = "pl/v1/registry";
  AppendLp(&m, chain_id);
  AppendLp(&m, op_bytes);
  return Sha256(m);
}

StatusOr<Bytes> SignRegistryTx(const std::string& chain_id, const provledger::v1::RegistryOp& op,
                               const Bytes& admin_secret) {
  PL_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromBytes(admin_secret));
  provledger::v1::RegistryTx tx;
  tx.set_op(op.SerializeAsString());
  tx.set_admin_pubkey(key.PublicKey());
  PL_ASSIGN_OR_RETURN(Bytes sig, key.Sign(RegistryDigest(chain_id, tx.op())));
  tx.set_signature(sig);
  return tx.SerializeAsString();
}

StatusOr<provledger::v1::RegistryOp> VerifyRegistryTx(const Genesis& genesis, ByteView tx_bytes) {
  provledger::v1::RegistryTx tx;
  if (!tx.ParseFromArray(tx_bytes.data(), static_cast<int>(tx_bytes.size()))) {
    return InvalidArgumentError("registry transaction does not parse");
  }
  if (!genesis.IsAdmin(tx.admin_pubkey())) {
    return PermissionDeniedError(
        "registry transaction signed by a key that is not a genesis admin");
  }
  Status sig =
      VerifySignature(tx.admin_pubkey(), RegistryDigest(genesis.chain_id, tx.op()), tx.signature());
  if (!sig.ok()) return UnauthenticatedError("registry transaction signature: " + sig.message());
  provledger::v1::RegistryOp op;
  if (!op.ParseFromString(tx.op())) return InvalidArgumentError("registry op does not parse");
  if (op.chain_id() != genesis.chain_id) {
    return InvalidArgumentError("registry op is for chain '" + op.chain_id() + "'");
  }
  switch (op.op_case()) {
    case provledger::v1::RegistryOp::kRegisterGateway:
      PL_RETURN_IF_ERROR(
          CheckKeyAndName("gateway", op.register_gateway().id(), op.register_gateway().pubkey()));
      break;
    case provledger::v1::RegistryOp::kRegisterDevice: {
      const auto& d = op.register_device();
      PL_RETURN_IF_ERROR(CheckKeyAndName("device", d.id(), d.pubkey()));
      if (!d.vendor().empty() && !IsValidName(d.vendor()))
        return InvalidArgumentError("device vendor is not a valid name");
      if (!d.model().empty() && !IsValidName(d.model()))
        return InvalidArgumentError("device model is not a valid name");
      break;
    }
    case provledger::v1::RegistryOp::kRegisterVendor:
      PL_RETURN_IF_ERROR(
          CheckKeyAndName("vendor", op.register_vendor().id(), op.register_vendor().pubkey()));
      break;
    case provledger::v1::RegistryOp::kRevokeDevice:
      if (!IsValidName(op.revoke_device().id()))
        return InvalidArgumentError("device id is not a valid name");
      break;
    case provledger::v1::RegistryOp::kRegisterPolicy:
      PL_RETURN_IF_ERROR(ValidateRuntimePolicy(op.register_policy().policy()));
      break;
    case provledger::v1::RegistryOp::kBindPolicy:
      PL_RETURN_IF_ERROR(CheckBinding(op.bind_policy()));
      break;
    case provledger::v1::RegistryOp::kSetValidators: {
      const auto& sv = op.set_validators();
      if (sv.base_set_digest().size() != 32)
        return InvalidArgumentError("validator change: base_set_digest is not 32 bytes");
      auto set = ValidatorSet::FromEntries(sv.validators());
      if (!set.ok()) return set.status().Annotate("validator change");
      break;
    }
    default:
      return InvalidArgumentError("registry op has no operation");
  }
  return op;
}

StatusOr<std::shared_ptr<const RegistrySnapshot>> RegistrySnapshot::FromRows(
    const std::vector<std::pair<Bytes, Bytes>>& rows, const Genesis* genesis) {
  auto snap = std::make_shared<RegistrySnapshot>();
  auto has_prefix = [](const Bytes& key, const char* prefix) { return key.rfind(prefix, 0) == 0; };
  std::map<Bytes, const Bytes*> set_rows;  // by key: commit order
  for (const auto& [key, value] : rows) {
    if (has_prefix(key, kValidatorSetPrefix)) {
      set_rows[key] = &value;
      continue;
    }
    if (has_prefix(key, kGatewayPrefix) || has_prefix(key, kVendorPrefix)) {
      provledger::v1::GatewayInfo g;
      if (!g.ParseFromString(value))
        return DataLossError("registry entry " + key + " is malformed");
      auto& into = has_prefix(key, kGatewayPrefix) ? snap->gateways_ : snap->vendors_;
      into[g.id()] = KeyEntry{g.pubkey(), g.registered_height()};
    } else if (has_prefix(key, kDevicePrefix)) {
      provledger::v1::DeviceInfo d;
      if (!d.ParseFromString(value))
        return DataLossError("registry entry " + key + " is malformed");
      snap->devices_[d.id()] =
          DeviceEntry{d.pubkey(), d.vendor(), d.model(), d.revoked(), d.registered_height()};
    } else if (has_prefix(key, kPolicyPrefix)) {
      provledger::v1::RuntimePolicy p;
      if (!p.ParseFromString(value))
        return DataLossError("registry entry " + key + " is malformed");
      snap->policies_[p.name()] = std::move(p);
    } else if (has_prefix(key, kDeviceBindingPrefix) || has_prefix(key, kModelBindingPrefix)) {
      provledger::v1::PolicyBinding b;
      if (!b.ParseFromString(value))
        return DataLossError("registry entry " + key + " is malformed");
      const bool device = has_prefix(key, kDeviceBindingPrefix);
      auto& into = device ? snap->device_bindings_ : snap->model_bindings_;
      const std::string& target = device ? b.device() : b.model();
      if (b.policy().empty()) {
        into.erase(target);
      } else {
        into[target] = BindingEntry{b.policy(), b.height()};
      }
    }
  }
  if (genesis != nullptr) {
    ValidatorSchedule schedule(*genesis);
    for (const auto& [key, value] : set_rows) {
      provledger::v1::ValidatorSetInfo info;
      if (!info.ParseFromString(*value))
        return DataLossError("registry entry " + key + " is malformed");
      auto set = ValidatorSet::FromEntries(info.validators());
      if (!set.ok()) return DataLossError("registry entry " + key + ": " + set.status().message());
      schedule = schedule.WithChange(std::make_shared<const ValidatorSet>(std::move(*set)),
                                     info.committed_height());
    }
    snap->schedule_ = std::make_shared<const ValidatorSchedule>(std::move(schedule));
  }
  return std::shared_ptr<const RegistrySnapshot>(std::move(snap));
}

ValidatorSchedule ScheduleAfterBlock(const Genesis& genesis, const ValidatorSchedule& schedule,
                                     uint64_t height, const std::vector<Record>& records) {
  ValidatorSchedule out = schedule;
  for (const auto& rec : records) {
    if (rec.kind != RecordKind::kRegistry) continue;
    auto op = VerifyRegistryTx(genesis, rec.registry.tx);
    if (!op.ok() || op->op_case() != provledger::v1::RegistryOp::kSetValidators) continue;
    auto next = ScheduleWith(out, op->set_validators(), height);
    if (next) out = std::move(*next);
  }
  return out;
}

const KeyEntry* RegistrySnapshot::Gateway(const std::string& id) const {
  auto it = gateways_.find(id);
  return it == gateways_.end() ? nullptr : &it->second;
}

const DeviceEntry* RegistrySnapshot::Device(const std::string& id) const {
  auto it = devices_.find(id);
  return it == devices_.end() ? nullptr : &it->second;
}

const provledger::v1::RuntimePolicy* RegistrySnapshot::Policy(const std::string& name) const {
  auto it = policies_.find(name);
  return it == policies_.end() ? nullptr : &it->second;
}

Status RegistrySnapshot::CheckOp(const provledger::v1::RegistryOp& op) const {
  if (op.op_case() == provledger::v1::RegistryOp::kRegisterPolicy) {
    const auto& p = op.register_policy().policy();
    const auto* cur = Policy(p.name());
    if (cur != nullptr && p.version() <= cur->version()) {
      return FailedPreconditionError("policy " + p.name() + " version " +
                                     std::to_string(p.version()) + " is not above the registered " +
                                     std::to_string(cur->version()));
    }
  } else if (op.op_case() == provledger::v1::RegistryOp::kBindPolicy) {
    const auto& b = op.bind_policy();
    if (!b.policy().empty() && Policy(b.policy()) == nullptr) {
      return FailedPreconditionError("policy " + b.policy() + " is not registered");
    }
  } else if (op.op_case() == provledger::v1::RegistryOp::kSetValidators) {
    if (schedule_ == nullptr)
      return FailedPreconditionError("this registry keeps no validator schedule");
    return schedule_->CheckChange(op.set_validators());
  }
  return OkStatus();
}

const KeyEntry* RegistrySnapshot::Vendor(const std::string& id) const {
  auto it = vendors_.find(id);
  return it == vendors_.end() ? nullptr : &it->second;
}

std::shared_ptr<const RegistrySnapshot> RegistrySnapshot::Apply(
    const provledger::v1::RegistryOp& op, uint64_t height,
    std::vector<std::pair<Bytes, Bytes>>* puts) const {
  auto next = std::make_shared<RegistrySnapshot>(*this);
  switch (op.op_case()) {
    case provledger::v1::RegistryOp::kRegisterGateway: {
      provledger::v1::GatewayInfo g;
      g.set_id(op.register_gateway().id());
      g.set_pubkey(op.register_gateway().pubkey());
      g.set_registered_height(height);
      next->gateways_[g.id()] = KeyEntry{g.pubkey(), height};
      puts->emplace_back(kGatewayPrefix + g.id(), g.SerializeAsString());
      break;
    }
    case provledger::v1::RegistryOp::kRegisterVendor: {
      provledger::v1::GatewayInfo g;
      g.set_id(op.register_vendor().id());
      g.set_pubkey(op.register_vendor().pubkey());
      g.set_registered_height(height);
      next->vendors_[g.id()] = KeyEntry{g.pubkey(), height};
      puts->emplace_back(kVendorPrefix + g.id(), g.SerializeAsString());
      break;
    }
    case provledger::v1::RegistryOp::kRegisterDevice: {
      const auto& r = op.register_device();
      provledger::v1::DeviceInfo d;
      d.set_id(r.id());
      d.set_pubkey(r.pubkey());
      d.set_vendor(r.vendor());
      d.set_model(r.model());
      d.set_registered_height(height);
      next->devices_[d.id()] = DeviceEntry{d.pubkey(), d.vendor(), d.model(), false, height};
      puts->emplace_back(kDevicePrefix + d.id(), d.SerializeAsString());
      break;
    }
    case provledger::v1::RegistryOp::kRevokeDevice: {
      auto it = next->devices_.find(op.revoke_device().id());
      if (it == next->devices_.end()) break;  // revoking an unknown device changes nothing
      it->second.revoked = true;
      provledger::v1::DeviceInfo d;
      d.set_id(it->first);
      d.set_pubkey(it->second.pubkey);
      d.set_vendor(it->second.vendor);
      d.set_model(it->second.model);
      d.set_revoked(true);
      d.set_registered_height(it->second.height);
      puts->emplace_back(kDevicePrefix + d.id(), d.SerializeAsString());
      break;
    }
    case provledger::v1::RegistryOp::kRegisterPolicy: {
      // Every replica ignores the same stale version: the state stays a function of the chain.
      if (!CheckOp(op).ok()) break;
      provledger::v1::RuntimePolicy p = op.register_policy().policy();
      p.set_registered_height(height);
      puts->emplace_back(kPolicyPrefix + p.name(), p.SerializeAsString());
      next->policies_[p.name()] = std::move(p);
      break;
    }
    case provledger::v1::RegistryOp::kBindPolicy: {
      if (!CheckOp(op).ok()) break;
      const auto& r = op.bind_policy();
      provledger::v1::PolicyBinding b;
      b.set_policy(r.policy());
      b.set_device(r.device());
      b.set_model(r.model());
      b.set_height(height);
      const bool device = !r.device().empty();
      auto& into = device ? next->device_bindings_ : next->model_bindings_;
      const std::string& target = device ? r.device() : r.model();
      if (r.policy().empty()) {
        into.erase(target);
      } else {
        into[target] = BindingEntry{r.policy(), height};
      }
      puts->emplace_back((device ? kDeviceBindingPrefix : kModelBindingPrefix) + target,
                         b.SerializeAsString());
      break;
    }
    case provledger::v1::RegistryOp::kSetValidators: {
      // A stale base is ignored on every replica alike (two racing changes: the first wins).
      if (schedule_ == nullptr) break;
      auto sched = ScheduleWith(*schedule_, op.set_validators(), height);
      if (!sched) break;
      size_t index = 0;
      for (const auto& c : schedule_->changes()) index += c.committed_height == height ? 1 : 0;
      const ValidatorChange& added = sched->changes().back();
      provledger::v1::ValidatorSetInfo info;
      info.set_committed_height(height);
      info.set_end(added.end);
      info.set_digest(added.set->Digest());
      added.set->ToEntries(info.mutable_validators());
      puts->emplace_back(ValidatorSetKey(height, index), info.SerializeAsString());
      next->schedule_ = std::make_shared<const ValidatorSchedule>(std::move(*sched));
      break;
    }
    default:
      break;
  }
  return next;
}

}  // namespace provledger::ledger
