// MetricsServer: serves a metrics Registry over HTTP (CivetWeb, Debian libcivetweb-dev) for
// Prometheus: GET /metrics answers the text exposition format (version 0.0.4); every other
// path is 404. Every binary starts it from --metrics_listen=HOST:PORT (empty: no server).
//
// Thread rules: Start() and the destructor from one thread; CivetWeb's own threads (two)
// render the registry.
#ifndef PROVLEDGER_COMMON_METRICS_SERVER_H_
#define PROVLEDGER_COMMON_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"

struct mg_context;

namespace provledger::metrics {

class MetricsServer {
 public:
  // Listens on `listen` (HOST:PORT, [V6]:PORT or :PORT for every interface; HOST may be a
  // name, resolved once; PORT 0 takes a free port) and serves `registry`, which must outlive
  // the server. kUnavailable ("address in use", or the OS's reason) when the address cannot
  // be bound; kInvalidArgument when `listen` is malformed or does not resolve.
  static StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                        const Registry* registry);
  // Stops listening and waits for the requests being answered.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port listened on (the one taken when PORT was 0).
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

// The shared part of a binary's --metrics_listen handling: "" gives a null server; else
// Start(listen, &DefaultRegistry()) with ev=metrics_ready logged, or ev=listen_failed
// (listen=, err=) logged and the error returned.
StatusOr<std::unique_ptr<MetricsServer>> StartMetricsServer(const std::string& listen);

}  // namespace provledger::metrics

#endif  // PROVLEDGER_COMMON_METRICS_SERVER_H_
