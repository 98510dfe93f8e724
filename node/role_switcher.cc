#include "node/role_switcher.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>

#include "client/channel_options.h"
#include "client/transport_security.h"
#include "common/clock.h"
#include "common/log.h"
#include "node/follower_orderer.h"

namespace provledger::node {

namespace v1 = provledger::v1;

namespace {
std::string JoinIds(const std::vector<ledger::Validator>& set) {
  std::string out;
  for (const auto& v : set) {
    if (!out.empty()) out += ",";
    out += v.id;
  }
  return out;
}

// What a call meets while this node switches epochs: transient, for the client to retry.
std::string SwitchingTo(uint64_t epoch) {
  return "epoch switch, retry: this node is moving to validator-set epoch " + std::to_string(epoch);
}
}  // namespace

StatusOr<std::unique_ptr<RoleSwitcher>> RoleSwitcher::Create(const ledger::Genesis* genesis,
                                                             std::string node_id,
                                                             std::vector<PrivateKey> keys,
                                                             PlanSource plans, Factory make,
                                                             RoleSwitcherOptions options) {
  std::unique_ptr<RoleSwitcher> s(new RoleSwitcher(genesis, std::move(node_id), std::move(keys),
                                                   std::move(plans), std::move(make), options));
  PL_ASSIGN_OR_RETURN(EpochPlan plan, s->plans_());
  PL_RETURN_IF_ERROR(s->Build(plan));
  s->worker_ = std::make_unique<Worker>("role-switch", [p = s.get()](Worker& w) { p->Loop(w); });
  return s;
}

RoleSwitcher::RoleSwitcher(const ledger::Genesis* genesis, std::string node_id,
                           std::vector<PrivateKey> keys, PlanSource plans, Factory make,
                           RoleSwitcherOptions options)
    : genesis_(genesis),
      node_id_(std::move(node_id)),
      keys_(std::move(keys)),
      plans_(std::move(plans)),
      make_(std::move(make)),
      options_(options) {}

RoleSwitcher::~RoleSwitcher() {
  worker_.reset();
  TearDown(UnavailableError("node is shutting down"));
}

std::shared_ptr<Orderer> RoleSwitcher::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Status RoleSwitcher::Build(const EpochPlan& plan) {
  const NodeRole role = RoleIn(plan.set, node_id_, keys_);
  if (!role.validator && role.why == "key not held") {
    for (const auto& v : plan.set) {
      if (v.id != node_id_) continue;
      LogError("validator_key_not_held")
          .Kv("epoch", plan.epoch)
          .Kv("pubkey", ShortHex(v.pubkey))
          .Kv("action", "following; give that key with --key or --next_key to validate");
    }
  }
  epoch_genesis_ = std::make_unique<ledger::Genesis>(EpochGenesis(*genesis_, plan.set));
  auto made = make_(epoch_genesis_.get(), plan, role);
  if (!made.ok()) {
    built_ = false;
    LogError("epoch_orderer_failed").Kv("epoch", plan.epoch).Kv("err", made.status().ToString());
    return made.status();
  }
  const char* ev = "epoch_started";
  if (ever_built_ && node_role_.validator && !role.validator) ev = "left_validator_set";
  if (ever_built_ && !node_role_.validator && role.validator) ev = "joined_validator_set";
  auto line = LogInfo(ev);
  line.Kv("epoch", plan.epoch)
      .Kv("height", plan.height)
      .Kv("role", role.validator ? "validator" : "follower")
      .Kv("n", plan.set.size())
      .Kv("set", JoinIds(plan.set));
  if (role.validator) line.Kv("index", role.index).Kv("key", role.key == 0 ? "key" : "next_key");
  if (!role.validator) line.Kv("why", role.why);
  if (plan.pending_height != 0) line.Kv("pending_end", plan.pending_end);
  // How long no orderer served: the old one drained and stopped, the new one built.
  if (ever_built_) line.Kv("switch_ms", SteadyMs() - switch_started_ms_);
  node_role_ = role;
  built_ = true;
  ever_built_ = true;
  probe_stubs_.clear();
  epoch_.store(plan.epoch);
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::shared_ptr<Orderer>(std::move(*made));
  plan_ = plan;
  role_ = role.validator ? "validator" : "follower";
  switching_to_.clear();
  return OkStatus();
}

void RoleSwitcher::TearDown(Status why) {
  std::shared_ptr<Orderer> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(current_);
    current_ = nullptr;
  }
  if (!old) return;
  // A gRPC thread may still be inside a call of the old orderer (a forwarded submission
  // can take seconds); it must be gone before the next orderer writes the store.
  const uint64_t start = SteadyMs();
  bool logged = false;
  while (old.use_count() > 1) {
    if (!logged && SteadyMs() - start > 1000) {
      LogInfo("epoch_switch_waiting").Kv("reason", "calls still in the old orderer");
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  old->SetStopReason(std::move(why));
  old.reset();  // stops its threads; its waiting submitters are answered `why`
}

void RoleSwitcher::Loop(Worker& w) {
  while (!w.stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.poll_ms));
    auto plan = plans_();
    if (!plan.ok()) {
      LogWarn("epoch_plan_unreadable").Kv("err", plan.status().ToString());
      w.Sleep(1000);
      continue;
    }
    if (!built_ || plan->epoch != epoch_.load()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        switching_to_ = SwitchingTo(plan->epoch);
      }
      if (built_) switches_.fetch_add(1);
      switch_started_ms_ = SteadyMs();
      // Not a shutdown: the node serves again in a moment, and a resend is safe.
      TearDown(UnavailableError(SwitchingTo(plan->epoch)));
      if (!Build(*plan).ok()) w.Sleep(1000);  // logged; the next poll tries again
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      plan_ = *plan;
    }
    if (node_role_.validator) ProbeLag(*plan);
  }
}

