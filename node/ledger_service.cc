#include "node/ledger_service.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/clock.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/worker.h"
#include "ledger/merkle/proof_builder.h"
#include "ledger/record.h"
#include "node/access_policy.h"
#include "node/node_metrics.h"
#include "node/test_seams.h"

namespace provledger::node {

namespace v1 = provledger::v1;

// The answer of one submission call, given once: whichever comes first of the orderer's
// answer (or an error) and the client going away wins; later attempts do nothing. Shared by
// the call's reactor and whoever answers later, so it outlives the call.
class CallAnswer {
 public:
  CallAnswer(grpc::ServerUnaryReactor* reactor, v1::SubmitResponse* reply)
      : reactor_(reactor), reply_(reply) {}
  // Finishes the call with `status` and, when `answer` is given, that reply. False when the
  // call was answered already (then nothing is touched).
  bool Finish(const grpc::Status& status, v1::SubmitResponse* answer = nullptr) {
    grpc::ServerUnaryReactor* r = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (reactor_ == nullptr) return false;
      if (answer != nullptr) reply_->Swap(answer);
      r = reactor_;
      reactor_ = nullptr;
    }
    r->Finish(status);  // the reactor lives until OnDone, which follows this
    return true;
  }
  bool answered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reactor_ == nullptr;
  }

 private:
  mutable std::mutex mu_;
  grpc::ServerUnaryReactor* reactor_;  // guarded by mu_; null once finished
  v1::SubmitResponse* reply_;          // gRPC's, valid while reactor_ is set
};

namespace {

// The reactor of one submission call: answered through its CallAnswer; a cancelled call
// (client gone, deadline passed, server shutting down) is answered CANCELLED at once.
class SubmitReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit SubmitReactor(v1::SubmitResponse* reply)
      : answer_(std::make_shared<CallAnswer>(this, reply)) {}
  const std::shared_ptr<CallAnswer>& answer() const { return answer_; }
  void OnCancel() override {
    std::shared_ptr<CallAnswer> a = answer_;  // OnDone may run inside Finish
    a->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                           "client went away; the batch may still commit, resend to learn where"));
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<CallAnswer> answer_;
};

}  // namespace

// A FIFO of tasks run by a few threads: the orderer hands its answers over here, so their
// composing (store lookups) never runs on the consensus thread. Close() runs what is queued
// and joins; a task posted after it is refused.
class AnswerQueue {
 public:
  explicit AnswerQueue(size_t threads) {
    for (size_t i = 0; i < threads; ++i) {
      workers_.push_back(std::make_unique<Worker>("answers", [this](Worker& w) { Run(w); }));
    }
  }
  ~AnswerQueue() { Close(); }
  // False (task not run) once closed.
  bool Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
    workers_.clear();  // each drains and joins
  }

 private:
  void Run(Worker&) {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return closed_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // closed and drained
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;                      // guarded by mu_
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  std::vector<std::unique_ptr<Worker>> workers_;
};

LedgerService::LedgerService(const ledger::Genesis* genesis, std::string node_id,
                             ledger::BlockStore* store, RegistryHolder* registry, Orderer* orderer,
                             BatchLimits limits)
    : genesis_(genesis),
      node_id_(std::move(node_id)),
      store_(store),
      registry_(registry),
      orderer_(orderer),
      limits_(limits),
      answers_(std::make_shared<AnswerQueue>(2)) {}

LedgerService::~LedgerService() {
  std::shared_ptr<AnswerQueue> forwards;
  {
    std::lock_guard<std::mutex> lock(forward_mu_);
    forwards = forwards_;
  }
  if (forwards) forwards->Close();
  answers_->Close();
}

StatusOr<ledger::StoredBlock> LedgerService::ReadOrRepair(uint64_t height,
                                                          bool with_payloads) const {
  auto b = store_->ReadBlock(height, with_payloads);
  if (b.ok() || b.status().code() != StatusCode::kDataLoss) return b;
  // Never served as good; the peers hold it: have it fetched again and answer DATA_LOSS
  // until it is rewritten.
  orderer_->RequestRepair(height);
  return DataLossError(b.status().message() + "; fetching it again from peers, retry later");
}

Status LedgerService::PrunedRecord(ByteView id, uint64_t height) const {
  if (height >= store_->pruned_below()) return OkStatus();
  return NotFoundError("record " + ShortHex(id) + " (block " + std::to_string(height) +
                       ") pruned on this light node; ask a full node");
}

