// The registry on the ledger: gateways, devices (static keys), firmware vendors, and runtime
// policies with their bindings to devices and models (docs/INTEGRITY.md), changed only by
// admin-signed transactions committed as kind 4 records.
//
// The state is kept as rows (key -> serialized entry) that Apply() emits and the caller stores
// with the block (BlockToAppend::registry_puts); FromRows() builds the state back from them.
// This library knows nothing of the store: the store keeps the rows opaque, and the node hands
// them from one to the other.
//
// A RegistrySnapshot is immutable: readers (gRPC threads, the bridge follower) share a
// std::shared_ptr<const RegistrySnapshot>; the consensus thread makes the next one with
// Apply() when a block with registry records commits.
#ifndef PROVLEDGER_LEDGER_REGISTRY_H_
#define PROVLEDGER_LEDGER_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "ledger/validator_schedule.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {

// Registry rows of validator-set changes start with this (the store scans them).
inline constexpr char kValidatorSetRowPrefix[] = "vset/";

// SHA256("pl/v1/registry" || lp(chain_id) || lp(op)): what an admin signs.
Bytes RegistryDigest(const std::string& chain_id, ByteView op_bytes);

// Builds a signed RegistryTx (serialized) for `op` with the admin's key.
StatusOr<Bytes> SignRegistryTx(const std::string& chain_id, const provledger::v1::RegistryOp& op,
                               const Bytes& admin_secret);

// Checks a serialized RegistryTx: it parses, its admin key is a genesis admin
// (kPermissionDenied), its signature verifies (kUnauthenticated), its op is for this chain
// and well formed (kInvalidArgument; a SetValidators op: a 32-byte base digest and a valid
// set, ValidatorSet::FromEntries). Returns the op.
StatusOr<provledger::v1::RegistryOp> VerifyRegistryTx(const Genesis& genesis, ByteView tx);

struct DeviceEntry {
  Bytes pubkey;
  std::string vendor;
  std::string model;
  bool revoked = false;
  uint64_t height = 0;
};
struct KeyEntry {
  Bytes pubkey;
  uint64_t height = 0;
};
// A policy binding: the policy name bound to a device or a model, and since when.
struct BindingEntry {
  std::string policy;
  uint64_t height = 0;
};

// Runtime policy limits a registry op must keep (a policy travels in one kind 4 record).
constexpr size_t kMaxPolicyPaths = 200000;
constexpr size_t kMaxPolicyHashesPerPath = 64;
constexpr size_t kMaxPolicyExcludes = 1000;
constexpr size_t kMaxPolicyPathBytes = 4096;

// OK when `p` is a well-formed runtime policy: a valid name, version in 1 .. 2^53-1, paths
// non-empty, unique and at most kMaxPolicyPathBytes, each with 1 .. kMaxPolicyHashesPerPath
// hashes of lowercase hex (even length, 2 .. 128 digits), excludes that compile as RE2
// regexes. kInvalidArgument naming the first fault.
Status ValidateRuntimePolicy(const provledger::v1::RuntimePolicy& p);

class RegistrySnapshot {
 public:
  // The registry state the rows Apply() emitted (every one kept, in any order, later puts of a
  // key replacing earlier ones) describe; rows of keys it does not know are ignored.
  // kDataLoss naming the key of a row that does not parse. With `genesis` the snapshot keeps
  // the validator schedule (genesis set + recorded changes); without, it has none (schedule()
  // null) and SetValidators ops are refused by CheckOp and ignored by Apply.
  static StatusOr<std::shared_ptr<const RegistrySnapshot>> FromRows(
      const std::vector<std::pair<Bytes, Bytes>>& rows, const Genesis* genesis = nullptr);

  // The validator schedule as of this snapshot's height, or null (built without a genesis).
  // A node's RegistryHolder hands it to every certificate check.
  std::shared_ptr<const ValidatorSchedule> schedule() const { return schedule_; }

  // nullptr when the gateway is not registered.
  const KeyEntry* Gateway(const std::string& id) const;
  // nullptr when the device is not registered (revoked devices are returned, marked).
  const DeviceEntry* Device(const std::string& id) const;
  const KeyEntry* Vendor(const std::string& id) const;
  const std::map<std::string, DeviceEntry>& devices() const { return devices_; }
  const std::map<std::string, KeyEntry>& gateways() const { return gateways_; }
  // Runtime policies by name (the latest version of each), and bindings by device / model.
  const provledger::v1::RuntimePolicy* Policy(const std::string& name) const;
  const std::map<std::string, provledger::v1::RuntimePolicy>& policies() const { return policies_; }
  const std::map<std::string, BindingEntry>& device_bindings() const { return device_bindings_; }
  const std::map<std::string, BindingEntry>& model_bindings() const { return model_bindings_; }

  // What `op` (already through VerifyRegistryTx) would do against this state: OK, or
  // kFailedPrecondition when Apply would ignore it (a policy version not above the registered
  // one; a binding to a policy that is not registered; a validator change whose base is not
  // the latest set, naming both digests, or a snapshot without a schedule). Checked at submission
  // so an admin is told; Apply still ignores such an op if two race into blocks.
  Status CheckOp(const provledger::v1::RegistryOp& op) const;

  // Returns a new snapshot with `op` applied at `height`, and appends the store writes that
  // persist it to *puts. The op must have passed VerifyRegistryTx.
  std::shared_ptr<const RegistrySnapshot> Apply(const provledger::v1::RegistryOp& op,
                                                uint64_t height,
                                                std::vector<std::pair<Bytes, Bytes>>* puts) const;

 private:
  std::map<std::string, KeyEntry> gateways_;
  std::map<std::string, DeviceEntry> devices_;
  std::map<std::string, KeyEntry> vendors_;
  std::map<std::string, provledger::v1::RuntimePolicy> policies_;
  std::map<std::string, BindingEntry> device_bindings_;
  std::map<std::string, BindingEntry> model_bindings_;
  std::shared_ptr<const ValidatorSchedule> schedule_;
};

// `schedule` after block `height` whose decoded records are `records`: each kind 4 record
// that passes VerifyRegistryTx and holds a SetValidators op based on the latest set adds a
// change, as RegistrySnapshot::Apply does. For a node that checks fetched blocks before its
// registry applies them: block H+1's set is SetAt(H+1) of the schedule after blocks <= H.
ValidatorSchedule ScheduleAfterBlock(const Genesis& genesis, const ValidatorSchedule& schedule,
                                     uint64_t height, const std::vector<Record>& records);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_REGISTRY_H_
