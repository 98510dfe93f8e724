#include "node/block_repairer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "common/log.h"
#include "common/sha256.h"
#include "ledger/block_header.h"
#include "ledger/chain_check.h"
#include "ledger/merkle/tree_hasher.h"

namespace provledger::node {

namespace v1 = provledger::v1;

ledger::ValidatorSchedule CurrentSchedule(const ScheduleSource& source,
                                          const ledger::Genesis& genesis) {
  std::shared_ptr<const ledger::ValidatorSchedule> s = source ? source() : nullptr;
  return s != nullptr ? *s : ledger::ValidatorSchedule(genesis);
}

StatusOr<PeerBlock> CheckPeerBlock(const ledger::Genesis& genesis, uint64_t height,
                                   const v1::Block& blk, const std::optional<Bytes>& prev_hash) {
  return CheckPeerBlock(genesis, ledger::ValidatorSet::FromGenesis(genesis), height, blk,
                        prev_hash);
}

StatusOr<PeerBlock> CheckPeerBlock(const ledger::Genesis& genesis, const ledger::ValidatorSet& set,
                                   uint64_t height, const v1::Block& blk,
                                   const std::optional<Bytes>& prev_hash) {
  PeerBlock out;
  ledger::CheckedHeader checked;
  Status s = ledger::CheckCertifiedBlockWithSet(
      ledger::ChainLink{genesis.chain_id, height, prev_hash}, blk.header(),
      /*record_ids=*/nullptr, blk.certificate(), &set, &checked);
  if (s.code() == StatusCode::kFailedPrecondition) return InvalidArgumentError(s.message());
  PL_RETURN_IF_ERROR(s);
  out.header = std::move(checked.header);
  out.hash = std::move(checked.header_hash);
  out.block.header_bytes = blk.header();
  out.block.records.assign(blk.records().begin(), blk.records().end());
  out.block.certificate = blk.certificate();
  bool any_payload = false;
  for (int i = 0; i < blk.records_size(); ++i) {
    PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(blk.records(i)));
    std::optional<Bytes> payload;
    if (i < blk.payloads_size()) {
      // Nodes keep the payloads of device records (kinds 1 and 2) only.
      const ledger::RecordFields f = ledger::FieldsOf(rec);
      if (f.from_device && Sha256(blk.payloads(i)) == f.payload_hash) payload = blk.payloads(i);
    }
    any_payload = any_payload || payload.has_value();
    out.block.payloads.push_back(std::move(payload));
    out.records.push_back(std::move(rec));
  }
  if (!any_payload) out.block.payloads.clear();
  return out;
}

Status CheckRecordsMatchHeader(const PeerBlock& pb) {
  std::vector<Bytes> ids;
  ids.reserve(pb.block.records.size());
  for (const Bytes& r : pb.block.records) ids.push_back(ledger::RecordId(r));
  if (pb.header.record_count != ids.size() || ledger::MerkleRoot(ids) != pb.header.root) {
    return InvalidArgumentError("its records do not match the header's root and count");
  }
  return OkStatus();
}

BlockRepairer::BlockRepairer(const ledger::Genesis* genesis, uint32_t self,
                             std::vector<v1::Ledger::Stub*> peers, Deliver deliver)
    : genesis_(genesis), self_(self), deliver_(std::move(deliver)), peers_(std::move(peers)) {
  for (size_t i = 0; i < peers_.size(); ++i) {
    names_.push_back(i < genesis_->n() ? genesis_->validators[i].id : std::to_string(i));
  }
  worker_ = std::make_unique<Worker>("repair", [this](Worker& w) { Loop(w); });
  worker_->set_on_stop([this] { cv_.notify_all(); });
}

BlockRepairer::~BlockRepairer() { worker_.reset(); }

void BlockRepairer::Request(uint64_t height) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (inflight_.count(height) > 0 || !wanted_.insert(height).second) return;
  }
  LogWarn("block_damaged").Kv("height", height).Kv("action", "fetching it from peers");
  cv_.notify_one();
}

