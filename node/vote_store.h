// VoteStore: where this validator's votes are kept durable, in the BlockStore's metadata
// under "vote/" u8(type) u64be(view) u64be(height) -> digest. The rule itself (never a
// second digest for one (type, view, height)) is the core's (consensus/vote_guard.h); this
// only writes what CoreOutput::to_persist_votes names (synced, before the output's messages
// are sent), deletes what to_forget_votes names, and reads them back at start.
//
// Owner: PbftOrderer. Thread rules: Load() before the consensus thread starts; Persist()
// and Forget() on the consensus thread (the store's sole writer).
#ifndef PROVLEDGER_NODE_VOTE_STORE_H_
#define PROVLEDGER_NODE_VOTE_STORE_H_

#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/vote_guard.h"
#include "ledger/store/block_store.h"

namespace provledger::node {

class VoteStore {
 public:
  // `store` must outlive this. With `enabled` false nothing is written (Persist and Forget
  // return OK): only to measure what persisting costs (PbftOptions::persist_votes).
  VoteStore(ledger::BlockStore* store, bool enabled) : store_(store), enabled_(enabled) {}

  // Every vote persisted so far. kDataLoss on a malformed key.
  StatusOr<std::vector<consensus::Vote>> Load() const;
  // Makes `votes` durable (one synced write); the store's error when it fails.
  Status Persist(const std::vector<consensus::Vote>& votes);
  // Deletes `votes` (not synced: a vote left behind is only pruned again).
  Status Forget(const std::vector<consensus::Vote>& votes);

  static constexpr char kPrefix[] = "vote/";
  // The metadata key of a vote.
  static std::string Key(uint8_t type, uint64_t view, uint64_t height);
  // The vote stored as (`key`, `digest`); kDataLoss when `key` is malformed.
  static StatusOr<consensus::Vote> Decode(const std::string& key, const Bytes& digest);

 private:
  ledger::BlockStore* store_;
  bool enabled_;
};

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_VOTE_STORE_H_
