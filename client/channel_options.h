// The gRPC settings of every channel between our processes (client to node, node to node) and
// the matching server side, in one place.
//
// Why keepalives: a node cut off silently (its packets dropped, no RST, no FIN) leaves a TCP
// connection that looks open; without HTTP/2 pings a call to it waits out its whole deadline.
// With them, a connection whose ping is not answered within keepalive_timeout_ms is closed, its
// calls fail UNAVAILABLE and LedgerClient moves to the next node: while a call is in flight a
// dead connection is noticed within keepalive_time_ms + keepalive_timeout_ms (2 s by default).
// Idle connections are not pinged (see LedgerChannelArguments); the next call finds them.
//
// Thread rules: pure functions; call from any thread.
#ifndef PROVLEDGER_CLIENT_CHANNEL_OPTIONS_H_
#define PROVLEDGER_CLIENT_CHANNEL_OPTIONS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>

namespace provledger::client {

// The shortest keepalive_time_ms a client may use. Servers configured by ApplyServerKeepalive
// accept pings twice as often as this; gRPC 1.51 itself sends at most one ping a second.
constexpr uint32_t kMinKeepaliveTimeMs = 1000;
// The largest gRPC message a client channel sends or receives by default (a block or a batch).
constexpr int kDefaultMaxMessageBytes = 64 * 1024 * 1024;

struct KeepaliveOptions {
  // Ping the peer this often while calls are in flight. Shorter notices a dead peer sooner
  // and costs one small HTTP/2 frame per connection and period. Raised to
  // kMinKeepaliveTimeMs if below.
  uint32_t time_ms = 1000;
  // Close the connection (its calls fail UNAVAILABLE) when a ping is not acknowledged by then.
  // Too short on a loaded machine closes healthy connections (calls are retried elsewhere).
  uint32_t timeout_ms = 1000;
};

// Channel arguments for a channel to one of our gRPC servers: message size limits in both
// directions, HTTP/2 keepalive pings while calls are in flight (without a limit on pings
// between data frames, so a call waiting for its commit keeps being checked; not on idle
// connections: gRPC 1.51's synchronous client reads an idle socket only every 5 s, so the
// answer would come too late and healthy idle connections would be closed), and a
// reconnect backoff of 100 ms to 1 s (a node that restarts is back within seconds; gRPC's
// default waits up to two minutes). The connect timeout follows the backoff: a connection
// attempt to a silent host gives up within about a second.
grpc::ChannelArguments LedgerChannelArguments(int max_message_bytes = kDefaultMaxMessageBytes,
                                              const KeepaliveOptions& keepalive = {});

// Makes a server accept the pings of channels built by LedgerChannelArguments (with or
// without calls, down to one per kMinKeepaliveTimeMs / 2). Without it gRPC counts a ping
// less than 5 min after the last one, while it sends no data, as misbehaving, and after the
// third answers GOAWAY "too_many_pings": a Submit waiting 4 s for its commit failed
// UNAVAILABLE. Call before BuildAndStart().
void ApplyServerKeepalive(grpc::ServerBuilder* builder);

}  // namespace provledger::client

#endif  // PROVLEDGER_CLIENT_CHANNEL_OPTIONS_H_
