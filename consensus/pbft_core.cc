#include "consensus/pbft_core.h"

#include <algorithm>
#include <string>
#include <utility>

namespace provledger {
namespace consensus {

Status PbftConfig::Validate() const {
  if (!Quorum(n).Valid()) return InvalidArgumentError("n must be at least 1");
  if (self >= n) return InvalidArgumentError("self must be below n");
  if (checkpoint_interval == 0 || window == 0 || max_batch_requests == 0 ||
      view_change_timeout_ticks == 0 || resend_ticks == 0) {
    return InvalidArgumentError("interval, window, batch size and timeouts must be positive");
  }
  if (effective_log_size() < checkpoint_interval + window) {
    return InvalidArgumentError("log_size must be at least checkpoint_interval + window");
  }
  // Every epoch boundary (a multiple of 16) must be a checkpoint, and the log shorter than
  // the distance from a set change to its boundary (ledger/validator_epoch.h).
  if (ledger::kEpochStep % checkpoint_interval != 0) {
    return InvalidArgumentError("checkpoint_interval must divide " +
                                std::to_string(ledger::kEpochStep));
  }
  if (effective_log_size() > kMaxLogSize) {
    return InvalidArgumentError(
        "log_size (default 2 * checkpoint_interval + window) must be at most " +
        std::to_string(kMaxLogSize));
  }
  if (epoch == 0 ? !(epoch_hash.empty() || epoch_hash == Bytes(32, '\0'))
                 : epoch_hash.size() != 32) {
    return InvalidArgumentError("epoch_hash must be the 32-byte header hash at the epoch's start");
  }
  return OkStatus();
}

const char* DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kUnknownSender:
      return "unknown_sender";
    case DropReason::kBadSignature:
      return "bad_signature";
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kOldView:
      return "old_view";
    case DropReason::kFutureView:
      return "future_view";
    case DropReason::kOutsideWatermarks:
      return "outside_watermarks";
    case DropReason::kNotFromPrimary:
      return "not_from_primary";
    case DropReason::kDigestMismatch:
      return "digest_mismatch";
    case DropReason::kInvalidBlock:
      return "invalid_block";
    case DropReason::kEquivocation:
      return "equivocation";
    case DropReason::kConflictingVote:
      return "conflicting_vote";
    case DropReason::kDuplicate:
      return "duplicate";
    case DropReason::kInvalidViewChange:
      return "invalid_view_change";
    case DropReason::kInvalidNewView:
      return "invalid_new_view";
    case DropReason::kStaleCheckpoint:
      return "stale_checkpoint";
    case DropReason::kOtherEpoch:
      return "other_epoch";
    case DropReason::kEpochDone:
      return "epoch_done";
    default:
      return "unknown";
  }
}

PbftCore::PbftCore(PbftConfig config, Signer* signer, SignatureChecker* checker,
                   BlockFactory* factory, uint64_t last_committed_height, Bytes last_committed_hash)
    : config_(std::move(config)),
      quorum_(config_.n),
      signer_(signer),
      checker_(checker),
      factory_(factory),
      committed_height_(last_committed_height),
      low_(last_committed_height),
      low_digest_(last_committed_hash),
      next_height_(last_committed_height + 1),
      pool_(config_.max_pending_requests, config_.committed_id_memory),
      checkpoints_(quorum_),
      timer_(config_.view_change_timeout_ticks),
      votes_(config_.self) {
  epoch_.start = config_.epoch;
  if (config_.epoch != 0) {
    epoch_.start_digest = config_.epoch_hash;
    // Every member applied the block at the epoch's start: its checkpoint needs no proof.
    checkpoints_.Advance(StableCheckpoint{config_.epoch, config_.epoch_hash, {}});
  }
  committed_hashes_[committed_height_] = std::move(last_committed_hash);
}

void PbftCore::EndEpochAt(uint64_t last_height) {
  if (last_height >= epoch_.last) return;
  epoch_.last = std::max(last_height, committed_height_);
  // Nothing above the end was accepted (see pbft_core.h); be strict all the same.
  bool dropped_any = false;
  for (auto it = log_.upper_bound(epoch_.last); it != log_.end(); it = log_.erase(it)) {
    dropped_any |= it->second.pre_prepare.has_value();
  }
  if (dropped_any) pool_.ReturnInFlight();
  if (next_height_ > epoch_.last + 1) next_height_ = epoch_.last + 1;
  if (epoch_done()) timer_.Stop();
  UpdateTimer();
  Pump();
}

