#include "common/tls_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/openssl_ptr.h"

namespace provledger {
namespace {

// The rule of ledger names (ledger/record.h IsValidName), which ids and devices follow.
bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t i = s.find(sep);
    out.push_back(s.substr(0, i));
    if (i == std::string_view::npos) return out;
    s.remove_prefix(i + 1);
  }
}

Status OpensslError(const std::string& what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "no detail";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  return InternalError(what + ": " + buf);
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpensslError("writing a private key");
  }
  return BioText(bio.get());
}

StatusOr<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(bio.get(), cert) != 1) return OpensslError("writing a certificate");
  return BioText(bio.get());
}

// A certificate with a random serial, `subject` as its name, valid from now for `days`.
StatusOr<X509Ptr> NewCert(EVP_PKEY* key, const std::string& cn, const std::string& ou,
                          uint32_t days) {
  X509Ptr x(X509_new());
  if (!x) return OpensslError("X509_new");
  X509_set_version(x.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return OpensslError("serial");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -300);  // a little clock skew between hosts
  X509_gmtime_adj(X509_getm_notAfter(x.get()), static_cast<long>(days) * 86400);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("provledger"), -1, -1, 0);
  if (!ou.empty()) {
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(ou.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_pubkey(x.get(), key);
  return x;
}

Status AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return OpensslError(std::string("extension ") + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return OkStatus();
}

KeyPtr NewKey() { return KeyPtr(EVP_EC_gen("P-256")); }

// Signs `cert` with `signer` (SHA-256) and returns it as PEM with `key`, the key it certifies;
// `what` names the signing in an error.
StatusOr<CertAndKey> SignAndExport(X509* cert, EVP_PKEY* signer, EVP_PKEY* key,
                                   const std::string& what) {
  if (X509_sign(cert, signer, EVP_sha256()) == 0) return OpensslError(what);
  CertAndKey out;
  PL_ASSIGN_OR_RETURN(out.cert_pem, CertPem(cert));
  PL_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key));
  return out;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kGateway:
      return "gateway";
    case Role::kReader:
      return "reader";
    case Role::kPeer:
      return "peer";
  }
  return "?";
}

StatusOr<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kAdmin, Role::kGateway, Role::kReader, Role::kPeer}) {
    if (name == RoleName(r)) return r;
  }
  return InvalidArgumentError("unknown role '" + std::string(name) +
                              "' (admin, gateway, reader or peer)");
}

std::string IdentityUri(const PeerIdentity& identity) {
  std::string uri =
      std::string(kIdentityUriScheme) + "role=" + RoleName(identity.role) + ";id=" + identity.id;
  if (!identity.devices.empty()) {
    uri += ";devices=";
    for (size_t i = 0; i < identity.devices.size(); ++i) {
      uri += (i ? "," : "") + identity.devices[i];
    }
  }
  return uri;
}

StatusOr<PeerIdentity> ParseIdentityUri(std::string_view uri) {
  if (uri.substr(0, kIdentityUriScheme.size()) != kIdentityUriScheme) {
    return InvalidArgumentError("not a provledger identity URI");
  }
  uri.remove_prefix(kIdentityUriScheme.size());
  PeerIdentity id;
  bool has_role = false, has_id = false, has_devices = false;
  for (std::string_view part : Split(uri, ';')) {
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError("identity URI part '" + std::string(part) + "' has no '='");
    }
    const std::string_view key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "role" && !has_role) {
      PL_ASSIGN_OR_RETURN(id.role, ParseRole(value));
      has_role = true;
    } else if (key == "id" && !has_id) {
      if (!ValidName(value)) {
        return InvalidArgumentError("identity id '" + std::string(value) + "' is not a valid name");
      }
      id.id = std::string(value);
      has_id = true;
    } else if (key == "devices" && !has_devices) {
      for (std::string_view d : Split(value, ',')) {
        if (!ValidName(d)) {
          return InvalidArgumentError("identity device '" + std::string(d) +
                                      "' is not a valid name");
        }
        id.devices.emplace_back(d);
      }
      has_devices = true;
    } else {
      return InvalidArgumentError("identity URI key '" + std::string(key) +
                                  "' is unknown or repeated");
    }
  }
  if (!has_role || !has_id) return InvalidArgumentError("identity URI needs role= and id=");
  if (has_devices && id.role != Role::kReader) {
    return InvalidArgumentError("identity URI: devices= is for readers only");
  }
  return id;
}

