// Writes a chain whose validator set changed twice into a real store, for the end-to-end
// check of proofs with validator_changes (validator_proof_test.py): a stopped node's data
// dir that `ledger_node --follow` serves, so that the real ledgerctl fetches the proofs.
//
//   validator_chain_fixture OUT_DIR
// writes OUT_DIR/genesis.json and OUT_DIR/node/chain, and prints one JSON line:
//   {"target": record id at 130, "early": record id at 10, "changes": [2, 70], "height": 131}
// The chain: genesis v0..v3; at 2, v4..v6 added (in force above 64); at 70, v0 removed and v1
// rekeyed (in force above 128). Built at the library level (ledger + store) with test keys:
// the node's consensus switch is not needed to make it.
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/file_io.h"
#include "ledger/record.h"
#include "ledger/store/block_store.h"
#include "tests/ledger/validator_test_chain.h"

int main(int argc, char** argv) {
  using namespace provledger;  // NOLINT: a test tool
  if (argc != 2) {
    std::fprintf(stderr, "usage: validator_chain_fixture OUT_DIR\n");
    return 2;
  }
  const std::string out = argv[1];
  ::mkdir((out + "/node").c_str(), 0700);
  ledger::StoreOptions so;
  so.path = out + "/node/chain";
  auto store = ledger::BlockStore::Open(so, "vchain");
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  testing::ValidatorTestChain chain("vchain", 4, 7, store->get());
  chain.AddBlock({chain.FillerRecord()});
  std::vector<ledger::Validator> seven = chain.genesis().validators;
  for (int i = 4; i < 7; ++i) seven.push_back(chain.NewValidator("v" + std::to_string(i), i));
  chain.AddBlock({chain.FillerRecord(), chain.SetValidatorsRecord(seven)});
  chain.FillTo(69);
  std::vector<ledger::Validator> six(seven.begin() + 1, seven.end());
  six[0].pubkey = chain.NewKey("v1");
  chain.AddBlock({chain.SetValidatorsRecord(six)});
  chain.FillTo(129);
  chain.AddBlock({chain.FillerRecord(), chain.FillerRecord(), chain.FillerRecord()});
  chain.AddBlock({chain.FillerRecord()});
  Status w = WriteFileAtomically(out + "/genesis.json", chain.genesis_json(), 0644);
  if (!w.ok()) {
    std::fprintf(stderr, "%s\n", w.ToString().c_str());
    return 1;
  }
  const auto target = chain.ProofOf(130, 1).record_id();
  const auto early = chain.ProofOf(10, 0).record_id();
  std::printf("{\"target\":\"%s\",\"early\":\"%s\",\"changes\":[2,70],\"height\":%llu}\n",
              HexEncode(target).c_str(), HexEncode(early).c_str(),
              static_cast<unsigned long long>(chain.height()));
  return 0;
}
