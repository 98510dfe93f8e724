#include "node/chain_block_factory.h"

#include "common/log.h"
#include "ledger/block_header.h"
#include "ledger/merkle/tree_hasher.h"
#include "ledger/record.h"

namespace provledger::node {

namespace v1 = provledger::v1;

StatusOr<RequestIds> IdentifyRequest(const std::string& chain_id, const v1::ConsensusRequest& r) {
  RequestIds out;
  if (r.has_batch()) {
    std::vector<Bytes> ids;
    ids.reserve(r.batch().records_size());
    for (const auto& rec : r.batch().records()) {
      ids.push_back(ledger::RecordId(rec));
      out.record_ids += ids.back();
    }
    out.id = ledger::BatchDigest(chain_id, r.batch().gateway(), ids);
    return out;
  }
  if (r.kind_case() == v1::ConsensusRequest::kRegistryTx) {
    ledger::Record rec;
    rec.kind = ledger::RecordKind::kRegistry;
    rec.registry.tx = r.registry_tx();
    out.id = ledger::RecordId(ledger::EncodeRecord(rec));
    out.record_ids = out.id;
    return out;
  }
  if (r.kind_case() == v1::ConsensusRequest::kFirmwareRecord) {
    out.id = ledger::RecordId(r.firmware_record());
    out.record_ids = out.id;
    return out;
  }
  return InvalidArgumentError(
      "request carries neither a batch, a registry transaction nor a firmware record");
}

StatusOr<Bytes> RequestId(const std::string& chain_id, const v1::ConsensusRequest& r) {
  PL_ASSIGN_OR_RETURN(RequestIds ids, IdentifyRequest(chain_id, r));
  return std::move(ids.id);
}

size_t PrecheckProposal(const ledger::Genesis& genesis,
                        std::shared_ptr<const ledger::RegistrySnapshot> registry, ByteView block,
                        const BatchLimits& limits, CheckedBatchCache* cache) {
  v1::ConsensusBlock cb;
  if (!cb.ParseFromArray(block.data(), static_cast<int>(block.size()))) return 0;
  size_t validated = 0;
  for (int i = 0; i < cb.requests_size(); ++i) {
    const v1::ConsensusRequest& req = cb.requests(i);
    if (!req.has_batch()) continue;
    if (i < cb.request_ids_size() && cache->Contains(cb.request_ids(i))) continue;
    StatusOr<CheckedBatch> checked = ValidateBatch(genesis, *registry, req.batch(), limits);
    ++validated;
    if (!checked.ok()) continue;  // the derivation refuses it again, with the same reason
    const Bytes id = checked->digest;
    cache->Put(id, req.batch(), registry, std::move(*checked));
  }
  return validated;
}

ChainBlockFactory::ChainBlockFactory(ledger::BlockStore* store, const ledger::Genesis* genesis,
                                     RegistryHolder* registry, Clock clock, BatchLimits limits,
                                     CheckedBatchCache* checked)
    : store_(store),
      genesis_(genesis),
      registry_(registry),
      clock_(std::move(clock)),
      limits_(limits),
      checked_(checked) {}

namespace {
// A failed read of our store (kDataLoss, kInternal from BlockStore): never a verdict on a
// request, which would be rejected on this replica only.
bool IsStoreReadError(const Status& s) {
  return s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kInternal;
}

}  // namespace

std::vector<const ChainBlockFactory::Pending*> ChainBlockFactory::OverlayBelow(
    ByteView prev_hash) const {
  const Bytes head = store_->head_hash();
  std::vector<const Pending*> above;
  Bytes h(prev_hash);
  for (int guard = 0; h != head && guard < 1024; ++guard) {
    auto it = overlay_.find(h);
    if (it == overlay_.end()) break;
    above.push_back(&it->second);
    h = it->second.block.header.prev;
  }
  return above;
}

StatusOr<bool> ChainBlockFactory::SeenBelow(const std::vector<const Pending*>& above,
                                            const Bytes& id,
                                            const std::pair<std::string, uint64_t>* seq) const {
  // A device's record: one lookup. A stored record with this id has this (device, seq) (the
  // id hashes the record's bytes), and the store writes, prunes and installs its id and
  // (device, seq) index entries together, so "id or (device, seq) stored" is "(device, seq)
  // stored".
  PL_ASSIGN_OR_RETURN(bool stored, seq != nullptr ? store_->ContainsSeq(seq->first, seq->second)
                                                  : store_->Contains(id));
  if (stored) return true;
  for (const Pending* p : above) {
    if (p->ids.count(id) > 0) return true;
    if (seq != nullptr && p->seqs.count(*seq) > 0) return true;
  }
  return false;
}

std::shared_ptr<const ledger::RegistrySnapshot> ChainBlockFactory::RegistryAt(
    ByteView prev_hash) const {
  auto reg = registry_->Get();  // as of the store's head (the consensus thread applies both)
  const Bytes head = store_->head_hash();
  std::vector<const DerivedBlock*> above;  // proposed-but-unapplied blocks, newest first
  Bytes h(prev_hash);
  for (int guard = 0; h != head && guard < 1024; ++guard) {
    auto it = overlay_.find(h);
    if (it == overlay_.end()) break;
    above.push_back(&it->second.block);
    h = it->second.block.header.prev;
  }
  if (h != head) return reg;                  // not built on our head: nothing better to go on
  std::vector<std::pair<Bytes, Bytes>> puts;  // not kept: Apply of the block writes them
  for (auto it = above.rbegin(); it != above.rend(); ++it) {
    for (const auto& op : (*it)->registry_ops) reg = reg->Apply(op, (*it)->header.height, &puts);
  }
  return reg;
}

Status ChainBlockFactory::Derive(uint64_t height, ByteView prev_hash,
                                 const std::vector<v1::ConsensusRequest>& requests,
                                 DerivedBlock* out, Pending* keys) {
  // Every replica checks a block's requests against the registry as of its parent, the
  // registry changes of pipelined blocks not yet applied included, so all derive the same
  // records whichever blocks each has applied yet.
  auto reg = RegistryAt(prev_hash);
  // Read once per block, not per record: the overlay changes only on this thread.
  const std::vector<const Pending*> above = OverlayBelow(prev_hash);
  std::unordered_set<Bytes> ids;
  SeqSet seqs;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& req = requests[i];
    StatusOr<Bytes> request_id = RequestId(genesis_->chain_id, req);
    if (!request_id.ok()) return request_id.status().Annotate("request " + std::to_string(i));
    const Bytes& rid = *request_id;
    StatusOr<CheckedBatch> checked = InvalidArgumentError("empty request");
    if (req.has_batch()) {
      std::optional<CheckedBatch> cached =
          checked_ ? checked_->Take(rid, req.batch(), reg.get()) : std::nullopt;
      checked = cached ? std::move(*cached) : ValidateBatch(*genesis_, *reg, req.batch(), limits_);
    } else if (req.kind_case() == v1::ConsensusRequest::kRegistryTx) {
      checked = ValidateRegistrySubmission(*genesis_, req.registry_tx());
    } else if (req.kind_case() == v1::ConsensusRequest::kFirmwareRecord) {
      // Against the registry as of the parent, like batches: every replica derives the same.
      checked = ValidateFirmwareSubmission(*reg, req.firmware_record(), limits_);
    }
    if (!checked.ok()) return checked.status().Annotate("request " + std::to_string(i));
    out->request_ids.push_back(rid);
    for (auto& r : checked->refused) out->refused_records.emplace(r.id, r.status);
    for (auto& rec : checked->records) {
      const std::pair<std::string, uint64_t> seq{rec.device, rec.seq};
      if (ids.count(rec.id) > 0 || (rec.has_seq && seqs.count(seq) > 0)) continue;
      PL_ASSIGN_OR_RETURN(bool seen, SeenBelow(above, rec.id, rec.has_seq ? &seq : nullptr));
      if (seen) continue;
      ids.insert(rec.id);
      if (rec.has_seq) seqs.insert(seq);
      if (rec.registry_op) out->registry_ops.push_back(*rec.registry_op);
      out->record_ids.push_back(rec.id);
      ledger::IndexFields& f = out->index_fields.emplace_back();
      if (rec.has_seq) {
        f.from_device = true;
        f.device = std::move(rec.device);
        f.item = std::move(rec.item);
        f.seq = rec.seq;
        f.ts = rec.ts;
      }
      out->records.push_back(std::move(rec.bytes));
      out->payloads.push_back(std::move(rec.payload));
    }
  }
  (void)height;
  if (keys != nullptr) {
    keys->ids = std::move(ids);
    keys->seqs = std::move(seqs);
  }
  return OkStatus();
}