void BlockRepairer::SetScheduleSource(ScheduleSource source) {
  std::lock_guard<std::mutex> lock(mu_);
  schedule_source_ = std::move(source);
}

void BlockRepairer::SetOnRefused(RefusedBlockFn refused) {
  std::lock_guard<std::mutex> lock(mu_);
  refused_ = std::move(refused);
}

void BlockRepairer::SetPeers(std::vector<v1::Ledger::Stub*> peers, std::vector<std::string> names) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_ = std::move(peers);
  names_ = std::move(names);
  names_.resize(peers_.size());
}

void BlockRepairer::Done(uint64_t height, bool settled) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    inflight_.erase(height);
    if (!settled) wanted_.insert(height);  // the next round starts at another peer
  }
  if (!settled) cv_.notify_one();
}

void BlockRepairer::Loop(Worker& w) {
  while (!w.stopping()) {
    uint64_t h = 0;
    std::vector<v1::Ledger::Stub*> peers;
    std::vector<std::string> names;
    ScheduleSource source;
    RefusedBlockFn refused;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return w.stopping() || !wanted_.empty(); });
      if (w.stopping()) return;
      if (wanted_.empty()) continue;
      h = *wanted_.begin();
      wanted_.erase(wanted_.begin());
      inflight_.insert(h);
      peers = peers_;
      names = names_;
      source = schedule_source_;
      refused = refused_;
    }
    // A stored height: the registry's schedule (as of our head) knows its set.
    const ledger::ValidatorSchedule schedule = CurrentSchedule(source, *genesis_);
    const ledger::ValidatorSet& set = schedule.SetAt(h);
    bool delivered = false;
    std::string last_err = "no peer";
    for (size_t k = 0; k < peers.size() && !delivered && !w.stopping(); ++k) {
      const size_t i = (self_ + 1 + round_ + k) % peers.size();
      if (peers[i] == nullptr) continue;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::GetBlockRequest req;
      req.set_height(h);
      req.set_with_payloads(true);
      v1::Block blk;
      grpc::Status gs = peers[i]->GetBlock(&ctx, req, &blk);
      if (!gs.ok()) {
        last_err = names[i] + ": " + gs.error_message();
        continue;
      }
      // Trust nothing a peer sends: a valid certificate, the records the header names.
      StatusOr<PeerBlock> pb = CheckPeerBlock(*genesis_, set, h, blk);
      if (pb.ok()) {
        Status records = CheckRecordsMatchHeader(*pb);
        if (!records.ok()) pb = records;
      }
      if (!pb.ok()) {
        // An answer that fails a check is a lie (or a faulty peer); no answer is not.
        LogWarn("block_repair_refused")
            .Kv("height", h)
            .Kv("from", names[i])
            .Kv("err", pb.status().ToString());
        if (refused) refused(names[i], h, pb.status());
        last_err = names[i] + ": " + pb.status().ToString();
        continue;
      }
      auto copy = std::make_shared<Copy>();
      copy->height = h;
      copy->from = static_cast<uint32_t>(i);
      copy->block = std::move(pb->block);
      Status s = deliver_(std::move(copy));
      delivered = s.ok();
      if (!delivered) last_err = s.ToString();
    }
    ++round_;
    if (delivered) {
      failures_.erase(h);
      continue;  // inflight until Done()
    }
    // No good copy this round: ask again later, backing off up to 30 s.
    const int failures = ++failures_[h];
    if (failures == 1 || failures % 10 == 0) {
      LogWarn("block_repair_failed").Kv("height", h).Kv("rounds", failures).Kv("err", last_err);
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(std::min(30, 1 << std::min(failures, 5))),
                 [&] { return w.stopping(); });
    inflight_.erase(h);
    wanted_.insert(h);
  }
}

}  // namespace provledger::node
