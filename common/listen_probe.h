#ifndef PROVLEDGER_COMMON_LISTEN_PROBE_H_
#define PROVLEDGER_COMMON_LISTEN_PROBE_H_

#include <optional>
#include <string>

#include "common/status.h"

namespace provledger {

struct HostPort {
  std::string host;  // without the brackets of an IPv6 "[::1]"; empty: every address
  std::string port;  // as written, unchecked; may be empty
};

// Splits a listen address "HOST:PORT" at its last ':' and takes the brackets off an IPv6
// host ("[::1]:9100" is "::1" and "9100"). nullopt when there is no ':'.
std::optional<HostPort> SplitHostPort(const std::string& listen);

// Binds HOST:PORT the way a listener does (SO_REUSEADDR, no SO_REUSEPORT) and lets it go:
// OK if it could be bound now; UNAVAILABLE with the reason ("address in use", or the OS's
// words); INVALID_ARGUMENT when there is no port or the host does not resolve.
Status ProbeListen(const std::string& listen);

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_LISTEN_PROBE_H_
