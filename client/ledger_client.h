// LedgerClient: the one gRPC client of a node's Ledger service, used by ledgerctl, the
// bridge and the tools. It fails over across node addresses: a call that finds a node
// unavailable (down, restarting, out of view) is retried on the next address.
//
// Thread rules: all methods are thread-safe (gRPC stubs are).
#ifndef PROVLEDGER_CLIENT_LEDGER_CLIENT_H_
#define PROVLEDGER_CLIENT_LEDGER_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::client {

struct ClientOptions {
  uint32_t timeout_ms = 30000;  // per call and address; a submission waits for its commit
};

class LedgerClient {
 public:
  // `addresses`: host:port of one or more nodes. kInvalidArgument if empty.
  static StatusOr<std::unique_ptr<LedgerClient>> Create(const std::vector<std::string>& addresses,
                                                        ClientOptions options = {});

  // Each call returns the node's answer, or its gRPC status as our Status (same codes, the
  // message prefixed with the address). kUnavailable after every address failed.
  StatusOr<provledger::v1::SubmitResponse> Submit(const provledger::v1::SignedBatch& batch);
  StatusOr<provledger::v1::SubmitResponse> SubmitRegistry(const std::string& tx);
  StatusOr<provledger::v1::NodeStatus> GetStatus();
  StatusOr<provledger::v1::Block> GetBlock(uint64_t height);
  StatusOr<provledger::v1::RecordResponse> GetRecord(const provledger::v1::GetRecordRequest& req);
  StatusOr<provledger::v1::Proof> GetProof(const std::string& record_id);
  StatusOr<provledger::v1::HistoryResponse> History(const provledger::v1::HistoryRequest& req);
  StatusOr<provledger::v1::RegistryListing> Devices(const std::string& id);
  // Asks every node in turn for device `id` and returns the first listing that has it:
  // a node that is still catching up may not know a registration the others committed.
  // kNotFound when no node has it.
  StatusOr<provledger::v1::RegistryListing> FindDeviceOnAnyNode(const std::string& id);
  StatusOr<provledger::v1::RegistryListing> Gateways(const std::string& id);

  const std::vector<std::string>& addresses() const { return addresses_; }

 private:
  LedgerClient() = default;
  // A unary method of the generated stub.
  template <typename Req, typename Resp>
  using Method = grpc::Status (provledger::v1::Ledger::Stub::*)(grpc::ClientContext*, const Req&,
                                                                Resp*);
  // Calls `method` on the preferred node, failing over to the next on UNAVAILABLE or
  // DEADLINE_EXCEEDED.
  template <typename Req, typename Resp>
  StatusOr<Resp> Call(const Req& req, Method<Req, Resp> method);

  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<provledger::v1::Ledger::Stub>> stubs_;
  std::atomic<size_t> preferred_{0};  // the last address that answered
  ClientOptions options_;
};

}  // namespace provledger::client

#endif  // PROVLEDGER_CLIENT_LEDGER_CLIENT_H_
