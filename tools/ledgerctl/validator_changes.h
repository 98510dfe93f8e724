// The validator schedule as ledgerctl reads it from a node, and proofs that carry the
// validator-set changes a verifier needs (docs/VALIDATOR_SET.md): PROTOCOL.md 6.6's object
// plus "validator_changes", the 6.6 proof of each change in force at the record's height.
//
// Nothing here is trusted: the node only tells where the changes are; the verifier
// (ledger/proof_document_verifier.h) proves each from genesis.
//
// Thread rules: single-threaded tool.
#ifndef PROVLEDGER_TOOLS_LEDGERCTL_VALIDATOR_CHANGES_H_
#define PROVLEDGER_TOOLS_LEDGERCTL_VALIDATOR_CHANGES_H_

#include <map>
#include <memory>

#include "client/ledger_client.h"
#include "common/json.h"
#include "ledger/genesis.h"
#include "ledger/validator_schedule.h"
#include "proto/ledger.pb.h"

namespace provledger::tools {

// The schedule `listing` (a node's Validators answer) describes, on top of `genesis`.
// kFailedPrecondition when its first set is not the genesis set; kInvalidArgument for a
// malformed set.
StatusOr<ledger::ValidatorSchedule> ScheduleFromListing(
    const ledger::Genesis& genesis, const provledger::v1::ValidatorListing& listing);

// The node's schedule (Validators); a node that does not implement it (kUnimplemented) has
// none: the genesis set alone.
StatusOr<ledger::ValidatorSchedule> FetchSchedule(client::LedgerClient* cl,
                                                  const ledger::Genesis& genesis);

// Builds proof documents for one node, fetching each change's proof once.
class ProofBuilder {
 public:
  ProofBuilder(client::LedgerClient* cl, const ledger::Genesis* genesis,
               ledger::ValidatorSchedule schedule)
      : cl_(cl), genesis_(genesis), schedule_(std::move(schedule)) {}

  // The 6.6 object of `proof` with signer ids and keys of the set at its height, plus
  // "validator_changes" when any change is in force there. kNotFound when a change's record
  // is not in the block the node names.
  StatusOr<JsonValue> Build(const provledger::v1::Proof& proof);

 private:
  // The 6.6 object of the kind 4 record holding the change committed at `committed_height`
  // whose new set has `digest`.
  StatusOr<JsonValue> ChangeProof(uint64_t committed_height, const Bytes& digest);

  client::LedgerClient* cl_;
  const ledger::Genesis* genesis_;
  ledger::ValidatorSchedule schedule_;
  std::map<std::pair<uint64_t, Bytes>, JsonValue> change_proofs_;
};

}  // namespace provledger::tools

#endif  // PROVLEDGER_TOOLS_LEDGERCTL_VALIDATOR_CHANGES_H_
