#include "node/pbft_orderer.h"

#include <chrono>
#include <cstdlib>

#include "common/clock.h"
#include "common/log.h"
#include "ledger/block_header.h"
#include "node/node_metrics.h"
#include "node/test_seams.h"

namespace provledger::node {

namespace v1 = provledger::v1;
using consensus::ConsensusMsg;
using Clock = std::chrono::steady_clock;

class PbftOrderer::KeySigner final : public consensus::Signer {
 public:
  explicit KeySigner(const PrivateKey* key) : key_(key) {}
  Bytes Sign(ByteView digest32) override {
    auto s = key_->Sign(digest32);
    return s.ok() ? *s : Bytes();
  }

 private:
  const PrivateKey* key_;
};

class PbftOrderer::GenesisChecker final : public consensus::SignatureChecker {
 public:
  explicit GenesisChecker(const ledger::Genesis* g) : g_(g) {}
  bool Verify(uint32_t validator, ByteView digest32, ByteView sig) override {
    return validator < g_->n() &&
           VerifySignature(g_->validators[validator].pubkey, digest32, sig).ok();
  }

 private:
  const ledger::Genesis* g_;
};

namespace {
// What the factory derives blocks with, and relayed batches are checked with beforehand.
BatchLimits FactoryLimits() { return BatchLimits(); }

consensus::PbftConfig CoreConfig(const ledger::Genesis& genesis, uint32_t self,
                                 const PbftOptions& o, uint64_t epoch = 0, Bytes epoch_hash = {}) {
  consensus::PbftConfig cfg;
  cfg.n = static_cast<uint32_t>(genesis.n());
  cfg.self = self;
  cfg.chain_id = genesis.chain_id;
  cfg.epoch = epoch;
  cfg.epoch_hash = std::move(epoch_hash);
  cfg.checkpoint_interval = o.checkpoint_interval;
  cfg.window = o.window;
  cfg.max_batch_requests = o.max_block_batches;
  cfg.full_cut_in_flight = o.block_cut_in_flight;
  const uint32_t tick = std::max<uint32_t>(1, o.tick_ms);
  cfg.batch_timeout_ticks = std::max<uint64_t>(1, o.block_timeout_ms / tick);
  cfg.view_change_timeout_ticks = std::max<uint64_t>(10, o.view_change_timeout_ms / tick);
  cfg.resend_ticks = std::max<uint64_t>(5, 200 / tick);
  return cfg;
}
}  // namespace

PbftOrderer::PbftOrderer(ledger::BlockStore* store, const ledger::Genesis* genesis, PrivateKey key,
                         uint32_t self, RegistryHolder* registry, PbftOptions options,
                         PbftEpoch epoch)
    : store_(store),
      genesis_(genesis),
      registry_(registry),
      key_(std::move(key)),
      self_(self),
      options_(options),
      epoch_(std::move(epoch)),
      signer_(std::make_unique<KeySigner>(&key_)),
      checker_(std::make_unique<GenesisChecker>(genesis_)),
      batch_cache_(kCheckedBatchCacheEntries, kCheckedBatchCacheBytes),
      factory_(
          store_, genesis_, registry, [] { return NowMs(); },  // block time: wall clock
          FactoryLimits(), &batch_cache_),
      applier_(store_, genesis_, registry, &factory_),
      vote_store_(store_, options_.persist_votes),
      monitor_(genesis_, 2 * CoreConfig(*genesis_, self_, options_).view_change_timeout_ticks),
      waiters_(store_),
      peer_height_(new std::atomic<uint64_t>[genesis_->n()]),
      peer_heard_ms_(new std::atomic<uint64_t>[genesis_->n()]) {
  for (size_t i = 0; i < genesis_->n(); ++i) {
    peer_height_[i].store(0);
    peer_heard_ms_[i].store(0);
  }
  Bytes epoch_hash;
  if (epoch_.epoch != 0) {
    // The block the epoch starts after: every member applied it before the epoch began.
    auto header = store_->ReadHeaderBytes(epoch_.epoch);
    if (!header.ok()) {
      LogError("epoch_block_unreadable")
          .Kv("epoch", epoch_.epoch)
          .Kv("err", header.status().ToString());
      std::_Exit(3);
    }
    epoch_hash = ledger::HeaderHash(*header);
  }
  core_ = std::make_unique<consensus::PbftCore>(
      CoreConfig(*genesis_, self_, options_, epoch_.epoch, std::move(epoch_hash)), signer_.get(),
      checker_.get(), &factory_, store_->height(), store_->head_hash());
  auto votes = vote_store_.Load();
  if (!votes.ok()) {
    LogError("votes_unreadable").Kv("err", votes.status().ToString());
    std::_Exit(3);
  }
  core_->RestoreVotes(*votes);
  NoteEpochEnd();  // restarted between a change and its epoch's end
  transport_ = std::make_unique<PeerTransport>(genesis_, self_, options_.max_peer_queue);
  repairer_ = std::make_unique<BlockRepairer>(genesis_, self_, transport_->ledger_stubs(),
                                              [this](std::shared_ptr<BlockRepairer::Copy> c) {
                                                Event e;
                                                e.kind = Event::kRepair;
                                                e.repair = std::move(c);
                                                return Post(std::move(e));
                                              });
  transfer_ = std::make_unique<StateTransfer>(genesis_, self_, transport_->ledger_stubs(),
                                              [this](std::shared_ptr<StateTransfer::Batch> b) {
                                                Event e;
                                                e.kind = Event::kTransfer;
                                                e.transfer = std::move(b);
                                                return Post(std::move(e));
                                              });
  // A block a peer answered that fails a check, to a state transfer or a block repair: only
  // a faulty or lying validator sends it.
  RefusedBlockFn refused = [this](const std::string& peer, uint64_t, const Status&) {
    evidence_.Count("bad_state_transfer", 1, peer);
  };
  transfer_->SetOnRefused(refused);
  repairer_->SetOnRefused(refused);
  // Fetched and repaired blocks are checked against the set at their height
  // (docs/VALIDATOR_SET.md).
  ScheduleSource schedule = [registry] { return registry->Get()->schedule(); };
  repairer_->SetScheduleSource(schedule);
  transfer_->SetScheduleSource(schedule);
  auto wake = [this] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      writer_woke_ = true;
    }
    cv_.notify_one();
  };
  writer_ = std::make_unique<StoreWriter>(std::max<size_t>(1, options_.apply_queue), wake);
  vote_writer_ = std::make_unique<StoreWriter>(1, wake);
  worker_ = std::make_unique<Worker>("consensus", [this](Worker& w) { Run(w); });
  worker_->set_on_stop([this] { cv_.notify_all(); });
  if (store_->damaged_head() != 0) RequestRepair(store_->damaged_head());
}

