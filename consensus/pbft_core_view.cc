// PbftCore, part two: view change, new view, buffering of early messages, checkpoints
// advancing the low watermark, and catching up by state transfer.
#include <algorithm>
#include <functional>
#include <set>
#include <utility>

#include "consensus/pbft_core.h"

namespace provledger {
namespace consensus {

void PbftCore::ResetViewState() {
  last_propose_tick_.reset();
  for (auto& [h, s] : log_) {
    // Without an accepted pre-prepare nothing compared these votes yet (see
    // other_digest_votes()): the view they were for ends here.
    if (!s.pre_prepare) other_digest_votes_ += VotesAgainstTheMost(s);
    s.pre_prepare.reset();
    s.waiting.reset();
    s.rejected = false;
    s.prev_hash.clear();
    s.request_ids.clear();
    s.prepares.clear();
    s.commits.clear();
    s.prepared = false;
    s.sent_commit = false;
    s.voted_tick = 0;
  }
  pool_.ReturnInFlight();
}

void PbftCore::StartViewChange(uint64_t new_view) {
  if (new_view <= view_) return;
  out_.view_events.push_back({ViewEvent::kChangeStarted, new_view, view_});
  view_ = new_view;
  view_since_ = now_;
  view_changing_ = true;
  ResetViewState();
  const StableCheckpoint& cp = checkpoints_.stable();
  ConsensusMsg vc;
  vc.type = ConsensusMsg::kViewChange;
  vc.view = view_;
  vc.sender = config_.self;
  vc.checkpoint_height = cp.height;
  vc.checkpoint_digest = cp.digest;
  vc.checkpoint_proof = cp.proof;
  for (const auto& [h, s] : log_) {
    if (s.cert && h > cp.height && h <= cp.height + config_.effective_log_size()) {
      vc.prepared.push_back(*s.cert);
    }
  }
  vc = Signed(std::move(vc));
  view_changes_.erase(view_changes_.begin(), view_changes_.lower_bound(view_));
  ForgetViewsBelow();
  leave_evidence_.clear();
  view_changes_[view_][config_.self] = vc;
  Send(CoreOutput::kBroadcast, std::move(vc));
  last_resend_tick_ = now_;
  timer_.Backoff();
  timer_.Stop();
  ArmViewChangeTimer();
  TryNewView();
}

// Liveness (PBFT 4.5.2): the view-change timer runs only once 2f+1 validators asked for
// this view or a later one, so a replica cut off from the others does not run ahead
// through views the others can never join.
void PbftCore::ArmViewChangeTimer() {
  if (!view_changing_ || timer_.armed()) return;
  std::set<uint32_t> senders;
  for (auto it = view_changes_.lower_bound(view_); it != view_changes_.end(); ++it) {
    for (const auto& [sender, vc] : it->second) senders.insert(sender);
  }
  if (senders.size() >= quorum_.Strong()) timer_.Start(now_);
}

void PbftCore::HandleViewChange(const ConsensusMsg& msg) {
  Status s = VerifyViewChange(quorum_, config_.chain_id, checker_, msg,
                              config_.effective_log_size(), epoch_);
  if (!s.ok()) {
    Drop(DropReason::kInvalidViewChange);
    return;
  }
  if (msg.view < view_ || (msg.view == view_ && !view_changing_)) {
    Drop(DropReason::kOldView);
    RelayNewViewTo(msg.sender);  // the sender is behind
    return;
  }
  auto& at_view = view_changes_[msg.view];
  if (at_view.count(msg.sender) > 0) {
    Drop(DropReason::kDuplicate);
    return;
  }
  at_view.emplace(msg.sender, msg);
  // Keep at most two views per sender above ours, so a sender cannot grow the map.
  std::vector<uint64_t> views_of_sender;
  for (const auto& [v, by_sender] : view_changes_) {
    if (v > view_ && by_sender.count(msg.sender) > 0) views_of_sender.push_back(v);
  }
  if (views_of_sender.size() > 2) {
    auto& oldest = view_changes_[views_of_sender.front()];
    oldest.erase(msg.sender);
    if (oldest.empty()) view_changes_.erase(views_of_sender.front());
  }
  if (msg.view > view_ || !view_changing_) NoteHigherView(msg);
  ArmViewChangeTimer();
  TryNewView();
}

void PbftCore::RelayNewViewTo(uint32_t sender) {
  // Hand a replica behind us the new-view that started our view, at most once per resend.
  if (view_changing_ || !last_new_view_ || last_new_view_->view != view_) return;
  auto at = relayed_at_.find(sender);
  if (at != relayed_at_.end() && now_ - at->second < config_.resend_ticks) return;
  relayed_at_[sender] = now_;
  Send(static_cast<int>(sender), *last_new_view_);
}

void PbftCore::ForgetViewsBelow() {
  for (auto it = higher_views_.begin(); it != higher_views_.end();) {
    it = it->second <= view_ ? higher_views_.erase(it) : std::next(it);
  }
  for (auto it = higher_msgs_.begin(); it != higher_msgs_.end();) {
    it = it->second.view <= view_ ? higher_msgs_.erase(it) : std::next(it);
  }
  for (auto it = suspects_.begin(); it != suspects_.end();) {
    it = it->second.view < view_ ? suspects_.erase(it) : std::next(it);
  }
}

void PbftCore::NoteHigherView(const ConsensusMsg& msg) {
  if (msg.view <= view_) return;
  auto seen = higher_views_.find(msg.sender);
  if (seen == higher_views_.end() || msg.view > seen->second) {
    higher_views_[msg.sender] = msg.view;
    higher_msgs_[msg.sender] = msg;
  } else if (msg.view == seen->second && msg.type != ConsensusMsg::kPrePrepare) {
    higher_msgs_[msg.sender] = msg;  // the same evidence without a block to relay
  }
  MaybeLeaveView();
}

bool PbftCore::suspects_view() const {
  auto it = suspects_.find(config_.self);
  return it != suspects_.end() && it->second.view == view_;
}

void PbftCore::Suspect() {
  timer_.Stop();
  if (suspects_view()) return;
  ConsensusMsg m;
  m.type = ConsensusMsg::kSuspect;
  m.view = view_;
  m.sender = config_.self;
  m = Signed(std::move(m));
  suspects_[config_.self] = m;
  Send(CoreOutput::kBroadcast, std::move(m));
  out_.view_events.push_back({ViewEvent::kSuspected, view_, view_});
  MaybeLeaveView();
}

void PbftCore::HandleSuspect(const ConsensusMsg& msg) {
  if (msg.view < view_) {
    Drop(DropReason::kOldView);
    RelayNewViewTo(msg.sender);  // it still works in an older view
    return;
  }
  auto it = suspects_.find(msg.sender);
  if (it != suspects_.end() && it->second.view >= msg.view) {
    Drop(DropReason::kDuplicate);
    return;
  }
  suspects_[msg.sender] = msg;
  if (msg.view > view_) {
    NoteHigherView(msg);  // the sender works in a later view
  } else {
    MaybeLeaveView();
  }
}

// Liveness only. Leaves the current view (or the view change into it) once f+1 distinct
// validators (us included) gave up on it: they suspect it, or were seen in a later view. At least
// one of them is honest, and since every piece of evidence is a message signed by its author,
// relaying it makes every replica still here leave as well.
void PbftCore::MaybeLeaveView() {
  std::map<uint32_t, uint64_t> ready;  // sender -> the view it is ready for
  for (const auto& [sender, v] : higher_views_) {
    if (v > view_) ready[sender] = v;
  }
  for (const auto& [sender, m] : suspects_) {
    if (m.view == view_) ready.emplace(sender, view_ + 1);
  }
  if (ready.size() < quorum_.Weak()) return;
  std::vector<uint64_t> views;
  std::vector<ConsensusMsg> evidence;
  for (const auto& [sender, v] : ready) {
    views.push_back(v);
    auto h = higher_msgs_.find(sender);
    auto su = suspects_.find(sender);
    if (v > view_ + 1 || su == suspects_.end() || su->second.view != view_) {
      if (h != higher_msgs_.end()) evidence.push_back(h->second);
    } else {
      evidence.push_back(su->second);
    }
  }
  // At least one honest replica is at the (f+1)-th highest view or above: join it.
  std::sort(views.begin(), views.end(), std::greater<uint64_t>());
  StartViewChange(std::max(views[quorum_.f()], view_ + 1));
  for (const ConsensusMsg& m : evidence) Send(CoreOutput::kBroadcast, m);
  // Re-sent with our view-change until the new view starts (it may have already, if we
  // are its primary and held 2f+1 view-changes).
  if (view_changing_) leave_evidence_ = std::move(evidence);
}

void PbftCore::NoteHeard(const ConsensusMsg& msg) {
  if (msg.type == ConsensusMsg::kCheckpoint) return;  // carries no view
  // A vote of an older view re-sent for a height we hold says nothing of the sender's view.
  if (msg.view < view_ && msg.height != 0 && msg.height <= committed_height_) return;
  auto it = heard_.find(msg.sender);
  if (it != heard_.end() && msg.view < it->second.first &&
      now_ - it->second.second < 2 * config_.resend_ticks) {
    return;  // an older message relayed by someone else; its author moved on
  }
  heard_[msg.sender] = {msg.view, now_};
}

PbftCore::ViewPeers PbftCore::PeersByView(uint64_t within_ticks) const {
  ViewPeers p;
  for (const auto& [sender, vt] : heard_) {
    // Only what was heard since we got to this view: a peer that went silent before (a
    // crashed primary, say) says nothing about where the others are now.
    if (now_ - vt.second > within_ticks || vt.second < view_since_) continue;
    if (vt.first == view_) {
      ++p.in_view;
    } else {
      ++p.elsewhere;
    }
  }
  return p;
}

bool PbftCore::AloneInView(uint64_t within_ticks) const {
  // A view change in progress is not yet loneliness: allow it one base timeout.
  if (now_ - view_since_ < config_.view_change_timeout_ticks) return false;
  const ViewPeers p = PeersByView(within_ticks);
  return p.elsewhere >= quorum_.Weak() && p.in_view + 1 < quorum_.Strong();
}

void PbftCore::TryNewView() {
  if (!view_changing_ || quorum_.Primary(view_) != config_.self) return;
  auto it = view_changes_.find(view_);
  if (it == view_changes_.end() || it->second.size() < quorum_.Strong()) return;
  std::vector<ConsensusMsg> vcs;
  for (const auto& [sender, vc] : it->second) vcs.push_back(vc);
  StatusOr<NewViewPlan> plan = ComputeNewView(quorum_, view_, vcs, factory_, epoch_);
  if (!plan.ok()) return;
  ConsensusMsg nv;
  nv.type = ConsensusMsg::kNewView;
  nv.view = view_;
  nv.sender = config_.self;
  nv.view_changes = std::move(vcs);
  for (const ConsensusMsg& pp : plan->pre_prepares) nv.pre_prepares.push_back(Signed(pp));
  nv = Signed(std::move(nv));
  Send(CoreOutput::kBroadcast, nv);
  EnterView(nv, *plan);
}

void PbftCore::HandleNewView(const ConsensusMsg& msg) {
  if (msg.view < view_ || (msg.view == view_ && !view_changing_)) {
    Drop(msg.view == view_ ? DropReason::kDuplicate : DropReason::kOldView);
    return;
  }
  NewViewPlan plan;
  Status s = VerifyNewView(quorum_, config_.chain_id, checker_, factory_, msg,
                           config_.effective_log_size(), &plan, epoch_);
  if (!s.ok()) {
    Drop(DropReason::kInvalidNewView);
    return;
  }
  EnterView(msg, plan);
}

void PbftCore::EnterView(const ConsensusMsg& new_view, const NewViewPlan& plan) {
  out_.view_events.push_back({ViewEvent::kEntered, new_view.view, normal_view_});
  normal_view_ = new_view.view;
  if (new_view.view > view_) {
    view_ = new_view.view;
    view_since_ = now_;
    ResetViewState();
  }
  view_changing_ = false;
  last_new_view_ = new_view;
  view_changes_.erase(view_changes_.begin(), view_changes_.upper_bound(view_));
  ForgetViewsBelow();
  leave_evidence_.clear();
  if (plan.checkpoint.height > checkpoints_.stable().height) {
    checkpoints_.Advance(plan.checkpoint);
    AdvanceLow();
  }
  for (const ConsensusMsg& pp : new_view.pre_prepares) {
    if (InWindow(pp.height)) HandlePrePrepare(pp, false);
  }
  next_height_ = plan.checkpoint.height + plan.pre_prepares.size() + 1;
  timer_.Stop();
  UpdateTimer();
  ReplayBuffered();
}

void PbftCore::Buffer(const ConsensusMsg& msg) {
  if (buffered_.size() >= config_.max_buffered_messages) {
    Drop(DropReason::kFutureView);
    return;
  }
  buffered_.push_back(msg);
}

void PbftCore::ReplayBuffered() {
  std::vector<ConsensusMsg> msgs = std::move(buffered_);
  buffered_.clear();
  for (const ConsensusMsg& m : msgs) {
    if (m.view < view_) {
      Drop(DropReason::kOldView);
    } else if (m.view > view_ || view_changing_) {
      buffered_.push_back(m);
    } else {
      DispatchNormal(m);
    }
  }
}

void PbftCore::AdvanceLow() {
  const StableCheckpoint& cp = checkpoints_.stable();
  if (cp.height <= low_) return;
  low_ = cp.height;
  low_digest_ = cp.digest;
  log_.erase(log_.begin(), log_.upper_bound(low_));
  committed_hashes_.erase(committed_hashes_.begin(), committed_hashes_.lower_bound(low_));
  for (Vote& v : votes_.Prune(low_)) out_.to_forget_votes.push_back(std::move(v));
  if (committed_height_ < low_) RequestStateTransfer(low_);
}

void PbftCore::NoteCommitSeen(const ConsensusMsg& msg) {
  if (msg.height <= committed_height_) return;
  auto it = latest_commit_.find(msg.sender);
  if (it == latest_commit_.end() || msg.height > it->second.height ||
      (msg.height == it->second.height && msg.view > it->second.view)) {
    latest_commit_[msg.sender] = msg;
  }
}

void PbftCore::CheckStall() {
  // The highest height for which 2f+1 validators proved a commit we have not applied.
  uint64_t target = 0;
  std::map<std::pair<uint64_t, uint64_t>, std::map<Bytes, uint32_t>> votes;
  for (const auto& [sender, c] : latest_commit_) {
    if (c.height > epoch_.last) continue;  // our epoch orders nothing there
    if (c.height > committed_height_ && ++votes[{c.height, c.view}][c.digest] >= quorum_.Strong()) {
      target = std::max(target, c.height);
    }
  }
  for (const auto& [h, s] : log_) {
    if (h <= committed_height_) continue;
    std::map<Bytes, uint32_t> count;
    for (const auto& [sender, c] : s.commits) {
      if (++count[c.digest] >= quorum_.Strong()) target = std::max(target, h);
    }
  }
  // The epoch's end: members that finished it no longer vote or change views, and answer
  // us with their checkpoint and commit at it. Fewer than q of them, or commits of
  // different views, never complete a certificate or a stable checkpoint here, and our
  // peers still in the epoch may be as short as we are; f+1 checkpoints at the end say an
  // honest member applied a certified block there, so we fetch the blocks up to it.
  if (EndPending() && checkpoints_.MostVouchedAt(epoch_.last) >= quorum_.Weak()) {
    target = std::max(target, epoch_.last);
  }
  if (target == 0) {
    stall_since_ = 0;
    return;
  }
  if (stall_since_ == 0) {
    stall_since_ = now_;
    return;
  }
  if (now_ - stall_since_ >= std::max<uint64_t>(1, config_.view_change_timeout_ticks / 2)) {
    RequestStateTransfer(target);
    stall_since_ = now_;
  }
}

void PbftCore::RequestStateTransfer(uint64_t target) {
  if (target <= committed_height_) return;
  if (!out_.need_state_transfer || *out_.need_state_transfer < target) {
    out_.need_state_transfer = target;
  }
  transfer_requested_ = std::max(transfer_requested_, target);
}

void PbftCore::OnStateTransferred(const std::vector<TransferredBlock>& blocks) {
  bool any = false;
  for (const TransferredBlock& b : blocks) {
    if (b.height <= committed_height_) continue;
    // A gap ends the list, and so does the epoch's end: the next epoch's core takes it on.
    if (b.height != committed_height_ + 1 || b.height > epoch_.last) break;
    committed_height_ = b.height;
    committed_hashes_[b.height] = b.header_hash;
    pool_.MarkCommitted(b.request_ids);
    if (b.height % config_.checkpoint_interval == 0 && b.height > checkpoints_.stable().height) {
      SendCheckpoint(b.height, b.header_hash);
    }
    any = true;
  }
  if (!any) return;
  committed_hashes_.erase(committed_hashes_.begin(), committed_hashes_.lower_bound(low_));
  for (auto it = latest_commit_.begin(); it != latest_commit_.end();) {
    it = it->second.height <= committed_height_ ? latest_commit_.erase(it) : std::next(it);
  }
  stall_since_ = 0;
  timer_.ResetBackoff();
  if (!view_changing_) timer_.Stop();
  UpdateTimer();
  AdvanceLow();
  Pump();
}

}  // namespace consensus
}  // namespace provledger
