// The PBFT agreement protocol (Castro & Liskov) for one validator, as a deterministic state
// machine without I/O: pre-prepare / prepare / commit per block, request batching, a window
// of blocks in flight, checkpoints with log truncation, view change with exponential
// backoff, and a hook for state transfer.
//
// Inputs are OnMessage / OnRequest / OnTick / OnStateTransferred; outputs accumulate until
// TakeOutput(). The core opens no socket or file, reads no clock, starts no thread and draws
// no random number; it signs through Signer, checks embedded signatures through
// SignatureChecker and builds/validates blocks through BlockFactory.
//
// Blocks are hash-chained: block h is built on the header hash of block h-1, and no null
// block exists. To keep committed blocks inside the chain a new view re-proposes (see
// view_change.h), a replica sends COMMIT for h only when the block's prev hash is that of
// h-1 for which it sent COMMIT in the same view, of a committed h-1, or of the stable
// checkpoint: whoever commits h then holds prepared certificates for the whole chain below.
//
// Leaving a view (liveness only; safety never depends on when a replica leaves): a backup
// whose view timer runs out does not send VIEW-CHANGE at once. It broadcasts a signed
// SUSPECT(v), a pre-vote like Raft's PreVote, and keeps working in view v. It leaves v
// (sends VIEW-CHANGE(v+1) or later) only once f+1 distinct validators, itself included,
// either suspect v or were seen in views above v: one honest replica among them gave up
// on v. On leaving it relays that evidence (every message is signed by its author), so
// every honest replica still in v gets the same f+1 and leaves too: no honest replica
// stays alone in a view the others never join. A replica cut off from the others never
// gathers f+1, so after the heal it is still in their view, catches up and votes. The
// same holds for a view change that does not complete in time: the replica suspects the
// view it is changing into and moves to the next one only on f+1 suspicions, so it never
// runs one view ahead of the others while they complete the change without it. A
// replica that sent VIEW-CHANGE(v+1) never votes in v again (that would be unsafe: its
// VIEW-CHANGE, without its later prepares, could still form a NEW-VIEW for v+1). A replica
// behind in views adopts a later one on f+1 validators seen there, or on a NEW-VIEW a peer
// relays to it when it sends SUSPECT or VIEW-CHANGE for an older view.
//
// Epochs (validator-set changes, docs/CONSENSUS.md): a core orders the heights of one
// validator set, epoch `PbftConfig::epoch` = the height E after which that set orders
// (0 for genesis). Every message carries its epoch and the core drops others' (kOtherEpoch).
// It starts at E, view 0, with the checkpoint at E needing no proof (every member applied
// E before the epoch began). EndEpochAt(E') caps the epoch: nothing above E' is proposed,
// accepted or re-proposed, the primary cuts empty blocks so that an idle chain reaches E',
// and once E' is applied the core only answers laggards; the shell then builds the next
// epoch's core at E'. A replica votes at height x only once it has applied x - log size,
// so with E' - h > log size (ledger/validator_epoch.h) no honest replica votes above E'
// before it applied the change committed at h and called EndEpochAt.
//
// Owner: the node shell's consensus thread (or a test) owns the core and the interfaces it
// lends. Thread rules: not thread-safe; call every method from the owner's thread.
#ifndef PROVLEDGER_CONSENSUS_PBFT_CORE_H_
#define PROVLEDGER_CONSENSUS_PBFT_CORE_H_

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/checkpoint_tracker.h"
#include "consensus/core_seams.h"
#include "consensus/pbft_messages.h"
#include "consensus/quorum.h"
#include "consensus/request_pool.h"
#include "consensus/view_change.h"
#include "consensus/view_timer.h"
#include "consensus/vote_guard.h"
#include "ledger/validator_epoch.h"