StatusOr<FetchedRecord> LedgerService::FetchPruned(const grpc::ServerContext* ctx, ByteView id,
                                                   const ledger::RecordLocation& loc,
                                                   ledger::StoredBlock* header) const {
  if (fetcher_ == nullptr) return PrunedRecord(id, loc.height);
  PL_ASSIGN_OR_RETURN(*header, store_->ReadCertifiedHeader(loc.height));
  LocalRecord local;
  local.record_id = Bytes(id);
  local.height = loc.height;
  local.index = loc.index;
  local.header = header->header;
  local.header_hash = header->header_hash;
  return fetcher_->Fetch(local,
                         ctx != nullptr ? ctx->deadline() : RemoteRecordFetcher::Deadline::max());
}

bool LedgerService::Unindexed() const {
  return fetcher_ != nullptr && store_->index_pruned_below() > 1;
}

StatusOr<LocalRecord> LedgerService::Locate(const v1::Proof& proof) const {
  const uint64_t h = proof.height(), head = store_->height();
  if (h > head) {
    return NotFoundError("it places the record at block " + std::to_string(h) +
                         ", past this node's head " + std::to_string(head));
  }
  if (h == 0 || h >= store_->pruned_below()) {
    return UnauthenticatedError("it places the record at block " + std::to_string(h) +
                                ", which this node keeps whole without that record");
  }
  PL_ASSIGN_OR_RETURN(ledger::StoredBlock header, store_->ReadCertifiedHeader(h));
  LocalRecord local;
  local.record_id = proof.record_id();
  local.height = h;
  local.index = proof.leaf_index();
  local.header = std::move(header.header);
  local.header_hash = std::move(header.header_hash);
  return local;
}

Status LedgerService::FillFetchedProof(FetchedRecord fetched, v1::Proof* resp) const {
  PL_ASSIGN_OR_RETURN(ledger::StoredBlock header, store_->ReadCertifiedHeader(fetched.height));
  resp->set_chain_id(genesis_->chain_id);
  resp->set_record_id(fetched.record_id);
  resp->set_record(std::move(fetched.record));
  resp->set_height(fetched.height);
  resp->set_leaf_index(fetched.index);
  resp->set_tree_size(header.header.record_count);
  for (auto& h : fetched.audit_path) resp->add_audit_path(std::move(h));
  resp->set_header(header.header_bytes);  // ours, as stored and certified
  *resp->mutable_certificate() = header.certificate;
  resp->set_fetched_from(fetched.from);
  return OkStatus();
}

Status LedgerService::CheckHistoryEntry(const v1::HistoryRequest& req, const v1::HistoryEntry& e,
                                        const FetchedRecord* proven) const {
  if (proven == nullptr) {
    // A block whose entries we keep: our own index says where the record is.
    auto loc = store_->FindRecord(e.record_id());
    if (!loc.ok() || loc->height != e.height()) {
      return UnauthenticatedError("this node does not hold that record at that block");
    }
    return OkStatus();
  }
  auto f = ledger::DecodeRecordFields(proven->record);
  if (!f.ok() || !f->from_device || f->device != req.device() || f->item != e.item() ||
      f->seq != e.seq() || f->ts != e.ts()) {
    return UnauthenticatedError("the proven record is not the entry's (device, item, seq, ts)");
  }
  if ((!req.item().empty() && f->item != req.item()) || f->ts < req.from_ts() ||
      (req.to_ts() != 0 && f->ts > req.to_ts())) {
    return UnauthenticatedError("the proven record is outside the request");
  }
  return OkStatus();
}

void LedgerService::Await(const std::shared_ptr<CallAnswer>& call, CheckedBatch batch,
                          v1::ConsensusRequest request, Compose compose) {
  const uint64_t start_ms = SteadyMs();
  // Held by the orderer's waiter: the queue outlives the service if an answer comes late.
  std::shared_ptr<AnswerQueue> answers = answers_;
  // Durable, or refused: a client that gave up meanwhile may resend (answered DUPLICATE).
  SubmitDone done = [call, answers, start_ms,
                     compose = std::move(compose)](SubmitResult r) mutable {
    if (call->answered()) return;  // cancelled: nobody to tell
    const bool posted =
        answers->Post([call, start_ms, compose = std::move(compose), r = std::move(r)]() mutable {
          if (call->answered()) return;
          if (!r.ok()) {
            call->Finish(ToGrpc(r.status()));
            return;
          }
          Metrics().commit_latency.Observe(static_cast<double>(SteadyMs() - start_ms) / 1000);
          v1::SubmitResponse reply;
          const grpc::Status gs = compose(std::move(*r), &reply);
          call->Finish(gs, gs.ok() ? &reply : nullptr);
        });
    if (!posted) call->Finish(ToGrpc(UnavailableError("node is shutting down")));
  };
  Status queued = orderer_->Submit(std::move(batch), std::move(request), std::move(done));
  if (!queued.ok()) call->Finish(ToGrpc(queued));
}

