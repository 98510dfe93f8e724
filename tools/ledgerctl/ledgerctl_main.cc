// ledgerctl: keys, genesis, registry, queries, proofs and chain verification.
// Run `ledgerctl help` for the commands. Human-readable output by default, --json for tools.
//
// This file only dispatches: the commands live one file per group (see ctl_common.h), each
// with the flags (Abseil flags, defaults on the definitions) it owns. A flag that is not the
// command's, on the command line or in a --flagfile, is refused naming the command (exit 2).
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "client/transport_security.h"
#include "common/command_line.h"
#include "tools/ledgerctl/ctl_common.h"

namespace provledger::tools {
namespace {

constexpr int kExitUsage = 2;

std::vector<CommandGroup> AllGroups() {
  return {KeyCommands(),         CertsCommands(),     GenesisCommands(),   QueryCommands(),
          ProofCommands(),       RegistryCommands(),  AuditCommands(),     SubmitCommands(),
          FirmwareCommands(),    IntegrityCommands(), ValidatorCommands(), MonitorCommands(),
          AccountAuditCommands()};
}

void PrintCommand(std::FILE* out, const Command& cmd) {
  std::fprintf(out, "  %s %s\n", cmd.name.c_str(), cmd.synopsis.c_str());
  size_t start = 0;
  while (start < cmd.summary.size()) {
    size_t end = cmd.summary.find('\n', start);
    if (end == std::string::npos) end = cmd.summary.size();
    std::fprintf(out, "      %s\n", cmd.summary.substr(start, end - start).c_str());
    start = end + 1;
  }
  PrintFlagHelp(out, cmd.flags, "      ");
}

void PrintHelp(std::FILE* out, const std::vector<CommandGroup>& groups) {
  std::fputs(
      "ledgerctl: operate and query a provledger chain\n"
      "usage: ledgerctl COMMAND [ARGS] [--flag=value ...]   (ledgerctl COMMAND --help: one "
      "command)\n",
      out);
  for (const CommandGroup& g : groups) {
    std::fprintf(out, "\n%s\n", g.title.c_str());
    for (const Command& c : g.commands) PrintCommand(out, c);
  }
  std::fputs(
      "\nevery command takes --json for machine-readable output, and --flagfile=FILE for flags\n"
      "read from FILE (one --name=value a line, '#' comments; later flags win). A command\n"
      "refuses the flags of other commands. Commands that reach a node connect over TLS with\n"
      "--tls_ca=FILE --tls_cert=FILE --tls_key=FILE (ledgerctl certs; docs/SECURITY.md), or\n"
      "plaintext with --insecure; every command accepts these four.\n",
      out);
}

// Which commands own `flag`, for the refusal message.
std::string Owners(const std::vector<CommandGroup>& groups, const std::string& flag) {
  std::string names;
  for (const CommandGroup& g : groups) {
    for (const Command& c : g.commands) {
      for (const std::string& f : c.flags) {
        if (f == flag) names += (names.empty() ? "" : ", ") + c.name;
      }
    }
  }
  return names.empty() ? "no command" : names;
}

int Refuse(const std::vector<CommandGroup>& groups, const Command& cmd, const std::string& flag,
           const char* where) {
  std::fprintf(stderr,
               "ledgerctl %s: --%s%s is not a flag of %s (it belongs to %s); run 'ledgerctl %s "
               "--help'\n",
               cmd.name.c_str(), flag.c_str(), where, cmd.name.c_str(),
               Owners(groups, flag).c_str(), cmd.name.c_str());
  return kExitUsage;
}

void JoinTwoWordCommand(const std::map<std::string, const Command*>& by_name,
                        std::vector<std::string>* positional) {
  if (positional->size() < 2) return;
  const std::string two = (*positional)[0] + " " + (*positional)[1];
  if (by_name.count(two) == 0) return;
  positional->erase(positional->begin());
  (*positional)[0] = two;
}

int Main(int argc, char** argv) {
  const std::vector<CommandGroup> groups = AllGroups();
  std::map<std::string, const Command*> by_name;
  std::set<std::string> all_flags;
  for (const CommandGroup& g : groups) {
    for (const Command& c : g.commands) {
      by_name[c.name] = &c;
      all_flags.insert(c.flags.begin(), c.flags.end());
    }
  }
  if (argc < 2) {
    PrintHelp(stdout, groups);
    return kExitUsage;
  }
  auto cl = SplitCommandLine(argc, argv, 1, {"validator", "admin"});
  if (!cl.ok()) {
    std::fprintf(stderr, "ledgerctl: %s\n(run 'ledgerctl help')\n", cl.status().message().c_str());
    return kExitUsage;
  }
  // A command of two words ("firmware sign") is named by both: its positional[0] is the name.
  JoinTwoWordCommand(by_name, &cl->positional);
  if (cl->positional.size() >= 3 && cl->positional[0] == "help") {
    std::vector<std::string> rest(cl->positional.begin() + 1, cl->positional.end());
    JoinTwoWordCommand(by_name, &rest);
    cl->positional.resize(1);
    cl->positional.insert(cl->positional.end(), rest.begin(), rest.end());
  }
  const std::string name = cl->positional.empty() ? "" : cl->positional[0];
  if (name == "help" || (name.empty() && cl->help)) {
    auto it = cl->positional.size() >= 2 ? by_name.find(cl->positional[1]) : by_name.end();
    if (it != by_name.end()) {
      PrintCommand(stdout, *it->second);
    } else {
      PrintHelp(stdout, groups);
    }
    return 0;
  }
  auto it = by_name.find(name);
  if (it == by_name.end()) {
    // The first word of two-word commands ("firmware"): list them.
    std::vector<const Command*> family;
    for (const auto& [n, c] : by_name) {
      if (n.rfind(name + " ", 0) == 0) family.push_back(c);
    }
    if (!name.empty() && !family.empty()) {
      std::fprintf(stderr, "ledgerctl %s needs one of:\n", name.c_str());
      for (const Command* c : family) {
        std::fprintf(stderr, "  %s %s\n", c->name.c_str(), c->synopsis.c_str());
      }
      std::fprintf(stderr, "(ledgerctl help %s: its flags)\n", family.front()->name.c_str());
      return kExitUsage;
    }
    std::fprintf(stderr, "ledgerctl: unknown command '%s' (run 'ledgerctl help')\n", name.c_str());
    return kExitUsage;
  }
  const Command& cmd = *it->second;
  if (cl->help) {
    PrintCommand(stdout, cmd);
    return 0;
  }
  const std::set<std::string> own(cmd.flags.begin(), cmd.flags.end());
  // Every command takes the transport flags: they matter only to those that reach a node.
  const std::set<std::string> transport(client::TransportFlagNames().begin(),
                                        client::TransportFlagNames().end());
  for (const GivenFlag& f : cl->flags) {
    if (f.name != "json" && own.count(f.name) == 0 && transport.count(f.name) == 0) {
      return Refuse(groups, cmd, f.name, "");
    }
  }
  Status applied = ApplyCommandLine(argv[0], *cl);
  if (!applied.ok()) {
    std::fprintf(stderr, "ledgerctl %s: %s\n", cmd.name.c_str(), applied.message().c_str());
    return kExitUsage;
  }
  std::set<std::string> foreign;
  for (const std::string& f : all_flags) {
    if (own.count(f) == 0) foreign.insert(f);
  }
  const std::vector<std::string> from_file = FlagsNotAtDefault(foreign);
  if (!from_file.empty()) return Refuse(groups, cmd, from_file[0], " (set by --flagfile)");
  StatusOr<int> rc = cmd.run(Ctx{cl->positional, absl::GetFlag(FLAGS_json)});
  if (!rc.ok()) {
    std::fprintf(stderr, "ledgerctl %s: %s\n", cmd.name.c_str(), rc.status().ToString().c_str());
    return rc.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return *rc;
}

}  // namespace
}  // namespace provledger::tools

int main(int argc, char** argv) { return provledger::tools::Main(argc, argv); }
