// The transport security of every gRPC channel and server of ours (docs/SECURITY.md), built in
// this one place: TLS with client certificates (mutual TLS) by default, plaintext only when
// the operator says --insecure.
//
// Flags, defined here so every binary linking this has the same ones:
//   --tls_ca=FILE    the operator CA (PEM): servers accept clients and clients accept servers
//                    whose certificate it signed
//   --tls_cert=FILE  this process's certificate (PEM; a node's serves and also identifies it
//                    as a client to its peers)
//   --tls_key=FILE   its private key (PEM, mode 0600)
//   --insecure       plaintext gRPC, no identities (logs ev=insecure_transport at start)
//
// Until ConfigureTransport runs, ChannelCredentials() is plaintext (unit tests that start an
// in-process server); every binary configures it at start.
//
// Thread rules: Configure* before starting threads that open channels; the getters from any
// thread.
#ifndef PROVLEDGER_CLIENT_TRANSPORT_SECURITY_H_
#define PROVLEDGER_CLIENT_TRANSPORT_SECURITY_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace provledger::client {

struct TransportFiles {
  std::string ca;    // PEM file of the operator CA
  std::string cert;  // PEM file of this process's certificate (chain)
  std::string key;   // PEM file of its private key, mode 0600
  bool insecure = false;
};

// The PEM texts read from TransportFiles (empty when insecure).
struct TransportPems {
  std::string ca, cert, key;
  bool insecure = true;
};

// The flag names above, in the order a binary's --help lists them.
const std::vector<std::string>& TransportFlagNames();

// TransportFiles from the flags.
TransportFiles TransportFilesFromFlags();

// Reads and checks `files`: with insecure, nothing may be given besides (kInvalidArgument);
// else all three are required (kInvalidArgument naming the missing flag and `ledgerctl
// certs`), the key file must have mode 0600 (kPermissionDenied), the certificate must parse,
// match the key and be signed by the CA (kInvalidArgument saying which).
StatusOr<TransportPems> LoadTransport(const TransportFiles& files);

// Installs `pems` as the process's transport; logs ev=insecure_transport (warn) when it is
// plaintext, `program` naming the binary.
void InstallTransport(TransportPems pems, const std::string& program);

// LoadTransport(TransportFilesFromFlags()) then InstallTransport, once: later calls return
// the first one's result without reading again (ledgerctl calls it per connection).
Status ConfigureTransportFromFlags(const std::string& program);

// True once a TLS transport is installed.
bool TransportIsSecure();

// The credentials of a channel to one of our servers: TLS with this process's certificate
// (the server's name checked against its address), or plaintext.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials();

// The credentials of our gRPC server: TLS that requires a client certificate signed by the
// CA, with `processor` (may be null) run on every call before its handler; or plaintext
// (`processor` unused).
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const std::shared_ptr<grpc::AuthMetadataProcessor>& processor);

}  // namespace provledger::client

#endif  // PROVLEDGER_CLIENT_TRANSPORT_SECURITY_H_
