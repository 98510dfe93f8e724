#include "node/access_policy.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>

#include "common/clock.h"
#include "common/log.h"
#include "ledger/record.h"
#include "node/node_metrics.h"

namespace provledger::node {
namespace {

constexpr unsigned Bit(Role r) { return 1u << static_cast<unsigned>(r); }
constexpr unsigned kAll =
    Bit(Role::kAdmin) | Bit(Role::kGateway) | Bit(Role::kReader) | Bit(Role::kPeer);
constexpr unsigned kQueries = Bit(Role::kAdmin) | Bit(Role::kReader) | Bit(Role::kPeer);

struct MethodRule {
  unsigned roles;
  bool limited_reader;  // a reader limited to devices may call it (the handler checks which)
};

// Every method our server registers; any other is refused.
const std::map<std::string, MethodRule>& Rules() {
  static const auto* rules = new std::map<std::string, MethodRule>{
      {"/provledger.v1.Ledger/Submit", {Bit(Role::kGateway) | Bit(Role::kPeer), false}},
      {"/provledger.v1.Ledger/SubmitRegistry", {Bit(Role::kAdmin) | Bit(Role::kPeer), false}},
      {"/provledger.v1.Ledger/SubmitFirmware", {Bit(Role::kAdmin) | Bit(Role::kPeer), false}},
      {"/provledger.v1.Ledger/GetStatus", {kAll, true}},
      {"/provledger.v1.Ledger/GetBlock", {kQueries, false}},  // every device's records
      {"/provledger.v1.Ledger/GetRecord", {kQueries, true}},
      {"/provledger.v1.Ledger/GetProof", {kQueries, true}},
      {"/provledger.v1.Ledger/History", {kQueries, true}},
      {"/provledger.v1.Ledger/Devices", {kAll, true}},
      {"/provledger.v1.Ledger/Gateways", {kAll, true}},
      {"/provledger.v1.Ledger/Firmware", {kAll, true}},
      {"/provledger.v1.Ledger/Policies", {kAll, true}},
      {"/provledger.v1.Ledger/Validators", {kAll, true}},
      {"/provledger.v1.Consensus/Deliver", {Bit(Role::kPeer), false}},
      {"/provledger.v1.StateSync/GetHeaders", {Bit(Role::kPeer), false}},
      {"/provledger.v1.StateSync/GetStateAttestations", {Bit(Role::kPeer), false}},
      {"/provledger.v1.StateSync/GetStateRows", {Bit(Role::kPeer), false}},
  };
  return *rules;
}

// The method's name for metrics and logs: its last path element when we serve it, else
// "unknown" (a client must not choose label values).
std::string ShortName(const std::string& method) {
  if (Rules().count(method) == 0) return "unknown";
  return method.substr(method.rfind('/') + 1);
}

// Refusals logged: at most one line per 100 ms; the next line says how many were not.
std::atomic<uint64_t> g_last_logged_ms{0};
std::atomic<uint64_t> g_unlogged{0};

grpc::Status Deny(const std::string& method, const PeerIdentity* who, const char* reason,
                  const std::string& why) {
  const std::string role = who != nullptr ? RoleName(who->role) : "none";
  CountAccessDenied(ShortName(method), role, reason);
  const uint64_t now = SteadyMs();
  uint64_t last = g_last_logged_ms.load();
  if (now < last + 100 || !g_last_logged_ms.compare_exchange_strong(last, now)) {
    g_unlogged.fetch_add(1);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why);
  }
  LogWarn("access_denied")
      .Kv("method", ShortName(method))
      .Kv("role", role)
      .Kv("id", who != nullptr ? who->id : "-")
      .Kv("reason", reason)
      .Kv("unlogged", g_unlogged.exchange(0))
      .Kv("err", why);
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why);
}

std::string Str(const grpc::string_ref& s) { return std::string(s.data(), s.size()); }

// The identity of the client certificate behind `auth`: its one provledger: subjectAltName
// URI. kPermissionDenied saying why there is none.
StatusOr<PeerIdentity> IdentityOf(const grpc::AuthContext& auth) {
  std::vector<std::string> uris;
  for (const auto& san : auth.FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    std::string v = Str(san);
    if (v.rfind(kIdentityUriScheme, 0) == 0) uris.push_back(std::move(v));
  }
  if (uris.size() != 1) {
    return PermissionDeniedError(
        uris.empty() ? "the client certificate names no provledger role (a "
                       "subjectAltName URI provledger:role=...;id=...)"
                     : "the client certificate names more than one provledger role");
  }
  StatusOr<PeerIdentity> who = ParseIdentityUri(uris[0]);
  if (!who.ok()) {
    return PermissionDeniedError("the client certificate's role is unreadable: " +
                                 who.status().message());
  }
  return who;
}

