// The verifier of PROTOCOL.md 6.7: checks a proof document (the 6.6 JSON object,
// ledger/proof_json.h) with the genesis file alone, step by step.
//
// Thread rules: pure functions.
#ifndef PROVLEDGER_LEDGER_PROOF_DOCUMENT_VERIFIER_H_
#define PROVLEDGER_LEDGER_PROOF_DOCUMENT_VERIFIER_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.h"
#include "common/json.h"
#include "ledger/genesis.h"
#include "ledger/record.h"
#include "ledger/validator_schedule.h"

namespace provledger::ledger {

// What a verified proof establishes.
struct VerifiedProof {
  Record record;
  Bytes record_id;
  uint64_t height = 0;
  Bytes header_hash;
  size_t signatures = 0;
  bool payload_checked = false;
  bool device_signature_checked = false;
  size_t validator_changes = 0;  // changes walked from genesis (docs/VALIDATOR_SET.md)
};

// The schedule a proof of a record at `height` establishes (docs/VALIDATOR_SET.md): genesis,
// then each entry of its "validator_changes" (absent: none), each proven (steps 3-8) against
// the set in force at its height, a kind 4 record whose RegistryTx passes VerifyRegistryTx
// and holds a SetValidators op based on the set before it, in height order, in force at
// `height` (E(h) < height). kInvalidArgument / kUnauthenticated naming the entry and step.
StatusOr<ValidatorSchedule> WalkValidatorChanges(const Genesis& genesis, const JsonValue& proof,
                                                 uint64_t height);

// Runs every step of PROTOCOL.md 6.7 on a 6.6 JSON object. With `payload`, also checks its
// SHA-256 against the record; with `device_pubkey` and an auth = 2 record, the device's
// signature over D. The set checked against is the one in force at the record's height
// (WalkValidatorChanges). Any failed step is an error naming the step (kUnauthenticated for
// hashes and signatures, kInvalidArgument for shape).
StatusOr<VerifiedProof> VerifyProofJson(const Genesis& genesis, const JsonValue& proof,
                                        const std::optional<Bytes>& payload = std::nullopt,
                                        const std::optional<Bytes>& device_pubkey = std::nullopt);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_PROOF_DOCUMENT_VERIFIER_H_
