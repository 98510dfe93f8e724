// CheckpointJoiner: brings an empty store to a recent checkpoint of the chain instead of
// replaying every block (ledger_node --catch_up, docs/CATCHUP.md). Run before the node's
// orderer starts; the orderer then goes on by blocks (state transfer) from the checkpoint.
//
//   0. asks the genesis validators (and then every member of every set they list) for the
//      validator schedule (Validators): a claim that says which blocks hold changes and who
//      to ask, proved in step 2;
//   1. asks them for their signed state attestations and takes the highest height H that a
//      quorum of the set in force at H (the listed schedule's SetAt(H), q = floor((N+f)/2)+1)
//      attests with one (header hash, state digest), each signature checked with the key that
//      set names for its signer (a removed validator, or an old key after a rekey, counts
//      for nothing);
//   2. fetches headers and certificates 1..H-1 (GetHeaders) and checks each against the set in
//      force at its height (HeaderWalk), fetching in full the blocks the listing says hold a
//      change (their records must be their header's) and taking the changes from them; then
//      block H itself (GetBlock), whose header hash must be the attested one. The set at H the
//      headers give must be the one the attestations were counted with;
//   3. fetches the state rows at H (GetStateRows) from the --state_peers first, then from the
//      validators that signed, digesting them as they come: a source whose rows do not give
//      the attested digest is refused (ev=state_refused) and its rows dropped, the next one
//      asked; the schedule in the rows (table 1, vset/ rows) must be the one the headers gave;
//   4. installs the state (BlockStore::FinishStateInstall): block H is the head, bodies
//      below it absent, the registry and the duplicate indexes those of H.
// Nothing a peer sends is trusted before it checks out; a crash midway leaves a store that
// reopens empty (the staged data is dropped).
//
// Thread rules: Run() on one thread, before anything else writes the store.
#ifndef PROVLEDGER_NODE_CHECKPOINT_JOINER_H_
#define PROVLEDGER_NODE_CHECKPOINT_JOINER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ledger/chain_check.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "ledger/validator_schedule.h"
#include "proto/ledger.grpc.pb.h"
#include "proto/state_sync.grpc.pb.h"

namespace provledger::node {

enum class CatchUpMode {
  kAuto,        // from a checkpoint when the store is empty and the head is min_blocks ahead
  kBlocks,      // always block by block
  kCheckpoint,  // from a checkpoint when the store is empty; an error if none can be had
};
// "auto", "blocks" or "checkpoint"; kInvalidArgument otherwise.
StatusOr<CatchUpMode> ParseCatchUpMode(const std::string& text);

struct CatchUpOptions {
  CatchUpMode mode = CatchUpMode::kAuto;
  // auto: a checkpoint is used only when the validators' head is at least this far ahead.
  uint64_t min_blocks = 1000;
  // Nodes (HOST:PORT) asked first for the state rows (full followers, say); the validators
  // that signed the checkpoint are asked after them.
  std::vector<std::string> state_peers;
  uint32_t rpc_timeout_ms = 10000;
  // How long to wait for a quorum of matching attestations (a validator digests a fresh
  // state).
  uint32_t attest_wait_ms = 30000;
};

// Verifies a validator's attestation against `set`, the validator set in force at its height
// (ValidatorSchedule::SetAt(a.height())): the signer's index in `set`; kUnauthenticated when
// the signer is no member of `set` or the signature does not verify with the key `set` names
// for it; kInvalidArgument for digests that are not 32 bytes.
StatusOr<uint32_t> VerifyStateAttestation(const ledger::ValidatorSet& set,
                                          const std::string& chain_id,
                                          const provledger::v1::StateAttestation& a);

// A checkpoint a quorum of the validator set in force at its height attests.
struct AttestedCheckpoint {
  uint64_t height = 0;
  Bytes header_hash;
  Bytes state_digest;
  uint64_t rows = 0;
  Bytes set_digest;                  // of the set the attestations were counted with
  std::vector<std::string> signers;  // distinct member ids, in the order met
};

// The highest checkpoint H that at least schedule.SetAt(H).quorum() distinct members of
// schedule.SetAt(H) attest with one (header hash, state digest), or nullopt. An attestation
// that does not verify (VerifyStateAttestation against SetAt of its height) counts for
// nothing; with `refused` not null, the reason is appended there.
std::optional<AttestedCheckpoint> PickAttestedCheckpoint(
    const ledger::ValidatorSchedule& schedule, const std::string& chain_id,
    const std::vector<provledger::v1::StateAttestation>& attestations,
    std::vector<std::string>* refused = nullptr);

// Checks the headers of a chain 1, 2, ... in order without their bodies, each against the
// validator set in force at its height, learning the validator-set changes from the bodies
// of the blocks that hold them (docs/VALIDATOR_SET.md). A change whose block is not given
// with its records is not learnt: a later certificate of the new set then fails, or the
// schedule differs from the one the caller expects (the joiner compares both).
class HeaderWalk {
 public:
  // `genesis` must outlive this.
  explicit HeaderWalk(const ledger::Genesis* genesis);