PbftOrderer::~PbftOrderer() {
  worker_.reset();  // first: the consensus thread calls into everything else
  // The consensus thread is gone: what it answered is answered; the rest hears why we stop,
  // including submissions queued and never handed to the core (they would wait for the
  // client's deadline otherwise).
  Status why;
  {
    std::lock_guard<std::mutex> lock(fail_mu_);
    why = stop_reason_;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Event& e : events_) {
      if (e.kind != Event::kLocal || !e.waiter) continue;
      e.waiter->done(why);
      waiters_.Unmake();
    }
    events_.clear();
  }
  waiters_.AnswerAll(why);
  writer_.reset();
  vote_writer_.reset();
  transfer_.reset();
  repairer_.reset();
  transport_.reset();
}

Status PbftOrderer::Post(Event e) {
  if (failed_.load()) return UnavailableError("node is stopping: a store write failed");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (events_.size() >= options_.max_queued_events) {
      return ResourceExhaustedError("consensus queue is full; retry later");
    }
    events_.push_back(std::move(e));
  }
  cv_.notify_one();
  return OkStatus();
}

Status PbftOrderer::Submit(CheckedBatch batch, v1::ConsensusRequest request, SubmitDone done) {
  PL_ASSIGN_OR_RETURN(Bytes id, RequestId(genesis_->chain_id, request));
  Event e;
  std::vector<Bytes> record_ids;
  for (const auto& r : batch.records) {
    record_ids.push_back(r.id);
    e.record_ids += r.id;
  }
  auto w = waiters_.Make(std::move(record_ids), request.SerializeAsString(),
                         SteadyMs() + options_.submit_timeout_ms, std::move(done));
  if (request.has_batch() && batch.checked_against) {
    std::shared_ptr<const ledger::RegistrySnapshot> reg = std::move(batch.checked_against);
    batch_cache_.Put(id, request.batch(), std::move(reg), std::move(batch));
  }
  e.kind = Event::kLocal;
  e.request = consensus::Request{id, w->request};
  e.waiter = w;
  Status posted = Post(std::move(e));
  if (!posted.ok()) {
    waiters_.Unmake();
    return posted;
  }
  return OkStatus();
}

