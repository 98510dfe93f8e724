// RemoteRecordFetcher: how a light node answers for a record whose block body it pruned. It
// asks full nodes, one after the other, for the record's proof (Ledger.GetProof) and keeps
// the first answer that checks against what this node holds itself: the record index (height,
// position) and the certified header of that height, which it verified when it stored the
// block. A full node's header and certificate are never trusted, only compared; a wrong answer
// (another record, a bad audit path, another header) is refused, logged
// (ev=remote_proof_refused naming the full node) and the next full node asked.
//
// Thread rules: Fetch() from any thread at once (gRPC stubs are thread-safe; no other state).
#ifndef PROVLEDGER_NODE_REMOTE_RECORD_FETCHER_H_
#define PROVLEDGER_NODE_REMOTE_RECORD_FETCHER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "ledger/block_header.h"
#include "proto/ledger.pb.h"

namespace provledger::node {

// What a light node holds of a record whose body it pruned.
struct LocalRecord {
  Bytes record_id;             // 32 bytes
  uint64_t height = 0;         // from the record index
  uint32_t index = 0;          // position in the block, from the record index
  ledger::BlockHeader header;  // the stored, certified header of `height`
  Bytes header_hash;           // its hash
};

// OK when `proof`, as a full node sent it, proves `local`: proof.record_id is the id and
// SHA256(0x00 || proof.record) too, proof.height and leaf_index are local.height and
// local.index, tree_size is the header's record_count, the audit path leads from the id to the
// header's root (RFC 9162), and proof.header hashes to local.header_hash. kUnauthenticated
// naming the first that fails. The certificate in `proof` is ignored: the caller has its own.
Status CheckFetchedProof(const LocalRecord& local, const provledger::v1::Proof& proof);

// The part of a checked proof a light node did not have.
struct FetchedRecord {
  Bytes record;
  std::vector<Bytes> audit_path;
  std::string from;  // the full node's address
  Bytes record_id;   // the record's id, height and leaf index (as checked)
  uint64_t height = 0;
  uint32_t index = 0;
};

// For a record this light node's index no longer holds: what it holds at the place a full
// node's proof claims for it (proof.height, proof.leaf_index), i.e. its own certified header
// there; kNotFound when the place is past this node's head (the full node is ahead),
// kUnauthenticated when this node's own index would hold a record there (a lie), another
// error when the header cannot be read.
using LocateFn = std::function<StatusOr<LocalRecord>(const provledger::v1::Proof& proof)>;

// Checks one entry of a History page a full node sent: `proven` is the entry's record as
// proven by that node (checked against our header) for an entry below ForwardHistory's
// `prove_below`, else null (the caller checks it against what it holds). An error refuses
// the whole page.
using HistoryEntryCheck = std::function<Status(const provledger::v1::HistoryEntry& entry,
                                               const struct FetchedRecord* proven)>;

class RemoteRecordFetcher {
 public:
  using Deadline = std::chrono::system_clock::time_point;
  // Asks full node `address` for the proof of record `id`, answering by `deadline`; the
  // node's error as a Status.
  using ProofSource = std::function<StatusOr<provledger::v1::Proof>(
      const std::string& address, ByteView id, Deadline deadline)>;

  // Asks full node `address` for a record by (device, seq) (Ledger.GetRecord).
  using RecordSource = std::function<StatusOr<provledger::v1::RecordResponse>(
      const std::string& address, const provledger::v1::GetRecordRequest& request,
      Deadline deadline)>;
  // Asks full node `address` for a History page.
  using HistorySource = std::function<StatusOr<provledger::v1::HistoryResponse>(
      const std::string& address, const provledger::v1::HistoryRequest& request,
      Deadline deadline)>;

  // Over gRPC: one channel per address, each call with a deadline of `deadline_ms` (or
  // Fetch's deadline, if sooner).
  static std::unique_ptr<RemoteRecordFetcher> OverGrpc(std::vector<std::string> addresses,
                                                       uint32_t deadline_ms);
  // With any source (tests); FetchBySeq and ForwardHistory answer kFailedPrecondition
  // without their source.
  RemoteRecordFetcher(std::vector<std::string> addresses, ProofSource source,
                      RecordSource records = nullptr, HistorySource history = nullptr);

  // Asks each full node in order and returns the first answer that passes CheckFetchedProof
  // for `local`. Each wrong answer is logged (ev=remote_proof_refused) and so is each node
  // that did not answer (ev=remote_proof_failed); once `deadline` (the asking client's) has
  // passed the others are not asked. kUnavailable naming what every full node did when none
  // answered correctly; kFailedPrecondition when no full node is configured.
  StatusOr<FetchedRecord> Fetch(const LocalRecord& local,
                                Deadline deadline = Deadline::max()) const;

  // A record by id that this node's index no longer holds (a light follower drops the index
  // entries of pruned blocks): each full node in order is asked for its proof, which is
  // checked (CheckFetchedProof) against what `locate` gives for the place it claims. The
  // first that checks is returned; wrong answers are logged and refused as in Fetch.
  // kNotFound when every full node asked says it holds no such record (or holds it past our
  // head); kUnavailable naming what each did otherwise.
  StatusOr<FetchedRecord> FetchById(ByteView id, const LocateFn& locate,
                                    Deadline deadline = Deadline::max()) const;
  // The same for a record by (device, seq): each full node is asked for the record
  // (GetRecord), then for the proof of its id, checked as above, and the record must be a
  // device record of `device` with `seq`. kNotFound / kUnavailable as FetchById.
  StatusOr<FetchedRecord> FetchBySeq(const std::string& device, uint64_t seq,
                                     const LocateFn& locate,
                                     Deadline deadline = Deadline::max()) const;
  // A History request over heights whose time index this node dropped: forwarded to each
  // full node in order. Each entry at a height below `prove_below` is proven by the same
  // node (its proof checked against `locate`, at the entry's height), then every entry is
  // given to `check`; the first page that passes is returned, with *from set to the node's
  // address. Omitted entries cannot be seen (no proof of absence). kUnavailable naming what
  // each did when none answered with a page that checks.
  StatusOr<provledger::v1::HistoryResponse> ForwardHistory(
      const provledger::v1::HistoryRequest& request, uint64_t prove_below, const LocateFn& locate,
      const HistoryEntryCheck& check, std::string* from, Deadline deadline = Deadline::max()) const;

  const std::vector<std::string>& addresses() const { return addresses_; }

 private:
  // Asks `address` for the proof of `id` and checks it against `locate`'s answer.
  StatusOr<FetchedRecord> ProofFrom(const std::string& address, ByteView id, const LocateFn& locate,
                                    Deadline deadline) const;
  // Runs `ask` on each full node in order until one answers OK; kUnauthenticated answers
  // are logged as refused (ev=remote_proof_refused), others as failed. kNotFound when
  // every one asked answered kNotFound, else kUnavailable naming each outcome.
  template <typename T>
  StatusOr<T> AskEach(const std::string& what,
                      const std::function<StatusOr<T>(const std::string&)>& ask,
                      Deadline deadline) const;

  std::vector<std::string> addresses_;
  ProofSource source_;
  RecordSource records_;
  HistorySource history_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_REMOTE_RECORD_FETCHER_H_