StatusOr<consensus::Proposal> ChainBlockFactory::Build(uint64_t height, uint64_t view,
                                                       ByteView prev_hash,
                                                       std::vector<consensus::Request> requests) {
  const size_t n = requests.size();
  auto p = BuildBlock(height, view, prev_hash, std::move(requests));
  if (!p.ok() && (height != logged_failure_height_ || p.status().ToString() != logged_failure_)) {
    logged_failure_height_ = height;
    logged_failure_ = p.status().ToString();
    LogWarn("propose_failed")
        .Kv("height", height)
        .Kv("view", view)
        .Kv("requests", static_cast<uint64_t>(n))
        .Kv("err", logged_failure_);
  }
  return p;
}

StatusOr<consensus::Proposal> ChainBlockFactory::BuildBlock(
    uint64_t height, uint64_t view, ByteView prev_hash, std::vector<consensus::Request> requests) {
  std::vector<v1::ConsensusRequest> reqs;
  v1::ConsensusBlock cb;
  for (const auto& r : requests) {
    v1::ConsensusRequest cr;
    if (!cr.ParseFromString(r.payload))
      return InvalidArgumentError("request payload does not parse");
    *cb.add_requests() = cr;
    reqs.push_back(std::move(cr));
  }
  DerivedBlock d;
  Pending pending;
  // A request that no longer checks out (say a revoked device) is ordered as rejected
  // instead of stalling every later one or staying pending on the backups.
  Status s = Derive(height, prev_hash, reqs, &d, &pending);
  if (IsStoreReadError(s)) return s;  // our disk, not the requests: propose nothing
  if (!s.ok()) {
    std::vector<v1::ConsensusRequest> good;
    cb.clear_requests();
    for (auto& r : reqs) {
      DerivedBlock probe;
      Status one = Derive(height, prev_hash, {r}, &probe);
      if (IsStoreReadError(one)) return one;
      if (one.ok()) {
        *cb.add_requests() = r;
        good.push_back(r);
      } else {
        auto rid = RequestId(genesis_->chain_id, r);
        if (!rid.ok()) continue;  // cannot even be named: nobody waits for it
        *cb.add_rejected() = r;
        d.rejected_ids.push_back(*rid);
        d.rejected_errors.push_back(one);
      }
    }
    std::vector<Bytes> rejected_ids = std::move(d.rejected_ids);
    std::vector<Status> rejected_errors = std::move(d.rejected_errors);
    d = DerivedBlock();
    PL_RETURN_IF_ERROR(Derive(height, prev_hash, good, &d, &pending));
    d.rejected_ids = std::move(rejected_ids);
    d.rejected_errors = std::move(rejected_errors);
  }
  for (const auto& id : d.request_ids) cb.add_request_ids(id);
  d.header.chain_id = genesis_->chain_id;
  d.header.height = height;
  d.header.prev = Bytes(prev_hash);
  d.header.root = ledger::MerkleRoot(d.record_ids);
  d.header.record_count = d.records.size();
  uint64_t ts = clock_();
  auto parent = overlay_.find(Bytes(prev_hash));
  if (parent != overlay_.end()) ts = std::max(ts, parent->second.block.header.timestamp);
  d.header.timestamp = ts;
  d.header.view = view;
  d.header.proposer = genesis_->Primary(view).id;
  d.header_bytes = ledger::EncodeHeader(d.header);
  d.header_hash = ledger::HeaderHash(d.header_bytes);
  cb.set_header(d.header_bytes);
  consensus::Proposal p{d.header_hash, cb.SerializeAsString()};
  pending.block = std::move(d);
  overlay_[p.header_hash] = std::move(pending);
  return p;
}

