// ledgerctl keys: keygen (a new secp256k1 key file, or a key pair inside a PKCS#11 token)
// and pubkey (the public key of either).
#include <cstdio>

#include "absl/flags/flag.h"
#include "common/ecdsa.h"
#include "common/key_file.h"
#include "common/pkcs11_signer.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(bool, force, false, "keygen: overwrite an existing key file");
ABSL_FLAG(std::string, pkcs11_module, "",
          "the key is in a PKCS#11 token: its module .so (docs/TOKENS.md)");
ABSL_FLAG(std::string, pkcs11_token, "", "label of the token");
ABSL_FLAG(std::string, pkcs11_key_label, "", "CKA_LABEL of the key pair in the token");
ABSL_FLAG(std::string, pkcs11_pin_file, "", "FILE holding the token's user PIN (mode 0600)");

namespace provledger::tools {
namespace {

struct TokenKey {
  std::string module, token, label, pin;
};

// The --pkcs11_* flags, all four, with the PIN read from its file.
StatusOr<TokenKey> TokenKeyFromFlags() {
  TokenKey t;
  PL_ASSIGN_OR_RETURN(t.module, Require(FLAGS_pkcs11_module));
  PL_ASSIGN_OR_RETURN(t.token, Require(FLAGS_pkcs11_token));
  PL_ASSIGN_OR_RETURN(t.label, Require(FLAGS_pkcs11_key_label));
  PL_ASSIGN_OR_RETURN(std::string pin_file, Require(FLAGS_pkcs11_pin_file));
  PL_ASSIGN_OR_RETURN(t.pin, ReadPinFile(pin_file));
  return t;
}

bool TokenWanted() { return !absl::GetFlag(FLAGS_pkcs11_module).empty(); }

void PrintTokenKey(const Ctx& c, const TokenKey& t, const Bytes& pubkey, bool made) {
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("module", JsonValue::String(t.module));
    o.Set("token", JsonValue::String(t.token));
    o.Set("label", JsonValue::String(t.label));
    o.Set("pubkey", JsonValue::String(HexEncode(pubkey)));
    PrintJson(o);
  } else if (made) {
    std::printf("made key \"%s\" in token \"%s\" (not extractable)\npubkey %s\n", t.label.c_str(),
                t.token.c_str(), HexEncode(pubkey).c_str());
  } else {
    std::printf("%s\n", HexEncode(pubkey).c_str());
  }
}

// A secp256k1 key pair made inside the token; the private key never leaves it.
Status CmdTokenKeygen(const Ctx& c) {
  PL_ASSIGN_OR_RETURN(TokenKey t, TokenKeyFromFlags());
  PL_ASSIGN_OR_RETURN(Bytes pubkey, GeneratePkcs11Key(t.module, t.token, t.label, t.pin));
  // Opening it as a signer signs a self-test digest: the new key works before it is used.
  PL_ASSIGN_OR_RETURN(std::unique_ptr<Signer> signer,
                      OpenPkcs11Signer(t.module, t.token, t.label, t.pin));
  PrintTokenKey(c, t, signer->public_key(), true);
  return OkStatus();
}

Status CmdKeygen(const Ctx& c) {
  if (TokenWanted()) return CmdTokenKeygen(c);
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
  if (TokenWanted()) {
    PL_ASSIGN_OR_RETURN(TokenKey t, TokenKeyFromFlags());
    PL_ASSIGN_OR_RETURN(std::unique_ptr<Signer> signer,
                        OpenPkcs11Signer(t.module, t.token, t.label, t.pin));
    PrintTokenKey(c, t, signer->public_key(), false);
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
  return {
      "keys",
      {{"keygen",
        "--out=FILE [--force] | --pkcs11_module=SO --pkcs11_token=LABEL "
        "--pkcs11_key_label=LABEL --pkcs11_pin_file=FILE",
        "new secp256k1 key: a key file (mode 0600), or a key pair made inside a PKCS#11 token "
        "(never extractable); prints its public key",
        {"out", "force", "pkcs11_module", "pkcs11_token", "pkcs11_key_label", "pkcs11_pin_file"},
        [](const Ctx& c) { return Done(CmdKeygen(c)); }},
       {"pubkey",
        "--key=FILE | --pkcs11_module=SO --pkcs11_token=LABEL --pkcs11_key_label=LABEL "
        "--pkcs11_pin_file=FILE",
        "prints the public key of a key file or of a key in a token",
        {"key", "pkcs11_module", "pkcs11_token", "pkcs11_key_label", "pkcs11_pin_file"},
        [](const Ctx& c) { return Done(CmdPubkey(c)); }}}};
}

}  // namespace provledger::tools