void LedgerService::Forward(const std::shared_ptr<CallAnswer>& call,
                            std::function<StatusOr<v1::SubmitResponse>()> forward) {
  std::shared_ptr<AnswerQueue> q;
  {
    std::lock_guard<std::mutex> lock(forward_mu_);
    if (!forwards_) forwards_ = std::make_shared<AnswerQueue>(kForwardThreads);
    q = forwards_;
  }
  const bool posted = q->Post([call, forward = std::move(forward)] {
    if (call->answered()) return;  // cancelled while queued
    StatusOr<v1::SubmitResponse> answer = forward();
    if (answer.ok()) {
      call->Finish(grpc::Status::OK, &*answer);
    } else {
      call->Finish(ToGrpc(answer.status()));
    }
  });
  if (!posted) call->Finish(ToGrpc(UnavailableError("node is shutting down")));
}

namespace {
// The device and item a record's first-record index is kept under; empty for other kinds.
std::pair<std::string, std::string> DeviceItemOf(ByteView record) {
  auto f = ledger::DecodeRecordFields(record);
  if (!f.ok() || !f->from_device) return {};
  return {f->device, f->item};
}
}  // namespace

grpc::ServerUnaryReactor* LedgerService::Submit(grpc::CallbackServerContext* ctx,
                                                const v1::SubmitRequest* req,
                                                v1::SubmitResponse* resp) {
  auto* reactor = new SubmitReactor(resp);
  const std::shared_ptr<CallAnswer>& call = reactor->answer();
  if (grpc::Status a = CheckSubmitAs(ctx, req->batch().gateway()); !a.ok()) {
    call->Finish(a);
    return reactor;
  }
  if (SubmitForwarder* f = orderer_->forwarder()) {
    Forward(call, [f, batch = req->batch()] { return f->Submit(batch); });
    return reactor;
  }
  auto reg = registry_->Get();
  // Our registry may be behind the quorum that registered a device: its records go on to be
  // ordered, and the block, at its height, refuses them if they still do not check out.
  auto checked = ValidateBatch(*genesis_, *reg, req->batch(), limits_, DeviceCheck::kLeaveToBlock);
  if (checked.ok()) checked->checked_against = reg;
  if (!checked.ok()) {
    CountRefusal("batch", checked.status().code());
    LogWarn("batch_refused")
        .Kv("gateway", req->batch().gateway())
        .Kv("err", checked.status().ToString());
    call->Finish(ToGrpc(checked.status()));
    return reactor;
  }
  // Records refused for good are answered on their own; the others go on to be ordered.
  std::vector<RecordRefusal> refused = std::move(checked->refused);
  const size_t accepted = checked->records.size();
  for (const RecordRefusal& f : refused) CountRefusal("record", f.status.code());
  if (!refused.empty()) {
    const uint64_t now = SteadyMs(), unlogged = refused_unlogged_.fetch_add(refused.size());
    uint64_t last = refused_logged_ms_.load();
    if (now >= last + 1000 && refused_logged_ms_.compare_exchange_strong(last, now)) {
      refused_unlogged_.fetch_sub(unlogged + refused.size());
      LogWarn("records_refused")
          .Kv("gateway", req->batch().gateway())
          .Kv("refused", unlogged + refused.size())
          .Kv("first", refused.front().status.ToString());
    }
  }
  // Taken from the request now: the reply may be composed after the call has gone.
  std::vector<std::pair<std::string, std::string>> items;
  items.reserve(static_cast<size_t>(req->batch().records_size()));
  for (const auto& rec : req->batch().records()) items.push_back(DeviceItemOf(rec));
  if (accepted == 0) {
    v1::SubmitResponse reply;
    const grpc::Status gs = ComposeSubmit(refused, items, v1::SubmitResponse(), &reply);
    call->Finish(gs, gs.ok() ? &reply : nullptr);
    return reactor;
  }
  v1::ConsensusRequest request;
  *request.mutable_batch() = req->batch();
  Await(call, std::move(*checked), std::move(request),
        [this, accepted, refused = std::move(refused), items = std::move(items)](
            v1::SubmitResponse good, v1::SubmitResponse* reply) {
          if (static_cast<size_t>(good.results_size()) != accepted) {
            return ToGrpc(InternalError("orderer answered " + std::to_string(good.results_size()) +
                                        " results for " + std::to_string(accepted) + " records"));
          }
          return ComposeSubmit(refused, items, std::move(good), reply);
        });
  return reactor;
}