// The caller's identity; nullopt on a plaintext server (no TLS: nothing to check), which
// *secure tells; *why says what is wrong when a TLS caller has none.
std::optional<PeerIdentity> CallerIdentity(const grpc::ServerContextBase* ctx, bool* secure,
                                           std::string* why) {
  *secure = false;
  if (ctx == nullptr) return std::nullopt;  // an in-process call (tests)
  const std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
  if (auth == nullptr) return std::nullopt;
  const auto type = auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  *secure = !type.empty() && Str(type[0]) == GRPC_SSL_TRANSPORT_SECURITY_TYPE;
  if (!*secure) return std::nullopt;
  StatusOr<PeerIdentity> who = IdentityOf(*auth);
  if (!who.ok()) {
    *why = who.status().message();
    return std::nullopt;
  }
  return std::move(who).value();
}

}  // namespace

grpc::Status CheckMethod(const PeerIdentity& who, const std::string& method) {
  const auto it = Rules().find(method);
  if (it == Rules().end()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "method " + method + " is not served to any role");
  }
  if ((it->second.roles & Bit(who.role)) == 0) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        std::string("role ") + RoleName(who.role) + " (" + who.id +
                            ") may not call " + ShortName(method));
  }
  if (who.role == Role::kReader && !who.devices.empty() && !it->second.limited_reader) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        "reader " + who.id + " is limited to some devices and may not call " + ShortName(method));
  }
  return grpc::Status::OK;
}

grpc::Status AccessProcessor::Process(const InputMetadata& auth_metadata,
                                      grpc::AuthContext* context, OutputMetadata*,
                                      OutputMetadata*) {
  std::string method;
  if (auto p = auth_metadata.find(":path"); p != auth_metadata.end()) method = Str(p->second);
  StatusOr<PeerIdentity> who = IdentityOf(*context);
  if (!who.ok()) return Deny(method, nullptr, "no_identity", who.status().message());
  grpc::Status allowed = CheckMethod(*who, method);
  if (!allowed.ok()) return Deny(method, &*who, "role", allowed.error_message());
  return grpc::Status::OK;
}

grpc::Status CheckSubmitAs(const grpc::ServerContextBase* ctx, const std::string& gateway) {
  static const std::string kMethod = "/provledger.v1.Ledger/Submit";
  bool secure = false;
  std::string why;
  const std::optional<PeerIdentity> who = CallerIdentity(ctx, &secure, &why);
  if (!secure) return grpc::Status::OK;
  if (!who) return Deny(kMethod, nullptr, "no_identity", why);
  if (who->role == Role::kGateway && who->id != gateway) {
    return Deny(
        kMethod, &*who, "gateway_id",
        "the certificate is gateway " + who->id + "'s; this batch is gateway " + gateway + "'s");
  }
  return grpc::Status::OK;
}

grpc::Status CheckDevice(const grpc::ServerContextBase* ctx, const std::string& device,
                         const char* method) {
  bool secure = false;
  std::string why;
  const std::optional<PeerIdentity> who = CallerIdentity(ctx, &secure, &why);
  const std::string path = std::string("/provledger.v1.Ledger/") + method;
  if (!secure) return grpc::Status::OK;
  if (!who) return Deny(path, nullptr, "no_identity", why);
  if (who->role != Role::kReader || who->devices.empty()) return grpc::Status::OK;
  if (std::find(who->devices.begin(), who->devices.end(), device) != who->devices.end()) {
    return grpc::Status::OK;
  }
  return Deny(path, &*who, "device",
              "reader " + who->id + " may not read device " +
                  (device.empty() ? std::string("(none)") : device) + "'s records");
}

grpc::Status CheckRecordDevice(const grpc::ServerContextBase* ctx, ByteView record,
                               const char* method) {
  bool secure = false;
  std::string why;
  const std::optional<PeerIdentity> who = CallerIdentity(ctx, &secure, &why);
  // Only a limited reader's answers are decoded.
  if (!secure || (who && (who->role != Role::kReader || who->devices.empty()))) {
    return grpc::Status::OK;
  }
  auto f = ledger::DecodeRecordFields(record);
  return CheckDevice(ctx, f.ok() && f->from_device ? f->device : "", method);
}

std::string AuthenticatedPeer(const grpc::ServerContextBase* ctx) {
  bool secure = false;
  std::string why;
  std::optional<PeerIdentity> who = CallerIdentity(ctx, &secure, &why);
  if (who) return who->id;
  return secure ? "unidentified" : "unauthenticated";
}

}  // namespace provledger::node
