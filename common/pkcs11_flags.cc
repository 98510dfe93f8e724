#include "common/pkcs11_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, pkcs11_module, "",
          "the device key is in a PKCS#11 token: the module .so to load (with --pkcs11_token, "
          "--pkcs11_key_label, --pkcs11_pin_file; docs/TOKENS.md)");
ABSL_FLAG(std::string, pkcs11_token, "", "label of the token holding the key");
ABSL_FLAG(std::string, pkcs11_key_label, "", "CKA_LABEL of the key pair in the token");
ABSL_FLAG(std::string, pkcs11_pin_file, "",
          "FILE holding the token's user PIN (mode 0600; never give the PIN itself)");

namespace provledger {

const std::vector<std::string>& Pkcs11FlagNames() {
  static const std::vector<std::string> names = {"pkcs11_module", "pkcs11_token",
                                                 "pkcs11_key_label", "pkcs11_pin_file"};
  return names;
}

StatusOr<std::optional<Pkcs11KeyRef>> Pkcs11KeyFromFlags() {
  Pkcs11KeyRef ref{absl::GetFlag(FLAGS_pkcs11_module), absl::GetFlag(FLAGS_pkcs11_token),
                   absl::GetFlag(FLAGS_pkcs11_key_label), absl::GetFlag(FLAGS_pkcs11_pin_file)};
  const std::string* values[] = {&ref.module, &ref.token, &ref.key_label, &ref.pin_file};
  std::string missing;
  size_t set = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (!values[i]->empty()) {
      ++set;
    } else {
      missing += (missing.empty() ? "--" : ", --") + Pkcs11FlagNames()[i];
    }
  }
  if (set == 0) return std::optional<Pkcs11KeyRef>();
  if (set < 4) {
    return InvalidArgumentError(
        "a key in a PKCS#11 token needs all four --pkcs11_* flags; "
        "missing " +
        missing);
  }
  return std::optional<Pkcs11KeyRef>(ref);
}

}  // namespace provledger