namespace provledger {
namespace consensus {

// The largest log (high - low watermark) a core accepts: below EpochEndFor(h) - h (>= 49),
// so that an epoch's end lies beyond every height voted on before the change was applied.
inline constexpr uint64_t kMaxLogSize = 3 * ledger::kEpochStep;

struct PbftConfig {
  uint32_t n = 4;        // validators of this epoch's set, any n >= 1
  uint32_t self = 0;     // our index in this epoch's set
  std::string chain_id;  // bound into every signed digest
  // The epoch: the height after which this set orders (0 = genesis), and the header hash
  // of the block at that height (empty or 32 zero bytes for genesis).
  uint64_t epoch = 0;
  Bytes epoch_hash;
  uint64_t checkpoint_interval = 16;  // K: a checkpoint every K heights, K dividing 16
  uint64_t window = 4;                // blocks proposed but not committed, at most
  uint64_t log_size = 0;              // high watermark = stable + log_size; 0 = 2K + window
  size_t max_batch_requests = 256;    // a batch is cut when this many requests wait...
  uint64_t batch_timeout_ticks = 2;   // ...or when the oldest waited this long
  // Self-clocking: while this many blocks we proposed are in flight (not committed, or not
  // yet durable at the shell: SetDurableHeight), a batch is cut only once it is full
  // (max_batch_requests), not at the timeout; the next block fills while a round runs, so
  // small requests under load share a round (held at most half a view-change timeout).
  // 0: always cut at the timeout.
  uint64_t full_cut_in_flight = 0;
  uint64_t view_change_timeout_ticks = 40;  // base timeout; doubles per failed view change
  // Idle replicas re-send their last commit this often; votes of a height not committed
  // within it are sent again (ResendVotes).
  uint64_t resend_ticks = 20;
  size_t max_pending_requests = 1 << 17;  // uncommitted requests kept, at most
  size_t committed_id_memory = 1 << 17;   // committed request ids remembered for dedup
  size_t max_buffered_messages = 4096;    // messages for a view we have not entered yet

