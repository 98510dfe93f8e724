// MqttClient: the one wrapper around libmosquitto (MQTT v5), on a network thread of its own.
// Every libmosquitto result becomes a Status; nothing throws. It reconnects on its own (backoff
// 1 s doubling to 5 s) and subscribes again after a (re)connection whose session the broker
// did not keep.
//
// Delivery timing: libmosquitto (handle__publish) queues the PUBACK of a QoS 1 PUBLISH as soon
// as it has read it, BEFORE `on_message` runs, and there is no manual acknowledgement. So the
// broker may forget a message before `on_message` has made it durable: a process killed in
// between loses it (docs/RELIABILITY.md, finding 7). Nothing `on_message` does is durable
// before the PUBACK: a consumer that must store first uses MqttConsumer (mqtt_consumer.h).
//
// Publishing: a QoS 1 publish is copied and queued by libmosquitto (also while disconnected),
// at most max_inflight unacknowledged on the wire; after a reconnect the unacknowledged ones
// are sent again (DUP). Publishes not yet acknowledged are bounded by max_buffered.
//
// Thread rules: every method from any thread, except that `on_message` must not call the
// methods that wait (Subscribe, PublishAndWait, WaitForPublishes, Disconnect): `on_message`
// runs on the client's network thread, which is the one that would complete them. It must copy
// what it needs and return quickly (while it runs, no acknowledgement is read and no keepalive
// is sent). Publish/PublishTracked from `on_message` are fine (they never wait).
#ifndef PROVLEDGER_COMMON_MQTT_CLIENT_H_
#define PROVLEDGER_COMMON_MQTT_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/mqtt_message.h"
#include "common/status.h"

struct mosquitto;
struct mosquitto_message;
struct mqtt5__property;

namespace provledger {

// How we prove ourselves to the broker and check it (docs/SECURITY.md). With an ssl:// (or
// mqtts://) URI the broker's certificate must be signed by ca_file and name the URI's host.
struct MqttSecurity {
  std::string ca_file;    // PEM: the CA of the broker's certificate (required for ssl://)
  std::string cert_file;  // PEM: our client certificate (optional; with key_file)
  std::string key_file;   // PEM: its private key, mode 0600
  std::string username;   // empty: none
  std::string password;   // sent only with a username; never logged
};

struct MqttOptions {
  std::string uri = "tcp://127.0.0.1:1883";  // tcp:// mqtt:// ssl:// mqtts://, host:port
  MqttSecurity security;
  std::string client_id;      // empty: a random one
  int max_inflight = 1000;    // QoS 1 messages in flight towards the broker (<= 65535)
  int max_buffered = 100000;  // QoS 1 publishes kept beyond those (e.g. while disconnected)
  uint32_t connect_timeout_ms = 10000;
  // Keep the session at the broker across disconnects (clean start off, this expiry), so
  // QoS 1 messages published while we are down are delivered when we return. Needs a
  // stable client_id.
  bool persistent_session = false;
  uint32_t session_expiry_s = 7 * 86400;
  // MQTT v5 Receive Maximum: QoS 1 messages the broker may have in flight towards us
  // (0: 65535). A small window keeps a SUBACK from queueing behind thousands of messages.
  uint16_t receive_maximum = 0;
};

// "scheme://host:port" -> host, port (default 1883, 8883 for TLS) and whether it is TLS.
// Schemes: tcp, mqtt, ssl, mqtts (none: tcp); an IPv6 host in brackets. kInvalidArgument for
// another scheme, no host or a bad port.
Status ParseBrokerUri(const std::string& uri, std::string* host, int* port, bool* tls);

// A message as bytes (the bridge keeps received messages in its durable intake) and back:
// lp(topic) || lp(payload) || u8(qos) || u8(flags: 1 retained, 2 duplicate) || u32be(n) ||
// n x (lp(name) || lp(value)).
Bytes EncodeMessage(const MqttMessage& m);
// kInvalidArgument when `bytes` is not EncodeMessage output.
StatusOr<MqttMessage> DecodeMessage(ByteView bytes);

// Whether the DUP flag of a received message can be read from libmosquitto `major`.`minor`
// (its internal message layout, which has no accessor): true only for 2.0, the layout it was
// written for. The client checks the library loaded at run time once; for any other version
// every received message reads duplicate = false, and it logs mqtt_dup_detection_off once.
bool MosquittoDupLayoutKnown(int major, int minor);

// What became of one publish (MqttClient::PublishTracked). Cheap to copy.
class PublishReceipt {
 public:
  enum class State {
    kPending,    // queued or on the wire, no acknowledgement yet (resent after a reconnect)
    kDelivered,  // QoS 1: the broker acknowledged it (PUBACK, success reason); QoS 0: written
    kRefused,    // the broker answered with a PUBACK reason >= 0x80 (e.g. 0x87 not
                 // authorized by its ACL): permanent, publishing it again gets the same answer
    kFailed,     // never acknowledged and no longer pending (the client was disconnected
                 // with it in flight): publish it again
  };
  // Never blocks.
  State state() const;
  // The PUBACK reason code once kDelivered or kRefused (0 before).
  int reason_code() const;

