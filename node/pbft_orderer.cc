#include "node/pbft_orderer.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "client/channel_options.h"
#include "common/log.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/certificate.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"
#include "ledger/registry.h"

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
// The request's id (as RequestId) and its records' ids, 32 bytes each, concatenated.
StatusOr<std::pair<Bytes, Bytes>> IdAndRecordIds(const std::string& chain_id,
                                                 const v1::ConsensusRequest& r) {
  if (!r.has_batch()) {
    PL_ASSIGN_OR_RETURN(Bytes id, RequestId(chain_id, r));
    return std::make_pair(id, id);  // a registry transaction is one record, its id
  }
  std::vector<Bytes> ids;
  ids.reserve(r.batch().records_size());
  Bytes cat;
  for (const auto& rec : r.batch().records()) {
    ids.push_back(ledger::RecordId(rec));
    cat += ids.back();
  }
  return std::make_pair(ledger::BatchDigest(chain_id, r.batch().gateway(), ids), std::move(cat));
}
}  // namespace

struct PbftOrderer::Peer {
  uint32_t index = 0;
  std::string address;
  std::unique_ptr<v1::Consensus::Stub> consensus;
  std::unique_ptr<v1::Ledger::Stub> ledger;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Bytes> messages;                 // guarded by mu
  std::deque<v1::ConsensusRequest> requests;  // guarded by mu
  std::unique_ptr<Worker> worker;
};

PbftOrderer::PbftOrderer(ledger::BlockStore* store, const ledger::Genesis* genesis, PrivateKey key,
                         uint32_t self, RegistryHolder* registry, PbftOptions options)
    : store_(store),
      genesis_(genesis),
      key_(std::move(key)),
      self_(self),
      registry_(registry),
      options_(options),
      votes_(self) {
  signer_ = std::make_unique<KeySigner>(&key_);
  checker_ = std::make_unique<GenesisChecker>(genesis_);
  factory_ =
      std::make_unique<ChainBlockFactory>(store_, genesis_, registry_, [] { return NowMs(); });
  consensus::PbftConfig cfg;
  cfg.n = static_cast<uint32_t>(genesis_->n());
  cfg.self = self_;
  cfg.chain_id = genesis_->chain_id;
  cfg.checkpoint_interval = options_.checkpoint_interval;
  cfg.window = options_.window;
  cfg.max_batch_requests = options_.max_block_batches;
  const uint32_t tick = std::max<uint32_t>(1, options_.tick_ms);
  cfg.batch_timeout_ticks = std::max<uint64_t>(1, options_.block_timeout_ms / tick);
  cfg.view_change_timeout_ticks = std::max<uint64_t>(10, options_.view_change_timeout_ms / tick);
  cfg.resend_ticks = std::max<uint64_t>(5, 200 / tick);
  health_window_ticks_ = 2 * cfg.view_change_timeout_ticks;
  core_ = std::make_unique<consensus::PbftCore>(cfg, signer_.get(), checker_.get(), factory_.get(),
                                                store_->height(), store_->head_hash());
  const grpc::ChannelArguments args = client::LedgerChannelArguments(256 * 1024 * 1024);
  for (uint32_t i = 0; i < genesis_->n(); ++i) {
    if (i == self_) {
      peers_.push_back(nullptr);
      continue;
    }
    auto p = std::make_unique<Peer>();
    p->index = i;
    p->address = genesis_->validators[i].address;
    auto ch = grpc::CreateCustomChannel(p->address, grpc::InsecureChannelCredentials(), args);
    p->consensus = v1::Consensus::NewStub(ch);
    p->ledger = v1::Ledger::NewStub(ch);
    Peer* raw = p.get();
    p->worker = std::make_unique<Worker>("peer", [this, raw](Worker& w) { PeerLoop(raw, w); });
    p->worker->set_on_stop([raw] { raw->cv.notify_all(); });
    peers_.push_back(std::move(p));
  }
  Status votes = LoadVotes();
  if (!votes.ok()) {
    LogError("votes_unreadable").Kv("err", votes.ToString());
    std::_Exit(3);
  }
  worker_ = std::make_unique<Worker>("consensus", [this](Worker& w) { Run(w); });
  worker_->set_on_stop([this] { cv_.notify_all(); });
  std::vector<v1::Ledger::Stub*> stubs;
  for (const auto& p : peers_) stubs.push_back(p ? p->ledger.get() : nullptr);
  repairer_ = std::make_unique<BlockRepairer>(genesis_, self_, std::move(stubs),
                                              [this](std::shared_ptr<BlockRepairer::Copy> c) {
                                                Event e;
                                                e.kind = Event::kRepair;
                                                e.repair = std::move(c);
                                                return Post(std::move(e));
                                              });
  if (store_->damaged_head() != 0) RequestRepair(store_->damaged_head());
}

