// ledgerctl keys: keygen (a new secp256k1 key file) and pubkey (the public key of one).
#include <cstdio>

#include "absl/flags/flag.h"
#include "common/ecdsa.h"
#include "common/key_file.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(bool, force, false, "keygen: overwrite an existing key file");

namespace provledger::tools {
namespace {

Status CmdKeygen(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string out, Require(FLAGS_out));
  PrivateKey key = PrivateKey::Generate();
  PL_RETURN_IF_ERROR(WriteKeyFile(out, key, absl::GetFlag(FLAGS_force)));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("file", JsonValue::String(out));
    o.Set("pubkey", JsonValue::String(HexEncode(key.PublicKey())));
    PrintJson(o);
  } else {
    std::printf("wrote %s (mode 0600)\npubkey %s\n", out.c_str(),
                HexEncode(key.PublicKey()).c_str());
  }
  return OkStatus();
}

Status CmdPubkey(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::string path, Require(FLAGS_key));
  PL_ASSIGN_OR_RETURN(PrivateKey key, ReadKeyFile(path));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("file", JsonValue::String(path));
    o.Set("pubkey", JsonValue::String(HexEncode(key.PublicKey())));
    PrintJson(o);
  } else {
    std::printf("%s\n", HexEncode(key.PublicKey()).c_str());
  }
  return OkStatus();
}

}  // namespace

CommandGroup KeyCommands() {
  return {
      "keys",
      {{"keygen",
        "--out=FILE [--force]",
        "new secp256k1 key (mode 0600); prints its public key",
        {"out", "force"},
        [](const Ctx& c) { return Done(CmdKeygen(c)); }},
       {"pubkey", "--key=FILE", "prints the public key of a key file", {"key"}, [](const Ctx& c) {
          return Done(CmdPubkey(c));
        }}}};
}

}  // namespace provledger::tools
