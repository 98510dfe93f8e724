// Command-line flags (--name=value, --name value, --bool) over an optional JSON config file
// (--config=FILE, an object of the same names). Flags win over the file.
//
// Thread rules: parse once in main, then read-only.
#ifndef PROVLEDGER_COMMON_FLAGS_H_
#define PROVLEDGER_COMMON_FLAGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace provledger {

class Flags {
 public:
  // Parses argv[first..]. Words not starting with "--" are positional. `known` lists every
  // accepted flag name (an unknown one is kInvalidArgument, so a typo is not silently ignored);
  // `boolean` lists those that take no value. Reads --config if given.
  static StatusOr<Flags> Parse(int argc, char** argv, int first, const std::set<std::string>& known,
                               const std::set<std::string>& boolean = {});

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def = "") const;
  // kInvalidArgument naming the flag if its value is not a decimal integer.
  StatusOr<uint64_t> GetUint(const std::string& name, uint64_t def) const;
  bool GetBool(const std::string& name) const;
  // kInvalidArgument naming the flag when it is missing.
  StatusOr<std::string> Require(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_FLAGS_H_
