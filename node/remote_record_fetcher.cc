#include "node/remote_record_fetcher.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "client/channel_options.h"
#include "common/log.h"
#include "ledger/merkle/proof_verifier.h"
#include "ledger/record.h"
#include "proto/ledger.grpc.pb.h"

namespace provledger::node {

namespace v1 = provledger::v1;

Status CheckFetchedProof(const LocalRecord& local, const v1::Proof& proof) {
  if (proof.record_id() != local.record_id) {
    return UnauthenticatedError("proof is for record " + ShortHex(proof.record_id()) + ", not " +
                                ShortHex(local.record_id));
  }
  if (ledger::RecordId(proof.record()) != local.record_id) {
    return UnauthenticatedError("record bytes hash to " +
                                ShortHex(ledger::RecordId(proof.record())) + ", not to its id " +
                                ShortHex(local.record_id));
  }
  if (proof.height() != local.height || proof.leaf_index() != local.index) {
    return UnauthenticatedError(
        "proof places the record at block " + std::to_string(proof.height()) + " leaf " +
        std::to_string(proof.leaf_index()) + ", the record index at " +
        std::to_string(local.height) + " leaf " + std::to_string(local.index));
  }
  if (proof.tree_size() != local.header.record_count) {
    return UnauthenticatedError("tree size " + std::to_string(proof.tree_size()) +
                                " is not the header's record count " +
                                std::to_string(local.header.record_count));
  }
  if (ledger::HeaderHash(proof.header()) != local.header_hash) {
    return UnauthenticatedError("header hashes to " + ShortHex(ledger::HeaderHash(proof.header())) +
                                ", not to the stored header hash " + ShortHex(local.header_hash));
  }
  const std::vector<Bytes> path(proof.audit_path().begin(), proof.audit_path().end());
  Status s = ledger::VerifyInclusion(local.record_id, local.index, local.header.record_count, path,
                                     local.header.root);
  if (!s.ok()) return UnauthenticatedError("audit path: " + s.message());
  return OkStatus();
}

namespace {

// One channel per full node, made once.
class GrpcProofSource {
 public:
  GrpcProofSource(const std::vector<std::string>& addresses, uint32_t deadline_ms)
      : deadline_ms_(deadline_ms) {
    const grpc::ChannelArguments args = client::LedgerChannelArguments();
    for (const auto& a : addresses) {
      stubs_[a] = v1::Ledger::NewStub(
          grpc::CreateCustomChannel(a, grpc::InsecureChannelCredentials(), args));
    }
  }

  StatusOr<v1::Proof> Get(const std::string& address, ByteView id,
                          RemoteRecordFetcher::Deadline deadline) const {
    auto it = stubs_.find(address);
    if (it == stubs_.end()) return InternalError("no channel to " + address);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::min(
        deadline, std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms_)));
    v1::GetProofRequest req;
    req.set_record_id(std::string(id));
    v1::Proof proof;
    grpc::Status gs = it->second->GetProof(&ctx, req, &proof);
    if (!gs.ok()) return Status(static_cast<StatusCode>(gs.error_code()), gs.error_message());
    return proof;
  }

 private:
  uint32_t deadline_ms_;
  std::map<std::string, std::unique_ptr<v1::Ledger::Stub>> stubs_;
};

}  // namespace

std::unique_ptr<RemoteRecordFetcher> RemoteRecordFetcher::OverGrpc(
    std::vector<std::string> addresses, uint32_t deadline_ms) {
  auto source = std::make_shared<const GrpcProofSource>(addresses, deadline_ms);
  return std::make_unique<RemoteRecordFetcher>(
      std::move(addresses),
      [source](const std::string& a, ByteView id, Deadline d) { return source->Get(a, id, d); });
}

RemoteRecordFetcher::RemoteRecordFetcher(std::vector<std::string> addresses, ProofSource source)
    : addresses_(std::move(addresses)), source_(std::move(source)) {}

StatusOr<FetchedRecord> RemoteRecordFetcher::Fetch(const LocalRecord& local,
                                                   Deadline deadline) const {
  const std::string what =
      "record " + ShortHex(local.record_id) + " (block " + std::to_string(local.height) + ")";
  if (addresses_.empty()) {
    return FailedPreconditionError(what +
                                   " pruned on this light node and no full node is "
                                   "configured (--full_nodes)");
  }
  std::string outcomes;
  for (const std::string& address : addresses_) {
    if (!outcomes.empty()) outcomes += "; ";
    if (std::chrono::system_clock::now() >= deadline) {
      outcomes += address + " not asked: the request's deadline passed";
      continue;
    }
    StatusOr<v1::Proof> proof = source_(address, local.record_id, deadline);
    if (!proof.ok()) {
      LogWarn("remote_proof_failed")
          .Kv("full_node", address)
          .Kv("record", ShortHex(local.record_id))
          .Kv("height", local.height)
          .Kv("err", proof.status().ToString());
      outcomes += address + " did not answer it: " + proof.status().ToString();
      continue;
    }
    Status check = CheckFetchedProof(local, *proof);
    if (!check.ok()) {
      // A full node that answers wrong is faulty or hostile: said loudly, never served.
      LogWarn("remote_proof_refused")
          .Kv("full_node", address)
          .Kv("record", ShortHex(local.record_id))
          .Kv("height", local.height)
          .Kv("err", check.message());
      outcomes += address + " answered wrong (refused): " + check.message();
      continue;
    }
    FetchedRecord out;
    out.record = std::move(*proof->mutable_record());
    out.audit_path.assign(proof->audit_path().begin(), proof->audit_path().end());
    out.from = address;
    LogDebug("remote_proof_checked")
        .Kv("full_node", address)
        .Kv("record", ShortHex(local.record_id))
        .Kv("height", local.height);
    return out;
  }
  return UnavailableError(what + " pruned on this light node, and no full node answered with a " +
                          "proof that checks against its header: " + outcomes);
}

}  // namespace provledger::node