  // OK when n >= 1, self < n, K, window and timeouts are positive, K divides 16, log_size
  // (after defaulting) is at least K + window and at most kMaxLogSize, and epoch_hash is
  // 32 bytes (or empty for epoch 0). kInvalidArgument otherwise.
  Status Validate() const;
  uint64_t effective_log_size() const {
    return log_size != 0 ? log_size : 2 * checkpoint_interval + window;
  }
};

// A block this replica saw committed, with its certificate.
struct CommittedBlock {
  uint64_t height = 0;
  uint64_t view = 0;  // the view of the commits (PROTOCOL.md 6.4)
  Bytes header_hash;
  Bytes block;
  std::vector<Bytes> request_ids;
  // >= q (validator, signature over CommitDigest(chain, height, view, header_hash)),
  // distinct validators of the epoch's set, ascending.
  std::vector<std::pair<uint32_t, Bytes>> commit_signatures;
};

// A step of this replica through views, for the shell to log.
struct ViewEvent {
  enum Kind : uint8_t {
    kSuspected,      // our view timer ran out: we sent SUSPECT(view) and stay in it
    kChangeStarted,  // we left for `view`: VIEW-CHANGE(view) sent
    kEntered,        // a NEW-VIEW started `view`: normal operation in it
  };
  Kind kind = kSuspected;
  uint64_t view = 0;
  // kChangeStarted: the view we were in or changing into; kEntered: the last view we
  // worked in; kSuspected: `view`.
  uint64_t from_view = 0;
};

struct CoreOutput {
  static constexpr int kBroadcast = -1;
  // Persist before send (as etcd raft's Ready.HardState): the votes (pre-prepare, prepare,
  // commit) we signed for the first time in this output. The shell makes them durable
  // (synced) before it sends any message of `to_send`, and gives them back to a restarted
  // core (RestoreVotes), which then never signs another digest for their (type, view,
  // height).
  std::vector<Vote> to_persist_votes;
  // Votes at or below the stable checkpoint, forgotten: the shell may delete them.
  std::vector<Vote> to_forget_votes;
  // Our votes we refused to send: another digest was already voted for their (type, view,
  // height), before a restart. For the shell to log; nothing was sent.
  std::vector<Vote> refused_votes;
  // (validator index or kBroadcast = everyone but us, message); signed. Send only once
  // `to_persist_votes` (of this and earlier outputs) is durable.
  std::vector<std::pair<int, ConsensusMsg>> to_send;
  // Committed blocks in height order, each exactly once, to persist and apply.
  std::vector<CommittedBlock> to_apply;
  // Requests a backup hands to the primary: (primary index, request).
  std::vector<std::pair<uint32_t, Request>> forward;
  // Set when peers proved progress beyond ours that we cannot reach by messages: fetch
  // certified blocks up to at least this height and call OnStateTransferred.
  std::optional<uint64_t> need_state_transfer;
  // What happened to our view, in order.
  std::vector<ViewEvent> view_events;
  // The highest epoch above ours that a dropped message named, or 0. Unverified (we do not
  // know that set's keys): only a hint that peers moved on to a later validator set, for
  // the shell to fetch certified blocks (checked against its schedule) as for
  // need_state_transfer; a replica more than one epoch behind has no other way back.
  uint64_t later_epoch = 0;
};

// A block the shell fetched from peers, verified (certificate, chain) and applied itself.
struct TransferredBlock {
  uint64_t height = 0;
  Bytes header_hash;
  std::vector<Bytes> request_ids;
};

// Messages this core sent again at its resend period (OnTick) while its epoch runs, one per
// peer addressed: the primary's pre-prepares and a backup's prepares of heights not committed
// within the period (ResendVotes), and our last commit when nothing committed since.
struct ResendCounts {
  uint64_t pre_prepares = 0;
  uint64_t prepares = 0;
  uint64_t commits = 0;
};

enum class DropReason {
  kUnknownSender,
  kBadSignature,
  kMalformed,
  kOldView,
  kFutureView,
  kOutsideWatermarks,
  kNotFromPrimary,
  kDigestMismatch,
  kInvalidBlock,
  kEquivocation,
  kConflictingVote,
  kDuplicate,
  kInvalidViewChange,
  kInvalidNewView,
  kStaleCheckpoint,
  kOtherEpoch,  // the message names another epoch (validator set) than ours
  kEpochDone,   // our epoch ended: we only answer laggards now
  kCount,
};
const char* DropReasonName(DropReason r);

class PbftCore {
 public:
  // Starts in view 0 (normal mode) with blocks up to `last_committed_height` (header hash
  // `last_committed_hash`, 32 zero bytes for 0) applied, last_committed_height >=
  // config.epoch (equal for a fresh epoch, above it after a restart). `config` must
  // Validate(); the pointers must outlive the core.
  PbftCore(PbftConfig config, Signer* signer, SignatureChecker* checker, BlockFactory* factory,
           uint64_t last_committed_height, Bytes last_committed_hash);

  // Restores the votes this validator cast before a restart (every to_persist_votes it was
  // handed and did not see in to_forget_votes since). Call before any other input.
  void RestoreVotes(const std::vector<Vote>& votes) { votes_.Restore(votes); }
  // Handles one message from a peer. Invalid, stale or conflicting messages are dropped and
  // counted (dropped()); nothing else happens to them.
  void OnMessage(const ConsensusMsg& msg);
  // OnMessage for a shell that checked `msg.signature` itself, off this thread, with the
  // sender's genesis key over SigningDigest(): the envelope signature is not checked again
  // (the messages a view change or new view carries still are). Precondition: that check
  // passed; a shell that cannot promise it calls OnMessage.
  void OnVerifiedMessage(const ConsensusMsg& msg);
  // Handles a client request (or one forwarded by a backup). Ignored when its id is known
  // or committed; a backup forwards a new one to the primary and arms its view timer.
  void OnRequest(Request req);
  // Advances logical time by one tick: batch cut, view-change timer, resends, stall check.
  void OnTick();
  // The shell durably applied `blocks`, verified, ascending and contiguous. Blocks at or
  // below committed_height() are skipped; a gap ends the list. Checkpoint heights among
  // them get our CHECKPOINT message as if we had committed them.
  void OnStateTransferred(const std::vector<TransferredBlock>& blocks);
  // Returns and clears what accumulated since the last call.
  CoreOutput TakeOutput();
  // The shell made every block up to `height` durable (full_cut_in_flight counts the
  // blocks above it as in flight once this was called). May cut a batch held back.
  void SetDurableHeight(uint64_t height);

