// ChainBlockFactory: the application side of PBFT (consensus::BlockFactory). It turns the
// requests a primary orders (gateway batches, registry transactions) into a block of
// records, and lets every other validator check a proposed block by deriving the same
// records from the same requests. Derivation is deterministic given the chain below the
// block: records already on the chain (by id) or whose (device, seq) is taken are left
// out, so a resent batch never writes twice. Each request is checked again against the
// registry at the block's height: a request whose batch as a whole no longer checks out is
// ordered as rejected; a record that no longer checks out (its device revoked meanwhile) is
// left out and recorded as refused, and the other records of its batch are kept.
//
// Blocks proposed but not yet applied are remembered by header hash (the overlay), so a
// pipelined block h+1 is checked against h's records before h is durable. The store may be
// appended to by another thread meanwhile (node/store_writer.h) as long as an appended
// block stays in the overlay until Forget and changes no registry entry.
//
// Thread rules: not thread-safe; owned by the consensus thread, like the store's writes.
#ifndef PROVLEDGER_NODE_CHAIN_BLOCK_FACTORY_H_
#define PROVLEDGER_NODE_CHAIN_BLOCK_FACTORY_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "consensus/core_seams.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/batch_validator.h"
#include "node/checked_batch_cache.h"
#include "node/registry_holder.h"
#include "proto/consensus.pb.h"

namespace provledger::node {

// A committed block ready for BlockStore::Append (less its certificate).
struct DerivedBlock {
  ledger::BlockHeader header;
  Bytes header_bytes;
  Bytes header_hash;
  std::vector<Bytes> records;
  std::vector<Bytes> record_ids;
  // One per record, from its validation: handed to the store (BlockToAppend.fields), which
  // then does not decode the records again.
  std::vector<ledger::IndexFields> index_fields;
  std::vector<std::optional<Bytes>> payloads;
  std::vector<provledger::v1::RegistryOp> registry_ops;
  std::vector<Bytes> request_ids;
  // Requests refused when proposed, and why (answered to their submitters).
  std::vector<Bytes> rejected_ids;
  std::vector<Status> rejected_errors;
  // Records of the ordered requests refused for good at this height (a device revoked since
  // the submission, say), by record id, and why: left out of the block, the rest of their
  // batch kept; answered as RecordResult REFUSED.
  std::map<Bytes, Status> refused_records;
};

// The id consensus deduplicates a request by (a batch's digest, PROTOCOL.md 6.5, or a
// registry transaction's record id) and the ids of the records it carries, 32 bytes each,
// concatenated (a registry transaction is one record: its id). The one place a request id
// is computed. kInvalidArgument for a request with neither a batch nor a registry tx.
struct RequestIds {
  Bytes id;
  Bytes record_ids;
};
StatusOr<RequestIds> IdentifyRequest(const std::string& chain_id,
                                     const provledger::v1::ConsensusRequest& r);
// IdentifyRequest(chain_id, r).id.
StatusOr<Bytes> RequestId(const std::string& chain_id, const provledger::v1::ConsensusRequest& r);

// For a replica's gRPC thread, ahead of the consensus thread deriving it: validates the
// gateway batches of a proposed `block` (a serialized ConsensusBlock) against `registry` and
// keeps their outcomes in `cache` under the digest it computes, so that the derivation on
// that very snapshot takes them instead of validating again. Skips a batch whose claimed
// request id the cache holds already (a wrong claim only costs a validation later). Returns
// how many it validated; a block that does not parse validates nothing.
size_t PrecheckProposal(const ledger::Genesis& genesis,
                        std::shared_ptr<const ledger::RegistrySnapshot> registry, ByteView block,
                        const BatchLimits& limits, CheckedBatchCache* cache);

class ChainBlockFactory final : public consensus::BlockFactory {
 public:
  using Clock = std::function<uint64_t()>;
  // All pointers must outlive the factory. `clock` gives the proposer's time in ms.
  // `checked` (optional) holds batches validated at submission with the same `limits`;
  // derivation takes their outcome from it instead of validating them again.
  ChainBlockFactory(ledger::BlockStore* store, const ledger::Genesis* genesis,
                    RegistryHolder* registry, Clock clock, BatchLimits limits = {},
                    CheckedBatchCache* checked = nullptr);

  StatusOr<consensus::Proposal> Build(uint64_t height, uint64_t view, ByteView prev_hash,
                                      std::vector<consensus::Request> requests) override;
  // A block already in the store at `height` (same header hash) is accepted without deriving
  // it again (its records are stored: derived again they would all be left out).
  Status Validate(uint64_t height, uint64_t view, ByteView prev_hash, ByteView block,
                  consensus::BlockInfo* info) override;

  // The records and registry changes of a committed `block` (from the overlay when it was
  // built or validated here, derived again otherwise). kDataLoss if it does not check out.
  StatusOr<DerivedBlock> Materialize(ByteView block);
  // Materialize, moving the records, their ids and payloads out of the overlay instead of
  // copying them: once per committed block. The entry keeps what checks of later blocks
  // read until Forget.
  StatusOr<DerivedBlock> TakeCommitted(ByteView block);
  // Drops overlay entries at or below `height` (they are in the store now).
  void Forget(uint64_t height);

 private:
  struct Pending;
  // Build's work; Build logs what it returns when that is an error (the core retries
  // silently on every tick, so a proposal that keeps failing would stall without a trace).
  StatusOr<consensus::Proposal> BuildBlock(uint64_t height, uint64_t view, ByteView prev_hash,
                                           std::vector<consensus::Request> requests);
  // Derives records from `requests` on top of `prev_hash` at `height`; when `keys` is not
  // null, its ids and seqs get those of the derived records (for the overlay).
  Status Derive(uint64_t height, ByteView prev_hash,
                const std::vector<provledger::v1::ConsensusRequest>& requests, DerivedBlock* out,
                Pending* keys = nullptr);
  // The proposed-but-unapplied blocks under `prev_hash` (newest first), down to the store's
  // head as read before the walk: a block appended after that read is then either stored
  // (seen by the store lookups of SeenBelow, which come later) or among these.
  std::vector<const Pending*> OverlayBelow(ByteView prev_hash) const;
  // Whether `id` (or `seq`, when not null) is on the chain below the block whose overlay
  // blocks are `above` (OverlayBelow): stored, or in one of them. The store's error when a
  // read fails.
  StatusOr<bool> SeenBelow(const std::vector<const Pending*>& above, const Bytes& id,
                           const std::pair<std::string, uint64_t>* seq) const;
  // The registry as of the block `prev_hash`: the store head's, with the registry changes of
  // the overlay's blocks between the head and `prev_hash` applied in order.
  std::shared_ptr<const ledger::RegistrySnapshot> RegistryAt(ByteView prev_hash) const;

  ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  RegistryHolder* registry_;
  Clock clock_;
  BatchLimits limits_;
  CheckedBatchCache* checked_;
  struct SeqHash {
    size_t operator()(const std::pair<std::string, uint64_t>& s) const {
      return std::hash<std::string>()(s.first) ^ (std::hash<uint64_t>()(s.second) * 31);
    }
  };
  using SeqSet = std::unordered_set<std::pair<std::string, uint64_t>, SeqHash>;
  struct Pending {
    DerivedBlock block;
    std::unordered_set<Bytes> ids;
    SeqSet seqs;
  };
  std::map<Bytes, Pending> overlay_;  // by header hash
  // The last Build error logged (height, message): logged once, not on every retry.
  uint64_t logged_failure_height_ = 0;
  std::string logged_failure_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_CHAIN_BLOCK_FACTORY_H_
