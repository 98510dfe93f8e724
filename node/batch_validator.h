// BatchValidator: everything a node checks in a submission before it queues it, without
// touching the chain: gateway registration and signature, record decoding, kinds, names,
// payload hashes, limits. Pure code; duplicates are the orderer's job (they need the chain).
// Faults of the batch as a whole refuse it; a fault of one record refuses that record only
// (DESIGN.md "Permanent and transient refusals differ"): the others go on.
//
// Thread rules: stateless functions; safe from every gRPC thread.
#ifndef PROVLEDGER_NODE_BATCH_VALIDATOR_H_
#define PROVLEDGER_NODE_BATCH_VALIDATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "proto/ledger.pb.h"

namespace provledger::node {

struct BatchLimits {
  size_t max_records = 10000;                  // per submitted batch
  size_t max_record_bytes = 64 * 1024;         // one record's bytes (payloads are separate)
  size_t max_payload_bytes = 2 * 1024 * 1024;  // one payload
};

// A record that passed validation, with what the orderer needs to deduplicate it.
struct CheckedRecord {
  Bytes bytes;
  Bytes id;
  std::optional<Bytes> payload;
  bool has_seq = false;  // kinds 1 and 2: (device, seq) must be unique on the chain
  std::string device;
  std::string item;  // kind 1: its item; kind 2: "_integrity"; kind 4: empty
  uint64_t seq = 0;
  uint64_t ts = 0;     // kinds 1 and 2: the record's ts (the store's time index)
  uint32_t index = 0;  // position in the submitted batch
  // A kind 4 record's verified op, applied to the registry when its block commits.
  std::optional<provledger::v1::RegistryOp> registry_op;
  // Checked with DeviceCheck::kLeaveToBlock, and its device was not registered (or was
  // revoked) in that registry: the block that orders it decides.
  bool device_left_to_block = false;
};

// A record refused for good: never written, answered with `status` (RecordResult REFUSED).
struct RecordRefusal {
  uint32_t index = 0;  // position in the submitted batch
  Bytes id;            // its record id (of the bytes as submitted)
  Status status;       // not OK; the message names the record's index and the cause
};

struct CheckedBatch {
  std::string gateway;
  Bytes digest;                        // gateway batches: the batch digest (its request id)
  std::vector<CheckedRecord> records;  // the records that passed, in batch order
  std::vector<RecordRefusal> refused;  // the others, in batch order
  // The registry snapshot it was checked against, when the caller holds it as shared (so
  // the block derivation on this node can reuse the outcome: node/checked_batch_cache.h).
  std::shared_ptr<const ledger::RegistrySnapshot> checked_against;
};

// Who refuses a record for its device's registry entry (not registered, or revoked). The
// block does (ChainBlockFactory, on every replica against the registry as of the block's
// parent, so all refuse alike). A validator taking a submission must not: its applied
// registry may be behind the quorum that committed the registration, and a refusal is
// never retried (docs/RELIABILITY.md, "A node that may be behind").
enum class DeviceCheck {
  kRefuse,       // refuse the record, kPermissionDenied (block derivation, prechecks)
  kLeaveToBlock  // keep it, marked device_left_to_block (a submission)
};

// Checks a gateway batch (PROTOCOL.md 6.5). Errors refuse the whole batch: kPermissionDenied
// when the gateway is not registered; kUnauthenticated when the batch signature does not
// verify; kInvalidArgument for an empty batch or a payload count unlike the record count;
// kResourceExhausted above max_records. Otherwise every record is either in `records` or in
// `refused`, with kPermissionDenied (device not registered or revoked), kInvalidArgument
// (does not decode, kind 3/4, names another gateway, payload does not hash to its
// payload_hash) or kResourceExhausted (record or payload above its limit). With
// kLeaveToBlock a record is never refused for its device (see DeviceCheck).
StatusOr<CheckedBatch> ValidateBatch(const ledger::Genesis& genesis,
                                     const ledger::RegistrySnapshot& registry,
                                     const provledger::v1::SignedBatch& batch,
                                     const BatchLimits& limits,
                                     DeviceCheck device_check = DeviceCheck::kRefuse);

// Checks a registry transaction (see ledger/registry.h) and wraps it as one kind 4 record.
StatusOr<CheckedBatch> ValidateRegistrySubmission(const ledger::Genesis& genesis, ByteView tx);

// Checks a firmware manifest record (SubmitFirmware, docs/FIRMWARE.md) against `registry`
// and wraps it as one kind 3 record: kResourceExhausted above max_record_bytes;
// kInvalidArgument when it does not decode as kind 3 or breaks section 8's field rules;
// kPermissionDenied when its vendor is not registered; kUnauthenticated when vendor_sig
// does not verify with the registered vendor key over section 8's digest.
StatusOr<CheckedBatch> ValidateFirmwareSubmission(const ledger::RegistrySnapshot& registry,
                                                  ByteView record, const BatchLimits& limits);

// The batch digest of `batch` (PROTOCOL.md 6.5) over the ids of its record bytes.
Bytes SignedBatchDigest(const std::string& chain_id, const provledger::v1::SignedBatch& batch);

}  // namespace provledger::node

#endif  // PROVLEDGER_NODE_BATCH_VALIDATOR_H_
