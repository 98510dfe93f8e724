// The proof of one record as PROTOCOL.md 6.6 prints it (the document); its verification
// (6.7) is ledger/proof_document_verifier.h.
//
// Thread rules: pure functions.
#ifndef PROVLEDGER_LEDGER_PROOF_JSON_H_
#define PROVLEDGER_LEDGER_PROOF_JSON_H_

#include "common/json.h"
#include "ledger/genesis.h"
#include "ledger/validator_set.h"
#include "proto/ledger.pb.h"

namespace provledger::ledger {

// The 6.6 JSON object for `proof`. Validator ids and keys come from `genesis`; a signer
// index outside it is kInvalidArgument.
StatusOr<JsonValue> ProofToJson(const Genesis& genesis, const provledger::v1::Proof& proof);
// The same with ids and keys from `set`, the validator set in force at the proof's height
// (docs/VALIDATOR_SET.md); a signer index outside it is kInvalidArgument.
StatusOr<JsonValue> ProofToJson(const ValidatorSet& set, const provledger::v1::Proof& proof);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_PROOF_JSON_H_