uint64_t PbftCore::dropped_total() const {
  uint64_t sum = 0;
  for (uint64_t d : dropped_) sum += d;
  return sum;
}

CoreOutput PbftCore::TakeOutput() {
  CoreOutput o = std::move(out_);
  out_ = CoreOutput();
  return o;
}

ConsensusMsg PbftCore::Signed(ConsensusMsg msg) {
  msg.epoch = config_.epoch;
  msg.signature = signer_->Sign(SigningDigest(config_.chain_id, msg));
  return msg;
}

void PbftCore::Send(int to, ConsensusMsg msg) {
  Vote vote;
  switch (votes_.Admit(msg, &vote)) {
    case VoteGuard::Verdict::kConflict:
      out_.refused_votes.push_back(
          Vote{static_cast<uint8_t>(msg.type), msg.view, msg.height, msg.digest});
      return;
    case VoteGuard::Verdict::kNew:
      out_.to_persist_votes.push_back(std::move(vote));
      break;
    default:
      break;
  }
  out_.to_send.emplace_back(to, std::move(msg));
}

bool PbftCore::CheckEnvelope(const ConsensusMsg& msg, bool check_signature) {
  // First: another epoch's sender index names another set's validator.
  if (msg.epoch != config_.epoch) {
    Drop(DropReason::kOtherEpoch);
    if (msg.epoch > config_.epoch) out_.later_epoch = std::max(out_.later_epoch, msg.epoch);
    return false;
  }
  if (msg.sender >= config_.n) {
    Drop(DropReason::kUnknownSender);
    return false;
  }
  if (msg.sender == config_.self) {  // our own message came back: a replay
    Drop(DropReason::kDuplicate);
    return false;
  }
  if (check_signature &&
      !checker_->Verify(msg.sender, SigningDigest(config_.chain_id, msg), msg.signature)) {
    Drop(DropReason::kBadSignature);
    return false;
  }
  return true;
}

void PbftCore::OnMessage(const ConsensusMsg& msg) {
  if (CheckEnvelope(msg, /*check_signature=*/true)) HandleMessage(msg);
}

void PbftCore::OnVerifiedMessage(const ConsensusMsg& msg) {
  if (CheckEnvelope(msg, /*check_signature=*/false)) HandleMessage(msg);
}

void PbftCore::HandleMessage(const ConsensusMsg& msg) {
  if (epoch_done()) {
    HandleWhenDone(msg);
    return;
  }
  NoteHeard(msg);
  switch (msg.type) {
    case ConsensusMsg::kSuspect:
      HandleSuspect(msg);
      break;
    case ConsensusMsg::kCheckpoint:
      HandleCheckpoint(msg);
      break;
    case ConsensusMsg::kViewChange:
      HandleViewChange(msg);
      break;
    case ConsensusMsg::kNewView:
      HandleNewView(msg);
      break;
    case ConsensusMsg::kPrePrepare:
    case ConsensusMsg::kPrepare:
    case ConsensusMsg::kCommit:
      if (msg.digest.size() != 32) {
        Drop(DropReason::kMalformed);
        break;
      }
      if (msg.type == ConsensusMsg::kCommit) NoteCommitSeen(msg);
      if (msg.view < view_) {
        Drop(DropReason::kOldView);
      } else if (msg.view > view_) {
        NoteHigherView(msg);
        Buffer(msg);
      } else if (view_changing_) {
        Buffer(msg);
      } else {
        DispatchNormal(msg);
      }
      break;
    default:
      Drop(DropReason::kMalformed);
  }
  Pump();
}

void PbftCore::DispatchNormal(const ConsensusMsg& msg) {
  if (!InWindow(msg.height)) {
    Drop(DropReason::kOutsideWatermarks);
  } else if (msg.type == ConsensusMsg::kPrePrepare) {
    HandlePrePrepare(msg, false);
  } else {
    HandleVote(msg);
  }
}

void PbftCore::HandlePrePrepare(const ConsensusMsg& msg, bool own) {
  if (!own && msg.sender != primary()) {
    Drop(DropReason::kNotFromPrimary);
    return;
  }
  Slot& s = log_[msg.height];
  const std::optional<ConsensusMsg>& seen = s.pre_prepare ? s.pre_prepare : s.waiting;
  if (seen) {
    Drop(seen->digest == msg.digest ? DropReason::kDuplicate : DropReason::kEquivocation);
    return;
  }
  s.waiting = msg;
  UpdateTimer();  // a backup now waits for this block (see UpdateTimer)
}

