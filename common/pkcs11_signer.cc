#include "common/pkcs11_signer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/ecdsa.h"
#include "common/file_io.h"
#include "common/sha256.h"

namespace provledger {

const char kSecp256k1EcParams[7] = {0x06, 0x05, 0x2b, static_cast<char>(0x81), 0x04, 0x00, 0x0a};

namespace {

constexpr char kPrime256v1EcParams[] = "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07";

// Overwrites `s` in a way the compiler may not drop as a dead store.

ByteView Secp256k1Params() { return ByteView(kSecp256k1EcParams, sizeof kSecp256k1EcParams); }

// The sessions errors after which a new session (and login) may succeed.
bool SessionLost(CK_RV rv) {
  return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
         rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
         rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID ||
         rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

Status CheckCurve(const Pkcs11Session& s, CK_OBJECT_HANDLE object, const std::string& what) {
  StatusOr<Bytes> params = s.GetAttribute(object, CKA_EC_PARAMS);
  if (!params.ok()) return params.status().Annotate(what + ": CKA_EC_PARAMS");
  if (*params == Secp256k1Params()) return OkStatus();
  std::string name = *params == ByteView(kPrime256v1EcParams, sizeof kPrime256v1EcParams - 1)
                         ? "prime256v1 (P-256)"
                         : "EC params " + HexEncode(*params);
  return FailedPreconditionError(what + " is on curve " + name +
                                 ", not secp256k1 (OID 1.3.132.0.10): the protocol signs with "
                                 "secp256k1 only");
}

// CKA_EC_POINT is the DER OCTET STRING of the uncompressed point (PKCS#11 2.40); a few
// tokens return the bare point: both are accepted.
StatusOr<Bytes> DecodeEcPoint(const Bytes& value) {
  ByteView point = value;
  if (value.size() == 67 && value[0] == 0x04 && static_cast<unsigned char>(value[1]) == 65) {
    point = ByteView(value).substr(2);
  }
  StatusOr<Bytes> compressed = CompressPublicKey(point);
  if (!compressed.ok()) return compressed.status().Annotate("CKA_EC_POINT");
  return compressed;
}

StatusOr<Bytes> PublicKeyOf(const Pkcs11Session& s, CK_OBJECT_HANDLE pub, const std::string& what) {
  PL_RETURN_IF_ERROR(CheckCurve(s, pub, what));
  PL_ASSIGN_OR_RETURN(Bytes point, s.GetAttribute(pub, CKA_EC_POINT));
  StatusOr<Bytes> key = DecodeEcPoint(point);
  if (!key.ok()) return key.status().Annotate(what);
  return key;
}

}  // namespace

StatusOr<std::string> ReadPinFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFoundError("PIN file " + path + " does not exist");
    return PermissionDeniedError(ErrnoText("cannot open PIN file", path, err));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return InvalidArgumentError("PIN file " + path + " is not a file");
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return PermissionDeniedError("PIN file " + path +
                                 ": group or others may read it (chmod 600 it)");
  }
  Bytes contents;
  contents.reserve(256);  // one buffer, so that Wipe reaches every copy of the PIN
  Status read = ReadAllFrom(fd, path, &contents);
  close(fd);
  if (!read.ok()) {
    Wipe(&contents);
    return read;
  }
  size_t n = contents.size();
  if (n > 0 && contents[n - 1] == '\n') --n;
  if (n > 0 && contents[n - 1] == '\r') --n;
  std::string pin = contents.substr(0, n);
  Wipe(&contents);
  if (pin.empty()) return InvalidArgumentError("PIN file " + path + " is empty");
  return pin;
}

Pkcs11Signer::Pkcs11Signer(Passkey, std::string module_path, std::string token_label,
                           std::string key_label, std::string pin)
    : module_path_(std::move(module_path)),
      token_label_(std::move(token_label)),
      key_label_(std::move(key_label)),
      pin_(std::move(pin)) {}

Pkcs11Signer::~Pkcs11Signer() { Wipe(&pin_); }

