#include "common/metrics_server.h"

#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "common/listen_probe.h"
#include "common/log.h"

namespace provledger::metrics {

namespace {

// CivetWeb's listening_ports value for `listen`: "PORT", "A.B.C.D:PORT" or "[V6]:PORT".
StatusOr<std::string> CivetPorts(const std::string& listen) {
  const std::optional<HostPort> hp = SplitHostPort(listen);
  if (!hp || hp->port.empty()) {
    return InvalidArgumentError("--metrics_listen '" + listen + "' has no :PORT");
  }
  const std::string& host = hp->host;
  const std::string& port = hp->port;
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
      std::stoi(port) > 65535) {
    return InvalidArgumentError("--metrics_listen '" + listen + "': bad port");
  }
  if (host.empty()) return port;
  // CivetWeb takes numeric addresses only: resolve a name once, here.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int gai = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0 || res == nullptr) {
    return InvalidArgumentError("--metrics_listen '" + listen +
                                "': cannot resolve: " + gai_strerror(gai));
  }
  char numeric[NI_MAXHOST];
  const int ni = ::getnameinfo(res->ai_addr, res->ai_addrlen, numeric, sizeof(numeric), nullptr, 0,
                               NI_NUMERICHOST);
  const bool v6 = res->ai_family == AF_INET6;
  ::freeaddrinfo(res);
  if (ni != 0) return InvalidArgumentError("--metrics_listen '" + listen + "': cannot resolve");
  return v6 ? "[" + std::string(numeric) + "]:" + port : std::string(numeric) + ":" + port;
}

int HandleMetrics(mg_connection* conn, void* data) {
  const auto* registry = static_cast<const Registry*>(data);
  const mg_request_info* ri = mg_get_request_info(conn);
  const bool head = std::strcmp(ri->request_method, "HEAD") == 0;
  if (!head && std::strcmp(ri->request_method, "GET") != 0) {
    mg_send_http_error(conn, 405, "%s", "GET only\n");
    return 405;
  }
  const std::string body = registry->Render();
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            body.size());
  if (!head) mg_write(conn, body.data(), body.size());
  return 200;
}

// CivetWeb's own messages (a bad request, a client gone) are not worth a line each.
int QuietLog(const mg_connection*, const char*) { return 1; }

}  // namespace

StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                              const Registry* registry) {
  PL_ASSIGN_OR_RETURN(std::string ports, CivetPorts(listen));
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "2",
                           "request_timeout_ms", "10000",
                           // No files are served: no document root, no directory listing.
                           "enable_directory_listing", "no", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = QuietLog;
  mg_init_data init_data{};
  init_data.callbacks = &callbacks;
  init_data.user_data = nullptr;
  init_data.configuration_options = options;
  char text[256] = {0};
  unsigned code = 0;
  mg_error_data error{};
  error.code = &code;
  error.text = text;
  error.text_buffer_size = sizeof(text);
  mg_context* ctx = mg_start2(&init_data, &error);
  if (ctx == nullptr) {
    // CivetWeb's error for a port it could not bind says only "Failed to setup server
    // ports": ask the OS why. Other errors (its threads) are its own words.
    const std::string why = text;
    if (why.empty() || why.find("server ports") != std::string::npos) {
      const Status probe = ProbeListen(listen);
      if (!probe.ok()) return UnavailableError(probe.message());
    }
    return UnavailableError(why.empty() ? "cannot start the HTTP server" : why);
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->ctx_ = ctx;
  mg_server_port sp[4];
  const int n = mg_get_server_ports(ctx, 4, sp);
  if (n >= 1) server->port_ = sp[0].port;
  mg_set_request_handler(ctx, "/metrics$", HandleMetrics, const_cast<Registry*>(registry));
  return server;
}

MetricsServer::~MetricsServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

StatusOr<std::unique_ptr<MetricsServer>> StartMetricsServer(const std::string& listen) {
  if (listen.empty()) return std::unique_ptr<MetricsServer>();
  auto server = MetricsServer::Start(listen, &DefaultRegistry());
  if (!server.ok()) {
    LogError("listen_failed")
        .Kv("listen", listen)
        .Kv("what", "metrics")
        .Kv("err", server.status().message());
    return server.status().Annotate("cannot serve metrics on " + listen);
  }
  LogInfo("metrics_ready").Kv("listen", listen).Kv("port", (*server)->port());
  return server;
}

}  // namespace provledger::metrics
