#include "ledger/registry.h"

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "ledger/record.h"

namespace provledger::ledger {

namespace {

constexpr char kGatewayPrefix[] = "gw/";
constexpr char kDevicePrefix[] = "dev/";
constexpr char kVendorPrefix[] = "ven/";

Status CheckKeyAndName(const std::string& what, const std::string& id, const std::string& pubkey) {
  if (!IsValidName(id)) return InvalidArgumentError(what + " id '" + id + "' is not a valid name");
  Status s = ValidatePublicKey(pubkey);
  if (!s.ok()) return s.Annotate(what + " " + id + " public key");
  return OkStatus();
}

}  // namespace

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
    default:
      return InvalidArgumentError("registry op has no operation");
  }
  return op;
}

StatusOr<std::shared_ptr<const RegistrySnapshot>> RegistrySnapshot::FromRows(
    const std::vector<std::pair<Bytes, Bytes>>& rows) {
  auto snap = std::make_shared<RegistrySnapshot>();
  auto has_prefix = [](const Bytes& key, const char* prefix) { return key.rfind(prefix, 0) == 0; };
  for (const auto& [key, value] : rows) {
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
    }
  }
  return std::shared_ptr<const RegistrySnapshot>(std::move(snap));
}

const KeyEntry* RegistrySnapshot::Gateway(const std::string& id) const {
  auto it = gateways_.find(id);
  return it == gateways_.end() ? nullptr : &it->second;
}

const DeviceEntry* RegistrySnapshot::Device(const std::string& id) const {
  auto it = devices_.find(id);
  return it == devices_.end() ? nullptr : &it->second;
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
    default:
      break;
  }
  return next;
}

}  // namespace provledger::ledger