void PbftOrderer::NotePeer(const consensus::ConsensusMsg& m) {
  std::atomic<uint64_t>& h = peer_height_[m.sender];
  uint64_t old = h.load(std::memory_order_relaxed);
  while (m.height > old && !h.compare_exchange_weak(old, m.height, std::memory_order_relaxed)) {
  }
  peer_heard_ms_[m.sender].store(SteadyMs(), std::memory_order_relaxed);
}

std::vector<PeerState> PbftOrderer::peers() const {
  std::vector<PeerState> out;
  for (uint32_t i = 0; i < genesis_->n(); ++i) {
    if (i == self_) continue;
    out.push_back(
        PeerState{genesis_->validators[i].id, peer_height_[i].load(), peer_heard_ms_[i].load()});
  }
  return out;
}

void PbftOrderer::Deliver(const v1::Delivery& d, const std::string& peer) {
  for (const auto& bytes : d.messages()) {
    Event e;
    e.kind = Event::kMessage;
    const char* refused = nullptr;
    std::string from;
    if (!consensus::Decode(bytes, &e.msg).ok()) {
      refused = "undecodable";
    } else if (e.msg.sender >= genesis_->n()) {
      refused = "unknown_sender";
    } else if (e.msg.sender == self_) {
      refused = "";  // our own message back: a replay, no evidence of anything
    } else if (!VerifySignature(genesis_->validators[e.msg.sender].pubkey,
                                consensus::SigningDigest(genesis_->chain_id, e.msg),
                                e.msg.signature)
                    .ok()) {
      refused = "bad_signature";
      from = genesis_->validators[e.msg.sender].id;  // as claimed: the signature is not its
    }
    if (refused != nullptr) {
      dropped_.fetch_add(1);
      if (*refused != '\0') {
        // Who delivered it: `peer` as its certificate names it; the delivery's own sender
        // field only as claimed (any caller may write it).
        std::string claimed;
        if (d.sender() < genesis_->n()) claimed = genesis_->validators[d.sender()].id;
        evidence_.Count(refused, 1, from, ConsensusEvidence::Delivered{peer, claimed});
      }
      continue;
    }
    NotePeer(e.msg);
    if (e.msg.type == ConsensusMsg::kPrePrepare && !e.msg.block.empty()) {
      // Batches submitted to the primary reach us first in its proposal: checked here, not
      // on the consensus thread (relayed ones were, below, when they came).
      PrecheckProposal(*genesis_, registry_->Get(), e.msg.block, FactoryLimits(), &batch_cache_);
    }
    if (!Post(std::move(e)).ok()) dropped_.fetch_add(1);
  }
  for (const auto& r : d.requests()) {
    auto ids = IdentifyRequest(genesis_->chain_id, r);
    if (!ids.ok()) {
      dropped_.fetch_add(1);
      continue;
    }
    if (r.has_batch()) {
      // Checked as ChainBlockFactory would, against the registry a block derived now would
      // use; the cache hands the outcome only to a block derived on this very snapshot.
      std::shared_ptr<const ledger::RegistrySnapshot> reg = registry_->Get();
      StatusOr<CheckedBatch> checked = ValidateBatch(*genesis_, *reg, r.batch(), FactoryLimits());
      if (checked.ok()) {
        batch_cache_.Put(checked->digest, r.batch(), std::move(reg), std::move(*checked));
      }
    }
    Event e;
    e.kind = Event::kRequest;
    e.request = consensus::Request{std::move(ids->id), r.SerializeAsString()};
    e.record_ids = std::move(ids->record_ids);
    if (!Post(std::move(e)).ok()) dropped_.fetch_add(1);
  }
}

