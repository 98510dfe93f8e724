#include "common/listen_probe.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace provledger {

std::optional<HostPort> SplitHostPort(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  HostPort hp{listen.substr(0, colon), listen.substr(colon + 1)};
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  return hp;
}

Status ProbeListen(const std::string& listen) {
  const std::optional<HostPort> hp = SplitHostPort(listen);
  if (!hp) return InvalidArgumentError("no port in '" + listen + "'");
  const std::string& host = hp->host;
  const std::string& port = hp->port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int gai = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return InvalidArgumentError(std::string("cannot resolve: ") + gai_strerror(gai));
  Status result = OkStatus();
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      const int err = errno;
      result = UnavailableError(err == EADDRINUSE ? "address in use" : std::strerror(err));
    }
    ::close(fd);
    if (!result.ok()) break;
  }
  ::freeaddrinfo(res);
  return result;
}

}  // namespace provledger
