#include "node/state_transfer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "ledger/registry.h"
#include "node/node_metrics.h"

namespace provledger::node {

namespace v1 = provledger::v1;

StateTransfer::StateTransfer(const ledger::Genesis* genesis, uint32_t self,
                             std::vector<v1::Ledger::Stub*> peers, Deliver deliver)
    : genesis_(genesis), self_(self), deliver_(std::move(deliver)), peers_(std::move(peers)) {
  for (size_t i = 0; i < peers_.size(); ++i) {
    names_.push_back(i < genesis_->n() ? genesis_->validators[i].id : std::to_string(i));
  }
  worker_ = std::make_unique<Worker>("state-transfer", [this](Worker& w) { Loop(w); });
  worker_->set_on_stop([this] {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  });
}

StateTransfer::~StateTransfer() { worker_.reset(); }

void StateTransfer::SetScheduleSource(ScheduleSource source) {
  std::lock_guard<std::mutex> lock(mu_);
  schedule_source_ = std::move(source);
}

void StateTransfer::SetOnRefused(Refused refused) {
  std::lock_guard<std::mutex> lock(mu_);
  refused_ = std::move(refused);
}

void StateTransfer::SetPeers(std::vector<v1::Ledger::Stub*> peers, std::vector<std::string> names) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_ = std::move(peers);
  names_ = std::move(names);
  names_.resize(peers_.size());
}

void StateTransfer::Request(uint64_t next, Bytes prev_hash, uint64_t target) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ || wanted_) {  // the running fetch goes on to the new target
      target_ = std::max(target_, target);
      return;
    }
    wanted_ = true;
    target_ = target;
    next_ = next;
    prev_ = std::move(prev_hash);
  }
  cv_.notify_one();
}

void StateTransfer::Loop(Worker& w) {
  while (!w.stopping()) {
    uint64_t next = 0;
    Bytes prev;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return w.stopping() || wanted_; });
      if (w.stopping()) return;
      wanted_ = false;
      running_ = true;
      next = next_;
      prev = prev_;
    }
    Metrics().state_transfers.Inc();
    Fetch(w, next, std::move(prev));
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
  }
}

void StateTransfer::Fetch(Worker& w, uint64_t next, Bytes prev) {
  std::vector<v1::Ledger::Stub*> peers;
  std::vector<std::string> names;
  ScheduleSource source;
  Refused refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    peers = peers_;
    names = names_;
    source = schedule_source_;
    refused = refused_;
  }
  // The registry may already hold changes of blocks >= next (applied meanwhile): those are
  // taken from the fetched blocks, once each.
  ledger::ValidatorSchedule schedule = CurrentSchedule(source, *genesis_).CommittedBelow(next);
  const size_t n = peers.size();
  if (n == 0) return;
  size_t peer = (self_ + 1) % n;
  int failures = 0;
  auto batch = std::make_shared<Batch>();
  auto target = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return target_;
  };
  const bool any_peer =
      std::any_of(peers.begin(), peers.end(), [](auto* p) { return p != nullptr; });
  while (any_peer && !w.stopping() && next <= target() && failures < static_cast<int>(n) * 2) {
    v1::Ledger::Stub* stub = peers[peer];
    if (stub == nullptr) {
      peer = (peer + 1) % n;
      continue;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetBlockRequest req;
    req.set_height(next);
    req.set_with_payloads(true);
    v1::Block blk;
    grpc::Status gs = stub->GetBlock(&ctx, req, &blk);
    // Trust nothing a peer sends: a valid certificate, the chain link, the records the
    // header names.
    StatusOr<PeerBlock> pb = gs.ok()
                                 ? CheckPeerBlock(*genesis_, schedule.SetAt(next), next, blk, prev)
                                 : StatusOr<PeerBlock>(UnavailableError(gs.error_message()));
    if (gs.ok() && pb.ok()) {
      Status records = CheckRecordsMatchHeader(*pb);
      if (!records.ok()) pb = records;
    }
    if (!pb.ok()) {
      // An answer that fails a check is a lie (or a faulty peer); no answer is not.
      LogWarn(gs.ok() ? "state_transfer_refused" : "state_transfer_failed")
          .Kv("peer", names[peer])
          .Kv("height", next)
          .Kv("err", pb.status().ToString());
      if (gs.ok() && refused) refused(names[peer], next, pb.status());
      ++failures;
      peer = (peer + 1) % n;
      continue;
    }
    prev = pb->hash;
    schedule = ledger::ScheduleAfterBlock(*genesis_, schedule, next, pb->records);
    ++next;
    batch->blocks.push_back(std::move(*pb));
    if (batch->blocks.size() >= 16) {
      batch->target = target();
      if (!deliver_(std::move(batch)).ok()) return;
      batch = std::make_shared<Batch>();
    }
  }
  batch->target = target();
  batch->last = true;
  (void)deliver_(std::move(batch));
}

}  // namespace provledger::node
