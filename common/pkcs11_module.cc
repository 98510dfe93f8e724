#include "common/pkcs11_module.h"

#include <dlfcn.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace provledger {
namespace {

// What every Pkcs11Module of one path shares. Guarded by RegistryMutex().
struct LoadedModule {
  void* dl = nullptr;
  CK_FUNCTION_LIST* fn = nullptr;
  bool initialized_here = false;  // false: another library in this process called C_Initialize
  size_t users = 0;
};

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}

std::map<std::string, LoadedModule>& Registry() {
  static std::map<std::string, LoadedModule> modules;
  return modules;
}

// Overwrites `s` in a way the compiler may not drop as a dead store.

std::string TrimLabel(const unsigned char* label, size_t size) {
  std::string s(reinterpret_cast<const char*>(label), size);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

std::string CkrName(CK_RV rv) {
  static const std::map<CK_RV, const char*> names = {
      {CKR_OK, "CKR_OK"},
      {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
      {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
      {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
      {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
      {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
      {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
      {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
      {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID"},
      {CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED"},
      {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
      {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
      {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
      {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
      {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
      {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
      {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
      {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
      {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
      {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
      {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
      {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
      {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
      {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
      {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
      {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
      {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
  };
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(rv));
  auto it = names.find(rv);
  return it == names.end() ? std::string("CKR ") + hex : std::string(it->second) + " (" + hex + ")";
}

StatusOr<std::shared_ptr<Pkcs11Module>> Pkcs11Module::Load(const std::string& path) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  LoadedModule& m = Registry()[path];
  if (m.fn == nullptr) {
    void* dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (dl == nullptr) {
      Registry().erase(path);
      const char* why = dlerror();
      return NotFoundError("cannot load PKCS#11 module " + path + ": " + (why ? why : "?"));
    }
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(dl, "C_GetFunctionList"));
    CK_FUNCTION_LIST* fn = nullptr;
    if (get == nullptr || get(&fn) != CKR_OK || fn == nullptr) {
      dlclose(dl);
      Registry().erase(path);
      return NotFoundError(path + " is not a PKCS#11 module (no C_GetFunctionList)");
    }
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = fn->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      dlclose(dl);
      Registry().erase(path);
      return UnavailableError("PKCS#11 module " + path + ": C_Initialize: " + CkrName(rv));
    }
    m.dl = dl;
    m.fn = fn;
    m.initialized_here = rv == CKR_OK;
  }
  ++m.users;
  struct Enabler : Pkcs11Module {
    Enabler(std::string p, CK_FUNCTION_LIST* f) : Pkcs11Module(std::move(p), f) {}
  };
  return std::shared_ptr<Pkcs11Module>(std::make_shared<Enabler>(path, m.fn));
}

Pkcs11Module::~Pkcs11Module() {
  // Counted under the registry's mutex, so a Load racing with the last release either
  // shares the module before teardown or loads it anew after.
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(path_);
  if (it == Registry().end() || --it->second.users > 0) return;
  if (it->second.initialized_here) it->second.fn->C_Finalize(nullptr);
  dlclose(it->second.dl);
  Registry().erase(it);
}

StatusOr<CK_SLOT_ID> Pkcs11Module::FindToken(const std::string& label) const {
  CK_ULONG n = 0;
  CK_RV rv = fn_->C_GetSlotList(CK_TRUE, nullptr, &n);
  std::vector<CK_SLOT_ID> slots(n);
  if (rv == CKR_OK && n > 0) rv = fn_->C_GetSlotList(CK_TRUE, slots.data(), &n);
  if (rv != CKR_OK) return UnavailableError("PKCS#11 C_GetSlotList: " + CkrName(rv));
  slots.resize(n);
  std::string seen;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (fn_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    std::string have = TrimLabel(info.label, sizeof info.label);
    if (have == label) return slot;
    seen += (seen.empty() ? "" : ", ") + ("\"" + have + "\"");
  }
  return NotFoundError("no PKCS#11 token labelled \"" + label + "\" in " + path_ +
                       (seen.empty() ? " (no initialized token)" : " (tokens: " + seen + ")"));
}

StatusOr<std::unique_ptr<Pkcs11Session>> Pkcs11Session::Open(std::shared_ptr<Pkcs11Module> module,
                                                             const std::string& token_label,
                                                             const std::string& pin,
                                                             bool read_write) {
  PL_ASSIGN_OR_RETURN(CK_SLOT_ID slot, module->FindToken(token_label));
  CK_FUNCTION_LIST* fn = module->fn();
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  CK_RV rv = fn->C_OpenSession(slot, flags, nullptr, nullptr, &h);
  if (rv != CKR_OK) {
    return UnavailableError("token \"" + token_label + "\": C_OpenSession: " + CkrName(rv));
  }
  auto session = std::make_unique<Pkcs11Session>(Passkey(), std::move(module), h);
  std::string pin_copy = pin;  // C_Login takes a non-const pointer
  rv = fn->C_Login(h, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin_copy.data()), pin_copy.size());
  Wipe(&pin_copy);
  // Login is per token and application: a second session of this process shares it.
  if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) return session;
  const std::string where = "token \"" + token_label + "\": login: ";
  switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_LEN_RANGE:
      return PermissionDeniedError(where + "wrong PIN (" + CkrName(rv) + ")");
    case CKR_PIN_LOCKED:
      return PermissionDeniedError(where + "PIN locked after too many wrong tries (" + CkrName(rv) +
                                   ")");
    case CKR_PIN_EXPIRED:
    case CKR_USER_PIN_NOT_INITIALIZED:
      return PermissionDeniedError(where + "user PIN not usable (" + CkrName(rv) + ")");
    default:
      return UnavailableError(where + CkrName(rv));
  }
}

Pkcs11Session::~Pkcs11Session() {
  // No C_Logout: it would log out every session of this process on the token. Closing the
  // last session ends the login.
  fn()->C_CloseSession(handle_);
}

StatusOr<std::vector<CK_OBJECT_HANDLE>> Pkcs11Session::Find(CK_OBJECT_CLASS cls,
                                                            const std::string& label) const {
  std::string label_copy = label;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_LABEL, label_copy.data(), label_copy.size()},
  };
  CK_RV rv = fn()->C_FindObjectsInit(handle_, tmpl, 2);
  if (rv != CKR_OK) return UnavailableError("C_FindObjectsInit: " + CkrName(rv));
  std::vector<CK_OBJECT_HANDLE> found;
  for (;;) {
    CK_OBJECT_HANDLE batch[16];
    CK_ULONG n = 0;
    rv = fn()->C_FindObjects(handle_, batch, 16, &n);
    if (rv != CKR_OK || n == 0) break;
    found.insert(found.end(), batch, batch + n);
  }
  fn()->C_FindObjectsFinal(handle_);
  if (rv != CKR_OK) return UnavailableError("C_FindObjects: " + CkrName(rv));
  return found;
}

StatusOr<CK_OBJECT_HANDLE> Pkcs11Session::FindObject(CK_OBJECT_CLASS cls,
                                                     const std::string& label) const {
  PL_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, Find(cls, label));
  const char* what = cls == CKO_PRIVATE_KEY  ? "private key"
                     : cls == CKO_PUBLIC_KEY ? "public key"
                                             : "object";
  if (found.empty())
    return NotFoundError(std::string("no ") + what + " labelled \"" + label + "\"");
  if (found.size() > 1) {
    return FailedPreconditionError(std::to_string(found.size()) + " " + what + "s labelled \"" +
                                   label + "\": a label must name one key");
  }
  return found[0];
}

StatusOr<bool> Pkcs11Session::HasObject(CK_OBJECT_CLASS cls, const std::string& label) const {
  PL_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, Find(cls, label));
  return !found.empty();
}

StatusOr<Bytes> Pkcs11Session::GetAttribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const {
  CK_ATTRIBUTE a = {type, nullptr, 0};
  CK_RV rv = fn()->C_GetAttributeValue(handle_, object, &a, 1);
  char name[32];
  std::snprintf(name, sizeof name, "attribute 0x%lx", static_cast<unsigned long>(type));
  if (rv == CKR_ATTRIBUTE_SENSITIVE) {
    return PermissionDeniedError(std::string(name) + ": the token will not reveal it");
  }
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID) return NotFoundError(std::string(name) + ": none");
  if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return UnavailableError(std::string(name) + ": C_GetAttributeValue: " + CkrName(rv));
  }
  Bytes value(a.ulValueLen, '\0');
  a.pValue = value.data();
  rv = fn()->C_GetAttributeValue(handle_, object, &a, 1);
  if (rv != CKR_OK)
    return UnavailableError(std::string(name) + ": C_GetAttributeValue: " + CkrName(rv));
  value.resize(a.ulValueLen);
  return value;
}

}  // namespace provledger