  // Ends this epoch after `last_height` (>= committed_height(); the shell calls it once it
  // applied the block holding the set change, with ledger::EpochEndFor of that height).
  // From now on nothing above last_height is proposed, accepted or re-proposed in a new
  // view; while committed_height() < last_height and no request waits, the primary cuts
  // an empty block every batch timeout and the backups' view timers run, so an idle chain
  // with a dead primary still gets there. An earlier end stays (the lower one wins).
  void EndEpochAt(uint64_t last_height);
  // True once the epoch's last height is applied: the core no longer proposes, votes,
  // suspects or changes views; it only answers peers still behind in this epoch with its
  // CHECKPOINT at the last height (enough for them to fetch blocks up to it).
  bool epoch_done() const { return committed_height_ >= epoch_.last; }
  // The last height this epoch orders; UINT64_MAX while no end is known.
  uint64_t epoch_last() const { return epoch_.last; }
  // Requests known but not committed, in arrival order: the shell hands them to the next
  // epoch's core when this one is done.
  std::vector<Request> UncommittedRequests() const { return pool_.Uncommitted(); }

  uint64_t view() const { return view_; }
  uint32_t primary() const { return quorum_.Primary(view_); }
  bool in_view_change() const { return view_changing_; }
  uint64_t committed_height() const { return committed_height_; }
  uint64_t low_watermark() const { return low_; }
  uint64_t high_watermark() const { return low_ + config_.effective_log_size(); }
  const StableCheckpoint& stable_checkpoint() const { return checkpoints_.stable(); }
  uint64_t dropped(DropReason r) const { return dropped_[static_cast<size_t>(r)]; }
  uint64_t dropped_total() const;
  // Prepares and commits of a peer naming another digest than the pre-prepare we accepted
  // for their view and height (also those that came before it). Kept (they count for
  // nothing) but counted: the voter or the primary equivocated (an honest primary signs one
  // digest per view and height), so this stays 0 among honest validators. A height whose
  // pre-prepare never reached us (lost on the way, or after we left the view) still counts,
  // when we leave its view, its votes naming a digest other than the one most of them name:
  // honest validators never vote for two digests of one view and height.
  uint64_t other_digest_votes() const { return other_digest_votes_; }
  // What the resend period sent since this core was made (ResendCounts).
  const ResendCounts& resent() const { return resent_; }
  const Quorum& quorum() const { return quorum_; }
  // True when we sent SUSPECT for the current view (our timer ran out, in it or while
  // changing into it) and are still there.
  bool suspects_view() const;

  // Validators (us excluded) whose newest message, received within the last `within_ticks`
  // ticks and since we got to our view, was for our view (`in_view`) or for another view
  // (`elsewhere`). Re-sent votes of an older view for heights we hold do not count. Both 0
  // on an idle cluster.
  struct ViewPeers {
    uint32_t in_view = 0;
    uint32_t elsewhere = 0;
  };
  ViewPeers PeersByView(uint64_t within_ticks) const;
  // True when, within `within_ticks`, f+1 validators were heard in other views and fewer
  // than 2f in ours, and we have been in our view for at least one base view timeout: no
  // quorum of our view includes us, we follow by state transfer only.
  bool AloneInView(uint64_t within_ticks) const;

