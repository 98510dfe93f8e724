// Safety of the view change, as pure functions: checking VIEW-CHANGE and NEW-VIEW messages
// and computing which blocks a new view must re-propose.
//
// Re-proposal rule (blocks are hash-chained, so there are no null blocks): start at the
// highest stable checkpoint s among the q view-changes; for h = s+1, s+2, ... take the
// digest of the highest-view prepared certificate for h, and a block with that digest that
// validates on top of the previous one; stop at the first height where there is none. A
// committed block always lies inside that chain, because a replica sends COMMIT for h only
// after sending COMMIT for h-1 in the same view (or when h-1 is committed) with the block's
// prev hash (see pbft_core.h).
// Thread rules: pure functions; the interfaces passed in are called synchronously.
#ifndef PROVLEDGER_CONSENSUS_VIEW_CHANGE_H_
#define PROVLEDGER_CONSENSUS_VIEW_CHANGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/checkpoint_tracker.h"
#include "consensus/core_seams.h"
#include "consensus/pbft_messages.h"
#include "consensus/quorum.h"

namespace provledger {
namespace consensus {

// What a new view starts from: the checkpoint and the unsigned pre-prepares (view, height,
// digest, sender = new primary, block) for heights checkpoint+1 .. checkpoint+size.
struct NewViewPlan {
  uint64_t view = 0;
  StableCheckpoint checkpoint;
  std::vector<ConsensusMsg> pre_prepares;
};

// Every message checked below, nested ones included, must be of epoch `epoch.start`.

// OK when `cert` proves that a block was prepared at a height above `checkpoint_height`
// and at most `checkpoint_height + log_size`, in a view below `before_view`: a pre-prepare
// signed by that view's primary and q-1 matching prepares signed by distinct backups.
Status VerifyPreparedCert(const Quorum& quorum, const std::string& chain_id,
                          SignatureChecker* checker, const PreparedCert& cert,
                          uint64_t checkpoint_height, uint64_t log_size, uint64_t before_view,
                          const EpochBounds& epoch = EpochBounds());

// OK when `vc` is a well-formed, correctly signed VIEW-CHANGE from a known validator: its
// checkpoint proof verifies and each prepared certificate verifies, one per height.
// kUnauthenticated for a bad signature, kInvalidArgument for anything else.
Status VerifyViewChange(const Quorum& quorum, const std::string& chain_id,
                        SignatureChecker* checker, const ConsensusMsg& vc, uint64_t log_size,
                        const EpochBounds& epoch = EpochBounds());

// Computes the new view `view` from verified view-changes for it (q distinct senders;
// extra ones are used too), re-proposing nothing above `epoch.last`. kInvalidArgument
// with fewer senders.
StatusOr<NewViewPlan> ComputeNewView(const Quorum& quorum, uint64_t view,
                                     const std::vector<ConsensusMsg>& view_changes,
                                     BlockFactory* factory,
                                     const EpochBounds& epoch = EpochBounds());

// OK when `nv` is a NEW-VIEW signed by the primary of nv.view whose view-changes verify and
// whose pre-prepares (signed by it) are exactly those ComputeNewView derives; then fills
// *plan. kUnauthenticated / kInvalidArgument otherwise, *plan unspecified.
Status VerifyNewView(const Quorum& quorum, const std::string& chain_id, SignatureChecker* checker,
                     BlockFactory* factory, const ConsensusMsg& nv, uint64_t log_size,
                     NewViewPlan* plan, const EpochBounds& epoch = EpochBounds());

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_VIEW_CHANGE_H_