StatusOr<std::unique_ptr<Pkcs11Signer>> Pkcs11Signer::Open(const std::string& module_path,
                                                           const std::string& token_label,
                                                           const std::string& key_label,
                                                           const std::string& pin) {
  auto signer = std::make_unique<Pkcs11Signer>(Passkey(), module_path, token_label, key_label, pin);
  PL_ASSIGN_OR_RETURN(signer->public_key_, signer->Connect());
  // A self-test signature proves that the private and public objects are one pair, here
  // rather than at the first reading. Its digest is of no protocol message.
  StatusOr<Bytes> probe = signer->Sign(Sha256(ByteView("provledger pkcs11 self-test")));
  if (!probe.ok()) {
    if (probe.status().code() != StatusCode::kInternal) return probe.status();
    return FailedPreconditionError("key \"" + key_label +
                                   "\": private and public key objects are not one pair (" +
                                   probe.status().message() + ")");
  }
  return signer;
}

StatusOr<Bytes> Pkcs11Signer::Connect() const {
  session_.reset();
  key_ = CK_INVALID_HANDLE;
  PL_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module, Pkcs11Module::Load(module_path_));
  PL_ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Session> s,
                      Pkcs11Session::Open(std::move(module), token_label_, pin_, false));
  const std::string what = "key \"" + key_label_ + "\"";
  StatusOr<CK_OBJECT_HANDLE> priv = s->FindObject(CKO_PRIVATE_KEY, key_label_);
  if (!priv.ok()) return priv.status().Annotate("token \"" + token_label_ + "\"");
  PL_ASSIGN_OR_RETURN(Bytes key_type, s->GetAttribute(*priv, CKA_KEY_TYPE));
  CK_KEY_TYPE type = CKK_RSA;
  if (key_type.size() == sizeof type) std::memcpy(&type, key_type.data(), sizeof type);
  if (type != CKK_EC) return FailedPreconditionError(what + " is not an EC key");
  PL_RETURN_IF_ERROR(CheckCurve(*s, *priv, what));
  StatusOr<CK_OBJECT_HANDLE> pub = s->FindObject(CKO_PUBLIC_KEY, key_label_);
  if (!pub.ok()) return pub.status().Annotate("token \"" + token_label_ + "\"");
  PL_ASSIGN_OR_RETURN(Bytes public_key, PublicKeyOf(*s, *pub, what));
  session_ = std::move(s);
  key_ = *priv;
  return public_key;
}

StatusOr<Bytes> Pkcs11Signer::SignOnce(ByteView digest32) const {
  CK_MECHANISM mech = {CKM_ECDSA, nullptr, 0};
  CK_RV rv = session_->fn()->C_SignInit(session_->handle(), &mech, key_);
  unsigned char sig[2 * kSignatureSize];
  CK_ULONG len = sizeof sig;
  if (rv == CKR_OK) {
    Bytes digest(digest32);  // C_Sign takes a non-const pointer
    rv = session_->fn()->C_Sign(session_->handle(), reinterpret_cast<CK_BYTE*>(digest.data()),
                                digest.size(), sig, &len);
  }
  if (rv != CKR_OK) {
    Status s = UnavailableError("token \"" + token_label_ + "\": signing with key \"" + key_label_ +
                                "\": " + CkrName(rv));
    if (SessionLost(rv)) session_.reset();
    return s;
  }
  return NormalizeSignature(public_key_, digest32,
                            ByteView(reinterpret_cast<const char*>(sig), len));
}

StatusOr<Bytes> Pkcs11Signer::Sign(ByteView digest32) const {
  if (digest32.size() != 32) return InvalidArgumentError("digest must be 32 bytes");
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ != nullptr) {
    StatusOr<Bytes> sig = SignOnce(digest32);
    if (sig.ok() || session_ != nullptr) return sig;
  }
  // The session is gone: a new one, the same key pair, one more try.
  if (login_refused_.has_value()) return *login_refused_;
  StatusOr<Bytes> again = Connect();
  if (!again.ok() && again.status().code() == StatusCode::kPermissionDenied) {
    login_refused_ = again.status().Annotate("token \"" + token_label_ + "\": session lost");
    return *login_refused_;
  }
  if (!again.ok()) {
    return UnavailableError("token \"" + token_label_ +
                            "\": session lost and not reopened: " + again.status().message());
  }
  if (*again != public_key_) {
    session_.reset();
    return FailedPreconditionError("key \"" + key_label_ + "\" on token \"" + token_label_ +
                                   "\" changed: another public key than at start");
  }
  return SignOnce(digest32);
}