 private:
  struct Slot {
    // Current view only (cleared when the view changes):
    std::optional<ConsensusMsg> pre_prepare;  // accepted: its block validated
    std::optional<ConsensusMsg> waiting;      // from the primary, prev hash not known yet
    bool rejected = false;                    // `waiting` failed validation
    Bytes prev_hash;
    std::vector<Bytes> request_ids;
    std::map<uint32_t, ConsensusMsg> prepares;  // by sender, ours included
    std::map<uint32_t, ConsensusMsg> commits;   // by sender, ours included
    bool prepared = false;
    bool sent_commit = false;
    // The tick we last sent our vote for it (pre-prepare as primary, prepare as backup):
    // resent, while the height does not commit here, once a resend period passed.
    uint64_t voted_tick = 0;
    // Kept across views:
    std::optional<PreparedCert> cert;         // highest-view prepared certificate
    std::optional<CommittedBlock> committed;  // certified, waiting to be applied
  };

  // pbft_core.cc: normal case.
  void Drop(DropReason r) { ++dropped_[static_cast<size_t>(r)]; }
  // Sender in range and not us, and (when `check_signature`) its signature verifies.
  bool CheckEnvelope(const ConsensusMsg& msg, bool check_signature);
  // Dispatches a message whose envelope checked out.
  void HandleMessage(const ConsensusMsg& msg);
  void HandlePrePrepare(const ConsensusMsg& msg, bool own);
  void HandleVote(const ConsensusMsg& msg);
  // Of the votes in `s` (one view and height), those not naming the digest most of them
  // name: 0 when they all agree.
  static uint64_t VotesAgainstTheMost(const Slot& s);
  void HandleCheckpoint(const ConsensusMsg& msg);
  void DispatchNormal(const ConsensusMsg& msg);
  void Pump();
  bool StepSlot(uint64_t h, Slot& s);
  bool ApplyReady();
  bool MaybePropose();
  // Sends our votes again for the heights of this view not committed here whose vote we
  // sent a resend period ago or more: the pre-prepare (primary) to the peers we have no
  // vote of for that height, our prepare to the peers we have no commit of. Only while the
  // epoch has no end set: a new epoch's first proposals go out while other members are
  // still switching (their old core, or the shell between two cores, drops this epoch's
  // messages), and nothing else would make them prepare, as a backup runs no view timer for
  // a request only the primary holds. Once an end is set the backups' view timers run
  // anyway (EndPending), and an epoch's closing heights are left to view changes and to
  // the finished cores' checkpoints (docs/CONSENSUS.md says why). Commits are not resent:
  // the highest is re-sent while idle, and a replica short of a certificate fetches the
  // blocks a quorum committed.
  void ResendVotes();
  // A pre-prepare of this view (accepted, or waiting for its parent) above what we applied.
  bool ProposalPending() const;
  // Our proposals above what is committed (and durable, when the shell says).
  uint64_t ProposalsInFlight() const;
  // A partial batch whose oldest request waited `waited` ticks is not cut yet. Self-clocking
  // holds it for at most half a view-change timeout after its oldest request arrived and a
  // quarter after our last proposal of this view, so that proposals, and the commits that
  // restart the backups' view timers, stay well within a timeout however slow a round is.
  bool HoldBatch(uint64_t waited) const;
  std::optional<Bytes> HashAt(uint64_t h) const;
  std::optional<Bytes> PrevFor(uint64_t h) const;
  bool ChainOk(uint64_t h, const Slot& s) const;
  void Send(int to, ConsensusMsg msg);
  ConsensusMsg Signed(ConsensusMsg msg);
  // Heights we accept messages for: inside the watermarks, at most a log size above what
  // we applied (a laggard with a peer's stable checkpoint does not vote far ahead: see
  // the epoch rule above), and not above the epoch's end.
  bool InWindow(uint64_t h) const {
    return h > low_ && h <= high_watermark() &&
           h <= committed_height_ + config_.effective_log_size() && h <= epoch_.last;
  }
  bool EndPending() const { return epoch_.last != kNoEnd && committed_height_ < epoch_.last; }
  // A finished epoch: answers a peer still in it (rate-limited per peer).
  void HandleWhenDone(const ConsensusMsg& msg);
  void UpdateTimer();

