// CheckpointJoiner: brings an empty store to a recent checkpoint of the chain instead of
// replaying every block (ledger_node --catch_up, docs/CATCHUP.md). Run before the node's
// orderer starts; the orderer then goes on by blocks (state transfer) from the checkpoint.
//
//   1. asks the validators for their signed state attestations and takes the highest height
//      H that 2f+1 distinct genesis validators attest with one (header hash, state digest);
//   2. fetches headers and certificates 1..H-1 (GetHeaders) and checks each certificate and
//      prev link (ledger::CheckCertifiedBlock against the genesis validators), then block H
//      itself (GetBlock), whose header hash must be the attested one;
//   3. fetches the state rows at H (GetStateRows) from the --state_peers first, then from the
//      validators that signed, digesting them as they come: a source whose rows do not give
//      the attested digest is refused (ev=state_refused) and its rows dropped, the next one
//      asked;
//   4. installs the state (BlockStore::FinishStateInstall): block H is the head, bodies
//      below it absent, the registry and the duplicate indexes those of H.
// Nothing a peer sends is trusted before it checks out; a crash midway leaves a store that
// reopens empty (the staged data is dropped).
//
// Thread rules: Run() on one thread, before anything else writes the store.
#ifndef PROVLEDGER_NODE_CHECKPOINT_JOINER_H_
#define PROVLEDGER_NODE_CHECKPOINT_JOINER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
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
  // How long to wait for 2f+1 matching attestations (a validator digests a fresh state).
  uint32_t attest_wait_ms = 30000;
};

// Verifies a validator's attestation against `genesis`: its signer index, or
// kUnauthenticated / kInvalidArgument naming the cause.
StatusOr<uint32_t> VerifyStateAttestation(const ledger::Genesis& genesis,
                                          const provledger::v1::StateAttestation& a);

class CheckpointJoiner {
 public:
  // `self`: this node's validator index (not asked), nullopt on a follower. `store` and
  // `genesis` must outlive this.
  CheckpointJoiner(ledger::BlockStore* store, const ledger::Genesis* genesis,
                   std::optional<uint32_t> self, CatchUpOptions options);
  ~CheckpointJoiner();

  // The height of the installed checkpoint, or 0 when the node is to catch up by blocks
  // (mode, a store not empty, a short chain, or in auto mode no checkpoint to be had).
  // kFailedPrecondition in checkpoint mode when no attested checkpoint could be installed;
  // the store's error when a write fails.
  StatusOr<uint64_t> Run();

 private:
  struct Peer {
    uint32_t index;  // validator index; kNoIndex for a --state_peers entry
    std::string address;
    std::unique_ptr<provledger::v1::Ledger::Stub> ledger;
    std::unique_ptr<provledger::v1::StateSync::Stub> sync;
  };
  struct Checkpoint {
    uint64_t height = 0;
    Bytes header_hash;
    Bytes state_digest;
    uint64_t rows = 0;
    std::vector<uint32_t> signers;
  };
  static constexpr uint32_t kNoIndex = ~0u;

  uint64_t ValidatorsHead();
  std::optional<Checkpoint> PickCheckpoint();
  // Headers 1..cp.height-1 staged, block cp.height checked; fills the record count of 1..H.
  Status FetchHeaders(const Checkpoint& cp, ledger::BlockToAppend* head, uint64_t* records);
  // From one source: OK when its rows give the attested digest (staged), else the reason.
  Status FetchRows(Peer& peer, const Checkpoint& cp);

  ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  CatchUpOptions options_;
  std::vector<Peer> validators_;  // the genesis validators but this one
  std::vector<Peer> extra_;       // options_.state_peers
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_CHECKPOINT_JOINER_H_
