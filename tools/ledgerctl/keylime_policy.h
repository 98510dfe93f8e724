// Keylime's runtime-policy JSON (https://keylime.readthedocs.io, runtime policies v1) as a
// provledger RuntimePolicy (docs/INTEGRITY.md).
//
// Thread rules: a pure function; safe from any thread.
#ifndef PROVLEDGER_TOOLS_LEDGERCTL_KEYLIME_POLICY_H_
#define PROVLEDGER_TOOLS_LEDGERCTL_KEYLIME_POLICY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/ledger.pb.h"

namespace provledger::tools {

namespace v1 = provledger::v1;

// Turns Keylime's runtime-policy JSON (meta.version 1: "digests" {path: [hex, ...]},
// "excludes" [regex, ...]) into a RuntimePolicy named `name` at `version`. Keys it does not
// apply ("keyrings", "ima", "ima-buf", "verification-keys", "release") are ignored and
// named in *ignored. kInvalidArgument naming the fault.
StatusOr<v1::RuntimePolicy> RuntimePolicyFromKeylime(std::string_view json, const std::string& name,
                                                     uint64_t version,
                                                     std::vector<std::string>* ignored);

}  // namespace provledger::tools

#endif  // PROVLEDGER_TOOLS_LEDGERCTL_KEYLIME_POLICY_H_
