// StateAttester: a validator's signed word on its checkpoint states (docs/CATCHUP.md). The
// store pins its state after every block at a multiple of --state_interval
// (BlockStore::StateHeights); for each new pinned height H at which this node is a validator
// of the set in force (ValidatorSchedule::SetAt(H): its id is a member and it holds the key
// the set names for it, node/epoch_plan.h RoleIn), this digests the rows
// (ledger::StateDigester over BlockStore::ReadState, on its own Worker, never on the
// consensus thread) and signs the attestation digest with that key. So a validator added
// later attests, a rekeyed one signs with its new key above the change's end, and a removed
// one stops. The latest two are kept in memory and served by StateSyncService; a restarted
// validator attests again from its next pinned height (a joining node needs a quorum of the
// set at H matching, so one validator restarting does not stop joins).
//
// Thread rules: Latest() from any thread; the destructor stops and joins the worker.
#ifndef PROVLEDGER_NODE_STATE_ATTESTER_H_
#define PROVLEDGER_NODE_STATE_ATTESTER_H_

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "common/worker.h"
#include "ledger/genesis.h"
#include "ledger/store/block_store.h"
#include "node/block_repairer.h"
#include "proto/state_sync.pb.h"

namespace provledger::node {

// The digest of the state pinned at `height`, its row count and how many rows this call read
// and hashed (the registry: the store keeps the index tables' digest as it appends); the
// store's error (kNotFound once the state is no longer pinned).
struct StateDigestResult {
  Bytes header_hash;
  Bytes digest;
  uint64_t rows = 0;
  uint64_t digested_rows = 0;
};
StatusOr<StateDigestResult> DigestPinnedState(const ledger::BlockStore& store, uint64_t height);

class StateAttester {
 public:
  // `store` must outlive this; `validator_id` names the signer, `keys` are every key it holds,
  // `schedule` gives the validator schedule now (the registry's; null: the genesis set of
  // `genesis`, which must outlive this).
  StateAttester(const ledger::BlockStore* store, const ledger::Genesis* genesis,
                std::vector<PrivateKey> keys, std::string validator_id, ScheduleSource schedule);
  ~StateAttester();
  StateAttester(const StateAttester&) = delete;
  StateAttester& operator=(const StateAttester&) = delete;

  // The attestations made and still pinned, oldest first.
  std::vector<provledger::v1::StateAttestation> Latest() const;

 private:
  void Loop(Worker& w);

  const ledger::BlockStore* store_;
  const ledger::Genesis* genesis_;
  const std::vector<PrivateKey> keys_;
  const std::string id_;
  const ScheduleSource schedule_;
  // Worker thread only: heights this node is no validator at (checked once, logged once).
  std::set<uint64_t> skipped_;
  mutable std::mutex mu_;
  std::map<uint64_t, provledger::v1::StateAttestation> made_;  // guarded by mu_
  std::unique_ptr<Worker> worker_;                             // last: uses the fields above
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_STATE_ATTESTER_H_