Status ChainBlockFactory::Validate(uint64_t height, uint64_t view, ByteView prev_hash,
                                   ByteView block, consensus::BlockInfo* info) {
  v1::ConsensusBlock cb;
  if (!cb.ParseFromArray(block.data(), static_cast<int>(block.size()))) {
    return InvalidArgumentError("block does not parse");
  }
  PL_ASSIGN_OR_RETURN(ledger::BlockHeader h, ledger::DecodeHeader(cb.header()));
  const Bytes hash = ledger::HeaderHash(cb.header());
  auto known = overlay_.find(hash);
  if (known != overlay_.end()) {  // built or checked here already
    info->header_hash = hash;
    const DerivedBlock& kb = known->second.block;
    info->request_ids = kb.request_ids;
    info->request_ids.insert(info->request_ids.end(), kb.rejected_ids.begin(),
                             kb.rejected_ids.end());
    return OkStatus();
  }
  if (h.chain_id != genesis_->chain_id) return InvalidArgumentError("block of another chain");
  if (h.height != height) return InvalidArgumentError("block height differs from its slot");
  if (h.prev != prev_hash) return InvalidArgumentError("block is not built on the previous block");
  if (h.view > view) return InvalidArgumentError("block names a later view");
  if (h.proposer != genesis_->Primary(h.view).id) {
    return UnauthenticatedError("block proposer is not the primary of its view");
  }
  if (height <= store_->height()) {
    // Already on our chain (committed with a certificate, applied, gone from the overlay):
    // a NEW-VIEW re-issues such blocks, and one relayed to a restarted replica long after
    // names many. Derived again, its records would all be "seen below" and the block
    // refused, and with it the NEW-VIEW, for good. Only this very block is taken as is.
    StatusOr<Bytes> stored = store_->ReadHeaderBytes(height);
    if (!stored.ok()) return stored.status();
    if (ledger::HeaderHash(*stored) == hash) {
      info->header_hash = hash;
      info->request_ids.assign(cb.request_ids().begin(), cb.request_ids().end());
      for (const auto& r : cb.rejected()) {
        PL_ASSIGN_OR_RETURN(Bytes rid, RequestId(genesis_->chain_id, r));
        info->request_ids.push_back(std::move(rid));
      }
      return OkStatus();
    }
  }
  std::vector<v1::ConsensusRequest> reqs(cb.requests().begin(), cb.requests().end());
  DerivedBlock d;
  Pending pending;
  PL_RETURN_IF_ERROR(Derive(height, prev_hash, reqs, &d, &pending));
  if (static_cast<int>(d.request_ids.size()) != cb.request_ids_size()) {
    return InvalidArgumentError("request ids do not match the requests");
  }
  for (size_t i = 0; i < d.request_ids.size(); ++i) {
    if (d.request_ids[i] != cb.request_ids(static_cast<int>(i))) {
      return InvalidArgumentError("request id " + std::to_string(i) + " does not match");
    }
  }
  if (h.record_count != d.records.size() || h.root != ledger::MerkleRoot(d.record_ids)) {
    return UnauthenticatedError("block root or count differs from its requests' records");
  }
  for (const auto& r : cb.rejected()) {
    DerivedBlock probe;
    Status one = Derive(height, prev_hash, {r}, &probe);
    if (one.ok()) return InvalidArgumentError("block rejects a request that checks out");
    PL_ASSIGN_OR_RETURN(Bytes rid, RequestId(genesis_->chain_id, r));
    d.rejected_ids.push_back(rid);
    d.rejected_errors.push_back(one);
  }
  d.header = h;
  d.header_bytes = cb.header();
  d.header_hash = hash;
  info->header_hash = hash;
  info->request_ids = d.request_ids;
  info->request_ids.insert(info->request_ids.end(), d.rejected_ids.begin(), d.rejected_ids.end());
  pending.block = std::move(d);
  overlay_[hash] = std::move(pending);
  return OkStatus();
}

