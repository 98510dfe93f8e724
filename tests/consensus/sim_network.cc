#include "tests/consensus/sim_network.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

#include "common/sha256.h"

namespace provledger {
namespace consensus {
namespace testing {

SimNetwork::SimNetwork(uint32_t n, uint64_t seed, PbftConfig base)
    : n_(n), seed_(seed), base_(std::move(base)), rng_(seed), checker_(n) {
  for (uint32_t i = 0; i < n_; ++i) {
    signers_.push_back(std::make_unique<FakeSigner>(i));
    factories_.push_back(std::make_unique<FakeBlockFactory>());
    byzantine_[i] = Byzantine::kHonest;
  }
  chains_.resize(n_);
  committed_ids_.resize(n_);
  group_.assign(n_, 0);
  for (uint32_t i = 0; i < n_; ++i) cores_.push_back(MakeCore(i, 0, Bytes(32, '\0')));
}

std::unique_ptr<PbftCore> SimNetwork::MakeCore(uint32_t i, uint64_t height, const Bytes& hash) {
  PbftConfig c = base_;
  c.n = n_;
  c.self = i;
  return std::make_unique<PbftCore>(c, signers_[i].get(), &checker_, factories_[i].get(), height,
                                    hash);
}

void SimNetwork::Drop(int from, int to, double p) { drop_[{from, to}] = p; }

void SimNetwork::Partition(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  group_.assign(n_, 0);
  for (uint32_t x : a) group_[x] = 1;
  for (uint32_t x : b) group_[x] = 2;
}

void SimNetwork::Heal() {
  drop_.clear();
  group_.assign(n_, 0);
  max_delay_ = 0;
  reorder_ = false;
  replay_p_ = 0;
}

void SimNetwork::Crash(uint32_t i) {
  cores_[i].reset();
  transfer_due_.erase(i);
}

void SimNetwork::Restart(uint32_t i, bool with_votes) {
  if (up(i)) return;
  const uint64_t h = chains_[i].size();
  cores_[i] = MakeCore(i, h, h == 0 ? Bytes(32, '\0') : chains_[i].back().hash);
  if (!with_votes) return;
  std::vector<Vote> votes;
  for (const auto& [key, digest] : disk_votes_[i]) {
    votes.push_back(Vote{std::get<0>(key), std::get<1>(key), std::get<2>(key), digest});
  }
  cores_[i]->RestoreVotes(votes);
}

Request SimNetwork::MakeRequest(uint64_t k) {
  Request r;
  r.id = Sha256("request-" + std::to_string(k));
  r.payload = "payload-" + std::to_string(k);
  return r;
}

void SimNetwork::Submit(const Request& req) {
  submitted_.push_back(req);
  for (uint32_t i = 0; i < n_; ++i) {
    if (!up(i)) continue;
    cores_[i]->OnRequest(req);
    Collect(i);
  }
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
    x.signature = signers_[from]->Sign(SigningDigest(base_.chain_id, x));
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
    forged.sender = (from + 1) % n_;
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

void SimNetwork::Collect(uint32_t i) {
  if (!up(i)) return;
  CoreOutput out = cores_[i]->TakeOutput();
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
    Schedule(i, primary, std::move(e));
  }
  for (auto& [to, msg] : out.to_send) {
    if (std::getenv("PL_SIM_TRACE") != nullptr && msg.type != ConsensusMsg::kCheckpoint) {
      std::fprintf(stderr, "t=%lu r%u send %s to=%d v=%lu h=%lu d=%s", (unsigned long)now_, i,
                   TypeName(msg.type), to, (unsigned long)msg.view, (unsigned long)msg.height,
                   ShortHex(msg.digest).c_str());
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
    for (uint32_t j = 0; j < n_; ++j) {
      if (j == i || (to != CoreOutput::kBroadcast && static_cast<uint32_t>(to) != j)) continue;
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
  if (out.need_state_transfer) {
    if (transfer_lag_ == 0) {
      StateTransfer(i);
    } else if (transfer_due_.count(i) == 0) {
      transfer_due_[i] = now_ + transfer_lag_;
    }
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
  for (const auto& [v, sig] : b.commit_signatures) {
    if (checker_.Verify(v, digest, sig)) signers.insert(v);
  }
  if (signers.size() < 2 * ((n_ - 1) / 3) + 1 || signers.size() != b.commit_signatures.size()) {
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
  if (!honest(i)) return;
  auto [it, inserted] = honest_hashes_.emplace(height, a.hash);
  if (!inserted && it->second != a.hash && violation_.empty()) {
    violation_ = "fork at height " + std::to_string(height) + ": replica " + std::to_string(i) +
                 " committed " + ShortHex(a.hash) + ", another honest replica " +
                 ShortHex(it->second);
  }
}

void SimNetwork::StateTransfer(uint32_t i) {
  uint32_t best = i;
  for (uint32_t j = 0; j < n_; ++j) {
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

void SimNetwork::Step() {
  ++now_;
  while (!queue_.empty() && queue_.top().time <= now_) {
    Event e = queue_.top();
    queue_.pop();
    if (!up(e.to)) continue;
    if (e.is_request) {
      cores_[e.to]->OnRequest(std::move(e.req));
    } else {
      cores_[e.to]->OnMessage(e.msg);
    }
    ++delivered_;
    Collect(e.to);
  }
  if (replay_p_ > 0 && !history_.empty() &&
      std::uniform_real_distribution<double>(0, 1)(rng_) < replay_p_) {
    const auto& [from, m] = history_[rng_() % history_.size()];
    Event e;
    e.msg = m;
    Schedule(from, static_cast<uint32_t>(rng_() % n_), std::move(e));
  }
  RunDueTransfers();
  for (uint32_t i = 0; i < n_; ++i) {
    if (!up(i)) continue;
    cores_[i]->OnTick();
    Collect(i);
  }
}

void SimNetwork::RunTicks(uint64_t ticks) {
  for (uint64_t t = 0; t < ticks; ++t) Step();
}

bool SimNetwork::RunUntilAllCommitted(uint64_t max_ticks, uint64_t retry_ticks) {
  auto done = [&] {
    for (uint32_t i = 0; i < n_; ++i) {
      if (!honest(i) || !up(i)) continue;
      for (const Request& r : submitted_) {
        if (committed_ids_[i].count(r.id) == 0) return false;
      }
    }
    return true;
  };
  for (uint64_t t = 0; t < max_ticks; ++t) {
    if (done()) return true;
    if (t % retry_ticks == retry_ticks - 1) {
      for (const Request& r : submitted_) {
        for (uint32_t i = 0; i < n_; ++i) {
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
  for (uint32_t i = 0; i < n_; ++i) {
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
  for (uint32_t i = 0; i < n_; ++i) {
    s << " | r" << i << ":";
    if (!up(i)) {
      s << "down h=" << chains_[i].size();
      continue;
    }
    const PbftCore& c = *cores_[i];
    s << "v=" << c.view() << (c.in_view_change() ? "(vc)" : "")
      << (c.suspects_view() ? "(suspect)" : "") << " h=" << c.committed_height()
      << " low=" << c.low_watermark() << " drops=" << c.dropped_total();
  }
  if (!violation_.empty()) s << " | VIOLATION: " << violation_;
  return s.str();
}

}  // namespace testing
}  // namespace consensus
}  // namespace provledger