grpc::Status LedgerService::ComposeSubmit(
    const std::vector<RecordRefusal>& refused,
    const std::vector<std::pair<std::string, std::string>>& items, v1::SubmitResponse good,
    v1::SubmitResponse* resp) const {
  size_t next_refused = 0;
  int next_good = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    v1::RecordResult* r = resp->add_results();
    if (next_refused < refused.size() && refused[next_refused].index == static_cast<uint32_t>(i)) {
      const RecordRefusal& f = refused[next_refused++];
      r->set_record_id(f.id);
      auto loc = store_->FindRecord(f.id);
      if (loc.ok()) {  // written before its device was revoked: a resend learns where
        r->set_outcome(v1::RecordResult::DUPLICATE);
        r->set_height(loc->height);
        r->set_index(loc->index);
      } else {
        r->set_outcome(v1::RecordResult::REFUSED);
        r->set_code(static_cast<uint32_t>(f.status.code()));
        r->set_reason(f.status.message());
      }
    } else {
      *r = std::move(*good.mutable_results(next_good++));
    }
    if (r->outcome() == v1::RecordResult::COMMITTED ||
        r->outcome() == v1::RecordResult::DUPLICATE) {
      const auto& [device, item] = items[i];
      if (device.empty()) continue;
      auto first = store_->FirstItemHeight(device, item);
      r->set_first_of_item(first.ok() && *first == r->height());
    }
  }
  return grpc::Status::OK;
}

namespace {
// The orderer's answer as the reply, unchanged (registry and firmware submissions).
grpc::Status AsIs(v1::SubmitResponse ordered, v1::SubmitResponse* reply) {
  *reply = std::move(ordered);
  return grpc::Status::OK;
}
}  // namespace

grpc::ServerUnaryReactor* LedgerService::SubmitRegistry(grpc::CallbackServerContext*,
                                                        const v1::SubmitRegistryRequest* req,
                                                        v1::SubmitResponse* resp) {
  auto* reactor = new SubmitReactor(resp);
  const std::shared_ptr<CallAnswer>& call = reactor->answer();
  if (SubmitForwarder* f = orderer_->forwarder()) {
    Forward(call, [f, tx = req->tx()] { return f->SubmitRegistry(tx); });
    return reactor;
  }
  auto checked = ValidateRegistrySubmission(*genesis_, req->tx());
  if (!checked.ok()) {
    CountRefusal("registry", checked.status().code());
    LogWarn("registry_tx_refused").Kv("err", checked.status().ToString());
    call->Finish(ToGrpc(checked.status()));
    return reactor;
  }
  // A stale policy version or a binding to an unknown policy would be ignored when applied:
  // say so now (docs/INTEGRITY.md).
  for (const auto& rec : checked->records) {
    if (!rec.registry_op) continue;
    Status state = registry_->Get()->CheckOp(*rec.registry_op);
    if (!state.ok()) {
      CountRefusal("registry", state.code());
      LogWarn("registry_tx_refused").Kv("err", state.ToString());
      call->Finish(ToGrpc(state));
      return reactor;
    }
  }
  v1::ConsensusRequest request;
  request.set_registry_tx(req->tx());
  Await(call, std::move(*checked), std::move(request), AsIs);
  return reactor;
}

grpc::Status LedgerService::GetStatus(grpc::ServerContext*, const v1::StatusRequest*,
                                      v1::NodeStatus* resp) {
  resp->set_chain_id(genesis_->chain_id);
  resp->set_node_id(node_id_);
  resp->set_height(store_->height());
  resp->set_head_hash(store_->head_hash());
  resp->set_view(orderer_->view());
  auto reg = registry_->Get();
  // The set that certifies the next block, its epoch, and the change scheduled after it.
  const auto schedule = reg->schedule();
  const EpochPlan plan = schedule != nullptr ? PlanAt(*schedule, store_->height())
                                             : GenesisPlan(*genesis_, store_->height());
  const ledger::ValidatorSet& set = schedule != nullptr
                                        ? schedule->SetAt(plan.height + 1)
                                        : ledger::ValidatorSet::FromGenesis(*genesis_);
  resp->set_primary(set.Primary(orderer_->view()).id);
  resp->set_validators(static_cast<uint32_t>(set.n()));
  resp->set_validator_set_digest(set.Digest());
  resp->set_epoch(plan.epoch);
  for (const auto& v : plan.set) resp->add_validator_ids(v.id);
  if (plan.pending_height != 0) {
    resp->set_pending_change_height(plan.pending_height);
    resp->set_pending_change_end(plan.pending_end);
    for (const auto& v : plan.pending_set) resp->add_pending_validator_ids(v.id);
  }
  resp->set_records(store_->record_count());
  resp->set_mode(store_->light() ? "light" : "full");
  resp->set_pending_batches(orderer_->pending());
  resp->set_gateways(reg->gateways().size());
  resp->set_devices(reg->devices().size());
  const ViewHealth vh = orderer_->view_health();
  resp->set_view_changing(vh.view_changing);
  resp->set_peers_in_view(vh.peers_in_view);
  resp->set_peers_elsewhere(vh.peers_elsewhere);
  resp->set_alone_in_view(vh.alone_in_view);
  resp->set_role(orderer_->role());
  resp->set_pruned_below(store_->pruned_below());
  if (pruner_ != nullptr) {
    const PruneStats ps = pruner_->stats();
    resp->set_prune_bytes_before(ps.bytes_before);
    resp->set_prune_bytes_after(ps.bytes_after);
  }
  return grpc::Status::OK;
}