StatusOr<CertAndKey> MakeCa(const std::string& name, uint32_t days) {
  KeyPtr key = NewKey();
  if (!key) return OpensslError("P-256 key");
  PL_ASSIGN_OR_RETURN(X509Ptr x, NewCert(key.get(), name, "", days));
  X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
  PL_RETURN_IF_ERROR(AddExt(x.get(), x.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  PL_RETURN_IF_ERROR(AddExt(x.get(), x.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  PL_RETURN_IF_ERROR(AddExt(x.get(), x.get(), NID_subject_key_identifier, "hash"));
  return SignAndExport(x.get(), key.get(), key.get(), "signing the CA");
}

StatusOr<CertAndKey> IssueCert(const CertAndKey& ca, const CertRequest& req) {
  const std::string uri = IdentityUri(req.identity);
  if (!req.no_role) PL_RETURN_IF_ERROR(ParseIdentityUri(uri).status());
  X509Ptr ca_cert = ReadPemCert(ca.cert_pem);
  KeyPtr ca_key = ReadPemKey(ca.key_pem);
  if (!ca_cert || !ca_key) {
    ERR_clear_error();
    return InvalidArgumentError("the CA certificate or key is not PEM");
  }
  KeyPtr key = NewKey();
  if (!key) return OpensslError("P-256 key");
  PL_ASSIGN_OR_RETURN(X509Ptr x,
                      NewCert(key.get(), req.identity.id,
                              req.no_role ? "server" : RoleName(req.identity.role), req.days));
  X509_set_issuer_name(x.get(), X509_get_subject_name(ca_cert.get()));
  PL_RETURN_IF_ERROR(AddExt(x.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  PL_RETURN_IF_ERROR(
      AddExt(x.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement"));
  PL_RETURN_IF_ERROR(AddExt(x.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  PL_RETURN_IF_ERROR(AddExt(x.get(), ca_cert.get(), NID_subject_key_identifier, "hash"));
  PL_RETURN_IF_ERROR(AddExt(x.get(), ca_cert.get(), NID_authority_key_identifier, "keyid"));
  // Built as GENERAL_NAMEs, not a config string: the URI holds ',' and ';'.
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  auto add = [&](int type, ASN1_STRING* value) {
    GENERAL_NAME* g = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(g, type, value);
    sk_GENERAL_NAME_push(names.get(), g);
  };
  if (!req.no_role) {
    ASN1_IA5STRING* u = ASN1_IA5STRING_new();
    ASN1_STRING_set(u, uri.data(), static_cast<int>(uri.size()));
    add(GEN_URI, u);
  }
  for (const std::string& h : req.hosts) {
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(h.c_str()); ip != nullptr) {
      add(GEN_IPADD, ip);
      continue;
    }
    ERR_clear_error();
    if (h.empty() || h.find_first_of(" ,;/") != std::string::npos) {
      return InvalidArgumentError("host '" + h + "' is neither an IP address nor a DNS name");
    }
    ASN1_IA5STRING* d = ASN1_IA5STRING_new();
    ASN1_STRING_set(d, h.data(), static_cast<int>(h.size()));
    add(GEN_DNS, d);
  }
  if (X509_add1_ext_i2d(x.get(), NID_subject_alt_name, names.get(), 0, 0) != 1) {
    return OpensslError("subjectAltName");
  }
  return SignAndExport(x.get(), ca_key.get(), key.get(), "signing");
}

}  // namespace provledger
