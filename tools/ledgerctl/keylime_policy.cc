#include "tools/ledgerctl/keylime_policy.h"

#include <algorithm>
#include <cctype>

#include "common/json.h"
#include "ledger/registry.h"

namespace provledger::tools {

namespace {

bool IsHex(const std::string& s) {
  if (s.empty() || s.size() % 2 != 0) return false;
  for (char ch : s) {
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
  }
  return true;
}

}  // namespace

StatusOr<v1::RuntimePolicy> RuntimePolicyFromKeylime(std::string_view json, const std::string& name,
                                                     uint64_t version,
                                                     std::vector<std::string>* ignored) {
  PL_ASSIGN_OR_RETURN(JsonValue doc, ParseJson(json));
  if (!doc.is_object()) return InvalidArgumentError("the policy is not a JSON object");
  if (const JsonValue* meta = doc.Find("meta")) {
    if (!meta->is_object()) return InvalidArgumentError("meta is not an object");
    const JsonValue* v = meta->Find("version");
    if (v == nullptr || !v->is_int() || v->int_value() != 1) {
      return InvalidArgumentError("meta.version is not 1 (only Keylime's runtime policy v1)");
    }
  }
  v1::RuntimePolicy p;
  p.set_name(name);
  p.set_version(version);
  if (const JsonValue* digests = doc.Find("digests")) {
    if (!digests->is_object()) return InvalidArgumentError("digests is not an object");
    for (const auto& [path, hashes] : digests->members()) {
      if (!hashes.is_array()) return InvalidArgumentError("digests[" + path + "] is not an array");
      std::vector<std::string> list;
      for (const JsonValue& h : hashes.items()) {
        if (!h.is_string() || !IsHex(h.string_value())) {
          return InvalidArgumentError("digests[" + path + "] holds a value that is not hex");
        }
        std::string hex = h.string_value();
        std::transform(hex.begin(), hex.end(), hex.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if (std::find(list.begin(), list.end(), hex) == list.end()) list.push_back(hex);
      }
      if (list.empty()) continue;  // Keylime allows a path without hashes: nothing is allowed
      auto* d = p.add_digests();
      d->set_path(path);
      for (auto& h : list) d->add_hashes(h);
    }
  }
  if (const JsonValue* excludes = doc.Find("excludes")) {
    if (!excludes->is_array()) return InvalidArgumentError("excludes is not an array");
    for (const JsonValue& e : excludes->items()) {
      if (!e.is_string())
        return InvalidArgumentError("excludes holds a value that is not a string");
      p.add_excludes(e.string_value());
    }
  }
  for (const char* key : {"keyrings", "ima", "ima-buf", "verification-keys", "release"}) {
    const JsonValue* v = doc.Find(key);
    if (v == nullptr) continue;
    const bool empty = v->is_null() || (v->is_object() && v->members().empty()) ||
                       (v->is_array() && v->items().empty()) ||
                       (v->is_string() && v->string_value().empty()) || v->is_int();
    if (!empty && ignored != nullptr) ignored->push_back(key);
  }
  PL_RETURN_IF_ERROR(ledger::ValidateRuntimePolicy(p));
  return p;
}

}  // namespace provledger::tools