void PbftOrderer::Run(Worker& w) {
  const auto tick = std::chrono::milliseconds(std::max<uint32_t>(1, options_.tick_ms));
  auto next_tick = Clock::now() + tick;
  std::deque<Event> batch;
  while (!w.stopping() && !halted_) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, next_tick,
                     [&] { return w.stopping() || !events_.empty() || writer_woke_; });
      batch.swap(events_);
      writer_woke_ = false;
    }
    CheckWriter();
    if (halted_) break;
    ProcessApplied();
    // A block durable now may let the primary cut the batch it held (self-clocking).
    HandleOutput(core_->TakeOutput());
    if (halted_) break;
    for (auto& e : batch) {
      if (halted_) break;
      Handle(e);
      HandleOutput(core_->TakeOutput());
    }
    FlushSends();
    batch.clear();
    if (halted_) break;
    const auto now = Clock::now();
    if (now >= next_tick) {
      next_tick += tick;
      if (next_tick < now) next_tick = now + tick;  // we fell behind: do not burst ticks
      OnTick();
      if (halted_) break;
    }
    monitor_.Note(*core_);
    evidence_.Note(*core_);
    if (core_->view() != relayed_view_ && !core_->in_view_change()) {
      // A new view began. The core forwards a client's request only when it arrives at a
      // backup; one that reached us while we were (or, restarted, believed we were) the
      // primary is known to nobody else, and would wait for our view-change timer alone.
      // Like a PBFT client after a timeout, hand every request still waiting here to all.
      relayed_view_ = core_->view();
      RebroadcastWaiting();
    }
  }
  // Stopping: what was handed to the writer is written, and its submitters answered.
  if (!halted_) DrainWriter();
}

void PbftOrderer::Handle(Event& e) {
  switch (e.kind) {
    case Event::kRepair:
      DrainWriter();
      if (!halted_) ApplyRepair(*e.repair);
      break;
    case Event::kTransfer:
      DrainWriter();
      if (!halted_) ApplyTransfer(*e.transfer);
      break;
    case Event::kCatchUp:
      // Blocks we committed and are writing are no reason to fetch (StartTransfer waits for
      // the writer when one is).
      if (e.target > std::max(store_->height(), queued_height_)) StartTransfer(e.target);
      break;
    case Event::kMessage:
      core_->OnVerifiedMessage(e.msg);  // Deliver checked its signature
      break;
    case Event::kRequest:
      // A peer's copy of a request already on our chain (say queued for us while we were
      // down) would sit in the core's pool for good and run out our view timer.
      if (waiters_.AllOnChain(e.record_ids)) break;
      relayed_.insert(e.request.id);
      waiters_.Track(e.request.id, std::move(e.record_ids));
      core_->OnRequest(std::move(e.request));
      break;
    case Event::kLocal:
      if (waiters_.AnswerIfKnown(e.waiter.get())) break;
      waiters_.Add(e.request.id, e.waiter);
      waiters_.Track(e.request.id, std::move(e.record_ids));
      core_->OnRequest(std::move(e.request));
      break;
  }
}

void PbftOrderer::OnTick() {
  const consensus::ResendCounts before = core_->resent();
  core_->OnTick();
  const consensus::ResendCounts& after = core_->resent();
  if (after.pre_prepares != before.pre_prepares) {
    Metrics().consensus_resends.With({"pre_prepare"}).Inc(after.pre_prepares - before.pre_prepares);
  }
  if (after.prepares != before.prepares) {
    Metrics().consensus_resends.With({"prepare"}).Inc(after.prepares - before.prepares);
  }
  if (after.commits != before.commits) {
    Metrics().consensus_resends.With({"commit"}).Inc(after.commits - before.commits);
  }
  HandleOutput(core_->TakeOutput());
  FlushSends();
  if (halted_) return;
  if (++ticks_ % 100 == 0 && !forget_votes_.empty()) {
    // Votes at or below the stable checkpoint can never be asked for again.
    auto gone = std::make_shared<std::vector<consensus::Vote>>(std::move(forget_votes_));
    forget_votes_.clear();
    vote_writer_->Queue("prune_votes", store_->height(), [this, gone] {
      std::lock_guard<std::mutex> lock(store_write_mu_);
      return vote_store_.Forget(*gone);
    });
  }
  if (ticks_ % 100 == 50 && options_.pruner != nullptr) {
    // A light validator's old bodies (node/pruner.h): here, with the writer idle.
    DrainWriter();
    if (halted_) return;
    Status s;
    {
      std::lock_guard<std::mutex> lock(store_write_mu_);
      s = options_.pruner->MaybePrune();
    }
    if (!s.ok()) {
      Halt("prune", store_->height(), s);
      return;
    }
  }
  waiters_.Expire(SteadyMs(), options_.submit_timeout_ms);
}

