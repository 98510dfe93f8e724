// The four --pkcs11_* flags of every program that may keep a device key in a PKCS#11 token
// (device_sim, ledgerctl keygen/pubkey, a device agent): link //common:pkcs11_flags, parse
// the command line, then call Pkcs11KeyFromFlags. docs/TOKENS.md describes them.
//
// Thread rules: call from main after the flags are parsed.
#ifndef PROVLEDGER_COMMON_PKCS11_FLAGS_H_
#define PROVLEDGER_COMMON_PKCS11_FLAGS_H_

#include <optional>
#include <string>
#include <vector>

#include "common/pkcs11_signer.h"
#include "common/status.h"

namespace provledger {

// "pkcs11_module", "pkcs11_token", "pkcs11_key_label", "pkcs11_pin_file": for usage groups
// and per-command flag lists.
const std::vector<std::string>& Pkcs11FlagNames();

// The token key the flags name; nullopt when none of the four is set. kInvalidArgument
// naming the missing flags when only some are set.
StatusOr<std::optional<Pkcs11KeyRef>> Pkcs11KeyFromFlags();

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_PKCS11_FLAGS_H_
