// A chain built in memory for validator-set tests (docs/VALIDATOR_SET.md): a genesis of
// test keys, blocks signed by the set the schedule puts in force at each height (or by a set
// the test picks, to forge), admin-signed registry records, and the 6.6 proof of any record.
// Optionally written through a real BlockStore with the registry rows the node would write.
//
// Thread rules: single-threaded test helper.
#ifndef PROVLEDGER_TESTS_LEDGER_VALIDATOR_TEST_CHAIN_H_
#define PROVLEDGER_TESTS_LEDGER_VALIDATOR_TEST_CHAIN_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/ecdsa.h"
#include "common/json.h"
#include "ledger/genesis.h"
#include "ledger/registry.h"
#include "ledger/store/block_store.h"
#include "ledger/validator_schedule.h"
#include "proto/ledger.pb.h"

namespace provledger::testing {

class ValidatorTestChain {
 public:
  // A genesis of `n` validators v0..v(n-1) (addresses 127.0.0.1:7000+i) and one admin; keys
  // are derived from `seed` so that runs repeat. With `store` every block is appended to it.
  ValidatorTestChain(const std::string& chain_id, size_t n, uint32_t seed = 1,
                     ledger::BlockStore* store = nullptr);

  const ledger::Genesis& genesis() const { return genesis_; }
  const std::string& genesis_json() const { return genesis_json_; }
  const PrivateKey& admin() const { return admin_; }
  // The registry (and so the schedule) after the blocks so far.
  const ledger::RegistrySnapshot& registry() const { return *registry_; }
  const ledger::ValidatorSchedule& schedule() const { return *registry_->schedule(); }
  uint64_t height() const { return blocks_.size(); }

  // A new validator entry with a fresh test key (kept for signing) at 127.0.0.1:7000+index.
  ledger::Validator NewValidator(const std::string& id, uint32_t index);
  // Another key for `id` (rekey); the old one stays known.
  Bytes NewKey(const std::string& id);

  // A kind 4 record of `op` (chain id and nonce set), signed by the admin.
  Bytes RegistryRecord(provledger::v1::RegistryOp op);
  // The record of a SetValidators op from the newest set to `members`.
  Bytes SetValidatorsRecord(const std::vector<ledger::Validator>& members);
  // A record that only fills a block (a gateway registration).
  Bytes FillerRecord();

  // Appends a block of `records` proposed in view 0 and signed by the quorum of the set the
  // schedule puts in force at its height, or by the first quorum() members of `signers`.
  void AddBlock(std::vector<Bytes> records, const ledger::ValidatorSet* signers = nullptr);
  // Blocks (one filler record each) up to `height`.
  void FillTo(uint64_t height);

  // The 6.6 proof (provledger.v1.Proof) of record `index` of block `height`.
  provledger::v1::Proof ProofOf(uint64_t height, uint32_t index) const;
  provledger::v1::Block BlockAt(uint64_t height) const;

 private:
  struct StoredTestBlock {
    Bytes header;
    std::vector<Bytes> records;
    provledger::v1::CommitCertificate cert;
  };
  const PrivateKey& KeyFor(const ledger::Validator& v) const;

  ledger::Genesis genesis_;
  std::string genesis_json_;
  PrivateKey admin_;
  std::map<Bytes, PrivateKey> keys_;  // by public key
  uint32_t next_seed_;
  uint64_t nonce_ = 1;
  std::shared_ptr<const ledger::RegistrySnapshot> registry_;
  std::vector<StoredTestBlock> blocks_;
  ledger::BlockStore* store_;
};

}  // namespace provledger::testing

#endif  // PROVLEDGER_TESTS_LEDGER_VALIDATOR_TEST_CHAIN_H_
