// The device key in a PKCS#11 token (a smart card, an HSM, SoftHSM2): a Signer whose private
// key never leaves the token, and key generation inside the token. Set-up and flags:
// docs/TOKENS.md.
//
// The key is a secp256k1 EC key pair: a private key object (CKO_PRIVATE_KEY) and a public
// key object (CKO_PUBLIC_KEY) with the same CKA_LABEL. Signing is CKM_ECDSA over the 32-byte
// digest as is (the token hashes nothing); the token's r||s is made low-S and verified with
// the public key before it is returned (common/signer.h NormalizeSignature). A token's
// signatures use its own random nonces: two signatures of one digest differ (both verify).
//
// Thread rules: a Pkcs11Signer owns one session on its token, guarded by a mutex: Sign may
// be called from any thread and signs one digest at a time. Several signers (even on one
// token) may live in one process; the module is shared (common/pkcs11_module.h).
#ifndef PROVLEDGER_COMMON_PKCS11_SIGNER_H_
#define PROVLEDGER_COMMON_PKCS11_SIGNER_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/pkcs11_module.h"
#include "common/signer.h"
#include "common/status.h"

namespace provledger {

// DER of the secp256k1 OID 1.3.132.0.10, the CKA_EC_PARAMS of every key here.
extern const char kSecp256k1EcParams[7];

// A token PIN from a file: its contents without one trailing newline. kNotFound if missing;
// kPermissionDenied if group or others may read it (mode & 077, want 0600);
// kInvalidArgument if empty. The PIN is never in a message.
StatusOr<std::string> ReadPinFile(const std::string& path);

class Pkcs11Signer final : public Signer {
 public:
  // Loads `module_path`, logs in to token `token_label` with `pin`, finds key `key_label`
  // and signs a self-test digest with it. kNotFound: module, token or key (private or
  // public object) missing; kPermissionDenied: wrong or locked PIN; kFailedPrecondition:
  // not an EC key on secp256k1, several keys with the label, or the two objects do not make
  // a pair; kUnavailable: other token errors.
  static StatusOr<std::unique_ptr<Pkcs11Signer>> Open(const std::string& module_path,
                                                      const std::string& token_label,
                                                      const std::string& key_label,
                                                      const std::string& pin);
  ~Pkcs11Signer() override;

  // As Signer. When the session was lost (token removed, module restarted), opens a new one
  // and tries once more; kUnavailable if that fails too (the caller may retry later);
  // kPermissionDenied, for good, once the token refused the PIN on such a new login;
  // kInternal if the token returns a signature that does not verify.
  StatusOr<Bytes> Sign(ByteView digest32) const override;
  const Bytes& public_key() const override { return public_key_; }

  // Open's; the Passkey keeps others from calling it.
  class Passkey {
    friend class Pkcs11Signer;
    Passkey() {}
  };
  Pkcs11Signer(Passkey, std::string module_path, std::string token_label, std::string key_label,
               std::string pin);

 private:
  // Opens session_, finds key_ and returns the compressed public key of its pair. Requires
  // mu_ held (or the signer not yet shared).
  StatusOr<Bytes> Connect() const;
  StatusOr<Bytes> SignOnce(ByteView digest32) const;

  const std::string module_path_, token_label_, key_label_;
  std::string pin_;  // kept to log in again after a lost session; wiped on destruction
  mutable std::mutex mu_;
  mutable std::unique_ptr<Pkcs11Session> session_;    // guarded by mu_
  mutable CK_OBJECT_HANDLE key_ = CK_INVALID_HANDLE;  // guarded by mu_
  // Set when a new login was refused: never tried again, so that a changed PIN does not
  // lock the token one reading at a time. Guarded by mu_.
  mutable std::optional<Status> login_refused_;
  Bytes public_key_;  // set once by Open
};

// Pkcs11Signer::Open as a plain Signer (what protocol code takes).
StatusOr<std::unique_ptr<Signer>> OpenPkcs11Signer(const std::string& module_path,
                                                   const std::string& token_label,
                                                   const std::string& key_label,
                                                   const std::string& pin);

// Where a device key in a token is: what the --pkcs11_* flags name (common/pkcs11_flags.h).
struct Pkcs11KeyRef {
  std::string module;     // the PKCS#11 module (.so)
  std::string token;      // token label
  std::string key_label;  // CKA_LABEL of the key pair
  std::string pin_file;   // the user PIN, mode 0600 (ReadPinFile)
};

// ReadPinFile(ref.pin_file), then OpenPkcs11Signer; the PIN is wiped once the signer has it.
StatusOr<std::unique_ptr<Signer>> OpenPkcs11Signer(const Pkcs11KeyRef& ref);

// Generates a secp256k1 key pair labelled `key_label` inside token `token_label`: the
// private key is CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, sign only.
// Returns the 33-byte compressed public key. kAlreadyExists if a key has that label;
// kFailedPrecondition if the token cannot make secp256k1 keys; others as Open.
StatusOr<Bytes> GeneratePkcs11Key(const std::string& module_path, const std::string& token_label,
                                  const std::string& key_label, const std::string& pin);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_PKCS11_SIGNER_H_