grpc::Status LedgerService::GetBlock(grpc::ServerContext*, const v1::GetBlockRequest* req,
                                     v1::Block* resp) {
  const uint64_t h = req->height() == 0 ? store_->height() : req->height();
  if (h == 0) return grpc::Status(grpc::StatusCode::NOT_FOUND, "the chain has no block yet");
  auto b = ReadOrRepair(h, req->with_payloads());
  if (!b.ok()) return ToGrpc(b.status());
  resp->set_header(b->header_bytes);
  for (auto& r : b->records) resp->add_records(std::move(r));
  for (auto& p : b->payloads) resp->add_payloads(p ? std::move(*p) : Bytes());
  *resp->mutable_certificate() = b->certificate;
  if (test_seams::ServedBlockFn seam = test_seams::GetServedBlock()) seam(*req, resp);
  return grpc::Status::OK;
}

StatusOr<Bytes> LedgerService::ResolveRecordId(const v1::GetRecordRequest& req) const {
  if (!req.record_id().empty()) {
    if (req.record_id().size() != 32) return InvalidArgumentError("record id must be 32 bytes");
    return req.record_id();
  }
  if (req.device().empty()) return InvalidArgumentError("give a record id, or a device and seq");
  return store_->FindBySeq(req.device(), req.seq());
}

grpc::Status LedgerService::GetRecord(grpc::ServerContext* ctx, const v1::GetRecordRequest* req,
                                      v1::RecordResponse* resp) {
  grpc::Status s = FindRecord(ctx, req, resp);
  if (s.ok()) s = CheckRecordDevice(ctx, resp->record(), "GetRecord");
  if (!s.ok()) resp->Clear();
  return s;
}

grpc::Status LedgerService::FindRecord(grpc::ServerContext* ctx, const v1::GetRecordRequest* req,
                                       v1::RecordResponse* resp) {
  const auto deadline = ctx != nullptr ? ctx->deadline() : RemoteRecordFetcher::Deadline::max();
  const LocateFn locate = [this](const v1::Proof& p) { return Locate(p); };
  auto id = ResolveRecordId(*req);
  StatusOr<ledger::RecordLocation> loc =
      id.ok() ? store_->FindRecord(*id) : StatusOr<ledger::RecordLocation>(id.status());
  if (!loc.ok() && loc.status().code() == StatusCode::kNotFound && Unindexed()) {
    // Possibly in a block whose index entries this light node dropped: a full node's copy,
    // checked against our header.
    auto fetched = id.ok() ? fetcher_->FetchById(*id, locate, deadline)
                           : fetcher_->FetchBySeq(req->device(), req->seq(), locate, deadline);
    if (!fetched.ok()) return ToGrpc(fetched.status());
    resp->set_record_id(fetched->record_id);
    resp->set_record(std::move(fetched->record));
    resp->set_height(fetched->height);
    resp->set_index(fetched->index);
    resp->set_fetched_from(fetched->from);  // no payload: a light node keeps none of these
    return grpc::Status::OK;
  }
  if (!loc.ok()) return ToGrpc(loc.status());
  if (!PrunedRecord(*id, loc->height).ok()) {
    ledger::StoredBlock header;
    auto fetched = FetchPruned(ctx, *id, *loc, &header);
    if (!fetched.ok()) return ToGrpc(fetched.status());
    resp->set_record_id(*id);
    resp->set_record(std::move(fetched->record));
    resp->set_height(loc->height);
    resp->set_index(loc->index);
    resp->set_fetched_from(fetched->from);  // no payload: a light node keeps none of these
    return grpc::Status::OK;
  }
  auto b = ReadOrRepair(loc->height, false);
  if (!b.ok()) return ToGrpc(b.status());
  if (loc->index >= b->records.size()) {
    return ToGrpc(DataLossError("record index points past block " + std::to_string(loc->height)));
  }
  resp->set_record_id(*id);
  resp->set_record(b->records[loc->index]);
  resp->set_height(loc->height);
  resp->set_index(loc->index);
  auto payload = store_->ReadPayload(*id);
  if (payload.ok()) {
    resp->set_payload(std::move(*payload));
    resp->set_has_payload(true);
  }
  return grpc::Status::OK;
}

