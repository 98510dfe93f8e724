// StateAttester: a validator's signed word on its checkpoint states (docs/CATCHUP.md). The
// store pins its state after every block at a multiple of --state_interval
// (BlockStore::StateHeights); for each new pinned height this digests the rows
// (ledger::StateDigester over BlockStore::ReadState, on its own Worker, never on the
// consensus thread) and signs the attestation digest with the validator key. The latest two
// are kept in memory and served by StateSyncService; a restarted validator attests again
// from its next pinned height (a joining node needs 2f+1 matching ones, so one validator
// restarting does not stop joins).
//
// Thread rules: Latest() from any thread; the destructor stops and joins the worker.
#ifndef PROVLEDGER_NODE_STATE_ATTESTER_H_
#define PROVLEDGER_NODE_STATE_ATTESTER_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "common/worker.h"
#include "ledger/store/block_store.h"
#include "proto/state_sync.pb.h"

namespace provledger::node {

// The digest of the state pinned at `height` and its row count; the store's error (kNotFound
// once the state is no longer pinned).
struct StateDigestResult {
  Bytes header_hash;
  Bytes digest;
  uint64_t rows = 0;
};
StatusOr<StateDigestResult> DigestPinnedState(const ledger::BlockStore& store, uint64_t height);

class StateAttester {
 public:
  // `store` must outlive this; `validator_id` names the signer.
  StateAttester(const ledger::BlockStore* store, PrivateKey key, std::string validator_id);
  ~StateAttester();
  StateAttester(const StateAttester&) = delete;
  StateAttester& operator=(const StateAttester&) = delete;

  // The attestations made and still pinned, oldest first.
  std::vector<provledger::v1::StateAttestation> Latest() const;

 private:
  void Loop(Worker& w);

  const ledger::BlockStore* store_;
  const PrivateKey key_;
  const std::string id_;
  mutable std::mutex mu_;
  std::map<uint64_t, provledger::v1::StateAttestation> made_;  // guarded by mu_
  std::unique_ptr<Worker> worker_;                             // last: uses the fields above
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_STATE_ATTESTER_H_
