// The identities carried in our TLS certificates (docs/SECURITY.md) and the making of test
// certificates (ledgerctl certs) with OpenSSL: ECDSA P-256 keys, signed by an operator CA.
//
// A certificate names its holder's role on a node's API in one subjectAltName URI:
//   provledger:role=ROLE;id=ID[;devices=D1,D2,...]
// ROLE is admin, gateway, reader or peer; ID the holder's name (for a gateway, the gateway id
// it may submit as); devices (readers only) limits a reader to those devices' records.
//
// Thread rules: pure functions; call from any thread.
#ifndef PROVLEDGER_COMMON_TLS_CERTS_H_
#define PROVLEDGER_COMMON_TLS_CERTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace provledger {

enum class Role { kAdmin, kGateway, kReader, kPeer };

struct PeerIdentity {
  Role role = Role::kReader;
  std::string id;
  std::vector<std::string> devices;  // reader only; empty: every device
};

constexpr std::string_view kIdentityUriScheme = "provledger:";

// "admin", "gateway", "reader", "peer".
const char* RoleName(Role role);
// kInvalidArgument for another word.
StatusOr<Role> ParseRole(std::string_view name);

// The SAN URI of `identity` (format above).
std::string IdentityUri(const PeerIdentity& identity);
// kInvalidArgument when `uri` is not that format: unknown scheme, role or key, an id or
// device that is not a valid name (ledger/record.h IsValidName), devices on another role.
StatusOr<PeerIdentity> ParseIdentityUri(std::string_view uri);

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8, unencrypted: write it with mode 0600
};

// A self-signed CA certificate named `name`, valid `days` days from now.
StatusOr<CertAndKey> MakeCa(const std::string& name, uint32_t days);

struct CertRequest {
  PeerIdentity identity;
  // A server that is no client of our nodes (the MQTT broker): no provledger URI, so a node
  // refuses it as a client; identity.id is its common name.
  bool no_role = false;
  // subjectAltNames the holder serves under: IP addresses (127.0.0.1, ::1) or DNS names.
  std::vector<std::string> hosts;
  uint32_t days = 365;
};

// A certificate for `req` signed by `ca` (usable as TLS server and client), with a new key.
// kInvalidArgument for a bad CA PEM or identity.
StatusOr<CertAndKey> IssueCert(const CertAndKey& ca, const CertRequest& req);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_TLS_CERTS_H_
