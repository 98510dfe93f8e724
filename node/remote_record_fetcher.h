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
};

class RemoteRecordFetcher {
 public:
  using Deadline = std::chrono::system_clock::time_point;
  // Asks full node `address` for the proof of record `id`, answering by `deadline`; the
  // node's error as a Status.
  using ProofSource = std::function<StatusOr<provledger::v1::Proof>(
      const std::string& address, ByteView id, Deadline deadline)>;

  // Over gRPC: one channel per address, each call with a deadline of `deadline_ms` (or
  // Fetch's deadline, if sooner).
  static std::unique_ptr<RemoteRecordFetcher> OverGrpc(std::vector<std::string> addresses,
                                                       uint32_t deadline_ms);
  // With any source (tests).
  RemoteRecordFetcher(std::vector<std::string> addresses, ProofSource source);

  // Asks each full node in order and returns the first answer that passes CheckFetchedProof
  // for `local`. Each wrong answer is logged (ev=remote_proof_refused) and so is each node
  // that did not answer (ev=remote_proof_failed); once `deadline` (the asking client's) has
  // passed the others are not asked. kUnavailable naming what every full node did when none
  // answered correctly; kFailedPrecondition when no full node is configured.
  StatusOr<FetchedRecord> Fetch(const LocalRecord& local,
                                Deadline deadline = Deadline::max()) const;

  const std::vector<std::string>& addresses() const { return addresses_; }

 private:
  std::vector<std::string> addresses_;
  ProofSource source_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_REMOTE_RECORD_FETCHER_H_
