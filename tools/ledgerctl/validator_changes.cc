#include "tools/ledgerctl/validator_changes.h"

#include <utility>

#include "ledger/proof_json.h"
#include "ledger/record.h"
#include "ledger/registry.h"

namespace provledger::tools {

namespace v1 = provledger::v1;

StatusOr<ledger::ValidatorSchedule> ScheduleFromListing(const ledger::Genesis& genesis,
                                                        const v1::ValidatorListing& listing) {
  ledger::ValidatorSchedule schedule(genesis);
  for (int i = 0; i < listing.sets_size(); ++i) {
    const auto& s = listing.sets(i);
    if (i == 0) {
      if (s.digest() != schedule.genesis_set().Digest())
        return FailedPreconditionError("the node's first validator set is not the genesis set");
      continue;
    }
    auto set = ledger::ValidatorSet::FromEntries(s.validators());
    if (!set.ok()) return set.status().Annotate("validator set " + std::to_string(i));
    schedule = schedule.WithChange(std::make_shared<const ledger::ValidatorSet>(std::move(*set)),
                                   s.committed_height());
  }
  return schedule;
}

StatusOr<ledger::ValidatorSchedule> FetchSchedule(client::LedgerClient* cl,
                                                  const ledger::Genesis& genesis) {
  auto listing = cl->Validators();
  if (!listing.ok() && listing.status().code() == StatusCode::kUnimplemented)
    return ledger::ValidatorSchedule(genesis);
  if (!listing.ok()) return listing.status();
  return ScheduleFromListing(genesis, *listing);
}

StatusOr<JsonValue> ProofBuilder::ChangeProof(uint64_t committed_height, const Bytes& digest) {
  auto key = std::make_pair(committed_height, digest);
  auto it = change_proofs_.find(key);
  if (it != change_proofs_.end()) return it->second;
  PL_ASSIGN_OR_RETURN(v1::Block block, cl_->GetBlock(committed_height));
  for (const auto& bytes : block.records()) {
    auto rec = ledger::DecodeRecord(bytes);
    if (!rec.ok() || rec->kind != ledger::RecordKind::kRegistry) continue;
    auto op = ledger::VerifyRegistryTx(*genesis_, rec->registry.tx);
    if (!op.ok() || op->op_case() != v1::RegistryOp::kSetValidators) continue;
    auto set = ledger::ValidatorSet::FromEntries(op->set_validators().validators());
    if (!set.ok() || set->Digest() != digest) continue;
    PL_ASSIGN_OR_RETURN(v1::Proof proof, cl_->GetProof(ledger::RecordId(bytes)));
    PL_ASSIGN_OR_RETURN(JsonValue pj,
                        ledger::ProofToJson(schedule_.SetAt(committed_height), proof));
    change_proofs_.emplace(key, pj);
    return pj;
  }
  return NotFoundError("block " + std::to_string(committed_height) +
                       " holds no validator change to set " + ShortHex(digest));
}

StatusOr<JsonValue> ProofBuilder::Build(const v1::Proof& proof) {
  PL_ASSIGN_OR_RETURN(JsonValue pj, ledger::ProofToJson(schedule_.SetAt(proof.height()), proof));
  const auto changes = schedule_.ChangesInForceAt(proof.height());
  if (changes.empty()) return pj;  // today's proof, unchanged
  JsonValue list = JsonValue::Array();
  for (const auto& c : changes) {
    PL_ASSIGN_OR_RETURN(JsonValue cp, ChangeProof(c.committed_height, c.set->Digest()));
    list.Push(std::move(cp));
  }
  pj.Set("validator_changes", std::move(list));
  return pj;
}

}  // namespace provledger::tools
