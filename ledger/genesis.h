// The genesis file (PROTOCOL.md section 9): chain id, validators in primary order, admins.
//
// Thread rules: a Genesis is immutable plain data once parsed; share it freely.
#ifndef PROVLEDGER_LEDGER_GENESIS_H_
#define PROVLEDGER_LEDGER_GENESIS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"

namespace provledger::ledger {

struct Validator {
  std::string id;
  Bytes pubkey;         // 33-byte compressed
  std::string address;  // host:port of its gRPC endpoint
  // Optional "mode": "light" in its genesis entry (docs/OPERATIONS.md "Light nodes"): this
  // validator may run --mode=light (prune old block bodies). Default false: it keeps every
  // block. Verifiers ignore the key; it weighs nothing in certificates.
  bool light = false;
};

struct Genesis {
  std::string chain_id;
  uint64_t created = 0;
  std::vector<Validator> validators;
  std::vector<Bytes> admins;  // 33-byte compressed admin keys
  Bytes file_hash;            // SHA-256 of the file's bytes, to spot a node on another genesis

  size_t n() const { return validators.size(); }
  // No f() or quorum() here: a Genesis also stands for one epoch's set (node/epoch_plan.h
  // EpochGenesis), of any N. The one rule is ValidatorSet's (ledger/validator_set.h):
  // q = floor((N+f)/2)+1, f = floor((N-1)/3), so ValidatorSet::FromGenesis(g).quorum().
  // The primary of `view`: validators[view mod N].
  const Validator& Primary(uint64_t view) const { return validators[view % validators.size()]; }
  // Index of the validator with `id`, or nullopt.
  std::optional<uint32_t> IndexOf(const std::string& id) const;
  // Index of the validator with `pubkey`, or nullopt.
  std::optional<uint32_t> IndexOfKey(ByteView pubkey) const;
  bool IsAdmin(ByteView pubkey) const;
  // The validators that keep every block (entries without "mode": "light"); never empty
  // for a Genesis that ParseGenesis returned.
  std::vector<const Validator*> FullValidators() const;
};

// Parses and checks a genesis file: strict JSON, valid names, N = 3f+1 validators with
// unique ids and keys, valid compressed keys, each validator's optional "mode" "full" or
// "light" with at least one full validator, at least one admin. kInvalidArgument naming the
// field otherwise.
StatusOr<Genesis> ParseGenesis(std::string_view text);
// Reads and parses the file at `path` (kNotFound if missing).
StatusOr<Genesis> LoadGenesis(const std::string& path);
// The genesis file's text (pretty JSON with the keys of section 9).
std::string GenesisToJson(const Genesis& g);

}  // namespace provledger::ledger

#endif  // PROVLEDGER_LEDGER_GENESIS_H_
