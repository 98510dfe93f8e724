#include "node/follower_orderer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "client/channel_options.h"
#include "client/transport_security.h"
#include "common/log.h"

namespace provledger::node {

namespace v1 = provledger::v1;

StatusOr<std::unique_ptr<FollowerOrderer>> FollowerOrderer::Create(ledger::BlockStore* store,
                                                                   const ledger::Genesis* genesis,
                                                                   RegistryHolder* registry,
                                                                   FollowerOptions options) {
  if (genesis->n() == 0) return InvalidArgumentError("the genesis names no validator");
  std::vector<std::string> addresses;
  for (const auto& v : genesis->validators) addresses.push_back(v.address);
  PL_ASSIGN_OR_RETURN(auto forward, client::LedgerClient::Create(addresses, options.forward));
  return std::unique_ptr<FollowerOrderer>(
      new FollowerOrderer(store, genesis, registry, options, std::move(forward)));
}

FollowerOrderer::FollowerOrderer(ledger::BlockStore* store, const ledger::Genesis* genesis,
                                 RegistryHolder* registry, FollowerOptions options,
                                 std::unique_ptr<client::LedgerClient> forward)
    : store_(store),
      genesis_(genesis),
      options_(options),
      applier_(store, genesis, registry, /*factory=*/nullptr),
      forward_(std::move(forward)),
      registry_(registry) {
  std::vector<v1::Ledger::Stub*> peers;
  for (const auto& v : genesis->validators) peers.push_back(StubFor(v.address));
  poll_stubs_ = peers;
  // `self` only picks the first validator asked: index n-1 starts the rounds at v0. No
  // entry is null: every validator is a peer of a follower.
  const uint32_t self = static_cast<uint32_t>(genesis->n() - 1);
  transfer_ = std::make_unique<StateTransfer>(
      genesis, self, peers, [this](std::shared_ptr<StateTransfer::Batch> b) { return Deliver(b); });
  repairer_ = std::make_unique<BlockRepairer>(
      genesis, self, peers,
      [this](std::shared_ptr<BlockRepairer::Copy> c) { return DeliverRepair(c); });
  ScheduleSource source = [registry] { return registry->Get()->schedule(); };
  transfer_->SetScheduleSource(source);
  repairer_->SetScheduleSource(source);
  poller_ = std::make_unique<Worker>("follower-poll", [this](Worker& w) { PollLoop(w); });
}

FollowerOrderer::~FollowerOrderer() {
  poller_.reset();  // no new fetch is asked for
  repairer_.reset();
  transfer_.reset();
}

Status FollowerOrderer::Submit(CheckedBatch, v1::ConsensusRequest, SubmitDone) {
  return FailedPreconditionError("a follower orders nothing: submissions are forwarded");
}

Status FollowerOrderer::failure() const {
  std::lock_guard<std::mutex> lock(failure_mu_);
  return failure_;
}

void FollowerOrderer::Fail(const Status& s) {
  std::lock_guard<std::mutex> lock(failure_mu_);
  if (failure_.ok()) failure_ = s;
}

StatusOr<v1::SubmitResponse> FollowerOrderer::Submit(const v1::SignedBatch& batch) {
  return forward_->Submit(batch);
}
StatusOr<v1::SubmitResponse> FollowerOrderer::SubmitRegistry(const std::string& tx) {
  return forward_->SubmitRegistry(tx);
}
StatusOr<v1::SubmitResponse> FollowerOrderer::SubmitFirmware(const std::string& record) {
  return forward_->SubmitFirmware(record);
}

uint64_t FollowTarget(std::vector<uint64_t> reported, size_t f) {
  if (reported.size() < f + 1) return 0;
  std::sort(reported.begin(), reported.end(), std::greater<uint64_t>());
  return reported[f];
}

v1::Ledger::Stub* FollowerOrderer::StubFor(const std::string& address) {
  auto& stub = stubs_[address];
  if (stub == nullptr) {
    const grpc::ChannelArguments args =
        client::LedgerChannelArguments(client::kDefaultMaxMessageBytes, options_.forward.keepalive);
    stub =
        v1::Ledger::NewStub(grpc::CreateCustomChannel(address, client::ChannelCredentials(), args));
  }
  return stub.get();
}

void FollowerOrderer::UsePeersOf(const ledger::ValidatorSchedule& schedule, uint64_t next) {
  const ledger::ValidatorSet& current = schedule.SetAt(next);
  const ledger::ValidatorSet& newest = schedule.Latest();
  const Bytes key = current.Digest() + newest.Digest();
  if (key == peers_for_) return;
  peers_for_ = key;
  poll_stubs_.clear();
  std::vector<v1::Ledger::Stub*> peers;
  std::vector<std::string> names;
  for (const auto& v : current.members()) {
    poll_stubs_.push_back(StubFor(v.address));
    peers.push_back(poll_stubs_.back());
    names.push_back(v.id);
  }
  // Members of a scheduled set serve the blocks above its start too.
  for (const auto& v : newest.members()) {
    if (current.IndexOf(v.id)) continue;
    peers.push_back(StubFor(v.address));
    names.push_back(v.id);
  }
  LogInfo("follow_peers")
      .Kv("height", next)
      .Kv("set", ShortHex(current.Digest()))
      .Kv("validators", current.n())
      .Kv("peers", peers.size());
  transfer_->SetPeers(peers, names);
  repairer_->SetPeers(std::move(peers), std::move(names));
}

uint64_t FollowerOrderer::PollTarget() {
  std::vector<uint64_t> heights;
  uint64_t view = 0;
  const ledger::ValidatorSchedule schedule =
      CurrentSchedule([this] { return registry_->Get()->schedule(); }, *genesis_);
  uint64_t next = 0;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    next = store_->height() + 1;
  }
  UsePeersOf(schedule, next);
  for (auto* stub : poll_stubs_) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.status_timeout_ms));
    v1::StatusRequest req;
    v1::NodeStatus st;
    if (!stub->GetStatus(&ctx, req, &st).ok() || st.chain_id() != genesis_->chain_id) continue;
    heights.push_back(st.height());
    view = std::max<uint64_t>(view, st.view());
  }
  view_.store(view);
  return FollowTarget(std::move(heights), schedule.SetAt(next).f());
}

