// BlockApplier: turns blocks into durable chain state. A block the core committed is
// derived again (ChainBlockFactory::Materialize), given its commit certificate and
// appended; a block state transfer fetched, or a repair copy, is written as checked. The
// registry snapshot (RegistryHolder) follows every appended block, and the factory's
// overlay forgets what is now in the store.
//
// A store write that fails (disk full, I/O error) comes back as the store's error with
// BlockStore::write_status() set: the caller halts. A committed block that cannot be
// derived, or that does not fit our chain, means our state is wrong: the process stops
// (ev=committed_block_invalid / block_append_failed).
//
// Owner: PbftOrderer. Thread rules: the consensus thread only (the store's sole writer).
#ifndef PROVLEDGER_NODE_BLOCK_APPLIER_H_
#define PROVLEDGER_NODE_BLOCK_APPLIER_H_

#include "common/status.h"
#include "consensus/pbft_core.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/block_repairer.h"
#include "node/chain_block_factory.h"
#include "node/registry_holder.h"

namespace provledger::node {

class BlockApplier {
 public:
  // All pointers must outlive the applier. `factory` may be null for a node that only
  // appends fetched blocks (a follower): ApplyCommitted then must not be called.
  BlockApplier(ledger::BlockStore* store, const ledger::Genesis* genesis, RegistryHolder* registry,
               ChainBlockFactory* factory)
      : store_(store), genesis_(genesis), registry_(registry), factory_(factory) {}

  // Appends committed block `c`; *derived gets its records, refusals and rejections (to
  // answer its submitters). OK with *appended false when the block is here already (state
  // transfer brought it). On a failed write, the store's error.
  Status ApplyCommitted(const consensus::CommittedBlock& c, DerivedBlock* derived, bool* appended);
  // Appends `block`, fetched and checked by StateTransfer, as the next block. OK with
  // *appended false when that height is here already; kInvalidArgument when it does not
  // extend our chain; the store's error otherwise (write_status() tells a failed write).
  Status ApplyFetched(PeerBlock& block, bool* appended);
  // Rewrites damaged block `r.height` from a checked copy (BlockStore::RepairBlock) and logs
  // ev=block_repaired or ev=block_repair_refused. OK when repaired, or good already.
  Status ApplyRepair(const BlockRepairer::Copy& r);

 private:
  ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  RegistryHolder* registry_;
  ChainBlockFactory* factory_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_BLOCK_APPLIER_H_