grpc::Status LedgerService::GetProof(grpc::ServerContext* ctx, const v1::GetProofRequest* req,
                                     v1::Proof* resp) {
  grpc::Status s = FindProof(ctx, req, resp);
  if (s.ok()) s = CheckRecordDevice(ctx, resp->record(), "GetProof");
  if (!s.ok()) resp->Clear();
  return s;
}

grpc::Status LedgerService::FindProof(grpc::ServerContext* ctx, const v1::GetProofRequest* req,
                                      v1::Proof* resp) {
  if (req->record_id().size() != 32) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "record id must be 32 bytes");
  }
  auto loc = store_->FindRecord(req->record_id());
  if (!loc.ok() && loc.status().code() == StatusCode::kNotFound && Unindexed()) {
    auto fetched = fetcher_->FetchById(
        req->record_id(), [this](const v1::Proof& p) { return Locate(p); },
        ctx != nullptr ? ctx->deadline() : RemoteRecordFetcher::Deadline::max());
    if (!fetched.ok()) return ToGrpc(fetched.status());
    return ToGrpc(FillFetchedProof(std::move(*fetched), resp));
  }
  if (!loc.ok()) return ToGrpc(loc.status());
  if (!PrunedRecord(req->record_id(), loc->height).ok()) {
    ledger::StoredBlock header;
    auto fetched = FetchPruned(ctx, req->record_id(), *loc, &header);
    if (!fetched.ok()) return ToGrpc(fetched.status());
    resp->set_chain_id(genesis_->chain_id);
    resp->set_record_id(req->record_id());
    resp->set_record(std::move(fetched->record));
    resp->set_height(loc->height);
    resp->set_leaf_index(loc->index);
    resp->set_tree_size(header.header.record_count);
    for (auto& h : fetched->audit_path) resp->add_audit_path(std::move(h));
    resp->set_header(header.header_bytes);  // ours, as stored and certified
    *resp->mutable_certificate() = header.certificate;
    resp->set_fetched_from(fetched->from);
    return grpc::Status::OK;
  }
  auto b = ReadOrRepair(loc->height, false);  // checked: a flipped byte is DATA_LOSS
  if (!b.ok()) return ToGrpc(b.status());
  std::vector<Bytes> leaves;
  leaves.reserve(b->records.size());
  for (const auto& r : b->records) leaves.push_back(ledger::RecordId(r));
  if (loc->index >= leaves.size() || leaves[loc->index] != req->record_id()) {
    return ToGrpc(
        DataLossError("record index disagrees with block " + std::to_string(loc->height)));
  }
  auto path = ledger::InclusionProof(leaves, loc->index);
  if (!path.ok()) return ToGrpc(path.status());
  resp->set_chain_id(genesis_->chain_id);
  resp->set_record_id(req->record_id());
  resp->set_record(b->records[loc->index]);
  resp->set_height(loc->height);
  resp->set_leaf_index(loc->index);
  resp->set_tree_size(leaves.size());
  for (auto& h : *path) resp->add_audit_path(std::move(h));
  resp->set_header(b->header_bytes);
  *resp->mutable_certificate() = b->certificate;
  return grpc::Status::OK;
}

