#include "ledger/genesis.h"

#include <set>

#include "common/ecdsa.h"
#include "common/file_io.h"
#include "common/json.h"
#include "common/sha256.h"
#include "ledger/record.h"

namespace provledger::ledger {

std::optional<uint32_t> Genesis::IndexOf(const std::string& id) const {
  for (size_t i = 0; i < validators.size(); ++i) {
    if (validators[i].id == id) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

std::optional<uint32_t> Genesis::IndexOfKey(ByteView pubkey) const {
  for (size_t i = 0; i < validators.size(); ++i) {
    if (validators[i].pubkey == pubkey) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

bool Genesis::IsAdmin(ByteView pubkey) const {
  for (const auto& a : admins) {
    if (a == pubkey) return true;
  }
  return false;
}

std::vector<const Validator*> Genesis::FullValidators() const {
  std::vector<const Validator*> full;
  for (const auto& v : validators) {
    if (!v.light) full.push_back(&v);
  }
  return full;
}

StatusOr<Genesis> ParseGenesis(std::string_view text) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return parsed.status().Annotate("genesis");
  const JsonValue& doc = *parsed;
  if (!doc.is_object()) return InvalidArgumentError("genesis: not a JSON object");
  Genesis g;
  g.file_hash = Sha256(text);
  PL_ASSIGN_OR_RETURN(g.chain_id, doc.GetString("chain_id"));
  if (!IsValidName(g.chain_id))
    return InvalidArgumentError("genesis: chain_id is not a valid name");
  PL_ASSIGN_OR_RETURN(g.created, doc.GetInt("created"));
  PL_ASSIGN_OR_RETURN(const JsonValue* vals, doc.GetArray("validators"));
  std::set<std::string> ids;
  std::set<Bytes> keys;
  for (const auto& v : vals->items()) {
    if (!v.is_object()) return InvalidArgumentError("genesis: a validator is not an object");
    Validator val;
    PL_ASSIGN_OR_RETURN(val.id, v.GetString("id"));
    if (!IsValidName(val.id))
      return InvalidArgumentError("genesis: validator id '" + val.id + "' is not a valid name");
    PL_ASSIGN_OR_RETURN(std::string pk, v.GetString("pubkey"));
    auto key = HexDecodeFixed(pk, kPublicKeySize);
    if (!key.ok()) return key.status().Annotate("genesis: validator " + val.id + " pubkey");
    PL_RETURN_IF_ERROR(
        ValidatePublicKey(*key).Annotate("genesis: validator " + val.id + " pubkey"));
    val.pubkey = *key;
    PL_ASSIGN_OR_RETURN(val.address, v.GetString("address"));
    // Optional, an extension of section 9 (docs/OPERATIONS.md): absent means full.
    if (const JsonValue* mode = v.Find("mode")) {
      if (!mode->is_string() ||
          (mode->string_value() != "full" && mode->string_value() != "light")) {
        return InvalidArgumentError("genesis: validator " + val.id +
                                    " mode must be \"full\" or \"light\"");
      }
      val.light = mode->string_value() == "light";
    }
    if (!ids.insert(val.id).second)
      return InvalidArgumentError("genesis: validator id '" + val.id + "' listed twice");
    if (!keys.insert(val.pubkey).second)
      return InvalidArgumentError("genesis: validator " + val.id + " reuses a public key");
    g.validators.push_back(std::move(val));
  }
  if (g.validators.empty() || (g.validators.size() - 1) % 3 != 0) {
    return InvalidArgumentError("genesis: " + std::to_string(g.validators.size()) +
                                " validators; N must be 3f+1 (1, 4, 7, 10, ...)");
  }
  if (g.FullValidators().empty()) {
    return InvalidArgumentError(
        "genesis: every validator is \"mode\": \"light\"; at least one must keep every block "
        "(full), or pruned records could be fetched from no one");
  }
  PL_ASSIGN_OR_RETURN(const JsonValue* admins, doc.GetArray("admins"));
  for (const auto& a : admins->items()) {
    if (!a.is_string()) return InvalidArgumentError("genesis: an admin is not a string");
    auto key = HexDecodeFixed(a.string_value(), kPublicKeySize);
    if (!key.ok()) return key.status().Annotate("genesis: admin key");
    PL_RETURN_IF_ERROR(ValidatePublicKey(*key).Annotate("genesis: admin key"));
    g.admins.push_back(*key);
  }
  if (g.admins.empty()) return InvalidArgumentError("genesis: no admin key");
  return g;
}

StatusOr<Genesis> LoadGenesis(const std::string& path) {
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(path));
  auto g = ParseGenesis(text);
  if (!g.ok()) return g.status().Annotate(path);
  return g;
}

std::string GenesisToJson(const Genesis& g) {
  JsonValue doc = JsonValue::Object();
  doc.Set("chain_id", JsonValue::String(g.chain_id));
  doc.Set("created", JsonValue::Int(g.created));
  JsonValue vals = JsonValue::Array();
  for (const auto& v : g.validators) {
    JsonValue o = JsonValue::Object();
    o.Set("id", JsonValue::String(v.id));
    o.Set("pubkey", JsonValue::String(HexEncode(v.pubkey)));
    o.Set("address", JsonValue::String(v.address));
    if (v.light) o.Set("mode", JsonValue::String("light"));  // absent: full (unchanged files)
    vals.Push(std::move(o));
  }
  doc.Set("validators", std::move(vals));
  JsonValue admins = JsonValue::Array();
  for (const auto& a : g.admins) admins.Push(JsonValue::String(HexEncode(a)));
  doc.Set("admins", std::move(admins));
  return WriteJsonPretty(doc) + "\n";
}

}  // namespace provledger::ledger
