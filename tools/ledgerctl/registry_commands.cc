// ledgerctl registry: admin-signed register-gateway, register-device, register-vendor and
// revoke-device.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "common/ecdsa.h"
#include "common/key_file.h"
#include "common/log.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(std::string, id, "", "the gateway's, device's or vendor's id");
ABSL_FLAG(std::string, pubkey, "", "its public key, 66 hex (or give --key=FILE)");
ABSL_DECLARE_FLAG(std::string, admin_key);
ABSL_FLAG(std::string, vendor, "", "a vendor id (register-device, firmware commands)");
ABSL_FLAG(std::string, model, "",
          "a model (register-device, firmware commands; policy bind: the model bound)");

namespace provledger::tools {
namespace {

StatusOr<Bytes> KeyOrPubkey(const Ctx& c) {
  if (!absl::GetFlag(FLAGS_pubkey).empty()) return PubkeyArg(absl::GetFlag(FLAGS_pubkey));
  PL_ASSIGN_OR_RETURN(std::string k, Require(FLAGS_key));
  return PubkeyArg(k);
}

Status CmdRegisterGateway(const Ctx& c) {
  v1::RegistryOp op;
  PL_ASSIGN_OR_RETURN(std::string id, Require(FLAGS_id));
  PL_ASSIGN_OR_RETURN(Bytes pk, KeyOrPubkey(c));
  op.mutable_register_gateway()->set_id(id);
  op.mutable_register_gateway()->set_pubkey(pk);
  return SubmitAdminOp(c, op, "gateway " + id + " registered");
}

Status CmdRegisterDevice(const Ctx& c) {
  v1::RegistryOp op;
  PL_ASSIGN_OR_RETURN(std::string id, Require(FLAGS_id));
  PL_ASSIGN_OR_RETURN(Bytes pk, KeyOrPubkey(c));
  auto* d = op.mutable_register_device();
  d->set_id(id);
  d->set_pubkey(pk);
  d->set_vendor(absl::GetFlag(FLAGS_vendor));
  d->set_model(absl::GetFlag(FLAGS_model));
  return SubmitAdminOp(c, op, "device " + id + " registered");
}

// A firmware vendor, whose key signs manifests (PROTOCOL.md section 8, docs/FIRMWARE.md).
Status CmdRegisterVendor(const Ctx& c) {
  v1::RegistryOp op;
  PL_ASSIGN_OR_RETURN(std::string id, Require(FLAGS_id));
  PL_ASSIGN_OR_RETURN(Bytes pk, KeyOrPubkey(c));
  op.mutable_register_vendor()->set_id(id);
  op.mutable_register_vendor()->set_pubkey(pk);
  return SubmitAdminOp(c, op, "vendor " + id + " registered");
}

Status CmdRevokeDevice(const Ctx& c) {
  v1::RegistryOp op;
  PL_ASSIGN_OR_RETURN(std::string id, Require(FLAGS_id));
  op.mutable_revoke_device()->set_id(id);
  return SubmitAdminOp(c, op, "device " + id + " revoked");
}

}  // namespace

CommandGroup RegistryCommands() {
  std::vector<std::string> common = {"id", "admin_key", "genesis"};
  common.insert(common.end(), kNodeFlags.begin(), kNodeFlags.end());
  std::vector<std::string> gateway = common;
  gateway.insert(gateway.end(), {"pubkey", "key"});
  std::vector<std::string> device = gateway;
  device.insert(device.end(), {"vendor", "model"});
  return {
      "registry (admin-signed; --genesis for the chain id)",
      {{"register-gateway", "--id=ID --pubkey=HEX|--key=FILE --admin_key=FILE --genesis=FILE",
        "registers a gateway's key", gateway,
        [](const Ctx& c) { return Done(CmdRegisterGateway(c)); }},
       {"register-device",
        "--id=ID --pubkey=HEX|--key=FILE [--vendor=V --model=M] --admin_key=FILE\n"
        "        --genesis=FILE",
        "registers a device's key", device,
        [](const Ctx& c) { return Done(CmdRegisterDevice(c)); }},
       {"register-vendor", "--id=VENDOR --pubkey=HEX|--key=FILE --admin_key=FILE --genesis=FILE",
        "registers a firmware vendor's key (docs/FIRMWARE.md)", gateway,
        [](const Ctx& c) { return Done(CmdRegisterVendor(c)); }},
       {"revoke-device", "--id=ID --admin_key=FILE --genesis=FILE", "revokes a device", common,
        [](const Ctx& c) { return Done(CmdRevokeDevice(c)); }}}};
}

}  // namespace provledger::tools