grpc::Status LedgerService::History(grpc::ServerContext* ctx, const v1::HistoryRequest* req,
                                    v1::HistoryResponse* resp) {
  if (grpc::Status a = CheckDevice(ctx, req->device(), "History"); !a.ok()) return a;
  if (!ledger::IsValidName(req->device())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "device is not a valid name");
  }
  uint32_t limit = req->limit() == 0 ? 100 : req->limit();
  if (limit > 1000) limit = 1000;
  const uint64_t kept_from = store_->history_pruned_below();
  if (fetcher_ != nullptr && kept_from > 1) {
    // Our time index misses the records of pruned blocks and no timestamp tells which
    // blocks a time range spans: the whole request goes to a full node, each entry of a
    // pruned block proven against our header, the others checked against our index.
    v1::HistoryRequest forwarded = *req;
    forwarded.set_limit(limit);
    std::string from;
    auto page = fetcher_->ForwardHistory(
        forwarded, kept_from, [this](const v1::Proof& p) { return Locate(p); },
        [this, req](const v1::HistoryEntry& e, const FetchedRecord* proven) {
          return CheckHistoryEntry(*req, e, proven);
        },
        &from, ctx != nullptr ? ctx->deadline() : RemoteRecordFetcher::Deadline::max());
    if (!page.ok()) return ToGrpc(page.status());
    *resp = std::move(*page);
    resp->set_fetched_from(from);
    return grpc::Status::OK;
  }
  std::vector<ledger::HistoryItem> items;
  Bytes next;
  Status s = store_->History(req->device(), req->item(), req->from_ts(), req->to_ts(), limit,
                             req->page_token(), &items, &next);
  if (!s.ok()) return ToGrpc(s);
  for (auto& h : items) {
    auto* e = resp->add_entries();
    e->set_record_id(h.record_id);
    e->set_item(h.item);
    e->set_seq(h.seq);
    e->set_ts(h.ts);
    e->set_height(h.height);
  }
  resp->set_next_page_token(next);
  return grpc::Status::OK;
}

namespace {

// Adds to a listing every entry of `registered` (id -> entry) through `add`, or only the
// entry `id` when it is not empty: kNotFound "<kind> '<id>' is not registered" when it is
// not among them (nothing added).
template <typename Entry, typename Add>
grpc::Status ListRegistered(const std::map<std::string, Entry>& registered, const std::string& id,
                            const char* kind, Add add) {
  if (id.empty()) {
    for (const auto& [k, e] : registered) add(k, e);
    return grpc::Status::OK;
  }
  const auto it = registered.find(id);
  if (it == registered.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        std::string(kind) + " '" + id + "' is not registered");
  }
  add(it->first, it->second);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status LedgerService::Devices(grpc::ServerContext*, const v1::RegistryQuery* req,
                                    v1::RegistryListing* resp) {
  auto reg = registry_->Get();
  resp->set_height(store_->height());
  return ListRegistered(reg->devices(), req->id(), "device",
                        [resp](const std::string& id, const ledger::DeviceEntry& d) {
                          auto* o = resp->add_devices();
                          o->set_id(id);
                          o->set_pubkey(d.pubkey);
                          o->set_vendor(d.vendor);
                          o->set_model(d.model);
                          o->set_revoked(d.revoked);
                          o->set_registered_height(d.height);
                        });
}

grpc::Status LedgerService::Gateways(grpc::ServerContext*, const v1::RegistryQuery* req,
                                     v1::RegistryListing* resp) {
  auto reg = registry_->Get();
  resp->set_height(store_->height());
  return ListRegistered(reg->gateways(), req->id(), "gateway",
                        [resp](const std::string& id, const ledger::KeyEntry& g) {
                          auto* o = resp->add_gateways();
                          o->set_id(id);
                          o->set_pubkey(g.pubkey);
                          o->set_registered_height(g.height);
                        });
}

StatusOr<std::vector<FirmwareRow>> LedgerService::FirmwareRows(const std::string& vendor,
                                                               const std::string& model) const {
  PL_ASSIGN_OR_RETURN(auto kvs, store_->RegistryScan(FirmwareRowPrefix(vendor, model)));
  std::vector<FirmwareRow> rows;
  rows.reserve(kvs.size());
  for (const auto& [key, value] : kvs) {
    PL_ASSIGN_OR_RETURN(FirmwareRow row, ParseFirmwareRow(key, value));
    rows.push_back(std::move(row));
  }
  return rows;
}

grpc::ServerUnaryReactor* LedgerService::SubmitFirmware(grpc::CallbackServerContext*,
                                                        const v1::SubmitFirmwareRequest* req,
                                                        v1::SubmitResponse* resp) {
  auto* reactor = new SubmitReactor(resp);
  const std::shared_ptr<CallAnswer>& call = reactor->answer();
  if (SubmitForwarder* f = orderer_->forwarder()) {
    Forward(call, [f, record = req->record()] { return f->SubmitFirmware(record); });
    return reactor;
  }
  auto reg = registry_->Get();
  auto checked = ValidateFirmwareSubmission(*reg, req->record(), limits_);
  if (!checked.ok()) {
    CountRefusal("firmware", checked.status().code());
    LogWarn("firmware_refused").Kv("err", checked.status().ToString());
    call->Finish(ToGrpc(checked.status()));
    return reactor;
  }
  const Bytes id = checked->records[0].id;
  auto loc = store_->FindRecord(id);
  if (loc.ok()) {  // sent again: where it is
    v1::SubmitResponse reply;
    v1::RecordResult* r = reply.add_results();
    r->set_record_id(id);
    r->set_outcome(v1::RecordResult::DUPLICATE);
    r->set_height(loc->height);
    r->set_index(loc->index);
    call->Finish(grpc::Status::OK, &reply);
    return reactor;
  }
  // No rollback on the ledger either: a counter must be above every one recorded for its
  // vendor and model. Checked here, at submission, against this node's chain.
  const ledger::FirmwareRecord f = ledger::DecodeRecord(req->record())->firmware;
  auto rows = FirmwareRows(f.vendor, f.model);
  if (!rows.ok()) {
    call->Finish(ToGrpc(rows.status()));
    return reactor;
  }
  for (const FirmwareRow& row : *rows) {
    if (row.counter >= f.counter) {
      const Status s = FailedPreconditionError(
          "manifest " + f.vendor + "/" + f.model + " counter " + std::to_string(f.counter) +
          " is not above counter " + std::to_string(row.counter) + " recorded at height " +
          std::to_string(row.height));
      CountRefusal("firmware", s.code());
      LogWarn("firmware_refused").Kv("err", s.ToString());
      call->Finish(ToGrpc(s));
      return reactor;
    }
  }
  v1::ConsensusRequest request;
  request.set_firmware_record(req->record());
  Await(call, std::move(*checked), std::move(request), AsIs);
  return reactor;
}

grpc::Status LedgerService::Firmware(grpc::ServerContext*, const v1::FirmwareQuery* req,
                                     v1::FirmwareListing* resp) {
  if (!req->vendor().empty() && !ledger::IsValidName(req->vendor())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "vendor is not a valid name");
  }
  if (!req->model().empty() && (req->vendor().empty() || !ledger::IsValidName(req->model()))) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "model must be a valid name, given with its vendor");
  }
  resp->set_height(store_->height());
  auto rows = FirmwareRows(req->vendor(), req->model());
  if (!rows.ok()) return ToGrpc(rows.status());
  for (FirmwareRow& row : OrderFirmwareRows(std::move(*rows), req->latest_only())) {
    v1::FirmwareEntry* e = resp->add_manifests();
    e->set_record_id(std::move(row.record_id));
    e->set_record(std::move(row.record));
    e->set_height(row.height);
  }
  return grpc::Status::OK;
}