void PbftCore::HandleVote(const ConsensusMsg& msg) {
  if (msg.type == ConsensusMsg::kPrepare && msg.sender == primary()) {
    Drop(DropReason::kMalformed);  // the primary's vote is its pre-prepare
    return;
  }
  Slot& s = log_[msg.height];
  auto& votes = msg.type == ConsensusMsg::kPrepare ? s.prepares : s.commits;
  auto it = votes.find(msg.sender);
  if (it != votes.end()) {
    Drop(it->second.digest == msg.digest ? DropReason::kDuplicate : DropReason::kConflictingVote);
    return;
  }
  if (s.pre_prepare && s.pre_prepare->digest != msg.digest) ++other_digest_votes_;
  votes.emplace(msg.sender, msg);
}

uint64_t PbftCore::VotesAgainstTheMost(const Slot& s) {
  std::map<Bytes, uint64_t> by_digest;
  uint64_t total = 0;
  for (const auto* votes : {&s.prepares, &s.commits}) {
    for (const auto& [sender, v] : *votes) {
      ++by_digest[v.digest];
      ++total;
    }
  }
  uint64_t most = 0;
  for (const auto& [digest, n] : by_digest) most = std::max(most, n);
  return total - most;
}

void PbftCore::HandleCheckpoint(const ConsensusMsg& msg) {
  if (msg.height == 0 || msg.height % config_.checkpoint_interval != 0) {
    Drop(DropReason::kMalformed);
    return;
  }
  switch (checkpoints_.Add(msg)) {
    case CheckpointTracker::AddResult::kStale:
      Drop(DropReason::kStaleCheckpoint);
      break;
    case CheckpointTracker::AddResult::kDuplicate:
      Drop(DropReason::kDuplicate);
      break;
    case CheckpointTracker::AddResult::kConflict:
      Drop(DropReason::kConflictingVote);
      break;
    case CheckpointTracker::AddResult::kNewStable:
      AdvanceLow();
      break;
    default:
      break;
  }
}

void PbftCore::HandleWhenDone(const ConsensusMsg& msg) {
  if (msg.type == ConsensusMsg::kCheckpoint) {
    HandleCheckpoint(msg);  // lets ours become stable, which ends its resends
    if (msg.height >= epoch_.last) return;
  } else {
    Drop(DropReason::kEpochDone);
  }
  // The sender is still working in this epoch: hand it our checkpoint at the end; q of
  // them make it stable there and it fetches the blocks up to it (state transfer).
  auto at = answered_at_.find(msg.sender);
  if (at != answered_at_.end() && now_ - at->second < config_.resend_ticks) return;
  answered_at_[msg.sender] = now_;
  ConsensusMsg cp;
  if (last_checkpoint_sent_ && last_checkpoint_sent_->height == epoch_.last) {
    cp = *last_checkpoint_sent_;
  } else {
    std::optional<Bytes> hash = HashAt(epoch_.last);
    if (!hash) return;
    cp.type = ConsensusMsg::kCheckpoint;
    cp.height = epoch_.last;
    cp.digest = std::move(*hash);
    cp.sender = config_.self;
    cp = Signed(std::move(cp));
    last_checkpoint_sent_ = cp;
  }
  Send(static_cast<int>(msg.sender), std::move(cp));
  // And our commit at the end: with ours and its own it may complete the sender's q.
  if (last_commit_sent_ && last_commit_sent_->height == epoch_.last) {
    Send(static_cast<int>(msg.sender), *last_commit_sent_);
  }
}

void PbftCore::OnRequest(Request req) {
  if (epoch_done()) return;  // the next epoch's core orders it
  Bytes id = req.id;
  if (!pool_.Add(req, now_).ok()) return;  // known, committed, or the pool is full
  if (config_.self != primary()) {
    out_.forward.emplace_back(primary(), std::move(req));
  }
  UpdateTimer();
  Pump();
}

