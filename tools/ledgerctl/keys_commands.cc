// ledgerctl keys: keygen (a new secp256k1 key file, or a key pair inside a PKCS#11 token)
// and pubkey (the public key of either).
#include <cstdio>

#include "absl/flags/flag.h"
#include "common/ecdsa.h"
#include "common/key_file.h"
#include "common/pkcs11_flags.h"
#include "common/pkcs11_signer.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(bool, force, false, "keygen: overwrite an existing key file");

namespace provledger::tools {
namespace {

void PrintTokenKey(const Ctx& c, const Pkcs11KeyRef& t, const Bytes& pubkey, bool made) {
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("module", JsonValue::String(t.module));
    o.Set("token", JsonValue::String(t.token));
    o.Set("label", JsonValue::String(t.key_label));
    o.Set("pubkey", JsonValue::String(HexEncode(pubkey)));
    PrintJson(o);
  } else if (made) {
    std::printf("made key \"%s\" in token \"%s\" (not extractable)\npubkey %s\n",
                t.key_label.c_str(), t.token.c_str(), HexEncode(pubkey).c_str());
  } else {
    std::printf("%s\n", HexEncode(pubkey).c_str());
  }
}

// A secp256k1 key pair made inside the token; the private key never leaves it.
Status CmdTokenKeygen(const Ctx& c, const Pkcs11KeyRef& t) {
  PL_ASSIGN_OR_RETURN(std::string pin, ReadPinFile(t.pin_file));
  PL_RETURN_IF_ERROR(GeneratePkcs11Key(t.module, t.token, t.key_label, pin).status());
  // Opening it as a signer signs a self-test digest: the new key works before it is used.
  PL_ASSIGN_OR_RETURN(std::unique_ptr<Signer> signer, OpenPkcs11Signer(t));
  PrintTokenKey(c, t, signer->public_key(), true);
  return OkStatus();
}

Status CmdKeygen(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(std::optional<Pkcs11KeyRef> token, Pkcs11KeyFromFlags());
  if (token.has_value()) {
    if (!absl::GetFlag(FLAGS_out).empty() || absl::GetFlag(FLAGS_force)) {
      return InvalidArgumentError("keygen: --out/--force and --pkcs11_* exclude each other");
    }
    return CmdTokenKeygen(c, *token);
  }
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
  PL_ASSIGN_OR_RETURN(std::optional<Pkcs11KeyRef> token, Pkcs11KeyFromFlags());
  if (token.has_value()) {
    if (!absl::GetFlag(FLAGS_key).empty()) {
      return InvalidArgumentError("pubkey: --key and --pkcs11_* exclude each other");
    }
    PL_ASSIGN_OR_RETURN(std::unique_ptr<Signer> signer, OpenPkcs11Signer(*token));
    PrintTokenKey(c, *token, signer->public_key(), false);
    return OkStatus();
  }
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
  std::vector<std::string> keygen = {"out", "force"}, pubkey = {"key"};
  keygen.insert(keygen.end(), Pkcs11FlagNames().begin(), Pkcs11FlagNames().end());
  pubkey.insert(pubkey.end(), Pkcs11FlagNames().begin(), Pkcs11FlagNames().end());
  return {"keys",
          {{"keygen",
            "--out=FILE [--force] | --pkcs11_module=SO --pkcs11_token=LABEL "
            "--pkcs11_key_label=LABEL --pkcs11_pin_file=FILE",
            "new secp256k1 key: a key file (mode 0600), or a key pair made inside a PKCS#11 token "
            "(never extractable); prints its public key",
            keygen, [](const Ctx& c) { return Done(CmdKeygen(c)); }},
           {"pubkey",
            "--key=FILE | --pkcs11_module=SO --pkcs11_token=LABEL --pkcs11_key_label=LABEL "
            "--pkcs11_pin_file=FILE",
            "prints the public key of a key file or of a key in a token", pubkey,
            [](const Ctx& c) { return Done(CmdPubkey(c)); }}}};
}

}  // namespace provledger::tools