StatusOr<DerivedBlock> ChainBlockFactory::Materialize(ByteView block) {
  v1::ConsensusBlock cb;
  if (!cb.ParseFromArray(block.data(), static_cast<int>(block.size()))) {
    return DataLossError("committed block does not parse");
  }
  const Bytes hash = ledger::HeaderHash(cb.header());
  auto it = overlay_.find(hash);
  if (it != overlay_.end()) return it->second.block;
  PL_ASSIGN_OR_RETURN(ledger::BlockHeader h, ledger::DecodeHeader(cb.header()));
  consensus::BlockInfo info;
  Status s = Validate(h.height, h.view, h.prev, block, &info);
  if (!s.ok()) return DataLossError("committed block does not check out: " + s.message());
  it = overlay_.find(hash);
  // Validate derives nothing for a block already in the store (the caller applies none).
  if (it == overlay_.end()) return FailedPreconditionError("block is in the store already");
  return it->second.block;
}

StatusOr<DerivedBlock> ChainBlockFactory::TakeCommitted(ByteView block) {
  v1::ConsensusBlock cb;
  if (!cb.ParseFromArray(block.data(), static_cast<int>(block.size()))) {
    return DataLossError("committed block does not parse");
  }
  const Bytes hash = ledger::HeaderHash(cb.header());
  if (overlay_.find(hash) == overlay_.end()) {
    PL_RETURN_IF_ERROR(Materialize(block).status());  // derives it into the overlay
  }
  auto it = overlay_.find(hash);
  if (it == overlay_.end()) return FailedPreconditionError("block is in the store already");
  DerivedBlock& kept = it->second.block;
  DerivedBlock out;
  out.header = kept.header;
  out.header_bytes = kept.header_bytes;
  out.header_hash = kept.header_hash;
  out.records = std::move(kept.records);
  out.record_ids = std::move(kept.record_ids);
  out.index_fields = std::move(kept.index_fields);
  out.payloads = std::move(kept.payloads);
  out.registry_ops = kept.registry_ops;  // RegistryAt reads them until Forget
  out.request_ids = kept.request_ids;    // Validate of a re-sent block reads them
  out.rejected_ids = kept.rejected_ids;
  out.rejected_errors = kept.rejected_errors;
  out.refused_records = std::move(kept.refused_records);
  kept.records.clear();
  kept.record_ids.clear();
  kept.index_fields.clear();
  kept.payloads.clear();
  return out;
}

void ChainBlockFactory::Forget(uint64_t height) {
  for (auto it = overlay_.begin(); it != overlay_.end();) {
    if (it->second.block.header.height <= height) {
      it = overlay_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace provledger::node