void PbftCore::OnTick() {
  ++now_;
  if (epoch_done()) {
    if (now_ - last_resend_tick_ >= config_.resend_ticks) {
      last_resend_tick_ = now_;
      if (last_checkpoint_sent_ && last_checkpoint_sent_->height > checkpoints_.stable().height) {
        Send(CoreOutput::kBroadcast, *last_checkpoint_sent_);
      }
    }
    return;
  }
  // The timer only makes us suspect the view (a pre-vote), in normal mode as well as when
  // a view change 2f+1 validators started did not complete: we move on on f+1 suspicions.
  if (timer_.Expired(now_)) Suspect();
  if (now_ - last_resend_tick_ >= config_.resend_ticks) {
    last_resend_tick_ = now_;
    if (view_changing_) {
      auto vcs = view_changes_.find(view_);
      if (vcs != view_changes_.end()) {
        auto mine = vcs->second.find(config_.self);
        if (mine != vcs->second.end()) Send(CoreOutput::kBroadcast, mine->second);
      }
      for (const ConsensusMsg& m : leave_evidence_) Send(CoreOutput::kBroadcast, m);
    } else {
      if (last_commit_sent_ && now_ - last_commit_tick_ >= config_.resend_ticks) {
        Send(CoreOutput::kBroadcast, *last_commit_sent_);
        resent_.commits += config_.n - 1;
      }
      if (epoch_.last == kNoEnd) ResendVotes();
    }
    // Never withdrawn while we are in the view: a suspicion that others already used to
    // leave must reach everyone still here (see pbft_core.h).
    if (suspects_view()) Send(CoreOutput::kBroadcast, suspects_.at(config_.self));
    if (last_checkpoint_sent_ && last_checkpoint_sent_->height > checkpoints_.stable().height) {
      Send(CoreOutput::kBroadcast, *last_checkpoint_sent_);
    }
  }
  CheckStall();
  Pump();
}

void PbftCore::UpdateTimer() {
  if (epoch_done()) {
    timer_.Stop();
    return;
  }
  if (view_changing_) return;  // the view-change timer runs until a new view starts
  // With an end pending the chain must move even without requests (empty blocks): a
  // backup that sees none give up on the primary as it would for a waiting request. So
  // must a proposal we hold: its requests came to us in it (the client may have given
  // them to the primary alone, which relays nothing), and PBFT's backup runs its timer for
  // every request it received and has not executed.
  if (config_.self == primary() ||
      (pool_.uncommitted() == 0 && !EndPending() && !ProposalPending())) {
    timer_.Stop();
  } else {
    timer_.Start(now_);
  }
}

bool PbftCore::ProposalPending() const {
  for (auto it = log_.upper_bound(committed_height_); it != log_.end(); ++it) {
    if (it->second.pre_prepare || it->second.waiting) return true;
  }
  return false;
}

void PbftCore::ResendVotes() {
  const bool am_primary = config_.self == primary();
  for (auto it = log_.upper_bound(committed_height_); it != log_.end(); ++it) {
    Slot& s = it->second;
    if (!s.pre_prepare || s.committed || now_ - s.voted_tick < config_.resend_ticks) continue;
    s.voted_tick = now_;
    auto mine = s.prepares.find(config_.self);
    for (uint32_t j = 0; j < config_.n; ++j) {
      if (j == config_.self) continue;
      const bool committed_there = s.commits.count(j) > 0;
      if (am_primary && !committed_there && s.prepares.count(j) == 0) {
        Send(static_cast<int>(j), *s.pre_prepare);
        ++resent_.pre_prepares;
      } else if (!am_primary && !committed_there && mine != s.prepares.end()) {
        Send(static_cast<int>(j), mine->second);
        ++resent_.prepares;
      }
    }
  }
}

std::optional<Bytes> PbftCore::HashAt(uint64_t h) const {
  if (h == low_) return low_digest_;
  if (h > committed_height_) return std::nullopt;
  auto it = committed_hashes_.find(h);
  if (it == committed_hashes_.end()) return std::nullopt;
  return it->second;
}

std::optional<Bytes> PbftCore::PrevFor(uint64_t h) const {
  if (auto known = HashAt(h - 1)) return known;
  auto it = log_.find(h - 1);
  if (it != log_.end() && it->second.pre_prepare) return it->second.pre_prepare->digest;
  return std::nullopt;
}

