// MqttConsumer: an MQTT v5 subscribing client whose QoS 1 PUBACKs leave only when the caller
// acknowledges, so a consumer can make messages durable first (the bridge: one synced intake
// write per batch, docs/OPERATIONS.md "What a PUBACK means"). libmosquitto (MqttClient)
// acknowledges before its callback runs; this client exists for that one difference, and
// publishes nothing (answers go out on an MqttClient).
//
// Connection: tcp:// or ssl:// (MqttOptions, common/mqtt_client.h: the same URI forms,
// security files, client id and session rules). With ssl:// the broker's certificate must
// chain to ca_file and name the URI's host (OpenSSL, TLS 1.2 or later); cert_file/key_file
// give a client certificate. CONNECT: clean start off and the session expiry when
// persistent_session; Receive Maximum from receive_maximum (0: 1024), which bounds the QoS 1
// messages unacknowledged at once; username and password. Keepalive: PINGREQ when nothing
// was sent for half the keepalive; no answer within the keepalive ends the connection. Lost
// connections are made again with backoff (250 ms doubling to 5 s); subscriptions are sent
// again when the broker did not keep the session. Messages received and not acknowledged on
// a connection that was lost are dropped from the queue and their acknowledgements ignored:
// the broker's session redelivers them (DUP set) on the next connection.
//
// Thread rules: every method from any thread; Poll and Acknowledge are meant for one
// consumer thread (the order of acknowledgements is the order of Poll's results, as MQTT
// 4.6 asks). One network thread of its own reads, writes and keeps the connection alive.
#ifndef PROVLEDGER_COMMON_MQTT_CONSUMER_H_
#define PROVLEDGER_COMMON_MQTT_CONSUMER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/mqtt_client.h"
#include "common/mqtt_packet.h"
#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace provledger {

struct MqttConsumerLimits {
  // Largest packet accepted (announced to the broker as Maximum Packet Size, so it drops a
  // larger message for us instead of sending it, MQTT v5 3.1.2.11.4). 0: the protocol's.
  uint32_t max_packet_size = 0;
  // Received messages waiting for Poll, in bytes; beyond it the client stops reading the
  // socket (the broker's queue holds the rest). QoS 1 ones are bounded by Receive Maximum too.
  size_t max_queued_bytes = 64 << 20;
  uint16_t keepalive_s = 20;
};

class MqttConsumer {
 public:
  // A received message. `ack` names its PUBLISH on the connection it came on (0: QoS 0,
  // nothing to acknowledge).
  struct Delivery {
    MqttMessage message;
    uint64_t ack = 0;
  };

  // Connects (TCP, TLS, CONNECT, CONNACK within connect_timeout_ms) on the calling thread,
  // then starts the network thread. kInvalidArgument for a bad URI, TLS files on a plaintext
  // URI, an ssl:// URI without ca_file, or TLS files OpenSSL cannot load; kUnavailable when
  // the broker cannot be reached, fails the TLS handshake or refuses the CONNECT.
  static StatusOr<std::unique_ptr<MqttConsumer>> Connect(const MqttOptions& options,
                                                         const MqttConsumerLimits& limits = {});
  ~MqttConsumer();
  MqttConsumer(const MqttConsumer&) = delete;
  MqttConsumer& operator=(const MqttConsumer&) = delete;

  // Subscribes every filter at `qos` (0 or 1) in one SUBSCRIBE and waits for its SUBACK, as
  // MqttClient::Subscribe does: kUnavailable once timeout_ms pass with neither the SUBACK nor
  // a received message (a resumed session's backlog comes first), and in any case after
  // 10 x timeout_ms; kPermissionDenied when the broker refuses a filter. Kept for later
  // connections either way. Messages are received meanwhile: Poll them from another thread.
  Status Subscribe(const std::vector<std::string>& filters, int qos, uint32_t timeout_ms);

  // Waits up to `timeout` for a message, then moves every message already received to `out`
  // (appended, in order of arrival) up to max_messages and max_bytes (topic + payload; the
  // first message is taken whatever its size). Returns how many; 0 on timeout or once
  // disconnected.
  size_t Poll(std::vector<Delivery>* out, size_t max_messages, size_t max_bytes,
              std::chrono::milliseconds timeout);

  // Sends the PUBACKs of `acks` (Delivery::ack values; 0 ignored) in this order, and returns
  // once they are queued for the network thread (not when written). Acks of a connection
  // that has since been lost are dropped: those messages come again.
  void Acknowledge(const std::vector<uint64_t>& acks);

  bool connected() const { return connected_.load(); }
  // CONNACKs received after the first.
  uint64_t reconnects() const {
    const uint64_t n = connacks_.load();
    return n > 0 ? n - 1 : 0;
  }
  // Acknowledgements dropped because their connection was lost (counted for tests and logs).
  uint64_t stale_acks() const { return stale_acks_.load(); }

  // Writes the PUBACKs queued so far, sends DISCONNECT (the broker keeps a persistent session
  // and what it holds for us), closes and stops the network thread. Messages not yet
  // acknowledged stay with the broker. Poll returns 0 at once afterwards. Idempotent.
  void Disconnect();

 private:
  struct Subscription {
    std::vector<std::string> filters;
    int qos = 1;
    uint16_t packet_id = 0;  // of the SUBSCRIBE in flight; 0: none
    bool confirmed = false;  // SUBACK'd (in the current session)
    bool refused = false;
  };

  MqttConsumer() = default;
  Status OpenConnection();  // TCP, TLS, CONNECT, CONNACK; network thread (or Connect)
  void CloseConnection(const std::string& cause);
  void Loop();
  // Reads what the socket has into rx_, decodes and handles it. False: connection lost.
  bool ReadAvailable(std::string* why);
  bool WritePending(std::string* why);
  bool HandlePacket(mqtt::ServerPacket&& p, std::string* why);
  // Raw I/O over the socket or TLS: > 0 bytes moved, 0 would block, < 0 closed or failed.
  long IoRead(char* buf, size_t n, std::string* why);
  long IoWrite(const char* buf, size_t n, std::string* why);
  void Wake();

  MqttOptions options_;
  MqttConsumerLimits limits_;
  std::string host_;
  int port_ = 1883;
  bool tls_ = false;
  std::string client_id_;
  SSL_CTX* ssl_ctx_ = nullptr;

  // Network thread only (and Connect before it starts).
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string rx_;
  std::string tx_;
  uint16_t keepalive_s_ = 20;
  std::chrono::steady_clock::time_point last_tx_, ping_sent_;
  bool ping_outstanding_ = false;
  uint16_t next_packet_id_ = 1;

  std::thread thread_;
  int wake_fd_ = -1;  // eventfd: Acknowledge, Subscribe, Disconnect, Poll making room
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> connacks_{0};
  std::atomic<uint64_t> stale_acks_{0};
  std::atomic<uint64_t> received_{0};  // messages queued for Poll, ever

  mutable std::mutex mu_;
  std::condition_variable cv_;  // a message queued, a SUBACK, a state change
  uint64_t generation_ = 1;     // of the current connection; in the high bits of an ack
  std::deque<Delivery> queue_;
  size_t queued_bytes_ = 0;
  std::string out_;  // packets from other threads for the network thread to send
  std::vector<Subscription> subscriptions_;
  bool subscriptions_dirty_ = false;  // a new subscription to send
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_MQTT_CONSUMER_H_
