// ledgerctl genesis: writes a chain's genesis file (validators, admins), checked by the
// rules every node applies.
#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "common/ecdsa.h"
#include "common/file_io.h"
#include "common/log.h"
#include "ledger/genesis.h"
#include "ledger/validator_set.h"
#include "tools/ledgerctl/ctl_common.h"

ABSL_FLAG(std::string, chain_id, "", "genesis: the chain's id");
ABSL_FLAG(std::vector<std::string>, validator, {},
          "genesis: ID:KEYFILE_OR_PUBHEX:HOST:PORT of a validator; repeat the flag (or give a "
          "comma-separated list, as a flag file must) for each");
ABSL_FLAG(std::vector<std::string>, admin, {},
          "genesis: KEYFILE_OR_PUBHEX of a registry admin; repeatable like --validator");
ABSL_FLAG(std::vector<std::string>, light, {},
          "genesis: ids of validators marked \"mode\": \"light\" (may prune old block bodies; "
          "at least one validator must stay full)");
ABSL_FLAG(std::optional<uint64_t>, created, std::nullopt,
          "genesis: creation time in ms since the epoch (default: now)");

namespace provledger::tools {
namespace {

Status CmdGenesis(const Ctx& c) {
  const std::vector<std::string> validators = absl::GetFlag(FLAGS_validator);
  const std::vector<std::string> admins = absl::GetFlag(FLAGS_admin);
  ledger::Genesis g;
  PL_ASSIGN_OR_RETURN(g.chain_id, Require(FLAGS_chain_id));
  PL_ASSIGN_OR_RETURN(std::string out, Require(FLAGS_out));
  g.created = absl::GetFlag(FLAGS_created).value_or(NowMs());
  for (const auto& v : validators) {
    // ID:KEY:HOST:PORT, KEY being a key file path or 66 hex digits.
    const size_t a = v.find(':');
    const size_t last = v.rfind(':');
    const size_t mid = a == std::string::npos ? a : v.rfind(':', last - 1);
    if (a == std::string::npos || mid == std::string::npos || mid <= a) {
      return InvalidArgumentError("--validator wants ID:KEY:HOST:PORT, got '" + v + "'");
    }
    ledger::Validator val;
    val.id = v.substr(0, a);
    PL_ASSIGN_OR_RETURN(val.pubkey, PubkeyArg(v.substr(a + 1, mid - a - 1)));
    val.address = v.substr(mid + 1);
    g.validators.push_back(val);
  }
  for (const auto& id : absl::GetFlag(FLAGS_light)) {
    auto it = std::find_if(g.validators.begin(), g.validators.end(),
                           [&](const ledger::Validator& v) { return v.id == id; });
    if (it == g.validators.end()) {
      return InvalidArgumentError("--light names '" + id + "', which is no --validator");
    }
    it->light = true;
  }
  for (const auto& a : admins) {
    PL_ASSIGN_OR_RETURN(Bytes k, PubkeyArg(a));
    g.admins.push_back(k);
  }
  const std::string text = ledger::GenesisToJson(g);
  auto check = ledger::ParseGenesis(text);  // the same rules every node applies
  if (!check.ok()) return check.status();
  PL_RETURN_IF_ERROR(WriteFileAtomically(out, text, 0644));
  if (c.json) {
    JsonValue o = JsonValue::Object();
    o.Set("file", JsonValue::String(out));
    o.Set("chain_id", JsonValue::String(g.chain_id));
    o.Set("validators", JsonValue::Int(g.validators.size()));
    o.Set("f", JsonValue::Int(ledger::ValidatorSet::FromGenesis(*check).f()));
    o.Set("admins", JsonValue::Int(g.admins.size()));
    o.Set("genesis_hash", JsonValue::String(HexEncode(check->file_hash)));
    PrintJson(o);
  } else {
    std::printf("wrote %s: chain %s, %zu validator(s), f=%zu, %zu admin(s)\n", out.c_str(),
                g.chain_id.c_str(), g.validators.size(),
                ledger::ValidatorSet::FromGenesis(*check).f(), g.admins.size());
  }
  return OkStatus();
}

}  // namespace

CommandGroup GenesisCommands() {
  return {"chain setup",
          {{"genesis",
            "--chain_id=ID --validator=ID:KEYFILE_OR_PUBHEX:HOST:PORT [--validator=...]\n"
            "        --admin=KEYFILE_OR_PUBHEX [--light=ID,...] [--created=MS] --out=FILE",
            "writes the genesis file every node and verifier starts from",
            {"chain_id", "validator", "admin", "light", "created", "out"},
            [](const Ctx& c) { return Done(CmdGenesis(c)); }}}};
}

}  // namespace provledger::tools