  uint64_t next() const { return next_; }
  const Bytes& prev_hash() const { return prev_; }
  // The genesis set plus the changes of the bodies walked.
  const ledger::ValidatorSchedule& schedule() const { return schedule_; }

  // Checks header next() with `certificate` (ledger::CheckCertifiedBlockWithSet against
  // schedule().SetAt(next()): chain id, height, prev link, a quorum of that set, the proposer)
  // and, when `records` is not null (the block's records, in order), that they are the
  // header's (count, Merkle root) and decode; then applies the changes among them
  // (ScheduleAfterBlock) and moves on. Returns the checked header; on error (that check's, or
  // DecodeRecord's) nothing changes.
  StatusOr<ledger::CheckedHeader> Add(ByteView header,
                                      const provledger::v1::CommitCertificate& certificate,
                                      const std::vector<Bytes>* records);

 private:
  const ledger::Genesis* genesis_;
  ledger::ValidatorSchedule schedule_;
  uint64_t next_ = 1;
  Bytes prev_ = Bytes(32, '\0');
};

class CheckpointJoiner {
 public:
  // `self_id`: this node's id (never asked). `store` and `genesis` must outlive this.
  CheckpointJoiner(ledger::BlockStore* store, const ledger::Genesis* genesis, std::string self_id,
                   CatchUpOptions options);
  ~CheckpointJoiner();

  // The height of the installed checkpoint, or 0 when the node is to catch up by blocks
  // (mode, a store not empty, a short chain, or in auto mode no checkpoint to be had).
  // kFailedPrecondition in checkpoint mode when no attested checkpoint could be installed;
  // the store's error when a write fails.
  StatusOr<uint64_t> Run();

 private:
  struct Peer {
    std::string address;
    std::unique_ptr<provledger::v1::Ledger::Stub> ledger;
    std::unique_ptr<provledger::v1::StateSync::Stub> sync;
  };

  // A validator peer at `address` (added once); `id` of self is skipped.
  void AddValidator(const std::string& id, const std::string& address);
  // Asks the validators known for their schedule listing: every member of every set listed
  // becomes a peer, every change height a block to fetch in full, and the listing with the
  // most changes the schedule attestations are counted with (listed_).
  void Discover();
  uint64_t ValidatorsHead();
  std::optional<AttestedCheckpoint> PickCheckpoint();
  // Headers 1..cp.height-1 staged, block cp.height checked; fills the record count of 1..H
  // and the schedule the headers give (`walk`).
  Status FetchHeaders(const AttestedCheckpoint& cp, HeaderWalk* walk, ledger::BlockToAppend* head,
                      uint64_t* records);
  // From one source: OK when its rows give the attested digest (staged), else the reason;
  // the registry's vset/ rows are appended to *vset_rows, and *index_chain is set to the
  // rows' index chain at the checkpoint (installed with them).
  Status FetchRows(Peer& peer, const AttestedCheckpoint& cp,
                   std::vector<std::pair<Bytes, Bytes>>* vset_rows,
                   ledger::IndexChainHead* index_chain);

  ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  const std::string self_id_;
  CatchUpOptions options_;
  std::vector<std::unique_ptr<Peer>> validators_;  // genesis validators first, then as listed
  std::map<std::string, std::string> address_of_;  // validator id -> address, as listed last
  std::vector<std::unique_ptr<Peer>> extra_;       // options_.state_peers
  std::set<uint64_t> change_heights_;              // blocks listed as holding a change
  ledger::ValidatorSchedule listed_;               // the longest listing (a claim)
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_CHECKPOINT_JOINER_H_
