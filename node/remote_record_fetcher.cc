#include "node/remote_record_fetcher.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "client/channel_options.h"
#include "client/transport_security.h"
#include "common/grpc_status.h"
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
      stubs_[a] =
          v1::Ledger::NewStub(grpc::CreateCustomChannel(a, client::ChannelCredentials(), args));
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
    if (!gs.ok()) return FromGrpc(gs);
    return proof;
  }

  StatusOr<v1::RecordResponse> GetRecord(const std::string& address,
                                         const v1::GetRecordRequest& req,
                                         RemoteRecordFetcher::Deadline deadline) const {
    auto it = stubs_.find(address);
    if (it == stubs_.end()) return InternalError("no channel to " + address);
    grpc::ClientContext ctx;
    SetDeadline(&ctx, deadline);
    v1::RecordResponse resp;
    grpc::Status gs = it->second->GetRecord(&ctx, req, &resp);
    if (!gs.ok()) return FromGrpc(gs);
    return resp;
  }

  StatusOr<v1::HistoryResponse> History(const std::string& address, const v1::HistoryRequest& req,
                                        RemoteRecordFetcher::Deadline deadline) const {
    auto it = stubs_.find(address);
    if (it == stubs_.end()) return InternalError("no channel to " + address);
    grpc::ClientContext ctx;
    SetDeadline(&ctx, deadline);
    v1::HistoryResponse resp;
    grpc::Status gs = it->second->History(&ctx, req, &resp);
    if (!gs.ok()) return FromGrpc(gs);
    return resp;
  }

  void SetDeadline(grpc::ClientContext* ctx, RemoteRecordFetcher::Deadline deadline) const {
    ctx->set_deadline(std::min(
        deadline, std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms_)));
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
      [source](const std::string& a, ByteView id, Deadline d) { return source->Get(a, id, d); },
      [source](const std::string& a, const v1::GetRecordRequest& r, Deadline d) {
        return source->GetRecord(a, r, d);
      },
      [source](const std::string& a, const v1::HistoryRequest& r, Deadline d) {
        return source->History(a, r, d);
      });
}

RemoteRecordFetcher::RemoteRecordFetcher(std::vector<std::string> addresses, ProofSource source,
                                         RecordSource records, HistorySource history)
    : addresses_(std::move(addresses)),
      source_(std::move(source)),
      records_(std::move(records)),
      history_(std::move(history)) {}

template <typename T>
StatusOr<T> RemoteRecordFetcher::AskEach(const std::string& what,
                                         const std::function<StatusOr<T>(const std::string&)>& ask,
                                         Deadline deadline) const {
  if (addresses_.empty()) {
    return FailedPreconditionError(what + ": no full node is configured (--full_nodes)");
  }
  std::string outcomes;
  bool all_not_found = true;
  for (const std::string& address : addresses_) {
    if (!outcomes.empty()) outcomes += "; ";
    if (std::chrono::system_clock::now() >= deadline) {
      outcomes += address + " not asked: the request's deadline passed";
      all_not_found = false;
      continue;
    }
    StatusOr<T> got = ask(address);
    if (got.ok()) return got;
    const Status& s = got.status();
    if (s.code() == StatusCode::kNotFound) {
      outcomes += address + " does not hold it: " + s.message();
      continue;
    }
    all_not_found = false;
    if (s.code() == StatusCode::kUnauthenticated) {
      // A full node that answers wrong is faulty or hostile: said loudly, never served.
      LogWarn("remote_proof_refused")
          .Kv("full_node", address)
          .Kv("what", what)
          .Kv("err", s.message());
      outcomes += address + " answered wrong (refused): " + s.message();
    } else {
      LogWarn("remote_proof_failed")
          .Kv("full_node", address)
          .Kv("what", what)
          .Kv("err", s.ToString());
      outcomes += address + " did not answer it: " + s.ToString();
    }
  }
  if (all_not_found) {
    return NotFoundError(what +
                         ": not in this light node's kept blocks, and no full node holds "
                         "it: " +
                         outcomes);
  }
  return UnavailableError(what + ": no full node answered with what checks against this light " +
                          "node's headers: " + outcomes);
}