grpc::Status LedgerService::Validators(grpc::ServerContext*, const v1::ValidatorsRequest*,
                                       v1::ValidatorListing* resp) {
  auto reg = registry_->Get();
  resp->set_height(store_->height());
  const auto schedule = reg->schedule();
  const ledger::ValidatorSchedule sched =
      schedule != nullptr ? *schedule : ledger::ValidatorSchedule(*genesis_);
  auto* g = resp->add_sets();
  g->set_digest(sched.genesis_set().Digest());
  sched.genesis_set().ToEntries(g->mutable_validators());
  for (const auto& c : sched.changes()) {
    auto* e = resp->add_sets();
    e->set_committed_height(c.committed_height);
    e->set_end(c.end);
    e->set_digest(c.set->Digest());
    c.set->ToEntries(e->mutable_validators());
  }
  return grpc::Status::OK;
}

grpc::Status LedgerService::Policies(grpc::ServerContext*, const v1::PolicyQuery* req,
                                     v1::PolicyListing* resp) {
  auto reg = registry_->Get();
  resp->set_height(store_->height());
  for (const auto& [name, p] : reg->policies()) {
    if (!req->name().empty() && name != req->name()) continue;
    auto* o = resp->add_policies();
    if (req->summary()) {
      o->set_name(p.name());
      o->set_version(p.version());
      o->set_registered_height(p.registered_height());
    } else {
      *o = p;
    }
  }
  for (const auto& [device, b] : reg->device_bindings()) {
    auto* o = resp->add_bindings();
    o->set_policy(b.policy);
    o->set_device(device);
    o->set_height(b.height);
  }
  for (const auto& [model, b] : reg->model_bindings()) {
    auto* o = resp->add_bindings();
    o->set_policy(b.policy);
    o->set_model(model);
    o->set_height(b.height);
  }
  if (!req->name().empty() && resp->policies_size() == 0) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "policy '" + req->name() + "' is not registered");
  }
  return grpc::Status::OK;
}

}  // namespace provledger::node