void FollowerOrderer::PollLoop(Worker& w) {
  auto next_poll = std::chrono::steady_clock::now();
  while (!w.stopping()) {
    if (std::chrono::steady_clock::now() < next_poll) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    next_poll = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.poll_ms);
    if (!failure().ok()) continue;  // the process stops (ledger_node_main)
    const uint64_t target = PollTarget();
    uint64_t next = 0;
    Bytes prev;
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      next = store_->height() + 1;
      prev = store_->head_hash();
    }
    // A running fetch only has its target raised.
    if (target >= next) transfer_->Request(next, std::move(prev), target);
  }
}

Status FollowerOrderer::Deliver(std::shared_ptr<StateTransfer::Batch> batch) {
  std::lock_guard<std::mutex> lock(write_mu_);
  for (PeerBlock& pb : batch->blocks) {
    bool appended = false;
    Status s = applier_.ApplyFetched(pb, &appended);
    if (s.ok()) continue;
    if (!store_->write_status().ok()) {
      LogError("store_write_failed")
          .Kv("height", pb.header.height)
          .Kv("during", "follow")
          .Kv("err", s.ToString());
      Fail(s);
    } else {
      // Checked against our chain by the fetch; a refusal here ends this fetch, the next poll
      // starts again from our head.
      LogWarn("follow_block_refused").Kv("height", pb.header.height).Kv("err", s.ToString());
    }
    return s;
  }
  if (!batch->blocks.empty()) {
    LogDebug("follow_appended")
        .Kv("height", store_->height())
        .Kv("blocks", batch->blocks.size())
        .Kv("target", batch->target);
  }
  MaybePrune();
  return OkStatus();
}

void FollowerOrderer::MaybePrune() {
  if (options_.pruner == nullptr) return;
  Status s = options_.pruner->MaybePrune();
  if (!s.ok()) Fail(s);
}

Status FollowerOrderer::DeliverRepair(std::shared_ptr<BlockRepairer::Copy> copy) {
  Status s;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    s = applier_.ApplyRepair(*copy);
    if (!s.ok() && !store_->write_status().ok()) Fail(s);
  }
  repairer_->Done(copy->height, s.ok());
  return OkStatus();
}

}  // namespace provledger::node
