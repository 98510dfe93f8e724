#include "tests/consensus/sim_network.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <sstream>
#include <utility>

#include "common/sha256.h"
#include "ledger/validator_epoch.h"

namespace provledger {
namespace consensus {
namespace testing {

namespace {
// Key id of a member's key: FakeKey(member) first, FakeKey(member + 1000 * v) after v
// key replacements.
uint32_t KeyIdOf(uint32_t member, uint32_t key_version) { return member + 1000 * key_version; }
}  // namespace

SimNetwork::SimNetwork(uint32_t n, uint64_t seed, PbftConfig base)
    : seed_(seed), base_(std::move(base)), rng_(seed) {
  Epoch genesis;
  std::vector<uint32_t> keys;
  for (uint32_t i = 0; i < n; ++i) {
    genesis.set.push_back({i, 0});
    keys.push_back(KeyIdOf(i, 0));
  }
  genesis.checker = std::make_unique<FakeSetChecker>(keys);
  epochs_.emplace(0, std::move(genesis));
  AddMembersUpTo(n);
  for (uint32_t i = 0; i < n; ++i) {
    started_[i] = true;
    cores_[i] = MakeCore(i, 0, 0, &signers_[i]);
  }
}

void SimNetwork::AddMembersUpTo(uint32_t count) {
  while (cores_.size() < count) {
    const uint32_t i = static_cast<uint32_t>(cores_.size());
    signers_.emplace_back();
    factories_.push_back(std::make_unique<FakeBlockFactory>());
    cores_.emplace_back();
    core_epoch_.push_back(0);
    old_cores_.emplace_back();
    old_epoch_.push_back(0);
    old_signers_.emplace_back();
    started_.push_back(false);
    removed_.push_back(false);
    chains_.emplace_back();
    committed_ids_.emplace_back();
    group_.push_back(0);
    byzantine_[i] = Byzantine::kHonest;
  }
}

int SimNetwork::IndexIn(uint64_t epoch, uint32_t member) const {
  const std::vector<SimMember>& set = epochs_.at(epoch).set;
  for (size_t k = 0; k < set.size(); ++k) {
    if (set[k].member == member) return static_cast<int>(k);
  }
  return -1;
}

uint32_t SimNetwork::KeyId(uint64_t epoch, uint32_t member) const {
  const int k = IndexIn(epoch, member);
  return k < 0 ? KeyIdOf(member, 0) : KeyIdOf(member, epochs_.at(epoch).set[k].key_version);
}

uint64_t SimNetwork::EpochAtHeight(uint64_t height) const {
  return std::prev(epochs_.upper_bound(height))->first;
}

uint64_t SimNetwork::EpochOrdering(uint64_t height) const {
  return height == 0 ? 0 : EpochAtHeight(height - 1);
}

std::vector<SimMember> SimNetwork::SetAt(uint64_t height) const {
  return epochs_.at(EpochOrdering(height)).set;
}

uint64_t SimNetwork::ChangeSetAt(uint64_t height, std::vector<SimMember> set) {
  const uint64_t e = ledger::EpochEndFor(height);
  Epoch epoch;
  epoch.change_height = height;
  std::vector<uint32_t> keys;
  uint32_t top = 0;
  for (const SimMember& m : set) {
    keys.push_back(KeyIdOf(m.member, m.key_version));
    top = std::max(top, m.member + 1);
  }
  epoch.set = std::move(set);
  epoch.checker = std::make_unique<FakeSetChecker>(keys);
  epochs_[e] = std::move(epoch);
  AddMembersUpTo(top);
  return e;
}

ConsensusMsg SimNetwork::SignAs(const std::string& chain_id, uint32_t member, uint32_t key_version,
                                ConsensusMsg m) {
  m.signature = FakeSigner(KeyIdOf(member, key_version)).Sign(SigningDigest(chain_id, m));
  return m;
}

std::unique_ptr<PbftCore> SimNetwork::MakeCore(uint32_t i, uint64_t epoch, uint64_t height,
                                               std::unique_ptr<FakeSigner>* signer) {
  const Epoch& ep = epochs_.at(epoch);
  PbftConfig c = base_;
  c.n = static_cast<uint32_t>(ep.set.size());
  c.self = static_cast<uint32_t>(IndexIn(epoch, i));
  c.epoch = epoch;
  if (epoch != 0) c.epoch_hash = chains_[i][epoch - 1].hash;
  *signer = std::make_unique<FakeSigner>(KeyId(epoch, i));
  const Bytes hash = height == 0 ? Bytes(32, '\0') : chains_[i][height - 1].hash;
  auto core = std::make_unique<PbftCore>(c, signer->get(), ep.checker.get(), factories_[i].get(),
                                         height, hash);
  auto next = epochs_.upper_bound(epoch);
  if (next != epochs_.end() && next->second.change_height <= height) {
    core->EndEpochAt(next->first);
  }
  return core;
}

void SimNetwork::RestoreVotesOf(uint32_t i, PbftCore* core) {
  std::vector<Vote> votes;
  for (const auto& [key, digest] : disk_votes_[i]) {
    votes.push_back(Vote{std::get<0>(key), std::get<1>(key), std::get<2>(key), digest});
  }
  core->RestoreVotes(votes);
}

void SimNetwork::Drop(int from, int to, double p) { drop_[{from, to}] = p; }

void SimNetwork::Partition(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  group_.assign(members(), 0);
  for (uint32_t x : a) group_[x] = 1;
  for (uint32_t x : b) group_[x] = 2;
}

void SimNetwork::Heal() {
  drop_.clear();
  group_.assign(members(), 0);
  max_delay_ = 0;
  reorder_ = false;
  replay_p_ = 0;
}

void SimNetwork::Crash(uint32_t i) {
  cores_[i].reset();
  old_cores_[i].reset();
  transfer_due_.erase(i);
}

void SimNetwork::Restart(uint32_t i, bool with_votes) {
  if (up(i) || removed_[i] || !started_[i]) return;
  const uint64_t h = chains_[i].size();
  const uint64_t e = EpochAtHeight(h);
  if (IndexIn(e, i) < 0) {  // its blocks say it left the set: it stays a non-validator
    removed_[i] = true;
    return;
  }
  cores_[i] = MakeCore(i, e, h, &signers_[i]);
  core_epoch_[i] = e;
  if (with_votes) RestoreVotesOf(i, cores_[i].get());
  // Peers still in the previous epoch need our checkpoint at its end: a finished core of
  // it answers them, as the one we had before the crash did.
  if (e != 0) {
    const uint64_t prev = std::prev(epochs_.find(e))->first;
    if (IndexIn(prev, i) >= 0) {
      old_cores_[i] = MakeCore(i, prev, e, &old_signers_[i]);
      old_epoch_[i] = prev;
    }
  }
}

Request SimNetwork::MakeRequest(uint64_t k) {
  Request r;
  r.id = Sha256("request-" + std::to_string(k));
  r.payload = "payload-" + std::to_string(k);
  return r;
}

void SimNetwork::Submit(const Request& req) {
  submitted_.push_back(req);
  for (uint32_t i = 0; i < members(); ++i) {
    if (!up(i)) continue;
    cores_[i]->OnRequest(req);
    Collect(i);
  }
}

void SimNetwork::SubmitTo(uint32_t i, const Request& req) {
  if (!up(i)) return;
  cores_[i]->OnRequest(req);
  Collect(i);
}

void SimNetwork::SubmitRange(uint64_t first, uint64_t count) {
  for (uint64_t k = first; k < first + count; ++k) Submit(MakeRequest(k));
}

Bytes SimNetwork::committed_hash(uint32_t i, uint64_t height) const {
  if (height == 0 || height > chains_[i].size()) return "";
  return chains_[i][height - 1].hash;
}

void SimNetwork::Schedule(uint32_t from, uint32_t to, Event e) {
  if (group_[from] != group_[to]) return;
  double p = 0;
  for (auto key : {std::pair<int, int>{static_cast<int>(from), static_cast<int>(to)},
                   std::pair<int, int>{static_cast<int>(from), -1},
                   std::pair<int, int>{-1, static_cast<int>(to)}, std::pair<int, int>{-1, -1}}) {
    auto it = drop_.find(key);
    if (it != drop_.end()) p = std::max(p, it->second);
  }
  if (p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p) return;
  e.to = to;
  e.time = now_ + 1 + (max_delay_ > 0 ? rng_() % (max_delay_ + 1) : 0);
  e.order = reorder_ ? rng_() : order_++;
  queue_.push(std::move(e));
}

std::vector<ConsensusMsg> SimNetwork::Mutate(uint32_t from, uint32_t to, const ConsensusMsg& m) {
  const Byzantine b = byzantine_.at(from);
  auto resign = [&](ConsensusMsg x) {
    x.signature = FakeSigner(KeyId(m.epoch, from)).Sign(SigningDigest(base_.chain_id, x));
    return x;
  };
  if (b == Byzantine::kEquivocate && m.type == ConsensusMsg::kPrePrepare && to % 2 == 1) {
    FakeBlock fb;
    if (!DecodeFakeBlock(m.block, &fb).ok()) return {m};
    Request evil;
    evil.id = Sha256("evil-" + std::to_string(m.height) + "-" + std::to_string(m.view));
    evil.payload = "evil";
    fb.requests.push_back(evil);
    ConsensusMsg alt = m;
    alt.block = EncodeFakeBlock(fb);
    alt.digest = FakeHeaderHash(fb);
    return {resign(alt)};
  }
  if (b == Byzantine::kWrongDigest &&
      (m.type == ConsensusMsg::kPrepare || m.type == ConsensusMsg::kCommit)) {
    ConsensusMsg alt = m;
    alt.digest = Sha256("wrong" + m.digest);
    return {resign(alt)};
  }
  if (b == Byzantine::kForge) {
    ConsensusMsg forged = m;
    forged.sender = (m.sender + 1) % static_cast<uint32_t>(epochs_.at(m.epoch).set.size());
    if (forged.type == ConsensusMsg::kPrePrepare || forged.type == ConsensusMsg::kPrepare ||
        forged.type == ConsensusMsg::kCommit) {
      forged.digest = Sha256("forged" + m.digest);
    }
    return {m, resign(forged)};  // signed with our key, claiming another sender
  }
  return {m};
}

void SimNetwork::CheckNoSecondVote(uint32_t i, const ConsensusMsg& m) {
  const bool vote = m.type == ConsensusMsg::kPrePrepare || m.type == ConsensusMsg::kPrepare ||
                    m.type == ConsensusMsg::kCommit;
  if (!vote || m.sender != i || !honest(i)) return;
  auto [it, fresh] = signed_votes_[i].emplace(
      std::make_tuple(static_cast<uint8_t>(m.type), m.view, m.height), m.digest);
  if (fresh || it->second == m.digest || !violation_.empty()) return;
  violation_ = "honest replica " + std::to_string(i) + " signed two digests for " +
               TypeName(m.type) + " view " + std::to_string(m.view) + " height " +
               std::to_string(m.height);
}

void SimNetwork::Collect(uint32_t i, bool finished) {
  PbftCore* core = finished ? old_cores_[i].get() : cores_[i].get();
  if (core == nullptr) return;
  const uint64_t epoch = finished ? old_epoch_[i] : core_epoch_[i];
  const std::vector<SimMember>& set = epochs_.at(epoch).set;
  CoreOutput out = core->TakeOutput();
  // Persist before send: the votes are on "disk" before any message of this output leaves.
  for (const Vote& v : out.to_persist_votes) disk_votes_[i][{v.type, v.view, v.height}] = v.digest;
  for (const Vote& v : out.to_forget_votes) disk_votes_[i].erase({v.type, v.view, v.height});
  refused_votes_ += out.refused_votes.size();
  for (const auto& [to, msg] : out.to_send) CheckNoSecondVote(i, msg);
  for (const CommittedBlock& b : out.to_apply) Record(i, b);
  for (auto& [primary, req] : out.forward) {
    Event e;
    e.is_request = true;
    e.req = std::move(req);
    Schedule(i, set[primary].member, std::move(e));
  }
  for (auto& [to, msg] : out.to_send) {
    if (std::getenv("PL_SIM_TRACE") != nullptr && msg.type != ConsensusMsg::kCheckpoint) {
      std::fprintf(stderr, "t=%lu r%u e=%lu send %s to=%d v=%lu h=%lu d=%s", (unsigned long)now_, i,
                   (unsigned long)msg.epoch, TypeName(msg.type), to, (unsigned long)msg.view,
                   (unsigned long)msg.height, ShortHex(msg.digest).c_str());
      if (msg.type == ConsensusMsg::kNewView) {
        std::fprintf(stderr, " cp=%lu", (unsigned long)msg.view_changes[0].checkpoint_height);
        for (auto& vc : msg.view_changes) {
          std::fprintf(stderr, " [vc%u cp=%lu", vc.sender, (unsigned long)vc.checkpoint_height);
          for (auto& c : vc.prepared)
            std::fprintf(stderr, " %lu@v%lu:%s", (unsigned long)c.pre_prepare.height,
                         (unsigned long)c.pre_prepare.view, ShortHex(c.pre_prepare.digest).c_str());
          std::fprintf(stderr, "]");
        }
        for (auto& pp : msg.pre_prepares)
          std::fprintf(stderr, " pp%lu:%s", (unsigned long)pp.height, ShortHex(pp.digest).c_str());
      }
      if (msg.type == ConsensusMsg::kPrePrepare) {
        FakeBlock fb;
        if (DecodeFakeBlock(msg.block, &fb).ok())
          std::fprintf(stderr, " prev=%s", ShortHex(fb.prev).c_str());
      }
      std::fprintf(stderr, "\n");
    }
    for (uint32_t k = 0; k < set.size(); ++k) {
      const uint32_t j = set[k].member;
      if (j == i || (to != CoreOutput::kBroadcast && static_cast<uint32_t>(to) != k)) continue;
      for (ConsensusMsg& m : Mutate(i, j, msg)) {
        if (history_.size() < 4096) {
          history_.emplace_back(i, m);
        } else {
          history_[rng_() % history_.size()] = {i, m};
        }
        Event e;
        e.msg = std::move(m);
        Schedule(i, j, std::move(e));
      }
    }
  }
  // Peers speak a later epoch: the shell fetches certified blocks, at most once a resend
  // period (the hint is unverified).
  if (out.later_epoch > epoch && now_ - hinted_at_[i] >= base_.resend_ticks) {
    hinted_at_[i] = now_;
    out.need_state_transfer = out.later_epoch;
  }
  if (out.need_state_transfer) {
    if (transfer_lag_ == 0) {
      StateTransfer(i);
    } else if (transfer_due_.count(i) == 0) {
      transfer_due_[i] = now_ + transfer_lag_;
    }
  }
  MaybeSwitchEpoch(i);
}

void SimNetwork::MaybeSwitchEpoch(uint32_t i) {
  if (!up(i)) return;
  const uint64_t h = chains_[i].size();
  const uint64_t e = EpochAtHeight(h);
  if (e == core_epoch_[i]) return;
  std::unique_ptr<PbftCore> old = std::move(cores_[i]);
  std::unique_ptr<FakeSigner> old_signer = std::move(signers_[i]);
  const std::vector<Request> handed_on = old->UncommittedRequests();
  if (old->epoch_done()) {  // keeps answering peers still in that epoch
    old_cores_[i] = std::move(old);
    old_signers_[i] = std::move(old_signer);
    old_epoch_[i] = core_epoch_[i];
  } else {
    old_cores_[i].reset();
  }
  core_epoch_[i] = e;
  if (IndexIn(e, i) < 0) {  // left the set: stops
    removed_[i] = true;
    old_cores_[i].reset();
    transfer_due_.erase(i);
    return;
  }
  cores_[i] = MakeCore(i, e, h, &signers_[i]);
  RestoreVotesOf(i, cores_[i].get());
  for (const Request& r : handed_on) cores_[i]->OnRequest(r);
  Collect(i);
}

void SimNetwork::StartMember(uint32_t m, uint32_t from) {
  const uint64_t e = chains_[from].size();
  started_[m] = true;
  chains_[m].assign(chains_[from].begin(), chains_[from].begin() + e);
  for (const Applied& a : chains_[m]) committed_ids_[m].insert(a.ids.begin(), a.ids.end());
  core_epoch_[m] = e;
  cores_[m] = MakeCore(m, e, e, &signers_[m]);
  for (const Request& r : submitted_) {
    if (committed_ids_[m].count(r.id) == 0) cores_[m]->OnRequest(r);
  }
  Collect(m);
}

void SimNetwork::OnApplied(uint32_t i, uint64_t height) {
  if (up(i)) {
    auto next = epochs_.upper_bound(core_epoch_[i]);
    if (next != epochs_.end() && next->second.change_height == height) {
      cores_[i]->EndEpochAt(next->first);
    }
  }
  auto starts = epochs_.find(height);
  if (starts == epochs_.end() || height == 0 || !honest(i)) return;
  for (const SimMember& m : starts->second.set) {
    if (!started_[m.member]) StartMember(m.member, i);
  }
}

void SimNetwork::RunDueTransfers() {
  for (auto it = transfer_due_.begin(); it != transfer_due_.end();) {
    if (it->second > now_) {
      ++it;
      continue;
    }
    const uint32_t i = it->first;
    it = transfer_due_.erase(it);
    if (up(i)) StateTransfer(i);
  }
}

void SimNetwork::Record(uint32_t i, const CommittedBlock& b) {
  if (!honest(i)) {
    Applied a{b.header_hash, b.request_ids};
    if (b.height == chains_[i].size() + 1) RecordApplied(i, b.height, a);
    return;
  }
  std::ostringstream err;
  if (b.height != chains_[i].size() + 1) {
    err << "replica " << i << " applied height " << b.height << " after " << chains_[i].size();
  }
  std::set<uint32_t> signers;
  const Bytes digest = CommitDigest(base_.chain_id, b.height, b.view, b.header_hash);
  const Epoch& ep = epochs_.at(EpochOrdering(b.height));
  for (const auto& [v, sig] : b.commit_signatures) {
    if (ep.checker->Verify(v, digest, sig)) signers.insert(v);
  }
  const Quorum quorum(static_cast<uint32_t>(ep.set.size()));
  if (signers.size() < quorum.Strong() || signers.size() != b.commit_signatures.size()) {
    err << "replica " << i << " height " << b.height << ": bad commit certificate";
  }
  FakeBlock fb;
  const Bytes prev = chains_[i].empty() ? Bytes(32, '\0') : chains_[i].back().hash;
  if (!DecodeFakeBlock(b.block, &fb).ok() || fb.prev != prev ||
      FakeHeaderHash(fb) != b.header_hash) {
    err << "replica " << i << " height " << b.height << " view " << b.view
        << ": block does not chain (block prev " << ShortHex(fb.prev) << ", block view " << fb.view
        << ", chain tip " << ShortHex(prev) << ")";
  }
  if (!err.str().empty() && violation_.empty()) violation_ = err.str();
  if (b.height == chains_[i].size() + 1) RecordApplied(i, b.height, {b.header_hash, b.request_ids});
}

void SimNetwork::RecordApplied(uint32_t i, uint64_t height, const Applied& a) {
  if (std::getenv("PL_SIM_TRACE") != nullptr) {
    std::fprintf(stderr, "t=%lu r%u apply h=%lu %s\n", static_cast<unsigned long>(now_), i,
                 static_cast<unsigned long>(height), ShortHex(a.hash).c_str());
  }
  chains_[i].push_back(a);
  committed_ids_[i].insert(a.ids.begin(), a.ids.end());
  if (honest(i)) {
    auto [it, inserted] = honest_hashes_.emplace(height, a.hash);
    if (!inserted && it->second != a.hash && violation_.empty()) {
      violation_ = "fork at height " + std::to_string(height) + ": replica " + std::to_string(i) +
                   " committed " + ShortHex(a.hash) + ", another honest replica " +
                   ShortHex(it->second);
    }
  }
  OnApplied(i, height);
}

void SimNetwork::StateTransfer(uint32_t i) {
  uint32_t best = i;
  for (uint32_t j = 0; j < members(); ++j) {
    if (honest(j) && up(j) && chains_[j].size() > chains_[best].size()) best = j;
  }
  if (best == i) return;
  std::vector<TransferredBlock> blocks;
  for (uint64_t h = chains_[i].size() + 1; h <= chains_[best].size(); ++h) {
    const Applied a = chains_[best][h - 1];
    blocks.push_back({h, a.hash, a.ids});
    RecordApplied(i, h, a);
  }
  cores_[i]->OnStateTransferred(blocks);
  Collect(i);
}

void SimNetwork::Deliver(const Event& e) {
  if (!up(e.to)) return;
  ++delivered_;
  if (e.is_request) {
    cores_[e.to]->OnRequest(e.req);
    Collect(e.to);
  } else if (old_cores_[e.to] && e.msg.epoch == old_epoch_[e.to]) {
    old_cores_[e.to]->OnMessage(e.msg);
    Collect(e.to, true);
  } else {
    cores_[e.to]->OnMessage(e.msg);
    Collect(e.to);
  }
}

void SimNetwork::DeliverNow(uint32_t to, const ConsensusMsg& m) {
  Event e;
  e.to = to;
  e.msg = m;
  Deliver(e);
}

void SimNetwork::Step() {
  ++now_;
  while (!queue_.empty() && queue_.top().time <= now_) {
    Event e = queue_.top();
    queue_.pop();
    Deliver(e);
  }
  if (replay_p_ > 0 && !history_.empty() &&
      std::uniform_real_distribution<double>(0, 1)(rng_) < replay_p_) {
    const auto& [from, m] = history_[rng_() % history_.size()];
    Event e;
    e.msg = m;
    Schedule(from, static_cast<uint32_t>(rng_() % members()), std::move(e));
  }
  RunDueTransfers();
  for (uint32_t i = 0; i < members(); ++i) {
    if (old_cores_[i]) {
      old_cores_[i]->OnTick();
      Collect(i, true);
    }
    if (!up(i)) continue;
    cores_[i]->OnTick();
    Collect(i);
  }
}

void SimNetwork::RunTicks(uint64_t ticks) {
  for (uint64_t t = 0; t < ticks; ++t) Step();
}

bool SimNetwork::RunUntilAllCommitted(uint64_t max_ticks, uint64_t retry_ticks) {
  // Committed ids only grow, so each member's prefix of submitted_ known committed only
  // grows too: checking resumes where it stopped (a full scan every tick dominated long runs).
  auto done = [&] {
    checked_upto_.resize(members(), 0);
    for (uint32_t i = 0; i < members(); ++i) {
      if (!honest(i) || !up(i)) continue;
      size_t& k = checked_upto_[i];
      while (k < submitted_.size() && committed_ids_[i].count(submitted_[k].id) > 0) ++k;
      if (k < submitted_.size()) return false;
    }
    return true;
  };
  for (uint64_t t = 0; t < max_ticks; ++t) {
    if (done()) return true;
    if (t % retry_ticks == retry_ticks - 1) {
      for (const Request& r : submitted_) {
        for (uint32_t i = 0; i < members(); ++i) {
          if (!up(i) || committed_ids_[i].count(r.id) > 0) continue;
          cores_[i]->OnRequest(r);
          Collect(i);
        }
      }
    }
    Step();
  }
  return done();
}

bool SimNetwork::AllInOneView() const {
  bool first = true;
  uint64_t view = 0;
  for (uint32_t i = 0; i < members(); ++i) {
    if (!honest(i) || !up(i)) continue;
    if (cores_[i]->in_view_change()) return false;
    if (!first && cores_[i]->view() != view) return false;
    view = cores_[i]->view();
    first = false;
  }
  return true;
}

uint64_t SimNetwork::RunUntilOneView(uint64_t max_ticks) {
  for (uint64_t t = 0; t <= max_ticks; ++t) {
    if (AllInOneView()) return t;
    Step();
  }
  return max_ticks + 1;
}

std::string SimNetwork::Describe() const {
  std::ostringstream s;
  s << "seed=" << seed_ << " (replay with PL_SIM_SEED=" << seed_ << ") tick=" << now_;
  for (uint32_t i = 0; i < members(); ++i) {
    s << " | r" << i << ":";
    if (!up(i)) {
      s << (removed_[i]   ? "removed"
            : started_[i] ? "down"
                          : "not started")
        << " h=" << chains_[i].size();
      continue;
    }
    const PbftCore& c = *cores_[i];
    s << "e=" << core_epoch_[i] << " v=" << c.view() << (c.in_view_change() ? "(vc)" : "")
      << (c.suspects_view() ? "(suspect)" : "") << " h=" << c.committed_height()
      << " low=" << c.low_watermark() << " drops=" << c.dropped_total();
    if (std::getenv("PL_SIM_DROPS") != nullptr) {
      for (size_t r = 0; r < static_cast<size_t>(DropReason::kCount); ++r) {
        const uint64_t d = c.dropped(static_cast<DropReason>(r));
        if (d != 0) s << " " << DropReasonName(static_cast<DropReason>(r)) << "=" << d;
      }
    }
  }
  if (!violation_.empty()) s << " | VIOLATION: " << violation_;
  return s.str();
}

}  // namespace testing
}  // namespace consensus
}  // namespace provledger