 private:
  friend class MqttClient;
  struct Cell {
    std::atomic<int> state{static_cast<int>(State::kPending)};
    std::atomic<int> reason{0};
  };
  std::shared_ptr<Cell> cell_;  // null: never handed over (reads kFailed)
};

class MqttClient {
 public:
  using MessageHandler = std::function<void(MqttMessage)>;

  // Connects (waiting up to connect_timeout_ms for the first CONNACK); kUnavailable if the
  // broker cannot be reached, refuses the TLS handshake or refuses the CONNECT (the first
  // failed attempt ends it); kInvalidArgument for a bad URI or TLS files on a plaintext URI.
  static StatusOr<std::unique_ptr<MqttClient>> Connect(const MqttOptions& options,
                                                       MessageHandler on_message);
  ~MqttClient();
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  // Subscribes `filter` at `qos` (waits up to 10 s for the SUBACK). No-local is off.
  Status Subscribe(const std::string& filter, int qos);
  // Subscribes every filter at `qos` in one SUBSCRIBE and waits for its SUBACK; kUnavailable
  // once timeout_ms pass with neither the SUBACK nor a delivered message (a resumed session's
  // backlog comes before the SUBACK, and a slow consumer may take long over it), and in any
  // case after 10 x timeout_ms (SubackWait); kPermissionDenied when the broker refuses a filter.
  // While disconnected the subscription is sent at the next connection (and waited for). Kept for
  // every later reconnection either way. No-local is off.
  Status Subscribe(const std::vector<std::string>& filters, int qos, uint32_t timeout_ms);
  // Queues a publish (copied); returns once libmosquitto has it, not when the broker
  // acknowledged it. kResourceExhausted when max_inflight + max_buffered publishes are
  // unacknowledged; kUnavailable for a QoS 0 publish while disconnected.
  Status Publish(const std::string& topic, const std::string& payload, int qos, bool retained,
                 const UserProperties& props = {});
  // Queues a publish like Publish and returns its receipt, to learn whether the broker
  // acknowledged or refused this very message.
  StatusOr<PublishReceipt> PublishTracked(const std::string& topic, const std::string& payload,
                                          int qos, bool retained, const UserProperties& props = {});
  // Publishes and waits until the broker acknowledged it (QoS 1) or it was written (QoS 0).
  // kPermissionDenied when the broker refused it, kDeadlineExceeded after timeout_ms.
  Status PublishAndWait(const std::string& topic, const std::string& payload, int qos,
                        bool retained, const UserProperties& props = {},
                        uint32_t timeout_ms = 10000);
  bool connected() const { return connected_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }
  // Waits until no publish is pending (acknowledged, refused or written), up to timeout_ms.
  // kDeadlineExceeded naming how many are pending.
  Status WaitForPublishes(uint32_t timeout_ms);
  // Waits for in-flight publishes up to timeout_ms, disconnects cleanly and stops the
  // network thread (no more reconnects). Publishes still pending read kFailed afterwards.
  // When it returns, an `on_message` call in progress has returned and no other starts: the
  // owner may free what `on_message` uses. Never call it from `on_message`. Idempotent.
  void Disconnect(uint32_t timeout_ms = 2000);

 private:
  struct Subscription {
    std::vector<std::string> filters;
    int qos = 1;
    std::vector<int> mids;   // of the SUBSCRIBEs sent and not answered yet
    bool confirmed = false;  // SUBACK'd in the current session
    bool refused = false;
  };

  MqttClient() = default;
  StatusOr<PublishReceipt> Enqueue(const std::string& topic, const std::string& payload, int qos,
                                   bool retained, const UserProperties& props);
  void Loop();
  bool TryConnect();                       // network thread
  void SendSubscription(Subscription* s);  // mu_ held

  // libmosquitto callbacks (network thread).
  static void OnConnect(mosquitto*, void* self, int rc, int flags, const mqtt5__property*);
  static void OnDisconnect(mosquitto*, void* self, int rc, const mqtt5__property*);
  static void OnPublish(mosquitto*, void* self, int mid, int rc, const mqtt5__property*);
  static void OnSubscribe(mosquitto*, void* self, int mid, int count, const int* granted,
                          const mqtt5__property*);
  static void OnMessage(mosquitto*, void* self, const mosquitto_message* m,
                        const mqtt5__property* props);

  MqttOptions options_;
  std::string host_;
  int port_ = 1883;
  mosquitto* mosq_ = nullptr;
  mqtt5__property* connect_props_ = nullptr;  // sent with every CONNECT
  MessageHandler on_message_;
  std::thread thread_;
  std::atomic<bool> stop_{false};     // ends the network thread
  std::atomic<bool> closing_{false};  // Disconnect called
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> delivered_{0};  // messages handed to on_message_

  mutable std::mutex mu_;
  std::condition_variable cv_;  // any change below
  std::vector<Subscription> subscriptions_;
  std::unordered_map<int, std::shared_ptr<PublishReceipt::Cell>> pending_;  // by mid
  std::unordered_map<int, int> early_acks_;      // mid -> reason, acked before Enqueue recorded it
  std::unordered_map<int, bool> early_subacks_;  // mid -> refused, before Subscribe recorded it
  int attempts_failed_ = 0;                      // failed attempts since the last CONNACK
  std::string last_error_;
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_MQTT_CLIENT_H_
