#include "client/channel_options.h"

#include <algorithm>

namespace provledger::client {

grpc::ChannelArguments LedgerChannelArguments(int max_message_bytes,
                                              const KeepaliveOptions& keepalive) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // Also the shortest connect timeout gRPC uses (its default is 20 s): a TCP connect plus
  // the HTTP/2 handshake must fit in it. At 100 ms a node busy restarting on a loaded
  // machine missed it ("timed out before receiving SETTINGS frame"); a second keeps a
  // silently dropped node's connect attempts short enough for failover.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              static_cast<int>(std::max(keepalive.time_ms, kMinKeepaliveTimeMs)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(std::max(keepalive.timeout_ms, 1u)));
  // Ping only while calls are in flight. gRPC 1.51's synchronous client reads an idle
  // connection only when its backup poller runs (every 5 s): a ping sent while idle has its
  // answer read too late, and the watchdog would close healthy idle connections every few
  // seconds. A connection that died while idle is found by the next call's pings.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // A Submit waits for its commit without sending data: keep pinging meanwhile (default: two
  // pings, then none until data is sent).
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return args;
}

void ApplyServerKeepalive(grpc::ServerBuilder* builder) {
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              static_cast<int>(kMinKeepaliveTimeMs / 2));
}

}  // namespace provledger::client