StatusOr<FetchedRecord> RemoteRecordFetcher::ProofFrom(const std::string& address, ByteView id,
                                                       const LocateFn& locate,
                                                       Deadline deadline) const {
  StatusOr<v1::Proof> proof = source_(address, id, deadline);
  if (!proof.ok()) return proof.status();
  if (proof->record_id() != id) {
    return UnauthenticatedError("proof is for record " + ShortHex(proof->record_id()) + ", not " +
                                ShortHex(id));
  }
  PL_ASSIGN_OR_RETURN(LocalRecord local, locate(*proof));
  local.record_id = Bytes(id);
  Status check = CheckFetchedProof(local, *proof);
  if (!check.ok()) return check;
  FetchedRecord out;
  out.record = std::move(*proof->mutable_record());
  out.audit_path.assign(proof->audit_path().begin(), proof->audit_path().end());
  out.from = address;
  out.record_id = Bytes(id);
  out.height = local.height;
  out.index = local.index;
  return out;
}

StatusOr<FetchedRecord> RemoteRecordFetcher::FetchById(ByteView id, const LocateFn& locate,
                                                       Deadline deadline) const {
  const Bytes key(id);
  return AskEach<FetchedRecord>(
      "record " + ShortHex(id),
      [&](const std::string& a) { return ProofFrom(a, key, locate, deadline); }, deadline);
}

StatusOr<FetchedRecord> RemoteRecordFetcher::FetchBySeq(const std::string& device, uint64_t seq,
                                                        const LocateFn& locate,
                                                        Deadline deadline) const {
  const std::string what = "device " + device + " seq " + std::to_string(seq);
  if (records_ == nullptr) return FailedPreconditionError(what + ": no record source");
  v1::GetRecordRequest req;
  req.set_device(device);
  req.set_seq(seq);
  return AskEach<FetchedRecord>(
      what,
      [&](const std::string& a) -> StatusOr<FetchedRecord> {
        PL_ASSIGN_OR_RETURN(v1::RecordResponse resp, records_(a, req, deadline));
        // Only the id is taken from this answer; the proof of that id is checked, then the
        // record it proves must be the one asked for.
        const Bytes id = ledger::RecordId(resp.record());
        PL_ASSIGN_OR_RETURN(FetchedRecord got, ProofFrom(a, id, locate, deadline));
        auto f = ledger::DecodeRecordFields(got.record);
        if (!f.ok() || !f->from_device || f->device != device || f->seq != seq) {
          return UnauthenticatedError("record " + ShortHex(id) + " it named is not " + what);
        }
        return got;
      },
      deadline);
}

StatusOr<v1::HistoryResponse> RemoteRecordFetcher::ForwardHistory(
    const v1::HistoryRequest& request, uint64_t prove_below, const LocateFn& locate,
    const HistoryEntryCheck& check, std::string* from, Deadline deadline) const {
  const std::string what = "history of device " + request.device();
  if (history_ == nullptr) return FailedPreconditionError(what + ": no history source");
  return AskEach<v1::HistoryResponse>(
      what,
      [&](const std::string& a) -> StatusOr<v1::HistoryResponse> {
        PL_ASSIGN_OR_RETURN(v1::HistoryResponse resp, history_(a, request, deadline));
        for (const v1::HistoryEntry& e : resp.entries()) {
          Status s;
          if (e.height() < prove_below) {
            StatusOr<FetchedRecord> proven = ProofFrom(a, e.record_id(), locate, deadline);
            if (!proven.ok()) {
              s = proven.status();
            } else if (proven->height != e.height()) {
              s = UnauthenticatedError("its proof places it at block " +
                                       std::to_string(proven->height));
            } else {
              s = check(e, &*proven);
            }
          } else {
            s = check(e, nullptr);
          }
          if (!s.ok()) {
            return UnauthenticatedError("entry " + ShortHex(e.record_id()) + " (block " +
                                        std::to_string(e.height()) + "): " + s.message());
          }
        }
        *from = a;
        return resp;
      },
      deadline);
}

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
