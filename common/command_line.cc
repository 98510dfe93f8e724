#include "common/command_line.h"

#include <map>
#include <string_view>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_split.h"
#include "common/file_io.h"
#include "common/json.h"

namespace provledger {
namespace {

// Abseil's own flags that only read more flags.
bool IsFlagSourceFlag(const std::string& name) {
  return name == "flagfile" || name == "fromenv" || name == "tryfromenv";
}

absl::CommandLineFlag* Find(const std::string& name) {
  return absl::FindCommandLineFlag(absl::string_view(name.data(), name.size()));
}

}  // namespace

StatusOr<CommandLine> SplitCommandLine(int argc, char** argv, int first,
                                       const std::set<std::string>& repeatable) {
  CommandLine cl;
  std::map<std::string, size_t> repeated_at;  // name -> index in cl.flags
  for (int i = first; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") {
      for (++i; i < argc; ++i) cl.positional.push_back(argv[i]);
      break;
    }
    if (word == "-h" || word == "--help") {
      cl.help = true;
      continue;
    }
    if (word.rfind("--", 0) != 0) {
      cl.positional.push_back(word);
      continue;
    }
    std::string name = word.substr(2), value;
    const size_t eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    absl::CommandLineFlag* flag = Find(name);
    if (flag == nullptr && !has_value && name.rfind("no", 0) == 0) {
      absl::CommandLineFlag* negated = Find(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>()) {
        flag = negated;
        name = name.substr(2);
        value = "false";
      }
    } else if (flag != nullptr && flag->IsOfType<bool>() && !has_value) {
      value = "true";
    }
    if (flag == nullptr || name == "undefok") {
      return InvalidArgumentError("unknown flag --" + name);
    }
    if (!flag->IsOfType<bool>() && !has_value) {
      if (i + 1 >= argc) return InvalidArgumentError("flag --" + name + " needs a value");
      value = argv[++i];
    }
    if (IsFlagSourceFlag(name)) {
      if (name != "flagfile") return InvalidArgumentError("--" + name + " is not supported");
      cl.flag_files.push_back(value);
      continue;
    }
    if (repeatable.count(name) > 0) {
      auto it = repeated_at.find(name);
      if (it != repeated_at.end()) {
        cl.flags[it->second].value += "," + value;
        continue;
      }
      repeated_at[name] = cl.flags.size();
    }
    cl.flags.push_back({name, value});
  }
  return cl;
}

Status MergeJsonConfig(const std::string& path, CommandLine* cl) {
  PL_ASSIGN_OR_RETURN(Bytes text, ReadFile(path));
  auto doc = ParseJson(text);
  if (!doc.ok()) return doc.status().Annotate("config " + path);
  if (!doc->is_object()) return InvalidArgumentError("config " + path + ": not a JSON object");
  std::vector<GivenFlag> from_file;
  for (const auto& [k, v] : doc->members()) {
    if (Find(k) == nullptr || IsFlagSourceFlag(k)) {
      return InvalidArgumentError("config " + path + ": unknown key '" + k + "'");
    }
    if (v.is_string()) {
      from_file.push_back({k, v.string_value()});
    } else if (v.is_int()) {
      from_file.push_back({k, std::to_string(v.int_value())});
    } else if (v.is_bool()) {
      from_file.push_back({k, v.bool_value() ? "true" : "false"});
    } else {
      return InvalidArgumentError("config " + path + ": key '" + k +
                                  "' must be a string, integer or bool");
    }
  }
  cl->flags.insert(cl->flags.begin(), from_file.begin(), from_file.end());
  return OkStatus();
}

Status ApplyCommandLine(const char* argv0, const CommandLine& cl) {
  for (const GivenFlag& f : cl.flags) {
    std::string error;
    if (!Find(f.name)->ParseFrom(f.value, &error)) return InvalidArgumentError(error);
  }
  if (cl.flag_files.empty()) return OkStatus();
  // Abseil reads the files; the command-line values come after them so that they win.
  std::vector<std::string> words = {argv0};
  for (const std::string& file : cl.flag_files) words.push_back("--flagfile=" + file);
  for (const GivenFlag& f : cl.flags) words.push_back("--" + f.name + "=" + f.value);
  std::vector<char*> args;
  for (std::string& w : words) args.push_back(w.data());
  args.push_back(nullptr);
  absl::ParseCommandLine(static_cast<int>(words.size()), args.data());
  return OkStatus();
}

StatusOr<std::string> Require(const absl::Flag<std::string>& flag) {
  std::string v = absl::GetFlag(flag);
  if (v.empty()) {
    return InvalidArgumentError("--" + std::string(absl::GetFlagReflectionHandle(flag).Name()) +
                                " is required");
  }
  return v;
}

std::vector<std::string> FlagsNotAtDefault(const std::set<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& n : names) {
    const absl::CommandLineFlag* flag = Find(n);
    if (flag != nullptr && flag->CurrentValue() != flag->DefaultValue()) out.push_back(n);
  }
  return out;
}

void PrintFlagHelp(std::FILE* out, const std::vector<std::string>& names, const char* indent) {
  for (const std::string& n : names) {
    const absl::CommandLineFlag* flag = Find(n);
    if (flag == nullptr) continue;
    const std::string def = flag->DefaultValue();
    std::string head = "--" + n;
    if (flag->IsOfType<bool>()) {
      if (def == "true") head += " (default true)";
    } else {
      if (!def.empty()) head += "=" + def;
    }
    const std::string help = flag->Help();
    if (head.size() + 2 <= 26) {
      std::fprintf(out, "%s%-26s%s\n", indent, head.c_str(), help.c_str());
    } else {
      std::fprintf(out, "%s%s\n%s%-26s%s\n", indent, head.c_str(), indent, "", help.c_str());
    }
  }
}

std::vector<std::string> SplitFlagList(const std::string& value) {
  return absl::StrSplit(value, ',', absl::SkipEmpty());
}

StatusOr<bool> ReadDaemonCommandLine(int argc, char** argv, const char* usage,
                                     const std::vector<std::string>& order,
                                     const std::set<std::string>& repeatable) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1, repeatable));
  if (cl.help) {
    std::fputs(usage, stdout);
    PrintFlagHelp(stdout, order);
    std::fputs("  --flagfile=FILE  one --name=value a line\n", stdout);
    return false;
  }
  if (!cl.positional.empty()) {
    return InvalidArgumentError("unexpected argument '" + cl.positional[0] + "'");
  }
  for (const GivenFlag& f : cl.flags) {
    if (f.name == "config") {
      PL_RETURN_IF_ERROR(MergeJsonConfig(f.value, &cl));
      break;
    }
  }
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  return true;
}

}  // namespace provledger