void PbftOrderer::HandleOutput(consensus::CoreOutput out) {
  monitor_.Log(out.view_events, store_->height());
  for (const consensus::ViewEvent& e : out.view_events) {
    if (e.kind != consensus::ViewEvent::kSuspected) continue;
    // Our view timer ran out on a request: like a PBFT client after a timeout, hand every
    // request still waiting here to all. A copy we relayed may have been lost (a peer
    // switching epochs, restarting): if only we hold it, only we suspect, f+1 never do,
    // and the primary would never learn of it.
    RebroadcastWaiting();
    break;
  }
  for (const consensus::Vote& v : out.refused_votes) {
    LogError("vote_refused")
        .Kv("type", consensus::TypeName(static_cast<ConsensusMsg::Type>(v.type)))
        .Kv("view", v.view)
        .Kv("height", v.height)
        .Kv("reason", "already voted another digest for it (before a restart)");
  }
  for (auto& v : out.to_persist_votes) pending_votes_.push_back(std::move(v));
  for (auto& v : out.to_forget_votes) forget_votes_.push_back(std::move(v));
  for (auto& send : out.to_send) pending_sends_.push_back(std::move(send));
  for (const auto& [primary, req] : out.forward) {
    // A request that reached us from a peer is already at every validator: only the
    // validator a client gave it to relays it, to all of them, so that every backup arms
    // its view-change timer if the primary ignores it (clients multicast in PBFT).
    if (relayed_.count(req.id) > 0) continue;
    v1::ConsensusRequest cr;
    if (cr.ParseFromString(req.payload)) transport_->BroadcastRequest(cr);
  }
  relayed_.clear();
  for (const auto& c : out.to_apply) {
    Apply(c);
    if (halted_) return;
  }
  if (out.need_state_transfer) StartTransfer(*out.need_state_transfer);
}

void PbftOrderer::RebroadcastWaiting() {
  waiters_.ForEachWaitingRequest([this](const Bytes& request) {
    v1::ConsensusRequest cr;
    if (cr.ParseFromString(request)) transport_->BroadcastRequest(cr);
  });
}

void PbftOrderer::StartTransfer(uint64_t target) {
  DrainWriter();  // the transfer starts above our durable head
  if (halted_) return;
  if (transfer_start_ == 0) transfer_start_ = store_->height() + 1;
  transfer_->Request(store_->height() + 1, store_->head_hash(), target);
}

void PbftOrderer::NoteEpochEnd() {
  if (!epoch_.pending_end) return;
  const uint64_t end = epoch_.pending_end();
  if (end == 0 || end == epoch_end_) return;
  epoch_end_ = end;
  LogInfo("epoch_end_scheduled")
      .Kv("epoch", epoch_.epoch)
      .Kv("end", end)
      .Kv("height", store_->height());
  core_->EndEpochAt(end);
}

void PbftOrderer::CatchUp(uint64_t target) {
  Event e;
  e.kind = Event::kCatchUp;
  e.target = target;
  (void)Post(std::move(e));  // a full queue: the next probe asks again
}

void PbftOrderer::FlushSends() {
  if (halted_) return;
  if (pending_votes_.empty() && pending_sends_.empty()) return;
  // A CHECKPOINT says its block is applied here: it waits until that block is durable.
  std::vector<std::pair<int, ConsensusMsg>> sends;
  sends.reserve(pending_sends_.size());
  for (auto& send : pending_sends_) {
    if (send.second.type == ConsensusMsg::kCheckpoint && send.second.height > store_->height()) {
      held_checkpoints_.push_back(std::move(send));
    } else {
      sends.push_back(std::move(send));
    }
  }
  pending_sends_.clear();
  std::vector<consensus::Vote> votes = std::move(pending_votes_);
  pending_votes_.clear();
  QueueSends(std::move(votes), std::move(sends));
}