bool PbftCore::ChainOk(uint64_t h, const Slot& s) const {
  if (auto known = HashAt(h - 1)) return *known == s.prev_hash;
  auto it = log_.find(h - 1);
  // h-1 must itself have passed this rule in this view (we sent its commit), so by induction
  // the whole chain down to a committed block was prepared by everyone who commits h.
  return it != log_.end() && it->second.sent_commit &&
         it->second.pre_prepare->digest == s.prev_hash;
}

void PbftCore::Pump() {
  bool changed = true;
  while (changed) {
    changed = false;
    for (auto& [h, s] : log_) changed |= StepSlot(h, s);
    changed |= ApplyReady();
    changed |= MaybePropose();
  }
}

bool PbftCore::StepSlot(uint64_t h, Slot& s) {
  bool changed = false;
  if (s.waiting && !s.pre_prepare && !s.rejected) {
    if (std::optional<Bytes> prev = PrevFor(h)) {
      BlockInfo info;
      std::optional<Bytes> known = HashAt(h);
      if (!factory_->Validate(h, view_, *prev, s.waiting->block, &info).ok()) {
        Drop(DropReason::kInvalidBlock);
        s.rejected = true;
      } else if (info.header_hash != s.waiting->digest || (known && *known != info.header_hash)) {
        Drop(DropReason::kDigestMismatch);
        s.rejected = true;
      } else {
        s.pre_prepare = std::move(s.waiting);
        s.waiting.reset();
        for (const auto* votes : {&s.prepares, &s.commits}) {
          for (const auto& [sender, v] : *votes) {
            if (v.digest != s.pre_prepare->digest) ++other_digest_votes_;
          }
        }
        s.prev_hash = *prev;
        s.request_ids = std::move(info.request_ids);
        s.voted_tick = now_;
        pool_.MarkInFlight(s.request_ids);
        if (config_.self != primary()) {
          ConsensusMsg p;
          p.type = ConsensusMsg::kPrepare;
          p.view = view_;
          p.height = h;
          p.digest = s.pre_prepare->digest;
          p.sender = config_.self;
          p = Signed(std::move(p));
          s.prepares[config_.self] = p;
          Send(CoreOutput::kBroadcast, std::move(p));
        }
      }
      changed = true;
    }
  }
  if (!s.pre_prepare) return changed;
  const Bytes& digest = s.pre_prepare->digest;
  if (!s.prepared) {
    std::vector<ConsensusMsg> matching;
    for (const auto& [sender, p] : s.prepares) {
      if (p.digest == digest && sender != primary()) matching.push_back(p);
    }
    if (matching.size() >= quorum_.Prepares()) {
      s.prepared = true;
      changed = true;
      if (!s.cert || s.cert->pre_prepare.view < view_) {
        s.cert = PreparedCert{*s.pre_prepare, std::move(matching)};
      }
    }
  }
  if (s.prepared && !s.sent_commit && ChainOk(h, s)) {
    ConsensusMsg c;
    c.type = ConsensusMsg::kCommit;
    c.view = view_;
    c.height = h;
    c.digest = digest;
    c.sender = config_.self;
    c = Signed(std::move(c));
    s.commits[config_.self] = c;
    s.sent_commit = true;
    // Idle replicas re-send their highest commit: after a view change re-commits lower
    // heights in any order, all still name the same top (height, view), which is what a
    // replica behind needs q of to ask for state transfer.
    if (!last_commit_sent_ || h >= last_commit_sent_->height) last_commit_sent_ = c;
    last_commit_tick_ = now_;
    Send(CoreOutput::kBroadcast, std::move(c));
    changed = true;
  }
  if (!s.committed && h > committed_height_) {
    std::vector<std::pair<uint32_t, Bytes>> sigs;
    for (const auto& [sender, c] : s.commits) {
      if (c.digest == digest) sigs.emplace_back(sender, c.signature);
    }
    if (sigs.size() >= quorum_.Strong()) {
      CommittedBlock b;
      b.height = h;
      b.view = view_;
      b.header_hash = digest;
      b.block = s.pre_prepare->block;
      b.request_ids = s.request_ids;
      b.commit_signatures = std::move(sigs);
      s.committed = std::move(b);
      changed = true;
    }
  }
  return changed;
}

