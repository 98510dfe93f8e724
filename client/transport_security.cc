#include "client/transport_security.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <mutex>
#include <optional>

#include "absl/flags/flag.h"
#include "common/file_io.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/openssl_ptr.h"

ABSL_FLAG(std::string, tls_ca, "",
          "gRPC TLS: the operator CA's certificate FILE (PEM); peers must be signed by it");
ABSL_FLAG(std::string, tls_cert, "",
          "gRPC TLS: this process's certificate FILE (PEM; its SAN URI names the role, "
          "docs/SECURITY.md; ledgerctl certs makes them)");
ABSL_FLAG(std::string, tls_key, "",
          "gRPC TLS: the certificate's private key FILE (PEM, mode 0600)");
ABSL_FLAG(bool, insecure, false,
          "plaintext gRPC without identities or roles (tests, local demos only; logs "
          "ev=insecure_transport)");

namespace provledger::client {
namespace {

struct Installed {
  std::mutex mu;
  TransportPems pems;  // guarded by mu
  bool configured = false;
  std::optional<Status> from_flags;  // guarded by mu: ConfigureTransportFromFlags' result
};

Installed& State() {
  static Installed* s = new Installed();
  return *s;
}

// The certificate parses, matches the key, and the CA signed it (at the current time).
Status CheckPems(const TransportFiles& f, const TransportPems& p) {
  X509Ptr ca = ReadPemCert(p.ca);
  if (!ca) return InvalidArgumentError("--tls_ca " + f.ca + ": not a PEM certificate");
  X509Ptr cert = ReadPemCert(p.cert);
  if (!cert) return InvalidArgumentError("--tls_cert " + f.cert + ": not a PEM certificate");
  KeyPtr key = ReadPemKey(p.key);
  if (!key) return InvalidArgumentError("--tls_key " + f.key + ": not a PEM private key");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("--tls_key " + f.key + " is not the key of --tls_cert " + f.cert);
  }
  X509StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return InvalidArgumentError("--tls_cert " + f.cert + " does not verify against --tls_ca " +
                                f.ca + ": " + X509_verify_cert_error_string(err));
  }
  return OkStatus();
}

}  // namespace

const std::vector<std::string>& TransportFlagNames() {
  static const std::vector<std::string> names = {"tls_ca", "tls_cert", "tls_key", "insecure"};
  return names;
}

TransportFiles TransportFilesFromFlags() {
  TransportFiles f;
  f.ca = absl::GetFlag(FLAGS_tls_ca);
  f.cert = absl::GetFlag(FLAGS_tls_cert);
  f.key = absl::GetFlag(FLAGS_tls_key);
  f.insecure = absl::GetFlag(FLAGS_insecure);
  return f;
}

StatusOr<TransportPems> LoadTransport(const TransportFiles& files) {
  TransportPems p;
  if (files.insecure) {
    if (!files.ca.empty() || !files.cert.empty() || !files.key.empty()) {
      return InvalidArgumentError(
          "--insecure and --tls_ca/--tls_cert/--tls_key exclude each other");
    }
    return p;
  }
  for (const auto& [flag, value] : {std::pair<const char*, const std::string&>{"tls_ca", files.ca},
                                    {"tls_cert", files.cert},
                                    {"tls_key", files.key}}) {
    if (value.empty()) {
      return InvalidArgumentError(std::string("--") + flag +
                                  " is required: gRPC runs over TLS with --tls_ca, --tls_cert "
                                  "and --tls_key (ledgerctl certs makes test ones), or give "
                                  "--insecure for plaintext");
    }
  }
  PL_ASSIGN_OR_RETURN(p.ca, ReadFile(files.ca));
  PL_ASSIGN_OR_RETURN(p.cert, ReadFile(files.cert));
  PL_ASSIGN_OR_RETURN(p.key, ReadPrivateFile(files.key, "TLS key file"));
  p.insecure = false;
  Status checked = CheckPems(files, p);
  if (!checked.ok()) {
    Wipe(&p.key);
    return checked;
  }
  return p;
}

void InstallTransport(TransportPems pems, const std::string& program) {
  if (pems.insecure) {
    LogWarn("insecure_transport")
        .Kv("program", program)
        .Kv("err",
            "--insecure: gRPC is plaintext, with no client identities and no roles; anyone "
            "who reaches this process may call it");
  }
  Installed& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.pems.key.empty()) Wipe(&s.pems.key);
  s.pems = std::move(pems);
  s.configured = true;
}

Status ConfigureTransportFromFlags(const std::string& program) {
  Installed& s = State();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.from_flags) return *s.from_flags;
  }
  StatusOr<TransportPems> pems = LoadTransport(TransportFilesFromFlags());
  Status result = pems.status();
  if (pems.ok()) InstallTransport(std::move(*pems), program);
  std::lock_guard<std::mutex> lock(s.mu);
  s.from_flags = result;
  return result;
}

bool TransportIsSecure() {
  Installed& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.configured && !s.pems.insecure;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() {
  Installed& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.configured || s.pems.insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = s.pems.ca;
  o.pem_private_key = s.pems.key;
  o.pem_cert_chain = s.pems.cert;
  return grpc::SslCredentials(o);
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const std::shared_ptr<grpc::AuthMetadataProcessor>& processor) {
  Installed& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.configured || s.pems.insecure) return grpc::InsecureServerCredentials();
  // A client without a certificate the CA signed fails the handshake: no call reaches us
  // unauthenticated, so every handler may rely on the client's role.
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = s.pems.ca;
  o.pem_key_cert_pairs.push_back({s.pems.key, s.pems.cert});
  auto creds = grpc::SslServerCredentials(o);
  if (processor) creds->SetAuthMetadataProcessor(processor);
  return creds;
}

}  // namespace provledger::client