void PbftOrderer::QueueSends(std::vector<consensus::Vote> votes,
                             std::vector<std::pair<int, ConsensusMsg>> sends) {
  if (votes.empty() && sends.empty()) return;
  bool queue = false;
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    for (auto& v : votes) out_votes_.push_back(std::move(v));
    for (auto& m : sends) out_sends_.push_back(std::move(m));
    queue = !out_queued_;
    out_queued_ = true;
  }
  // One job takes everything handed over until it runs: the outputs of several loops of
  // this thread, while the writer synced the last ones, cost one synced write.
  if (queue) vote_writer_->Queue("votes", store_->height(), [this] { return SendOutputs(); });
  if (options_.apply_queue == 0) vote_writer_->Drain();
}

Status PbftOrderer::SendOutputs() {
  std::vector<consensus::Vote> votes;
  std::vector<std::pair<int, ConsensusMsg>> sends;
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    votes.swap(out_votes_);
    sends.swap(out_sends_);
    out_queued_ = false;
  }
  // Persist before send: every new vote is durable before any message of the outputs it
  // came with leaves. A failed write skips the sends (and the writer every later job): a
  // vote we cannot make durable must not be sent.
  {
    std::lock_guard<std::mutex> lock(store_write_mu_);
    PL_RETURN_IF_ERROR(vote_store_.Persist(votes));
  }
  if (test_seams::OutgoingFn seam = test_seams::GetOutgoing()) {
    SendThroughSeam(seam, sends);
    return OkStatus();
  }
  // Encoded once each, handed over together: what is ready for one peer leaves in one call.
  std::vector<std::pair<int, Bytes>> encoded;
  encoded.reserve(sends.size());
  for (const auto& [to, msg] : sends) {
    encoded.emplace_back(to == consensus::CoreOutput::kBroadcast ? PeerTransport::kToAll : to,
                         consensus::Encode(msg));
  }
  transport_->SendAll(encoded);
  return OkStatus();
}

void PbftOrderer::SendThroughSeam(test_seams::OutgoingFn seam,
                                  const std::vector<std::pair<int, ConsensusMsg>>& sends) {
  test_seams::Outgoing where;
  where.self = self_;
  where.n = static_cast<uint32_t>(genesis_->n());
  where.chain_id = &genesis_->chain_id;
  where.signer = signer_.get();
  for (const auto& [to, msg] : sends) {
    for (uint32_t i = 0; i < where.n; ++i) {
      if (i == self_ || (to != consensus::CoreOutput::kBroadcast && static_cast<int>(i) != to)) {
        continue;
      }
      where.to = i;
      for (const ConsensusMsg& m : seam(where, msg)) transport_->Send(i, consensus::Encode(m));
    }
  }
}

void PbftOrderer::Apply(const consensus::CommittedBlock& c) {
  // Already here through state transfer.
  if (c.height <= std::max(store_->height(), queued_height_)) return;
  auto p = std::make_shared<PreparedBlock>();
  applier_.PrepareCommitted(c, p.get());
  p->derived.request_ids = c.request_ids;
  const uint64_t h = c.height;
  in_flight_.emplace(h, p);
  queued_height_ = h;
  // The consensus thread reads *p again only once TakeApplied names it (after the job).
  writer_->AppendBlock(h, [this, p] {
    {
      std::lock_guard<std::mutex> lock(store_write_mu_);
      PL_RETURN_IF_ERROR(applier_.WritePrepared(*p));
    }
    // Freed here rather than on the consensus thread; nothing reads them any more.
    p->block = ledger::BlockToAppend();
    return OkStatus();
  });
  // A block changing the registry was prepared on the registry as of the store's head, and
  // the next is derived on its registry: it is finished before anything else goes on.
  if (p->changes_registry || options_.apply_queue == 0) DrainWriter();
}

void PbftOrderer::ProcessApplied() {
  for (uint64_t h : writer_->TakeApplied()) {
    auto it = in_flight_.find(h);
    if (it == in_flight_.end()) continue;
    PreparedBlock& p = *it->second;
    applier_.FinishPrepared(p);
    NoteEpochEnd();
    waiters_.Untrack(p.derived.request_ids);
    // Requests ordered as rejected: their submitters learn why; nothing of them was written.
    waiters_.Reject(p.derived.rejected_ids, p.derived.rejected_errors);
    waiters_.Complete(p.derived.request_ids, h - 1, &p.derived.refused_records,
                      &p.derived.record_ids);
    in_flight_.erase(it);
  }
  core_->SetDurableHeight(store_->height());
  if (held_checkpoints_.empty()) return;
  std::vector<std::pair<int, ConsensusMsg>> ready;
  for (auto it = held_checkpoints_.begin(); it != held_checkpoints_.end();) {
    if (it->second.height <= store_->height()) {
      ready.push_back(std::move(*it));
      it = held_checkpoints_.erase(it);
    } else {
      ++it;
    }
  }
  QueueSends({}, std::move(ready));
}