PbftOrderer::~PbftOrderer() {
  worker_.reset();    // first: the consensus thread calls into the repairer
  repairer_.reset();  // before the peers: it uses their stubs
  for (auto& p : peers_) {
    if (p) p->worker.reset();
  }
  for (auto& [id, ws] : waiters_) {
    for (auto& w : ws) w->done.set_value(UnavailableError("node is shutting down"));
  }
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

StatusOr<std::future<SubmitResult>> PbftOrderer::Submit(CheckedBatch batch,
                                                        v1::ConsensusRequest request) {
  PL_ASSIGN_OR_RETURN(Bytes id, RequestId(genesis_->chain_id, request));
  auto w = std::make_shared<Waiter>();
  Event e;
  for (const auto& r : batch.records) {
    w->record_ids.push_back(r.id);
    e.record_ids += r.id;
  }
  w->deadline_ms = NowMs() + options_.submit_timeout_ms;
  w->request = request.SerializeAsString();
  auto fut = w->done.get_future();
  e.kind = Event::kLocal;
  e.request = consensus::Request{id, w->request};
  e.waiter = w;
  PL_RETURN_IF_ERROR(Post(std::move(e)));
  waiting_.fetch_add(1);
  return fut;
}

void PbftOrderer::Deliver(const v1::Delivery& d) {
  for (const auto& bytes : d.messages()) {
    Event e;
    e.kind = Event::kMessage;
    if (!consensus::Decode(bytes, &e.msg).ok() || e.msg.sender >= genesis_->n() ||
        e.msg.sender == self_ ||
        !VerifySignature(genesis_->validators[e.msg.sender].pubkey,
                         consensus::SigningDigest(genesis_->chain_id, e.msg), e.msg.signature)
             .ok()) {
      dropped_.fetch_add(1);
      continue;
    }
    if (!Post(std::move(e)).ok()) dropped_.fetch_add(1);
  }
  for (const auto& r : d.requests()) {
    auto id = IdAndRecordIds(genesis_->chain_id, r);
    if (!id.ok()) {
      dropped_.fetch_add(1);
      continue;
    }
    Event e;
    e.kind = Event::kRequest;
    e.request = consensus::Request{std::move(id->first), r.SerializeAsString()};
    e.record_ids = std::move(id->second);
    if (!Post(std::move(e)).ok()) dropped_.fetch_add(1);
  }
}

void PbftOrderer::SendTo(uint32_t to, const Bytes& msg, const v1::ConsensusRequest* req) {
  if (to >= peers_.size() || !peers_[to]) return;
  Peer* p = peers_[to].get();
  {
    std::lock_guard<std::mutex> lock(p->mu);
    if (req != nullptr) {
      p->requests.push_back(*req);
      if (p->requests.size() > options_.max_peer_queue) p->requests.pop_front();
    } else {
      p->messages.push_back(msg);
      // PBFT resends what matters; an unreachable peer must not hold our memory.
      if (p->messages.size() > options_.max_peer_queue) p->messages.pop_front();
    }
  }
  p->cv.notify_one();
}

void PbftOrderer::PeerLoop(Peer* p, Worker& w) {
  uint64_t failures = 0;
  while (!w.stopping()) {
    v1::Delivery d;
    d.set_sender(self_);
    {
      std::unique_lock<std::mutex> lock(p->mu);
      p->cv.wait_for(lock, std::chrono::milliseconds(100),
                     [&] { return w.stopping() || !p->messages.empty() || !p->requests.empty(); });
      while (!p->messages.empty() && d.messages_size() < 512) {
        d.add_messages(std::move(p->messages.front()));
        p->messages.pop_front();
      }
      while (!p->requests.empty() && d.requests_size() < 64) {
        *d.add_requests() = std::move(p->requests.front());
        p->requests.pop_front();
      }
    }
    if (d.messages_size() == 0 && d.requests_size() == 0) continue;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::DeliveryAck ack;
    grpc::Status s = p->consensus->Deliver(&ctx, d, &ack);
    if (s.ok()) {
      if (failures > 0) LogInfo("peer_reachable").Kv("peer", genesis_->validators[p->index].id);
      failures = 0;
      continue;
    }
    if (failures++ == 0) {
      LogWarn("peer_unreachable")
          .Kv("peer", genesis_->validators[p->index].id)
          .Kv("address", p->address)
          .Kv("err", s.error_message());
    }
    const uint32_t backoff = std::min<uint64_t>(1000, 50 * failures);
    for (uint32_t slept = 0; slept < backoff && !w.stopping(); slept += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

bool PbftOrderer::AnswerIfKnown(Waiter* w) {
  v1::SubmitResponse resp;
  for (const auto& id : w->record_ids) {
    auto loc = store_->FindRecord(id);
    if (!loc.ok()) return false;
    auto* r = resp.add_results();
    r->set_record_id(id);
    r->set_outcome(v1::RecordResult::DUPLICATE);
    r->set_height(loc->height);
    r->set_index(loc->index);
  }
  w->done.set_value(std::move(resp));
  waiting_.fetch_sub(1);
  return true;
}

void PbftOrderer::CompleteWaiters(const std::vector<Bytes>& request_ids, uint64_t committed_above,
                                  const std::map<Bytes, Status>* refused) {
  for (const auto& rid : request_ids) {
    auto it = waiters_.find(rid);
    if (it == waiters_.end()) continue;
    for (auto& w : it->second) {
      v1::SubmitResponse resp;
      for (const auto& id : w->record_ids) {
        auto* r = resp.add_results();
        r->set_record_id(id);
        auto loc = store_->FindRecord(id);
        if (!loc.ok()) {
          const auto why =
              refused != nullptr ? refused->find(id) : std::map<Bytes, Status>::const_iterator();
          if (refused != nullptr && why != refused->end()) {  // refused at this block's height
            r->set_outcome(v1::RecordResult::REFUSED);
            r->set_code(static_cast<uint32_t>(why->second.code()));
            r->set_reason(why->second.message());
          } else {
            r->set_outcome(v1::RecordResult::CONFLICT);
          }
          continue;
        }
        r->set_outcome(loc->height > committed_above ? v1::RecordResult::COMMITTED
                                                     : v1::RecordResult::DUPLICATE);
        r->set_height(loc->height);
        r->set_index(loc->index);
      }
      w->done.set_value(std::move(resp));
      waiting_.fetch_sub(1);
    }
    waiters_.erase(it);
  }
}

void PbftOrderer::Apply(const consensus::CommittedBlock& c) {
  if (c.height <= store_->height()) return;  // already here through state transfer
  auto d = factory_->Materialize(c.block);
  if (!d.ok()) {
    LogError("committed_block_invalid").Kv("height", c.height).Kv("err", d.status().ToString());
    std::abort();  // a certified block we cannot derive: our state is wrong, stop
  }
  ledger::BlockToAppend b;
  b.header_bytes = d->header_bytes;
  b.records = d->records;
  bool any_payload = false;
  for (const auto& p : d->payloads) any_payload = any_payload || p.has_value();
  if (any_payload) b.payloads = d->payloads;
  b.certificate.set_view(c.view);
  b.certificate.set_digest(
      ledger::CommitDigest(genesis_->chain_id, c.height, c.view, c.header_hash));
  for (const auto& [v, sig] : c.commit_signatures) {
    auto* s = b.certificate.add_signatures();
    s->set_validator(v);
    s->set_signature(sig);
  }
  auto snap = registry_->Get();
  for (const auto& op : d->registry_ops) snap = snap->Apply(op, c.height, &b.registry_puts);
  Status s = store_->Append(b);
  if (!s.ok() && !store_->write_status().ok()) {
    // A validator that cannot persist must stop: the others go on (f of them may fail), and
    // after a restart on a fixed disk this one catches up by state transfer.
    Halt("apply", c.height, s);
    return;
  }
  if (!s.ok()) {
    // Nothing was written, but a certified block does not fit our chain: our state is wrong.
    LogError("block_append_failed").Kv("height", c.height).Kv("err", s.ToString());
    std::_Exit(3);
  }
  registry_->Set(snap);
  factory_->Forget(c.height);
  LogDebug("block_committed")
      .Kv("height", c.height)
      .Kv("view", c.view)
      .Kv("records", d->records.size())
      .Kv("hash", ShortHex(c.header_hash));
  for (const auto& id : c.request_ids) {
    auto it = tracked_.find(id);
    if (it == tracked_.end()) continue;
    tracked_records_ -= it->second.size() / 32;
    tracked_.erase(it);
  }
  // Requests ordered as rejected: their submitters learn why; nothing of them was written.
  for (size_t i = 0; i < d->rejected_ids.size(); ++i) {
    auto it = waiters_.find(d->rejected_ids[i]);
    if (it == waiters_.end()) continue;
    for (auto& w : it->second) {
      w->done.set_value(d->rejected_errors[i].Annotate("refused when ordered"));
      waiting_.fetch_sub(1);
    }
    waiters_.erase(it);
  }
  CompleteWaiters(c.request_ids, c.height - 1, &d->refused_records);
}

void PbftOrderer::Track(const Bytes& request_id, Bytes record_ids) {
  const size_t n = record_ids.size() / 32;
  if (!tracked_.emplace(request_id, std::move(record_ids)).second) return;
  tracked_records_ += n;
  tracked_fifo_.push_back(request_id);
  // Bounded: a request the core refused (already known or committed) is never applied.
  constexpr size_t kMaxTrackedRecords = 1 << 20;
  while (tracked_records_ > kMaxTrackedRecords && !tracked_fifo_.empty()) {
    auto it = tracked_.find(tracked_fifo_.front());
    tracked_fifo_.pop_front();
    if (it == tracked_.end()) continue;
    tracked_records_ -= it->second.size() / 32;
    tracked_.erase(it);
  }
  if (tracked_fifo_.size() > 4 * tracked_.size() + 1024) {  // drop ids erased meanwhile
    std::deque<Bytes> live;
    for (auto& id : tracked_fifo_) {
      if (tracked_.count(id) > 0) live.push_back(std::move(id));
    }
    tracked_fifo_.swap(live);
  }
}

bool PbftOrderer::AllOnChain(ByteView record_ids) const {
  for (size_t off = 0; off + 32 <= record_ids.size(); off += 32) {
    auto stored = store_->Contains(record_ids.substr(off, 32));  // new: one lookup
    if (!stored.ok() || !*stored) return false;  // unreadable counts as not (yet) on the chain
  }
  return !record_ids.empty();
}

std::vector<Bytes> PbftOrderer::TrackedOnChain() {
  std::vector<Bytes> done;
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    if (!AllOnChain(it->second)) {
      ++it;
      continue;
    }
    done.push_back(it->first);
    tracked_records_ -= it->second.size() / 32;
    it = tracked_.erase(it);
  }
  return done;
}

void PbftOrderer::RelayLocalRequests() {
  for (const auto& [id, ws] : waiters_) {
    if (ws.empty()) continue;
    v1::ConsensusRequest cr;
    if (!cr.ParseFromString(ws.front()->request)) continue;
    for (uint32_t i = 0; i < peers_.size(); ++i) SendTo(i, Bytes(), &cr);
  }
}

void PbftOrderer::StateTransfer(uint64_t target) {
  std::vector<consensus::TransferredBlock> got;
  const uint64_t start = store_->height();
  size_t next_peer = (self_ + 1) % peers_.size();
  int failures = 0;
  while (store_->height() < target && failures < static_cast<int>(peers_.size()) * 2) {
    Peer* p = peers_[next_peer].get();
    if (p == nullptr) {
      next_peer = (next_peer + 1) % peers_.size();
      continue;
    }
    const uint64_t h = store_->height() + 1;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetBlockRequest req;
    req.set_height(h);
    req.set_with_payloads(true);
    v1::Block blk;
    grpc::Status gs = p->ledger->GetBlock(&ctx, req, &blk);
    Status s = gs.ok() ? OkStatus() : UnavailableError(gs.error_message());
    Bytes hash;
    std::shared_ptr<const ledger::RegistrySnapshot> snap = registry_->Get();
    if (s.ok()) {
      // Trust nothing a peer sends: a valid certificate, then the chain link; the store
      // checks root and count against the records.
      auto pb = CheckPeerBlock(*genesis_, h, blk, store_->head_hash());
      s = pb.status();
      if (s.ok()) {
        hash = pb->hash;
        for (const auto& rec : pb->records) {
          if (rec.kind != ledger::RecordKind::kRegistry) continue;
          auto op = ledger::VerifyRegistryTx(*genesis_, rec.registry.tx);
          if (op.ok()) snap = snap->Apply(*op, h, &pb->block.registry_puts);
        }
        s = store_->Append(pb->block);
        if (!s.ok() && !store_->write_status().ok()) {
          // Our disk, not the peer's block: asking another peer would fail the same way.
          Halt("state_transfer", h, s);
          return;
        }
      }
    }
    if (!s.ok()) {
      LogWarn("state_transfer_failed")
          .Kv("peer", genesis_->validators[p->index].id)
          .Kv("height", h)
          .Kv("err", s.ToString());
      ++failures;
      next_peer = (next_peer + 1) % peers_.size();
      continue;
    }
    registry_->Set(snap);
    factory_->Forget(h);
    got.push_back(consensus::TransferredBlock{h, hash, {}});
  }
  std::vector<Bytes> settled;
  if (!got.empty()) {
    // Fetched blocks carry no request ids, yet they may hold requests the core keeps as
    // pending: left there, a backup's view-change timer expires once the load stops and it
    // leaves the others' view alone, and the clients waiting here are never answered. So a
    // request whose records are all on the chain now is settled: the core forgets it
    // (through the last block's ids) and its waiters get their answer.
    settled = TrackedOnChain();
    got.back().request_ids = settled;
    LogInfo("state_transferred")
        .Kv("from", start + 1)
        .Kv("to", store_->height())
        .Kv("target", target)
        .Kv("settled_requests", settled.size());
  }
  core_->OnStateTransferred(got);
  CompleteWaiters(settled, start);
}

ViewHealth PbftOrderer::view_health() const {
  ViewHealth h;
  h.view_changing = view_changing_.load();
  h.peers_in_view = peers_in_view_.load();
  h.peers_elsewhere = peers_elsewhere_.load();
  h.alone_in_view = alone_in_view_.load();
  return h;
}

void PbftOrderer::LogViewEvents(const std::vector<consensus::ViewEvent>& events) {
  for (const consensus::ViewEvent& e : events) {
    const std::string primary = genesis_->Primary(e.view).id;
    switch (e.kind) {
      case consensus::ViewEvent::kSuspected:
        LogInfo("view_suspected").Kv("view", e.view).Kv("primary", primary);
        break;
      case consensus::ViewEvent::kChangeStarted:
        LogWarn("view_change_started")
            .Kv("view", e.view)
            .Kv("from_view", e.from_view)
            .Kv("primary", primary);
        break;
      case consensus::ViewEvent::kEntered:
        LogInfo("view_entered")
            .Kv("view", e.view)
            .Kv("from_view", e.from_view)
            .Kv("primary", primary)
            .Kv("height", store_->height());
        break;
      default:
        break;
    }
  }
}

void PbftOrderer::NoteViewState() {
  const uint64_t view = core_->view();
  const consensus::PbftCore::ViewPeers peers = core_->PeersByView(health_window_ticks_);
  const bool alone = core_->AloneInView(health_window_ticks_);
  if (alone != logged_alone_) {
    if (alone) {
      LogWarn("view_alone")
          .Kv("view", view)
          .Kv("peers_in_view", peers.in_view)
          .Kv("peers_elsewhere", peers.elsewhere);
    } else {
      LogInfo("view_alone_ended").Kv("view", view).Kv("peers_in_view", peers.in_view);
    }
    logged_alone_ = alone;
  }
  view_.store(view);
  view_changing_.store(core_->in_view_change());
  peers_in_view_.store(peers.in_view);
  peers_elsewhere_.store(peers.elsewhere);
  alone_in_view_.store(alone);
}

Status PbftOrderer::LoadVotes() {
  PL_ASSIGN_OR_RETURN(auto rows, store_->MetaScan(VoteGuard::kPrefix));
  return votes_.Load(rows);
}

void PbftOrderer::FlushSends() {
  if (pending_sends_.empty() || halted_) return;
  // Never sign two different digests for one (type, view, height), even across a restart:
  // every new vote is durable before it leaves (one synced write per batch of votes).
  std::vector<std::pair<std::string, Bytes>> fresh;
  std::vector<std::pair<int, ConsensusMsg>> sends;
  sends.swap(pending_sends_);
  std::vector<std::pair<int, ConsensusMsg>> allowed;
  allowed.reserve(sends.size());
  for (auto& send : sends) {
    std::pair<std::string, Bytes> persist;
    switch (votes_.Admit(send.second, &persist)) {
      case VoteGuard::Verdict::kConflict:
        LogError("vote_refused")
            .Kv("type", consensus::TypeName(send.second.type))
            .Kv("view", send.second.view)
            .Kv("height", send.second.height)
            .Kv("reason", "already voted another digest for it (before a restart)");
        continue;
      case VoteGuard::Verdict::kNew:
        fresh.push_back(std::move(persist));
        break;
      default:
        break;
    }
    allowed.push_back(std::move(send));
  }
  if (!fresh.empty() && options_.persist_votes) {
    Status s = store_->PutMetaBatch(fresh, {}, /*sync=*/true);
    if (!s.ok()) {
      Halt("votes", store_->height(), s);  // a vote we cannot make durable must not be sent
      return;
    }
  }
  for (const auto& [to, msg] : allowed) {
    const Bytes bytes = consensus::Encode(msg);
    if (to == consensus::CoreOutput::kBroadcast) {
      for (uint32_t i = 0; i < peers_.size(); ++i) SendTo(i, bytes, nullptr);
    } else {
      SendTo(static_cast<uint32_t>(to), bytes, nullptr);
    }
  }
}

void PbftOrderer::PruneVotes() {
  // Votes at or below the stable checkpoint can never be asked for again.
  const std::vector<std::string> gone = votes_.Prune(core_->low_watermark());
  if (gone.empty()) return;
  Status s = store_->PutMetaBatch({}, gone, /*sync=*/false);
  if (!s.ok()) Halt("prune_votes", store_->height(), s);
}

void PbftOrderer::HandleOutput(consensus::CoreOutput out) {
  LogViewEvents(out.view_events);
  for (auto& send : out.to_send) pending_sends_.push_back(std::move(send));
  for (const auto& [primary, req] : out.forward) {
    // A request that reached us from a peer is already at every validator: only the
    // validator a client gave it to relays it, to all of them, so that every backup arms
    // its view-change timer if the primary ignores it (clients multicast in PBFT).
    if (relayed_.count(req.id) > 0) continue;
    v1::ConsensusRequest cr;
    if (!cr.ParseFromString(req.payload)) continue;
    for (uint32_t i = 0; i < peers_.size(); ++i) SendTo(i, Bytes(), &cr);
  }
  relayed_.clear();
  for (const auto& c : out.to_apply) {
    Apply(c);
    if (halted_) return;
  }
  if (out.need_state_transfer) StateTransfer(*out.need_state_transfer);
}

void PbftOrderer::Run(Worker& w) {
  const auto tick = std::chrono::milliseconds(std::max<uint32_t>(1, options_.tick_ms));
  auto next_tick = Clock::now() + tick;
  std::deque<Event> batch;
  while (!w.stopping() && !halted_) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, next_tick, [&] { return w.stopping() || !events_.empty(); });
      batch.swap(events_);
    }
    for (auto& e : batch) {
      if (halted_) break;
      switch (e.kind) {
        case Event::kRepair:
          ApplyRepair(*e.repair);
          break;
        case Event::kMessage:
          core_->OnMessage(e.msg);
          break;
        case Event::kRequest:
          // A peer's copy of a request already on our chain (say queued for us while we
          // were down) would sit in the core's pool for good and run out our view timer.
          if (AllOnChain(e.record_ids)) break;
          relayed_.insert(e.request.id);
          Track(e.request.id, std::move(e.record_ids));
          core_->OnRequest(std::move(e.request));
          break;
        case Event::kLocal: {
          if (AnswerIfKnown(e.waiter.get())) break;
          waiters_[e.request.id].push_back(e.waiter);
          Track(e.request.id, std::move(e.record_ids));
          core_->OnRequest(std::move(e.request));
          break;
        }
      }
      HandleOutput(core_->TakeOutput());
    }
    FlushSends();
    batch.clear();
    if (halted_) break;
    const auto now = Clock::now();
    if (now >= next_tick) {
      core_->OnTick();
      next_tick += tick;
      if (next_tick < now) next_tick = now + tick;  // we fell behind: do not burst ticks
      HandleOutput(core_->TakeOutput());
      FlushSends();
      if (++ticks_ % 100 == 0) PruneVotes();
      if (halted_) break;
      const uint64_t now_ms = NowMs();
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        auto& ws = it->second;
        for (auto wi = ws.begin(); wi != ws.end();) {
          if ((*wi)->deadline_ms <= now_ms) {
            (*wi)->done.set_value(DeadlineExceededError(
                "not committed within " + std::to_string(options_.submit_timeout_ms) +
                " ms (view change or overload); resend: records already written are answered "
                "as duplicates with their location"));
            waiting_.fetch_sub(1);
            wi = ws.erase(wi);
          } else {
            ++wi;
          }
        }
        it = ws.empty() ? waiters_.erase(it) : std::next(it);
      }
    }
    NoteViewState();
    if (core_->view() != relayed_view_ && !core_->in_view_change()) {
      // A new view began. The core forwards a client's request only when it arrives at a
      // backup; one that reached us while we were (or, restarted, believed we were) the
      // primary is known to nobody else, and would wait for our view-change timer alone.
      // Like a PBFT client after a timeout, hand every request still waiting here to all.
      relayed_view_ = core_->view();
      RelayLocalRequests();
    }
  }
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

Status PbftOrderer::failure() const {
  std::lock_guard<std::mutex> lock(fail_mu_);
  return failure_;
}

void PbftOrderer::RequestRepair(uint64_t height) { repairer_->Request(height); }

void PbftOrderer::ApplyRepair(const BlockRepairer::Copy& r) {
  Status s = store_->RepairBlock(r.height, r.block);
  if (s.ok()) {
    LogInfo("block_repaired")
        .Kv("height", r.height)
        .Kv("from", genesis_->validators[r.from].id)
        .Kv("records", r.block.records.size());
    repairer_->Done(r.height, /*settled=*/true);
    return;
  }
  if (!store_->write_status().ok()) {
    Halt("repair", r.height, s);
    return;
  }
  if (s.code() == StatusCode::kAlreadyExists) {  // repaired meanwhile
    repairer_->Done(r.height, /*settled=*/true);
    return;
  }
  LogWarn("block_repair_refused")
      .Kv("height", r.height)
      .Kv("from", genesis_->validators[r.from].id)
      .Kv("err", s.ToString());
  repairer_->Done(r.height, /*settled=*/false);
}

}  // namespace provledger::node