StatusOr<std::unique_ptr<Signer>> OpenPkcs11Signer(const std::string& module_path,
                                                   const std::string& token_label,
                                                   const std::string& key_label,
                                                   const std::string& pin) {
  PL_ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Signer> s,
                      Pkcs11Signer::Open(module_path, token_label, key_label, pin));
  return std::unique_ptr<Signer>(std::move(s));
}

StatusOr<std::unique_ptr<Signer>> OpenPkcs11Signer(const Pkcs11KeyRef& ref) {
  StatusOr<std::string> pin = ReadPinFile(ref.pin_file);
  if (!pin.ok()) return pin.status();
  StatusOr<std::unique_ptr<Signer>> signer =
      OpenPkcs11Signer(ref.module, ref.token, ref.key_label, *pin);
  Wipe(&*pin);
  return signer;
}

StatusOr<Bytes> GeneratePkcs11Key(const std::string& module_path, const std::string& token_label,
                                  const std::string& key_label, const std::string& pin) {
  if (key_label.empty()) return InvalidArgumentError("empty key label");
  PL_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module, Pkcs11Module::Load(module_path));
  PL_ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Session> s,
                      Pkcs11Session::Open(std::move(module), token_label, pin, true));
  for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    PL_ASSIGN_OR_RETURN(bool taken, s->HasObject(cls, key_label));
    if (taken) {
      return AlreadyExistsError("token \"" + token_label + "\" already has a key labelled \"" +
                                key_label + "\"");
    }
  }
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  std::string label = key_label;
  Bytes id = RandomBytes(8);  // CKA_ID ties the two objects together for other tools
  Bytes params(Secp256k1Params());
  CK_ATTRIBUTE pub_tmpl[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &no, sizeof no},
      {CKA_VERIFY, &yes, sizeof yes},
      {CKA_ENCRYPT, &no, sizeof no},
      {CKA_WRAP, &no, sizeof no},
      {CKA_DERIVE, &no, sizeof no},
      {CKA_LABEL, label.data(), label.size()},
      {CKA_ID, id.data(), id.size()},
      {CKA_EC_PARAMS, params.data(), params.size()},
  };
  CK_ATTRIBUTE priv_tmpl[] = {
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_SIGN, &yes, sizeof yes},
      {CKA_DECRYPT, &no, sizeof no},
      {CKA_UNWRAP, &no, sizeof no},
      {CKA_DERIVE, &no, sizeof no},
      {CKA_LABEL, label.data(), label.size()},
      {CKA_ID, id.data(), id.size()},
  };
  CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
  CK_RV rv =
      s->fn()->C_GenerateKeyPair(s->handle(), &mech, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0],
                                 priv_tmpl, sizeof priv_tmpl / sizeof priv_tmpl[0], &pub, &priv);
  const std::string where = "token \"" + token_label + "\": ";
  switch (rv) {
    case CKR_OK:
      break;
    case CKR_MECHANISM_INVALID:
      return FailedPreconditionError(where + "no EC key generation (" + CkrName(rv) + ")");
    case CKR_CURVE_NOT_SUPPORTED:
    case CKR_DOMAIN_PARAMS_INVALID:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_TEMPLATE_INCONSISTENT:
      return FailedPreconditionError(where + "cannot make secp256k1 keys (" + CkrName(rv) + ")");
    default:
      return UnavailableError(where + "C_GenerateKeyPair: " + CkrName(rv));
  }
  return PublicKeyOf(*s, pub, "new key \"" + key_label + "\"");
}

}  // namespace provledger
