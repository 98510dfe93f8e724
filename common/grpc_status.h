// The one conversion each way between gRPC's status and ours: FromGrpc for every gRPC
// client of the ledger's services (LedgerClient, a node's calls to its peers), ToGrpc for
// the services' answers (LedgerService, StateSyncService).
//
// Our StatusCode is numbered as grpc::StatusCode (both are google.rpc.Code; grpc_status.cc
// asserts it), so each code maps to the code of the same name.
//
// Thread rules: a pure function of its argument.
#ifndef PROVLEDGER_COMMON_GRPC_STATUS_H_
#define PROVLEDGER_COMMON_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "common/status.h"

namespace provledger {

// Returns `gs` as our Status: OK as OkStatus(); otherwise the code of the same name and
// gs.error_message() as the message (error details are dropped). A number outside gRPC's
// 17 codes becomes kUnknown, as gRPC itself reads an unknown code off the wire.
Status FromGrpc(const grpc::Status& gs);

// Returns `s` as gRPC's status: OK as grpc::Status::OK; otherwise the code of the same name
// and s.message() as the error message, with no details. FromGrpc(ToGrpc(s)) == s.
grpc::Status ToGrpc(const Status& s);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_GRPC_STATUS_H_
