// Who may call what on a node (docs/SECURITY.md), decided in this one place from the role the
// client's TLS certificate names (common/tls_certs.h):
//   admin    every Ledger method (registry and firmware submissions, queries)
//   gateway  Submit, only batches of the gateway id its certificate names; GetStatus and the
//            registry listings (Devices, Gateways, Firmware, Policies, Validators)
//   reader   the queries; with a device list, only those devices' records (no GetBlock)
//   peer     everything, Consensus and StateSync included (validators and followers; a
//            follower forwards submissions)
//
// Two checks, both PERMISSION_DENIED with a reason, counted (provledger_node_access_denied_
// total) and logged (ev=access_denied), never more:
//   - AccessProcessor runs on every call before its handler (gRPC's AuthMetadataProcessor
//     on the server's TLS credentials): role against method.
//   - The handlers whose answer depends on the request's contents call CheckSubmitAs /
//     CheckDevice with what the request names; they read the identity from the certificate
//     again (a short URI), as gRPC keeps no per-call state for them.
// On a plaintext (--insecure) server there are no identities: both allow everything.
//
// Thread rules: everything may be called from any thread.
#ifndef PROVLEDGER_NODE_ACCESS_POLICY_H_
#define PROVLEDGER_NODE_ACCESS_POLICY_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <string>

#include "common/bytes.h"
#include "common/tls_certs.h"

namespace provledger::node {

// The role check of every call, for ServerCredentials(). Never blocks.
class AccessProcessor : public grpc::AuthMetadataProcessor {
 public:
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;
};

// OK when `role` may call `method` ("/provledger.v1.Ledger/Submit"); else PERMISSION_DENIED
// saying why. Exposed for tests.
grpc::Status CheckMethod(const PeerIdentity& who, const std::string& method);

// Submit: OK unless the caller is a gateway whose certificate names another gateway than the
// batch's `gateway`.
grpc::Status CheckSubmitAs(const grpc::ServerContextBase* ctx, const std::string& gateway);

// History: OK unless the caller is a reader limited to devices that do not include `device`.
grpc::Status CheckDevice(const grpc::ServerContextBase* ctx, const std::string& device,
                         const char* method);

// GetRecord, GetProof: CheckDevice for the device of `record` (the record's bytes); a record
// of no device (a registry record) is refused to a limited reader.
grpc::Status CheckRecordDevice(const grpc::ServerContextBase* ctx, ByteView record,
                               const char* method);

// Who the caller is by its TLS certificate, for logs (never a metric label): the id its
// provledger role names; "unauthenticated" on a plaintext (--insecure) server or an
// in-process call (null `ctx`); "unidentified" for a TLS caller naming none.
std::string AuthenticatedPeer(const grpc::ServerContextBase* ctx);

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_ACCESS_POLICY_H_