void RoleSwitcher::ProbeLag(const EpochPlan& plan) {
  const uint64_t now = SteadyMs();
  if (options_.lag_probe_ms == 0 || now < next_probe_ms_ || plan.set.size() < 2) return;
  next_probe_ms_ = now + options_.lag_probe_ms;
  if (probe_stubs_.empty()) {
    const grpc::ChannelArguments args = client::LedgerChannelArguments();
    for (uint32_t i = 0; i < plan.set.size(); ++i) {
      if (i == node_role_.index) continue;
      probe_stubs_.push_back(v1::Ledger::NewStub(
          grpc::CreateCustomChannel(plan.set[i].address, client::ChannelCredentials(), args)));
    }
  }
  std::vector<uint64_t> heights, epochs;
  for (auto& stub : probe_stubs_) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.status_timeout_ms));
    v1::StatusRequest req;
    v1::NodeStatus st;
    if (!stub->GetStatus(&ctx, req, &st).ok() || st.chain_id() != genesis_->chain_id) continue;
    heights.push_back(st.height());
    epochs.push_back(st.epoch());
  }
  // As a follower does, trust only what f+1 of the set report (one of them is honest).
  const size_t f = (plan.set.size() - 1) / 3;
  const uint64_t target = FollowTarget(std::move(heights), f);
  const uint64_t their_epoch = FollowTarget(std::move(epochs), f);
  if (!LagNeedsCatchUp(plan, target, their_epoch, options_.lag_blocks)) return;
  LogInfo("catching_up")
      .Kv("height", plan.height)
      .Kv("target", target)
      .Kv("epoch", plan.epoch)
      .Kv("peers_epoch", their_epoch);
  if (auto cur = Current()) cur->CatchUp(target);
}

bool LagNeedsCatchUp(const EpochPlan& plan, uint64_t target, uint64_t peers_epoch,
                     uint64_t lag_blocks) {
  if (target <= plan.height) return false;
  // Peers in a later epoch no longer speak ours: our core cannot catch up by messages.
  if (peers_epoch > plan.epoch) return true;
  // Our epoch ends below what they hold: fetch up to its end and beyond.
  if (plan.pending_end != 0 && target >= plan.pending_end) return true;
  return target >= plan.height + lag_blocks;
}

Status RoleSwitcher::Submit(CheckedBatch batch, v1::ConsensusRequest request, SubmitDone done) {
  std::shared_ptr<Orderer> cur;
  std::string why;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cur = current_;
    why = switching_to_;
  }
  if (!cur) return UnavailableError(why);
  return cur->Submit(std::move(batch), std::move(request), std::move(done));
}

uint64_t RoleSwitcher::pending() const {
  auto cur = Current();
  return cur ? cur->pending() : 0;
}

uint64_t RoleSwitcher::view() const {
  auto cur = Current();
  return cur ? cur->view() : 0;
}

Status RoleSwitcher::failure() const {
  auto cur = Current();
  return cur ? cur->failure() : OkStatus();
}

void RoleSwitcher::RequestRepair(uint64_t height) {
  if (auto cur = Current()) cur->RequestRepair(height);
}

ViewHealth RoleSwitcher::view_health() const {
  auto cur = Current();
  return cur ? cur->view_health() : ViewHealth();
}

std::vector<PeerState> RoleSwitcher::peers() const {
  auto cur = Current();
  return cur ? cur->peers() : std::vector<PeerState>();
}

SubmitForwarder* RoleSwitcher::forwarder() {
  auto cur = Current();
  return cur && cur->forwarder() != nullptr ? this : nullptr;
}

std::string RoleSwitcher::role() const {
  std::lock_guard<std::mutex> lock(mu_);
  return role_;
}

void RoleSwitcher::Deliver(const v1::Delivery& d, const std::string& peer) {
  if (auto cur = Current()) cur->Deliver(d, peer);
}

void RoleSwitcher::CatchUp(uint64_t target) {
  if (auto cur = Current()) cur->CatchUp(target);
}

std::optional<EpochPlan> RoleSwitcher::epoch_plan() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plan_;
}

namespace {
// The forwarder of `cur`, or the error a client retries.
StatusOr<SubmitForwarder*> ForwarderOf(const std::shared_ptr<Orderer>& cur) {
  if (!cur)
    return UnavailableError("epoch switch, retry: this node is switching validator-set epochs");
  SubmitForwarder* f = cur->forwarder();
  if (f == nullptr) return UnavailableError("this node became a validator; retry");
  return f;
}
}  // namespace

StatusOr<v1::SubmitResponse> RoleSwitcher::Submit(const v1::SignedBatch& batch) {
  auto cur = Current();
  PL_ASSIGN_OR_RETURN(SubmitForwarder * f, ForwarderOf(cur));
  return f->Submit(batch);
}

StatusOr<v1::SubmitResponse> RoleSwitcher::SubmitRegistry(const std::string& tx) {
  auto cur = Current();
  PL_ASSIGN_OR_RETURN(SubmitForwarder * f, ForwarderOf(cur));
  return f->SubmitRegistry(tx);
}

StatusOr<v1::SubmitResponse> RoleSwitcher::SubmitFirmware(const std::string& record) {
  auto cur = Current();
  PL_ASSIGN_OR_RETURN(SubmitForwarder * f, ForwarderOf(cur));
  return f->SubmitFirmware(record);
}

}  // namespace provledger::node