  // pbft_core_view.cc: view change, new view, buffering, catch-up.
  void StartViewChange(uint64_t new_view);
  void ResetViewState();
  void HandleViewChange(const ConsensusMsg& msg);
  void HandleNewView(const ConsensusMsg& msg);
  void TryNewView();
  void ArmViewChangeTimer();
  void EnterView(const ConsensusMsg& new_view, const NewViewPlan& plan);
  void NoteHigherView(const ConsensusMsg& msg);
  void Suspect();
  void HandleSuspect(const ConsensusMsg& msg);
  void MaybeLeaveView();
  void ForgetViewsBelow();
  void RelayNewViewTo(uint32_t sender);
  void NoteHeard(const ConsensusMsg& msg);
  void Buffer(const ConsensusMsg& msg);
  void ReplayBuffered();
  void AdvanceLow();
  void NoteCommitSeen(const ConsensusMsg& msg);
  void CheckStall();
  void RequestStateTransfer(uint64_t target);
  void SendCheckpoint(uint64_t height, const Bytes& hash);

  static constexpr uint64_t kNoEnd = std::numeric_limits<uint64_t>::max();

  PbftConfig config_;
  EpochBounds epoch_;  // start = config_.epoch; last = kNoEnd until EndEpochAt
  Quorum quorum_;
  Signer* signer_;
  SignatureChecker* checker_;
  BlockFactory* factory_;

  uint64_t now_ = 0;
  uint64_t view_ = 0;
  uint64_t view_since_ = 0;   // the tick view_ last changed
  uint64_t normal_view_ = 0;  // the last view we worked in (entered by a NEW-VIEW, or 0)
  bool view_changing_ = false;
  uint64_t committed_height_;
  std::map<uint64_t, Bytes> committed_hashes_;  // heights in [low_, committed_height_]
  uint64_t low_;
  Bytes low_digest_;
  uint64_t next_height_;  // primary: the next height to propose
  std::map<uint64_t, Slot> log_;
  RequestPool pool_;
  CheckpointTracker checkpoints_;
  ViewTimer timer_;

  std::map<uint64_t, std::map<uint32_t, ConsensusMsg>> view_changes_;  // view -> sender
  std::map<uint32_t, uint64_t> higher_views_;     // sender -> highest view seen above ours
  std::map<uint32_t, ConsensusMsg> higher_msgs_;  // sender -> a message of that view
  std::map<uint32_t, ConsensusMsg> suspects_;     // sender -> its newest SUSPECT, ours too
  std::vector<ConsensusMsg> leave_evidence_;      // why we left the last view; relayed
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> heard_;  // sender -> (view, tick)
  std::optional<ConsensusMsg> last_new_view_;
  std::map<uint32_t, uint64_t> relayed_at_;  // sender -> tick we relayed the new-view
  std::vector<ConsensusMsg> buffered_;
  std::map<uint32_t, ConsensusMsg> latest_commit_;  // sender -> newest commit above us
  std::optional<ConsensusMsg> last_commit_sent_;
  std::optional<ConsensusMsg> last_checkpoint_sent_;  // re-sent until stable
  uint64_t last_commit_tick_ = 0;
  uint64_t last_resend_tick_ = 0;
  uint64_t stall_since_ = 0;
  uint64_t transfer_requested_ = 0;
  uint64_t last_empty_tick_ = 0;  // the primary's last empty block (EndEpochAt)
  // The tick of our last pre-prepare of this view (self-clocking holds a batch only
  // shortly after one); unset on entering a view: a new primary does not hold.
  std::optional<uint64_t> last_propose_tick_;
  // SetDurableHeight's, once called (durable_known_).
  uint64_t durable_height_ = 0;
  bool durable_known_ = false;
  std::map<uint32_t, uint64_t> answered_at_;  // done: sender -> tick we last answered it

  VoteGuard votes_;  // our votes, mirrored by the shell on disk (to_persist_votes)
  CoreOutput out_;
  std::array<uint64_t, static_cast<size_t>(DropReason::kCount)> dropped_{};
  uint64_t other_digest_votes_ = 0;
  ResendCounts resent_;
};

}  // namespace consensus
}  // namespace provledger

#endif  // PROVLEDGER_CONSENSUS_PBFT_CORE_H_
