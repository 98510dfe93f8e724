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
// A committed block can also be applied in three steps, so that its write runs on another
// thread while the consensus thread goes on (node/store_writer.h): PrepareCommitted and
// FinishPrepared on the consensus thread, WritePrepared on the one thread writing the store
// at that time, in between.
//
// Owner: PbftOrderer. Thread rules: the consensus thread only (the store's sole writer),
// but WritePrepared (see above).
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

// A committed block derived and made ready to write.
struct PreparedBlock {
  uint64_t height = 0;
  uint64_t view = 0;
  Bytes header_hash;
  ledger::BlockToAppend block;
  size_t record_count = 0;
  // Its registry changes; `registry` is the snapshot once they are applied.
  bool changes_registry = false;
  std::shared_ptr<const ledger::RegistrySnapshot> registry;
  // Its refusals and rejections (to answer its submitters); its records and payloads were
  // moved into `block`.
  DerivedBlock derived;
};

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
  // ApplyCommitted in steps. PrepareCommitted derives `c` (once per committed block: it
  // takes the records out of the factory's overlay) on top of the registry as of the store's
  // head, so no block changing the registry may be prepared and not yet finished.
  void PrepareCommitted(const consensus::CommittedBlock& c, PreparedBlock* out);
  // Appends `p` to the store: OK, or the store's error on a failed write (write_status()).
  Status WritePrepared(const PreparedBlock& p);
  // After WritePrepared returned OK: publishes the registry, forgets the overlay entry.
  void FinishPrepared(const PreparedBlock& p);
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
