#include "node/block_applier.h"

#include <cstdlib>

#include "common/log.h"
#include "ledger/block_header.h"
#include "ledger/record.h"
#include "ledger/registry.h"
#include "node/firmware_index.h"
#include "node/node_metrics.h"

namespace provledger::node {

Status BlockApplier::ApplyCommitted(const consensus::CommittedBlock& c, DerivedBlock* derived,
                                    bool* appended) {
  *appended = false;
  if (c.height <= store_->height()) return OkStatus();  // already here through state transfer
  PreparedBlock p;
  PrepareCommitted(c, &p);
  PL_RETURN_IF_ERROR(WritePrepared(p));
  FinishPrepared(p);
  *derived = std::move(p.derived);
  *appended = true;
  return OkStatus();
}

void BlockApplier::PrepareCommitted(const consensus::CommittedBlock& c, PreparedBlock* out) {
  auto d = factory_->TakeCommitted(c.block);
  if (!d.ok()) {
    LogError("committed_block_invalid").Kv("height", c.height).Kv("err", d.status().ToString());
    std::abort();  // a certified block we cannot derive: our state is wrong, stop
  }
  out->height = c.height;
  out->view = c.view;
  out->header_hash = c.header_hash;
  ledger::BlockToAppend& b = out->block;
  b.header_bytes = d->header_bytes;
  b.records = std::move(d->records);
  b.fields = std::move(d->index_fields);
  bool any_payload = false;
  for (const auto& p : d->payloads) any_payload = any_payload || p.has_value();
  if (any_payload) b.payloads = std::move(d->payloads);
  d->payloads.clear();
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
  out->changes_registry = !d->registry_ops.empty();
  out->registry = std::move(snap);
  AddFirmwareRows(b.records, c.height, &b.registry_puts);
  out->record_count = b.records.size();
  out->derived = std::move(*d);
}

Status BlockApplier::WritePrepared(const PreparedBlock& p) {
  Status s = store_->Append(p.block);
  if (!s.ok() && !store_->write_status().ok()) return s;
  if (!s.ok()) {
    // Nothing was written, but a certified block does not fit our chain: our state is wrong.
    LogError("block_append_failed").Kv("height", p.height).Kv("err", s.ToString());
    std::_Exit(3);
  }
  return OkStatus();
}

void BlockApplier::FinishPrepared(const PreparedBlock& p) {
  if (p.changes_registry) registry_->Set(p.registry);
  factory_->Forget(p.height);
  LogDebug("block_committed")
      .Kv("height", p.height)
      .Kv("view", p.view)
      .Kv("records", p.record_count)
      .Kv("hash", ShortHex(p.header_hash));
  Metrics().blocks_consensus.Inc();
  Metrics().records_consensus.Inc(p.record_count);
}

Status BlockApplier::ApplyFetched(PeerBlock& pb, bool* appended) {
  *appended = false;
  const uint64_t h = pb.header.height;
  if (h <= store_->height()) return OkStatus();  // committed here meanwhile
  if (h != store_->height() + 1 || pb.header.prev != store_->head_hash()) {
    return InvalidArgumentError("block does not extend our chain");
  }
  std::shared_ptr<const ledger::RegistrySnapshot> snap = registry_->Get();
  for (const auto& rec : pb.records) {
    if (rec.kind != ledger::RecordKind::kRegistry) continue;
    auto op = ledger::VerifyRegistryTx(*genesis_, rec.registry.tx);
    if (op.ok()) snap = snap->Apply(*op, h, &pb.block.registry_puts);
  }
  AddFirmwareRows(pb.block.records, h, &pb.block.registry_puts);
  PL_RETURN_IF_ERROR(store_->Append(pb.block));
  registry_->Set(snap);
  if (factory_ != nullptr) factory_->Forget(h);
  Metrics().blocks_transfer.Inc();
  Metrics().records_transfer.Inc(pb.records.size());
  *appended = true;
  return OkStatus();
}

Status BlockApplier::ApplyRepair(const BlockRepairer::Copy& r) {
  Status s = store_->RepairBlock(r.height, r.block);
  if (s.ok()) {
    LogInfo("block_repaired")
        .Kv("height", r.height)
        .Kv("from", genesis_->validators[r.from].id)
        .Kv("records", r.block.records.size());
    return s;
  }
  if (!store_->write_status().ok()) return s;
  if (s.code() == StatusCode::kAlreadyExists) return OkStatus();  // repaired meanwhile
  LogWarn("block_repair_refused")
      .Kv("height", r.height)
      .Kv("from", genesis_->validators[r.from].id)
      .Kv("err", s.ToString());
  return s;
}

}  // namespace provledger::node
