// Fuzzes the genesis file parser (PROTOCOL.md section 9, ledger/genesis.h): an accepted
// genesis has N = 3f+1 validators, unique ids and keys, at least one admin and one full
// validator, and GenesisToJson writes a file that parses to the same genesis.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "ledger/genesis.h"
#include "tests/fuzz/fuzz_check.h"

namespace lg = ::provledger::ledger;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto g = lg::ParseGenesis(text);
  if (!g.ok()) return 0;
  FUZZ_CHECK(g->n() % 3 == 1);
  FUZZ_CHECK(!g->admins.empty());
  FUZZ_CHECK(!g->FullValidators().empty());
  std::set<std::string> ids;
  std::set<std::string> keys;
  for (const auto& v : g->validators) {
    FUZZ_CHECK(ids.insert(v.id).second);
    FUZZ_CHECK(keys.insert(v.pubkey).second);
    FUZZ_CHECK(g->IndexOf(v.id).has_value() && g->IndexOfKey(v.pubkey).has_value());
  }
  std::string json = lg::GenesisToJson(*g);
  auto again = lg::ParseGenesis(json);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(lg::GenesisToJson(*again) == json);
  return 0;
}
