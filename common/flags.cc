#include "common/flags.h"

#include "common/file_io.h"
#include "common/json.h"

namespace provledger {

StatusOr<Flags> Flags::Parse(int argc, char** argv, int first, const std::set<std::string>& known,
                             const std::set<std::string>& boolean) {
  Flags f;
  std::map<std::string, std::string> given;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      f.positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (boolean.count(name) > 0) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return InvalidArgumentError("flag --" + name + " needs a value");
    }
    if (name != "config" && known.count(name) == 0) {
      return InvalidArgumentError("unknown flag --" + name);
    }
    given[name] = value;
  }
  if (given.count("config") > 0) {
    auto text = ReadFile(given["config"]);
    if (!text.ok()) return text.status().Annotate("config " + given["config"]);
    auto doc = ParseJson(*text);
    if (!doc.ok()) return doc.status().Annotate("config " + given["config"]);
    if (!doc->is_object()) return InvalidArgumentError("config: not a JSON object");
    for (const auto& [k, v] : doc->members()) {
      if (known.count(k) == 0) return InvalidArgumentError("config: unknown key '" + k + "'");
      if (v.is_string()) {
        f.values_[k] = v.string_value();
      } else if (v.is_int()) {
        f.values_[k] = std::to_string(v.int_value());
      } else if (v.is_bool()) {
        f.values_[k] = v.bool_value() ? "true" : "false";
      } else {
        return InvalidArgumentError("config: key '" + k + "' must be a string, integer or bool");
      }
    }
  }
  for (auto& [k, v] : given) f.values_[k] = v;
  return f;
}

std::string Flags::Get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

StatusOr<uint64_t> Flags::GetUint(const std::string& name, uint64_t def) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  const std::string& s = it->second;
  if (s.empty() || s.size() > 19) return InvalidArgumentError("--" + name + " must be a number");
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return InvalidArgumentError("--" + name + " must be a number, got '" + s + "'");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

bool Flags::GetBool(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && (it->second == "true" || it->second == "1" || it->second == "yes");
}

StatusOr<std::string> Flags::Require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty())
    return InvalidArgumentError("--" + name + " is required");
  return it->second;
}

}  // namespace provledger
