// The raw PKCS#11 (Cryptoki 2.40) C API, loaded with dlopen: a module shared per process
// and a logged-in session on one token. common/pkcs11_signer.h builds the device key's
// signer and key generation on these.
//
// Why the raw API (p11-kit's pkcs11.h) rather than libp11: libp11's PKCS11_* API hands keys
// out as OpenSSL EVP_PKEYs and signs through OpenSSL's ECDSA methods (DER signatures, its
// own login and slot state); we need four things only (login, find by label, CKM_ECDSA over
// a digest as is, EC key generation with exact attributes), and the raw calls say exactly
// what reaches the token, with no OpenSSL engine in between.
//
// Thread rules: a module is initialized with CKF_OS_LOCKING_OK (the module serializes its
// own state) and shared by every user in the process; a Pkcs11Session is not thread-safe
// (PKCS#11 allows one operation at a time per session): its owner serializes calls.
#ifndef PROVLEDGER_COMMON_PKCS11_MODULE_H_
#define PROVLEDGER_COMMON_PKCS11_MODULE_H_

#include <p11-kit-1/p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace provledger {

// "CKR_PIN_INCORRECT (0xa0)" for the return values this code meets; the hex value otherwise.
std::string CkrName(CK_RV rv);

// One PKCS#11 module. A module may be initialized only once per process (C_Initialize);
// every Load of one path shares one dlopen handle and one initialization, finalized when
// the last user releases it.
class Pkcs11Module {
 public:
  // Loads and initializes the module at `path` (or shares the loaded one). kNotFound when
  // the file cannot be loaded or is not a PKCS#11 module; kUnavailable when C_Initialize
  // fails.
  static StatusOr<std::shared_ptr<Pkcs11Module>> Load(const std::string& path);
  ~Pkcs11Module();
  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  CK_FUNCTION_LIST* fn() const { return fn_; }
  const std::string& path() const { return path_; }

  // The slot holding the initialized token labelled `label` (labels compared without their
  // blank padding). kNotFound, naming the labels present, when there is none.
  StatusOr<CK_SLOT_ID> FindToken(const std::string& label) const;

 private:
  Pkcs11Module(std::string path, CK_FUNCTION_LIST* fn) : path_(std::move(path)), fn_(fn) {}
  std::string path_;
  CK_FUNCTION_LIST* fn_;
};

// A session on one token, logged in as the user (CKU_USER); closed on destruction.
class Pkcs11Session {
 public:
  // Opens a session (read-write when `read_write`) on token `token_label` and logs in with
  // `pin`. kNotFound for no such token; kPermissionDenied for a wrong or locked PIN (the PIN
  // is never in a message); kUnavailable for other token errors.
  static StatusOr<std::unique_ptr<Pkcs11Session>> Open(std::shared_ptr<Pkcs11Module> module,
                                                       const std::string& token_label,
                                                       const std::string& pin, bool read_write);
  // Open's; the Passkey keeps others from calling it.
  class Passkey {
    friend class Pkcs11Session;
    Passkey() {}
  };
  Pkcs11Session(Passkey, std::shared_ptr<Pkcs11Module> module, CK_SESSION_HANDLE handle)
      : module_(std::move(module)), handle_(handle) {}
  ~Pkcs11Session();
  Pkcs11Session(const Pkcs11Session&) = delete;
  Pkcs11Session& operator=(const Pkcs11Session&) = delete;

  CK_FUNCTION_LIST* fn() const { return module_->fn(); }
  CK_SESSION_HANDLE handle() const { return handle_; }

  // The one object of class `cls` labelled `label`. kNotFound when there is none;
  // kFailedPrecondition when there are several (a label must name one key).
  StatusOr<CK_OBJECT_HANDLE> FindObject(CK_OBJECT_CLASS cls, const std::string& label) const;
  // Whether some object of class `cls` is labelled `label`.
  StatusOr<bool> HasObject(CK_OBJECT_CLASS cls, const std::string& label) const;
  // The value of attribute `type` of `object`. kPermissionDenied when the token refuses to
  // reveal it (CKR_ATTRIBUTE_SENSITIVE); kNotFound when the object has no such attribute.
  StatusOr<Bytes> GetAttribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const;

 private:
  StatusOr<std::vector<CK_OBJECT_HANDLE>> Find(CK_OBJECT_CLASS cls, const std::string& label) const;

  std::shared_ptr<Pkcs11Module> module_;
  CK_SESSION_HANDLE handle_;
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_PKCS11_MODULE_H_
