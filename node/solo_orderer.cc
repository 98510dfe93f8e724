#include "node/solo_orderer.h"

#include <chrono>
#include <map>
#include <set>

#include "common/log.h"
#include "ledger/block_header.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"

namespace provledger::node {

SoloOrderer::SoloOrderer(ledger::BlockStore* store, const ledger::Genesis& genesis, PrivateKey key,
                         uint32_t self, RegistryHolder* registry, OrdererOptions options)
    : store_(store),
      genesis_(genesis),
      key_(std::move(key)),
      self_(self),
      registry_(registry),
      options_(options) {
  if (store_->height() > 0) {
    auto hb = store_->ReadHeaderBytes(store_->height());
    if (hb.ok()) {
      auto h = ledger::DecodeHeader(*hb);
      if (h.ok()) last_timestamp_ = h->timestamp;
    }
  }
  worker_ = std::make_unique<Worker>("orderer", [this](Worker& w) { Run(w); });
}

SoloOrderer::~SoloOrderer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.reset();
  // Whatever is still queued was never written: say so.
  for (auto& w : queue_) w->done.set_value(UnavailableError("node is shutting down"));
}

StatusOr<std::future<SubmitResult>> SoloOrderer::Submit(CheckedBatch batch,
                                                        provledger::v1::ConsensusRequest) {
  auto w = std::make_unique<Waiting>();
  const size_t n = batch.records.size();
  w->batch = std::move(batch);
  auto fut = w->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return UnavailableError("node is shutting down");
    if (queue_.size() >= options_.max_queued_batches) {
      return ResourceExhaustedError("submission queue is full (" +
                                    std::to_string(options_.max_queued_batches) +
                                    " batches); retry later");
    }
    queue_.push_back(std::move(w));
    queued_records_ += n;
  }
  pending_.fetch_add(1);
  cv_.notify_one();
  return fut;
}

void SoloOrderer::Run(Worker& w) {
  while (true) {
    std::vector<std::unique_ptr<Waiting>> take;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      // Give a block a moment to fill unless it is already full.
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.block_timeout_ms);
      cv_.wait_until(lock, deadline,
                     [&] { return stopping_ || queued_records_ >= options_.max_block_records; });
      if (stopping_) return;
      size_t records = 0;
      while (!queue_.empty()) {
        const size_t n = queue_.front()->batch.records.size();
        if (!take.empty() && records + n > options_.max_block_records) break;
        records += n;
        queued_records_ -= n;
        take.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    (void)w;
    CutBlock(std::move(take));
  }
}

void SoloOrderer::CutBlock(std::vector<std::unique_ptr<Waiting>> subs) {
  const uint64_t height = store_->height() + 1;
  std::vector<provledger::v1::SubmitResponse> responses(subs.size());
  ledger::BlockToAppend block;
  std::map<Bytes, uint32_t> in_block;  // record id -> index in this block
  std::set<std::pair<std::string, uint64_t>> seqs_in_block;
  auto snapshot = registry_->Get();
  bool payloads_seen = false;

  for (size_t s = 0; s < subs.size(); ++s) {
    for (const auto& rec : subs[s]->batch.records) {
      auto* res = responses[s].add_results();
      res->set_record_id(rec.id);
      auto loc = store_->FindRecord(rec.id);
      if (loc.ok()) {
        res->set_outcome(provledger::v1::RecordResult::DUPLICATE);
        res->set_height(loc->height);
        res->set_index(loc->index);
        continue;
      }
      auto it = in_block.find(rec.id);
      if (it != in_block.end()) {
        res->set_outcome(provledger::v1::RecordResult::DUPLICATE);
        res->set_height(height);
        res->set_index(it->second);
        continue;
      }
      bool seq_stored = false;
      if (rec.has_seq) {
        auto got = store_->ContainsSeq(rec.device, rec.seq);
        if (!got.ok()) {  // unreadable index: acknowledge nothing of this cut
          LogError("block_append_failed").Kv("height", height).Kv("err", got.status().ToString());
          for (auto& w : subs) w->done.set_value(got.status());
          pending_.fetch_sub(subs.size());
          return;
        }
        seq_stored = *got;
      }
      if (rec.has_seq && (seq_stored || seqs_in_block.count({rec.device, rec.seq}) > 0)) {
        res->set_outcome(provledger::v1::RecordResult::CONFLICT);
        continue;
      }
      const uint32_t index = static_cast<uint32_t>(block.records.size());
      in_block[rec.id] = index;
      if (rec.has_seq) seqs_in_block.insert({rec.device, rec.seq});
      if (rec.registry_op) {
        snapshot = snapshot->Apply(*rec.registry_op, height, &block.registry_puts);
      }
      res->set_outcome(provledger::v1::RecordResult::COMMITTED);
      res->set_height(height);
      res->set_index(index);
      block.records.push_back(rec.bytes);
      block.payloads.push_back(rec.payload);
      payloads_seen = payloads_seen || rec.payload.has_value();
    }
  }
  if (!payloads_seen) block.payloads.clear();

  if (!block.records.empty()) {
    std::vector<Bytes> leaves;
    leaves.reserve(block.records.size());
    for (const auto& r : block.records) leaves.push_back(ledger::RecordId(r));
    ledger::BlockHeader header;
    header.chain_id = genesis_.chain_id;
    header.height = height;
    header.prev = store_->head_hash();
    header.root = ledger::MerkleRoot(leaves);
    header.record_count = block.records.size();
    header.timestamp = std::max(NowMs(), last_timestamp_);
    header.view = 0;
    header.proposer = genesis_.validators[self_].id;
    block.header_bytes = ledger::EncodeHeader(header);
    const Bytes header_hash = ledger::HeaderHash(block.header_bytes);
    const Bytes digest = ledger::CommitDigest(genesis_.chain_id, height, 0, header_hash);
    auto sig = key_.Sign(digest);
    Status st = sig.status();
    if (st.ok()) {
      block.certificate.set_view(0);
      block.certificate.set_digest(digest);
      auto* cs = block.certificate.add_signatures();
      cs->set_validator(self_);
      cs->set_signature(*sig);
      st = store_->Append(block);
    }
    if (!st.ok()) {
      LogError(store_->write_status().ok() ? "block_append_failed" : "store_write_failed")
          .Kv("height", height)
          .Kv("err", st.ToString());
      // Nothing of this block is durable: no submission in it is acknowledged.
      for (auto& w : subs) w->done.set_value(st.Annotate("block " + std::to_string(height)));
      pending_.fetch_sub(subs.size());
      return;
    }
    last_timestamp_ = header.timestamp;
    registry_->Set(snapshot);
    blocks_.fetch_add(1);
    LogDebug("block_committed")
        .Kv("height", height)
        .Kv("records", block.records.size())
        .Kv("hash", ShortHex(header_hash));
  }
  for (size_t s = 0; s < subs.size(); ++s) subs[s]->done.set_value(std::move(responses[s]));
  pending_.fetch_sub(subs.size());
}

}  // namespace provledger::node
