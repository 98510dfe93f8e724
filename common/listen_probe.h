#ifndef PROVLEDGER_COMMON_LISTEN_PROBE_H_
#define PROVLEDGER_COMMON_LISTEN_PROBE_H_

#include <string>

#include "common/status.h"

namespace provledger {

// Binds HOST:PORT the way a listener does (SO_REUSEADDR, no SO_REUSEPORT) and lets it go:
// OK if it could be bound now; UNAVAILABLE with the reason ("address in use", or the OS's
// words); INVALID_ARGUMENT when there is no port or the host does not resolve.
Status ProbeListen(const std::string& listen);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_LISTEN_PROBE_H_
