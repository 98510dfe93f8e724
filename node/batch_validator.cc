#include "node/batch_validator.h"

#include "common/ecdsa.h"
#include "common/sha256.h"
#include "device_protocol/firmware_manifest.h"
#include "ledger/block_header.h"
#include "ledger/record.h"

namespace provledger::node {

namespace {
std::vector<Bytes> RecordIds(const provledger::v1::SignedBatch& batch) {
  std::vector<Bytes> ids;
  ids.reserve(batch.records_size());
  for (const auto& r : batch.records()) ids.push_back(ledger::RecordId(r));
  return ids;
}

// Checks record `i` of `batch` and fills `c` (whose id is set). A failure concerns this
// record only.
Status CheckRecord(const ledger::RegistrySnapshot& registry,
                   const provledger::v1::SignedBatch& batch, int i, const BatchLimits& limits,
                   DeviceCheck device_check, CheckedRecord* c) {
  const Bytes& bytes = batch.records(i);
  if (bytes.size() > limits.max_record_bytes) {
    return ResourceExhaustedError(std::to_string(bytes.size()) + " bytes, limit " +
                                  std::to_string(limits.max_record_bytes));
  }
  PL_ASSIGN_OR_RETURN(ledger::RecordFields f, ledger::DecodeRecordFields(bytes));
  if (!f.from_device) return InvalidArgumentError("gateways submit only kinds 1 and 2");
  c->device = f.device;
  c->item = f.item;
  c->seq = f.seq;
  c->ts = f.ts;
  const Bytes& payload_hash = f.payload_hash;
  const std::string& gateway = f.gateway;
  c->has_seq = true;
  if (gateway != batch.gateway()) {
    return InvalidArgumentError("names gateway '" + gateway + "', batch is from '" +
                                batch.gateway() + "'");
  }
  const auto* dev = registry.Device(c->device);
  if (dev == nullptr || dev->revoked) {
    if (device_check == DeviceCheck::kRefuse) {
      return PermissionDeniedError("device '" + c->device + "' is " +
                                   (dev == nullptr ? "not registered" : "revoked"));
    }
    c->device_left_to_block = true;
  }
  if (batch.payloads_size() != 0) {
    const Bytes& p = batch.payloads(i);
    if (p.size() > limits.max_payload_bytes) {
      return ResourceExhaustedError("payload above " + std::to_string(limits.max_payload_bytes) +
                                    " bytes");
    }
    if (Sha256(p) != payload_hash) {
      return InvalidArgumentError("payload does not hash to the record's payload_hash");
    }
    c->payload = p;
  }
  c->bytes = bytes;
  return OkStatus();
}
}  // namespace

Bytes SignedBatchDigest(const std::string& chain_id, const provledger::v1::SignedBatch& batch) {
  return ledger::BatchDigest(chain_id, batch.gateway(), RecordIds(batch));
}

StatusOr<CheckedBatch> ValidateBatch(const ledger::Genesis& genesis,
                                     const ledger::RegistrySnapshot& registry,
                                     const provledger::v1::SignedBatch& batch,
                                     const BatchLimits& limits, DeviceCheck device_check) {
  const auto* gw = registry.Gateway(batch.gateway());
  if (gw == nullptr) {
    return PermissionDeniedError("gateway '" + batch.gateway() + "' is not registered");
  }
  if (batch.records_size() == 0) return InvalidArgumentError("batch holds no record");
  if (static_cast<size_t>(batch.records_size()) > limits.max_records) {
    return ResourceExhaustedError("batch holds " + std::to_string(batch.records_size()) +
                                  " records, limit " + std::to_string(limits.max_records));
  }
  if (batch.payloads_size() != 0 && batch.payloads_size() != batch.records_size()) {
    return InvalidArgumentError("batch carries " + std::to_string(batch.payloads_size()) +
                                " payloads for " + std::to_string(batch.records_size()) +
                                " records");
  }
  // The signature first: an unsigned batch learns nothing about devices or records.
  // Each record is hashed once: its id serves the batch digest and the checks below.
  std::vector<Bytes> ids = RecordIds(batch);
  Bytes digest = ledger::BatchDigest(genesis.chain_id, batch.gateway(), ids);
  Status sig = VerifySignature(gw->pubkey, digest, batch.signature());
  if (!sig.ok()) {
    return UnauthenticatedError("batch signature of gateway '" + batch.gateway() +
                                "' does not verify: " + sig.message());
  }
  CheckedBatch out;
  out.gateway = batch.gateway();
  out.digest = std::move(digest);
  out.records.reserve(batch.records_size());
  for (int i = 0; i < batch.records_size(); ++i) {
    const std::string where = "record " + std::to_string(i);
    CheckedRecord c;
    c.index = static_cast<uint32_t>(i);
    c.id = std::move(ids[i]);
    Status s = CheckRecord(registry, batch, i, limits, device_check, &c);
    if (!s.ok()) {
      out.refused.push_back(RecordRefusal{c.index, std::move(c.id), s.Annotate(where)});
      continue;
    }
    out.records.push_back(std::move(c));
  }
  return out;
}

StatusOr<CheckedBatch> ValidateRegistrySubmission(const ledger::Genesis& genesis, ByteView tx) {
  PL_ASSIGN_OR_RETURN(provledger::v1::RegistryOp op, ledger::VerifyRegistryTx(genesis, tx));
  ledger::Record rec;
  rec.kind = ledger::RecordKind::kRegistry;
  rec.registry.tx = Bytes(tx);
  CheckedRecord c;
  c.bytes = ledger::EncodeRecord(rec);
  c.id = ledger::RecordId(c.bytes);
  c.registry_op = op;
  CheckedBatch out;
  out.records.push_back(std::move(c));
  return out;
}

StatusOr<CheckedBatch> ValidateFirmwareSubmission(const ledger::RegistrySnapshot& registry,
                                                  ByteView record, const BatchLimits& limits) {
  if (record.size() > limits.max_record_bytes) {
    return ResourceExhaustedError("firmware record of " + std::to_string(record.size()) +
                                  " bytes, limit " + std::to_string(limits.max_record_bytes));
  }
  PL_ASSIGN_OR_RETURN(ledger::Record rec, ledger::DecodeRecord(record));
  if (rec.kind != ledger::RecordKind::kFirmware) {
    return InvalidArgumentError("SubmitFirmware takes kind 3 records only");
  }
  const device_protocol::FirmwareManifest m = device_protocol::FromFirmwareRecord(rec.firmware);
  PL_RETURN_IF_ERROR(device_protocol::ValidateFirmwareManifest(m));
  const ledger::KeyEntry* vendor = registry.Vendor(m.vendor);
  if (vendor == nullptr) {
    return PermissionDeniedError("vendor '" + m.vendor + "' is not registered");
  }
  Status sig = device_protocol::VerifyFirmwareManifest(m, vendor->pubkey);
  if (!sig.ok()) {
    return UnauthenticatedError("manifest " + m.vendor + "/" + m.model + " " + m.version +
                                ": vendor signature does not verify with the registered key");
  }
  CheckedRecord c;
  c.bytes = Bytes(record);
  c.id = ledger::RecordId(c.bytes);
  CheckedBatch out;
  out.records.push_back(std::move(c));
  return out;
}

}  // namespace provledger::node