bool PbftCore::ApplyReady() {
  bool any = false;
  for (;;) {
    auto it = log_.find(committed_height_ + 1);
    if (it == log_.end() || !it->second.committed) break;
    CommittedBlock b = std::move(*it->second.committed);
    it->second.committed.reset();
    committed_height_ = b.height;
    committed_hashes_[b.height] = b.header_hash;
    pool_.MarkCommitted(b.request_ids);
    if (b.height % config_.checkpoint_interval == 0) SendCheckpoint(b.height, b.header_hash);
    out_.to_apply.push_back(std::move(b));
    any = true;
  }
  if (any) {
    timer_.ResetBackoff();
    stall_since_ = 0;
    if (!view_changing_) timer_.Stop();
    UpdateTimer();
    AdvanceLow();
  }
  return any;
}

void PbftCore::SendCheckpoint(uint64_t height, const Bytes& hash) {
  ConsensusMsg cp;
  cp.type = ConsensusMsg::kCheckpoint;
  cp.height = height;
  cp.digest = hash;
  cp.sender = config_.self;
  cp = Signed(std::move(cp));
  (void)checkpoints_.Add(cp);
  last_checkpoint_sent_ = cp;
  Send(CoreOutput::kBroadcast, std::move(cp));
}

uint64_t PbftCore::ProposalsInFlight() const {
  const uint64_t base =
      durable_known_ ? std::min(committed_height_, durable_height_) : committed_height_;
  return next_height_ > base + 1 ? next_height_ - 1 - base : 0;
}

bool PbftCore::HoldBatch(uint64_t waited) const {
  if (waited < config_.batch_timeout_ticks) return true;
  // Held for a round in flight, but never until the backups' view timers could run out:
  // measured from the request alone, a round slower than the hold would let nearly a whole
  // timeout pass between two proposals (the round's length plus the hold).
  if (config_.full_cut_in_flight == 0 || !last_propose_tick_) return false;
  const uint64_t since_proposal = now_ - *last_propose_tick_;
  return waited < config_.view_change_timeout_ticks / 2 &&
         since_proposal < std::max<uint64_t>(config_.batch_timeout_ticks,
                                             config_.view_change_timeout_ticks / 4) &&
         ProposalsInFlight() >= config_.full_cut_in_flight;
}

void PbftCore::SetDurableHeight(uint64_t height) {
  durable_known_ = true;
  if (height <= durable_height_) return;
  durable_height_ = height;
  if (config_.full_cut_in_flight != 0) Pump();
}

bool PbftCore::MaybePropose() {
  if (view_changing_ || config_.self != primary() || epoch_done()) return false;
  const bool empty = pool_.pending() == 0;
  if (empty) {
    // An idle chain must still reach the epoch's end: one empty block per batch timeout.
    if (!EndPending() || now_ - last_empty_tick_ < config_.batch_timeout_ticks) return false;
  } else if (pool_.pending() < config_.max_batch_requests &&
             HoldBatch(now_ - pool_.oldest_pending_tick())) {
    return false;
  }
  if (next_height_ <= low_) next_height_ = low_ + 1;
  if (next_height_ <= committed_height_) next_height_ = committed_height_ + 1;
  for (auto it = log_.find(next_height_);
       it != log_.end() && (it->second.pre_prepare || it->second.waiting);
       it = log_.find(next_height_)) {
    ++next_height_;
  }
  const uint64_t h = next_height_;
  if (h > committed_height_ + config_.window || h > high_watermark() || h > epoch_.last) {
    return false;
  }
  std::optional<Bytes> prev = PrevFor(h);
  if (!prev) return false;
  std::vector<Request> batch = pool_.TakeBatch(config_.max_batch_requests);
  std::vector<Bytes> ids;
  for (const Request& r : batch) ids.push_back(r.id);
  StatusOr<Proposal> proposal = factory_->Build(h, view_, *prev, std::move(batch));
  if (!proposal.ok()) {
    pool_.ReturnToPending(ids);
    return false;
  }
  ConsensusMsg pp;
  pp.type = ConsensusMsg::kPrePrepare;
  pp.view = view_;
  pp.height = h;
  pp.digest = proposal->header_hash;
  pp.sender = config_.self;
  pp.block = std::move(proposal->block);
  pp = Signed(std::move(pp));
  Slot& s = log_[h];
  s.pre_prepare = pp;
  s.prev_hash = *prev;
  s.request_ids = std::move(ids);
  s.voted_tick = now_;
  ++next_height_;
  last_propose_tick_ = now_;
  if (empty) last_empty_tick_ = now_;
  Send(CoreOutput::kBroadcast, std::move(pp));
  return true;
}

}  // namespace consensus
}  // namespace provledger