void PbftOrderer::CheckWriter() {
  if (halted_) return;
  // A validator that cannot persist must stop: the others go on (f of them may fail), and
  // after a restart on a fixed disk this one catches up by state transfer.
  for (StoreWriter* w : {writer_.get(), vote_writer_.get()}) {
    StoreWriter::Failure f = w->failure();
    if (!f.status.ok()) {
      Halt(f.during, f.height, f.status);
      return;
    }
  }
}

void PbftOrderer::DrainWriter() {
  if (halted_) return;
  writer_->Drain();
  ProcessApplied();
  CheckWriter();
}

void PbftOrderer::ApplyTransfer(StateTransfer::Batch& batch) {
  const uint64_t start = transfer_start_ != 0 ? transfer_start_ - 1 : store_->height();
  std::vector<consensus::TransferredBlock> got;
  for (PeerBlock& pb : batch.blocks) {
    bool appended = false;
    Status s;
    {
      std::lock_guard<std::mutex> lock(store_write_mu_);
      s = applier_.ApplyFetched(pb, &appended);
    }
    if (!s.ok() && !store_->write_status().ok()) {
      // Our disk, not the peer's block: asking another peer would fail the same way.
      Halt("state_transfer", pb.header.height, s);
      return;
    }
    if (!s.ok()) {
      LogWarn("state_transfer_failed").Kv("height", pb.header.height).Kv("err", s.ToString());
      break;
    }
    if (appended) got.push_back(consensus::TransferredBlock{pb.header.height, pb.hash, {}});
  }
  std::vector<Bytes> settled;
  if (!got.empty()) {
    // Fetched blocks carry no request ids, yet they may hold requests the core keeps as
    // pending: left there, a backup's view-change timer expires once the load stops and it
    // leaves the others' view alone, and the clients waiting here are never answered. So a
    // request whose records are all on the chain now is settled: the core forgets it
    // (through the last block's ids) and its waiters get their answer.
    settled = waiters_.SettleTracked();
    got.back().request_ids = settled;
    transfer_settled_ += settled.size();
  }
  if (!got.empty()) NoteEpochEnd();
  if (batch.last) {
    if (store_->height() > start) {
      LogInfo("state_transferred")
          .Kv("from", start + 1)
          .Kv("to", store_->height())
          .Kv("target", batch.target)
          .Kv("settled_requests", transfer_settled_);
    }
    transfer_start_ = 0;
    transfer_settled_ = 0;
  }
  core_->OnStateTransferred(got);
  core_->SetDurableHeight(store_->height());
  waiters_.Complete(settled, start);
}

void PbftOrderer::ApplyRepair(const BlockRepairer::Copy& r) {
  Status s;
  {
    std::lock_guard<std::mutex> lock(store_write_mu_);
    s = applier_.ApplyRepair(r);
  }
  if (!s.ok() && !store_->write_status().ok()) {
    Halt("repair", r.height, s);
    return;
  }
  repairer_->Done(r.height, /*settled=*/s.ok());
}

void PbftOrderer::Halt(const char* during, uint64_t height, const Status& s) {
  if (halted_) return;
  halted_ = true;
  LogError("store_write_failed").Kv("height", height).Kv("during", during).Kv("err", s.ToString());
  {
    std::lock_guard<std::mutex> lock(fail_mu_);
    failure_ = s;
  }
  failed_.store(true);
}

void PbftOrderer::SetStopReason(Status why) {
  std::lock_guard<std::mutex> lock(fail_mu_);
  stop_reason_ = std::move(why);
}

Status PbftOrderer::failure() const {
  std::lock_guard<std::mutex> lock(fail_mu_);
  return failure_;
}

void PbftOrderer::RequestRepair(uint64_t height) { repairer_->Request(height); }

}  // namespace provledger::node
