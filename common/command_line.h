// The command line read against Abseil's flag registry (absl/flags): flags are defined with
// ABSL_FLAG where they are used, default and help on the definition; this file splits argv,
// refuses what is unknown with a Status instead of exiting, and applies the values.
//
// Accepted forms: --name=value, --name value (non-bool flags), --bool, --nobool,
// --flagfile=FILE (Abseil's: one --name=value a line, '#' comments; later words win over
// earlier ones, so flags after --flagfile override it). Words not starting with "--" are
// positional; everything after a lone "--" is positional. --help and -h set `help`.
//
// Thread rules: call from main (or a test) before threads start; Abseil's registry is global.
#ifndef PROVLEDGER_COMMON_COMMAND_LINE_H_
#define PROVLEDGER_COMMON_COMMAND_LINE_H_

#include <cstdint>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "common/status.h"

namespace provledger {

struct GivenFlag {
  std::string name;   // as registered: "node", never "nojson"
  std::string value;  // "true"/"false" for bool flags given as --bool/--nobool
};

struct CommandLine {
  std::vector<std::string> positional;
  std::vector<GivenFlag> flags;         // in command-line order, repeatable ones merged
  std::vector<std::string> flag_files;  // --flagfile values, in order
  bool help = false;
};

// Splits argv[first..]. kInvalidArgument naming the word for a flag Abseil does not know or
// a non-bool flag without a value. Each name in `repeatable` (a vector flag) may be given many
// times; its values are joined with ',' into one GivenFlag at the first occurrence's place.
// Sets nothing.
StatusOr<CommandLine> SplitCommandLine(int argc, char** argv, int first,
                                       const std::set<std::string>& repeatable = {});

// The node's and bridge's --config=FILE (a JSON object of flag names to strings, integers or
// bools) as flags placed before those of `cl`, so that the command line wins over the file, as
// common/flags.h does. kInvalidArgument naming the file and key for an unknown flag or a
// value of another type; the file's read or parse error otherwise. `cl` unchanged on error.
// (--flagfile is the Abseil way; this keeps existing JSON configs working.)
Status MergeJsonConfig(const std::string& path, CommandLine* cl);

// Sets every flag of `cl` in order, then reads its --flagfile(s) (absl::ParseCommandLine;
// a flag given on the command line wins over the file). kInvalidArgument naming the flag
// and its bad value; an unknown flag or bad value inside a flag file makes Abseil print the
// error and exit(1).
Status ApplyCommandLine(const char* argv0, const CommandLine& cl);

// The start of a daemon's main (ledger_node, mqtt_bridge): SplitCommandLine, then for --help
// prints `usage` and the help of the flags in `order` to stdout and returns false (exit 0);
// refuses positional words; merges --config=FILE (MergeJsonConfig) and applies it all
// (ApplyCommandLine). True when the daemon should run; errors as those functions give.
StatusOr<bool> ReadDaemonCommandLine(int argc, char** argv, const char* usage,
                                     const std::vector<std::string>& order,
                                     const std::set<std::string>& repeatable = {});

// The items of a comma-separated flag value (--nodes=a:1,b:2), empty items dropped.
std::vector<std::string> SplitFlagList(const std::string& value);

// The flag's value; kInvalidArgument "--NAME is required" when it is empty.
StatusOr<std::string> Require(const absl::Flag<std::string>& flag);

// A uint64 flag's value as the narrower T the option holds; kInvalidArgument "--NAME is too
// large" when it does not fit.
template <typename T>
StatusOr<T> NarrowFlag(const absl::Flag<uint64_t>& flag, const char* name) {
  const uint64_t v = absl::GetFlag(flag);
  if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
    return InvalidArgumentError(std::string("--") + name + " is too large");
  }
  return static_cast<T>(v);
}

// The flags of `names` changed from their defaults (by a flag file, say).
std::vector<std::string> FlagsNotAtDefault(const std::set<std::string>& names);

// "  --name=<default>  help" lines for `names`, in the given order, from the definitions.
void PrintFlagHelp(std::FILE* out, const std::vector<std::string>& names,
                   const char* indent = "  ");

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_COMMAND_LINE_H_
