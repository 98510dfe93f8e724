// MqttClient: the one wrapper around Eclipse Paho MQTT C++ (async client, MQTT v5). Paho
// throws; this class catches everything and returns Status, so nothing escapes into our
// threads. It reconnects on its own and subscribes again after every (re)connection.
//
// Delivery: Paho C (MQTTProtocol_handlePublishes) runs `on_message` for a QoS 1 PUBLISH
// on its receive thread, and sends the PUBACK only after `on_message` returns; there is no
// manual acknowledgement. So whatever `on_message` has made durable before returning is
// durable before the broker forgets the message; a message it only queued in memory is not.
//
// Thread rules: Publish/Subscribe from any thread. `on_message` runs on Paho's callback
// thread, holding Paho's client lock (no other call into Paho proceeds meanwhile): it must
// copy what it needs and return quickly (never block on the ledger or on another Paho call).
#ifndef PROVLEDGER_COMMON_MQTT_CLIENT_H_
#define PROVLEDGER_COMMON_MQTT_CLIENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace mqtt {
class async_client;
class delivery_token;
}  // namespace mqtt

namespace provledger {

using UserProperties = std::vector<std::pair<std::string, std::string>>;

struct MqttMessage {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retained = false;
  // DUP: the broker sent this PUBLISH before (it was not acknowledged, e.g. the bridge was
  // killed after taking it in and before its PUBACK left).
  bool duplicate = false;
  UserProperties user_properties;
};

// How we prove ourselves to the broker and check it (docs/SECURITY.md). With an ssl:// (or
// mqtts://) URI the broker's certificate must be signed by ca_file and name the URI's host.
struct MqttSecurity {
  std::string ca_file;    // PEM: the CA of the broker's certificate (required for ssl://)
  std::string cert_file;  // PEM: our client certificate (optional; with key_file)
  std::string key_file;   // PEM: its private key, mode 0600
  std::string username;   // empty: none
  std::string password;   // sent only with a username
};

struct MqttOptions {
  std::string uri = "tcp://127.0.0.1:1883";
  MqttSecurity security;
  std::string client_id;      // empty: a random one
  int max_inflight = 1000;    // QoS 1 messages in flight towards the broker
  int max_buffered = 100000;  // publishes kept while disconnected
  uint32_t connect_timeout_ms = 10000;
  // Keep the session at the broker across disconnects (clean start off, this expiry), so
  // QoS 1 messages published while we are down are delivered when we return. Needs a
  // stable client_id.
  bool persistent_session = false;
  uint32_t session_expiry_s = 7 * 86400;
  // MQTT v5 Receive Maximum: QoS 1 messages the broker may have in flight towards us
  // (0: the broker's default, 65535). Messages are acknowledged one at a time after
  // on_message returns, so a small window keeps a SUBACK from queueing behind thousands.
  uint16_t receive_maximum = 0;
};

// A message as bytes (the bridge keeps received messages in its durable intake) and back:
// lp(topic) || lp(payload) || u8(qos) || u8(flags: 1 retained, 2 duplicate) || u32be(n) ||
// n x (lp(name) || lp(value)).
Bytes EncodeMessage(const MqttMessage& m);
// kInvalidArgument when `bytes` is not EncodeMessage output.
StatusOr<MqttMessage> DecodeMessage(ByteView bytes);

// What became of one publish (MqttClient::PublishTracked). Cheap to copy.
class PublishReceipt {
 public:
  enum class State {
    kPending,    // handed to Paho, no acknowledgement yet (it resends it after a reconnect)
    kDelivered,  // QoS 1: the broker acknowledged it (PUBACK, success reason); QoS 0: written
    kFailed,     // Paho gave up on it (e.g. it discarded its session state when the broker
                 // had lost the session) or the broker refused it: publish it again
  };
  // Never blocks.
  State state() const;

 private:
  friend class MqttClient;
  std::shared_ptr<mqtt::delivery_token> token_;
};

class MqttClient {
 public:
  using MessageHandler = std::function<void(MqttMessage)>;

  // Connects (waiting up to connect_timeout_ms for the first connection); kUnavailable if
  // the broker cannot be reached. Subscriptions made later are restored after reconnects.
  static StatusOr<std::unique_ptr<MqttClient>> Connect(const MqttOptions& options,
                                                       MessageHandler on_message);
  ~MqttClient();
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  // Subscribes `filter` at `qos` (waits for the SUBACK). No-local is off.
  Status Subscribe(const std::string& filter, int qos);
  // Subscribes every filter at `qos` in one SUBSCRIBE and waits for its SUBACK; kUnavailable
  // once timeout_ms pass with neither the SUBACK nor a delivered message (a resumed session's
  // backlog comes before the SUBACK, and a slow consumer may take long over it). No-local is off.
  Status Subscribe(const std::vector<std::string>& filters, int qos, uint32_t timeout_ms);
  // Queues a publish; returns once Paho has taken it (not when the broker acknowledged).
  Status Publish(const std::string& topic, const std::string& payload, int qos, bool retained,
                 const UserProperties& props = {});
  // Queues a publish like Publish and returns its receipt, to learn whether the broker
  // acknowledged this very message (WaitForPublishes cannot tell a dropped one).
  StatusOr<PublishReceipt> PublishTracked(const std::string& topic, const std::string& payload,
                                          int qos, bool retained, const UserProperties& props = {});
  // Publishes and waits until the broker acknowledged it (QoS 1) or it was written (QoS 0).
  Status PublishAndWait(const std::string& topic, const std::string& payload, int qos,
                        bool retained, const UserProperties& props = {},
                        uint32_t timeout_ms = 10000);
  bool connected() const;
  uint64_t reconnects() const { return reconnects_.load(); }
  // Waits until no publish handed to Paho is pending (acknowledged by the broker, written,
  // or given up by Paho: a dropped publish counts as done here; use PublishTracked to
  // tell), up to timeout_ms. kDeadlineExceeded naming how many are pending.
  Status WaitForPublishes(uint32_t timeout_ms);
  // Disconnects cleanly (waits for in-flight publishes up to timeout_ms) and stops
  // reconnecting. When it returns, an `on_message` call in progress has returned and no
  // other starts: the owner may free what `on_message` uses. Never call it from
  // `on_message`. Idempotent.
  void Disconnect(uint32_t timeout_ms = 2000);

 private:
  MqttClient() = default;
  void Resubscribe();

  MqttOptions options_;
  std::unique_ptr<mqtt::async_client> client_;
  MessageHandler on_message_;
  std::mutex mu_;
  std::vector<std::pair<std::string, int>> subscriptions_;  // guarded by mu_
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<bool> closing_{false};
  // Held by Paho's thread while it runs on_message_; Disconnect takes it to stop delivery.
  std::mutex deliver_mu_;
  bool delivery_stopped_ = false;       // guarded by deliver_mu_
  std::atomic<uint64_t> delivered_{0};  // messages handed to on_message_
};

}  // namespace provledger

#endif  // PROVLEDGER_COMMON_MQTT_CLIENT_H_
