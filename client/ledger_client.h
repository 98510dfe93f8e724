// LedgerClient: the one gRPC client of a node's Ledger service, used by ledgerctl, the
// bridge and the tools. It fails over across node addresses: a call that finds a node
// unavailable (down, restarting, out of view, cut off) or that the node does not answer
// before its deadline is retried on the next address, and later calls start from the node
// that answered last. Channels use LedgerChannelArguments (client/channel_options.h): HTTP/2
// keepalive pings close a connection to a silent node within about 2 s, failing its calls
// UNAVAILABLE, so a silently partitioned node costs about that, not a whole deadline.
//
// Thread rules: all methods are thread-safe (gRPC stubs are).
#ifndef PROVLEDGER_CLIENT_LEDGER_CLIENT_H_
#define PROVLEDGER_CLIENT_LEDGER_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "client/channel_options.h"
#include "client/retry_policy.h"
#include "common/status.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::client {

// One node's own answer to a call, for callers that must tell a node that is behind (a
// registration commits on a quorum first, the others apply it later) from a ledger that does
// not hold an entry.
struct NodeAnswer {
  std::string address;
  Status status;  // the node's gRPC status as ours, its message without the address
};

struct ClientOptions {
  // Deadline of a Submit or SubmitRegistry, per address tried. The call waits for the commit,
  // which may take a view change (--view_change_timeout_ms of the nodes, doubled per failed
  // one): shorter than that moves on to the next node (resubmitting is safe: the ledger
  // answers a record it holds as a duplicate) while the first may still commit it.
  uint32_t timeout_ms = 30000;
  // Deadline of every other call (reads), per address tried; 0: timeout_ms. A read needs no
  // consensus: short means a node that does not answer is left sooner.
  uint32_t read_timeout_ms = 0;
  KeepaliveOptions keepalive;
  // Retrying transient failures across the nodes (client/retry_policy.h). The default, a
  // budget of 0, makes one pass (callers with their own retry loop, like the bridge, keep
  // it); ledgerctl retries until its --timeout_ms.
  RetryOptions retry;
};

class LedgerClient {
 public:
  // `addresses`: host:port of one or more nodes. kInvalidArgument if empty.
  static StatusOr<std::unique_ptr<LedgerClient>> Create(const std::vector<std::string>& addresses,
                                                        ClientOptions options = {});

  // Each call returns the node's answer, or its gRPC status as our Status (same codes, the
  // message prefixed with the address). kUnavailable after every address failed; with a
  // retry budget, the last code after it ran out, naming every node's last error.
  StatusOr<provledger::v1::SubmitResponse> Submit(const provledger::v1::SignedBatch& batch);
  StatusOr<provledger::v1::SubmitResponse> SubmitRegistry(const std::string& tx);
  StatusOr<provledger::v1::NodeStatus> GetStatus();
  StatusOr<provledger::v1::Block> GetBlock(uint64_t height);
  StatusOr<provledger::v1::RecordResponse> GetRecord(const provledger::v1::GetRecordRequest& req);
  StatusOr<provledger::v1::Proof> GetProof(const std::string& record_id);
  StatusOr<provledger::v1::HistoryResponse> History(const provledger::v1::HistoryRequest& req);
  StatusOr<provledger::v1::RegistryListing> Devices(const std::string& id);
  // Asks the nodes in turn, from the preferred one, for device `id` (one attempt each of at
  // most 1 s, waiting for a connection to a node that is restarting, no retry) and returns the
  // first listing that has it: a node that is still catching up may not know a registration
  // the others committed. Moves on from NOT_FOUND and from a node that is unreachable or
  // missed its deadline; any other error (PERMISSION_DENIED, ...) is returned at once,
  // prefixed with the address. kNotFound when no node lists it and some node said so; the
  // last node's error when no node answered.
  StatusOr<provledger::v1::RegistryListing> FindDeviceOnAnyNode(const std::string& id);
  StatusOr<provledger::v1::RegistryListing> Gateways(const std::string& id);
  // Asks the nodes in turn, from the preferred one, for gateway `id` (one attempt each, the
  // read deadline, no retry) and returns the first listing that has it; a node that answers
  // NOT_FOUND may be behind, so the next is asked, as is the next after a node that is
  // unreachable or missed its deadline. Any other error (PERMISSION_DENIED, ...) is returned
  // at once, prefixed with the address. `answers` (if not null) gets what each node asked
  // said, in the order asked. kNotFound when no node lists it and some node said so; the
  // last node's error when no node answered. Never retries: the caller decides how long to
  // wait.
  StatusOr<provledger::v1::RegistryListing> FindGatewayOnAnyNode(const std::string& id,
                                                                 std::vector<NodeAnswer>* answers);
  // Firmware manifests (docs/FIRMWARE.md): commit a kind 3 record; list recorded ones.
  StatusOr<provledger::v1::SubmitResponse> SubmitFirmware(const std::string& record);
  StatusOr<provledger::v1::FirmwareListing> Firmware(const provledger::v1::FirmwareQuery& q);
  // Runtime policies (`name` empty: all; `summary`: without digests) and every binding.
  StatusOr<provledger::v1::PolicyListing> Policies(const std::string& name, bool summary);
  // The validator schedule: genesis set and every recorded change (docs/VALIDATOR_SET.md).
  StatusOr<provledger::v1::ValidatorListing> Validators();

  const std::vector<std::string>& addresses() const { return addresses_; }

 private:
  LedgerClient() = default;
  // A unary method of the generated stub.
  template <typename Req, typename Resp>
  using Method = grpc::Status (provledger::v1::Ledger::Stub::*)(grpc::ClientContext*, const Req&,
                                                                Resp*);
  // Calls `method` from the preferred node on, with a deadline of `timeout_ms` per attempt,
  // under options_.retry (RunWithRetries) for a call of `kind`.
  template <typename Req, typename Resp>
  StatusOr<Resp> Call(const Req& req, Method<Req, Resp> method, uint32_t timeout_ms,
                      CallKind kind = CallKind::kRead);
  // How FindOnAnyNode asks each node.
  struct PerNode {
    uint32_t deadline_ms;
    bool wait_for_ready;  // gRPC's: wait for a connection (until the deadline), not fail fast
  };
  // Calls `method` once on each node, from the preferred one (preferred_ unchanged), until one
  // answers OK with a response `found` accepts. An OK answer `found` refuses counts as
  // NOT_FOUND "<what> is not registered". NOT_FOUND and the transient codes of a read
  // (IsTransient) move on to the next node; any other error is returned at once, prefixed
  // with the address. `answers` (if not null) gets each node's answer, in the order asked.
  // After the last node: kNotFound "<what> is not registered on any node" if a node said
  // NOT_FOUND, else the last error (prefixed).
  template <typename Req, typename Resp>
  StatusOr<Resp> FindOnAnyNode(const Req& req, Method<Req, Resp> method, PerNode per_node,
                               bool (*found)(const Resp&), const std::string& what,
                               std::vector<NodeAnswer>* answers);
  uint32_t read_timeout_ms() const {
    return options_.read_timeout_ms > 0 ? options_.read_timeout_ms : options_.timeout_ms;
  }

  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<provledger::v1::Ledger::Stub>> stubs_;
  std::atomic<size_t> preferred_{0};  // the last address that answered
  ClientOptions options_;
};

}  // namespace provledger::client

#endif  // PROVLEDGER_CLIENT_LEDGER_CLIENT_H_
