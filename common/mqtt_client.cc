#include "common/mqtt_client.h"

#include <dirent.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/log.h"

namespace provledger {

namespace {

UserProperties ReadUserProperties(const mqtt::properties& props) {
  UserProperties out;
  const MQTTProperties& c = props.c_struct();
  for (int i = 0; i < c.count; ++i) {
    if (c.array[i].identifier != MQTTPROPERTY_CODE_USER_PROPERTY) continue;
    mqtt::property p(c.array[i]);
    auto pair = mqtt::get<mqtt::string_pair>(p);
    out.emplace_back(std::get<0>(pair), std::get<1>(pair));
  }
  return out;
}

Status PahoError(const std::string& what, const std::exception& e) {
  return UnavailableError(what + ": " + e.what());
}

// The broker's TCP port in "tcp://host:port" (1883 when none is given; -1 for websockets).
int BrokerPort(const std::string& uri) {
  const size_t scheme = uri.find("://");
  const std::string rest = scheme == std::string::npos ? uri : uri.substr(scheme + 3);
  if (uri.rfind("ws", 0) == 0) return -1;
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.find(']', colon) != std::string::npos) {
    return uri.rfind("ssl", 0) == 0 || uri.rfind("mqtts", 0) == 0 ? 8883 : 1883;
  }
  return std::atoi(rest.c_str() + colon + 1);
}

// Paho C never sets TCP_NODELAY and has no hook to. Then a small publish after a quiet
// spell (an ack sent when a block commits) waits behind Nagle's algorithm until the broker's
// delayed ACK of our previous packet (the PUBACK of the reading) arrives: ~40 ms on Linux,
// which was most of an unloaded reading's publish-to-commit time. So after each connect we
// set it on this process's TCP sockets to the broker's port (harmless on any other).
void SetNoDelayTowards(int port) {
  if (port <= 0) return;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    struct stat st;
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    int peer_port = -1;
    if (peer.ss_family == AF_INET) {
      peer_port = ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      peer_port = ntohs(reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port);
    }
    int type = 0;
    socklen_t type_len = sizeof type;
    if (peer_port != port ||
        getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 ||
        type != SOCK_STREAM) {
      continue;
    }
    const int one = 1;
    setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  closedir(dir);
}

}  // namespace

StatusOr<std::unique_ptr<MqttClient>> MqttClient::Connect(const MqttOptions& options,
                                                          MessageHandler on_message) {
  std::unique_ptr<MqttClient> c(new MqttClient());
  c->options_ = options;
  c->on_message_ = std::move(on_message);
  const std::string id =
      options.client_id.empty() ? "pl-" + HexEncode(RandomBytes(6)) : options.client_id;
  try {
    mqtt::create_options copts(MQTTVERSION_5, options.max_buffered);
    copts.set_send_while_disconnected(true, true);
    c->client_ = std::make_unique<mqtt::async_client>(options.uri, id, copts, nullptr);
    MqttClient* self = c.get();
    c->client_->set_message_callback([self](mqtt::const_message_ptr m) {
      if (!self->on_message_) return;
      // Held while on_message runs, so Disconnect can wait for a delivery in progress (the
      // owner frees what on_message uses once Disconnect returns). Paho's own client lock
      // does not order this: Paho may run this callback on its receive thread while the
      // disconnect completes on another.
      std::lock_guard<std::mutex> lock(self->deliver_mu_);
      if (self->delivery_stopped_) return;  // disconnected: no PUBACK, the broker resends it
      MqttMessage msg;
      msg.topic = m->get_topic();
      msg.payload = m->get_payload_str();
      msg.qos = m->get_qos();
      msg.retained = m->is_retained();
      msg.duplicate = m->is_duplicate();
      msg.user_properties = ReadUserProperties(m->get_properties());
      self->on_message_(std::move(msg));
      self->delivered_.fetch_add(1, std::memory_order_relaxed);
    });
    c->client_->set_connected_handler([self](const std::string&) {
      SetNoDelayTowards(BrokerPort(self->options_.uri));
      if (self->reconnects_.fetch_add(1) > 0) {
        LogInfo("mqtt_reconnected").Kv("uri", self->options_.uri);
      }
      self->Resubscribe();
    });
    c->client_->set_connection_lost_handler([self](const std::string& cause) {
      if (!self->closing_.load()) LogWarn("mqtt_connection_lost").Kv("cause", cause);
    });
    mqtt::properties connect_props;
    if (options.persistent_session) {
      connect_props.add(
          mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, options.session_expiry_s));
    }
    if (options.receive_maximum > 0) {
      connect_props.add(mqtt::property(mqtt::property::RECEIVE_MAXIMUM,
                                       static_cast<int>(options.receive_maximum)));
    }
    auto conn = mqtt::connect_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .clean_start(!options.persistent_session)
                    .properties(connect_props)
                    .automatic_reconnect(std::chrono::milliseconds(250), std::chrono::seconds(5))
                    .keep_alive_interval(std::chrono::seconds(20))
                    .connect_timeout(std::chrono::milliseconds(options.connect_timeout_ms))
                    .finalize();
    conn.set_max_inflight(options.max_inflight);
    const MqttSecurity& sec = options.security;
    const bool tls = options.uri.rfind("ssl://", 0) == 0 || options.uri.rfind("mqtts://", 0) == 0;
    if (tls) {
      if (sec.ca_file.empty()) {
        return InvalidArgumentError("broker " + options.uri +
                                    ": an ssl:// broker needs the CA of its certificate "
                                    "(--broker_ca)");
      }
      mqtt::ssl_options ssl;
      ssl.set_trust_store(sec.ca_file);
      if (!sec.cert_file.empty()) ssl.set_key_store(sec.cert_file);
      if (!sec.key_file.empty()) ssl.set_private_key(sec.key_file);
      ssl.set_enable_server_cert_auth(true);
      ssl.set_verify(true);  // the certificate must name the host we connect to
      conn.set_ssl(std::move(ssl));
    } else if (!sec.ca_file.empty() || !sec.cert_file.empty()) {
      return InvalidArgumentError("broker " + options.uri +
                                  ": TLS files given for a plaintext URI (use ssl://)");
    }
    if (!sec.username.empty()) {
      conn.set_user_name(sec.username);
      conn.set_password(sec.password);
    }
    auto tok = c->client_->connect(conn);
    if (!tok->wait_for(std::chrono::milliseconds(options.connect_timeout_ms + 1000))) {
      return UnavailableError("mqtt broker " + options.uri + " did not answer");
    }
  } catch (const std::exception& e) {
    return PahoError("mqtt connect to " + options.uri, e);
  }
  return c;
}

MqttClient::~MqttClient() { Disconnect(); }

void MqttClient::Disconnect(uint32_t timeout_ms) {
  if (!client_ || closing_.exchange(true)) return;
  try {
    // Also while reconnecting: an explicit disconnect ends automatic reconnection.
    client_->disconnect(static_cast<int>(timeout_ms))
        ->wait_for(std::chrono::milliseconds(timeout_ms + 1000));
  } catch (const std::exception&) {
    // Not connected: nothing to close.
  }
  // Waits for a delivery still running on Paho's thread; none starts after this.
  std::lock_guard<std::mutex> lock(deliver_mu_);
  delivery_stopped_ = true;
}

Status MqttClient::WaitForPublishes(uint32_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t pending = 0;
  while (true) {
    try {
      pending = client_ ? client_->get_pending_delivery_tokens().size() : 0;
    } catch (const std::exception& e) {
      return PahoError("pending publishes", e);
    }
    if (pending == 0) return OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return DeadlineExceededError(std::to_string(pending) + " publishes not acknowledged");
}

Bytes EncodeMessage(const MqttMessage& m) {
  Bytes out;
  AppendLp(&out, m.topic);
  AppendLp(&out, m.payload);
  AppendU8(&out, static_cast<uint8_t>(m.qos));
  AppendU8(&out, static_cast<uint8_t>((m.retained ? 1 : 0) | (m.duplicate ? 2 : 0)));
  AppendU32(&out, static_cast<uint32_t>(m.user_properties.size()));
  for (const auto& [k, v] : m.user_properties) {
    AppendLp(&out, k);
    AppendLp(&out, v);
  }
  return out;
}

StatusOr<MqttMessage> DecodeMessage(ByteView bytes) {
  ByteReader r(bytes);
  MqttMessage m;
  uint8_t qos = 0, retained = 0;
  uint32_t n = 0;
  constexpr size_t kMax = 1 << 28;  // an MQTT packet is at most 256 MiB
  if (!r.ReadLp(&m.topic, 65535).ok() || !r.ReadLp(&m.payload, kMax).ok() || !r.ReadU8(&qos).ok() ||
      !r.ReadU8(&retained).ok() || !r.ReadU32(&n).ok() || qos > 2 || retained > 3 ||
      n > r.remaining() / 8) {
    return InvalidArgumentError("stored message does not parse");
  }
  m.qos = qos;
  m.retained = (retained & 1) != 0;
  m.duplicate = (retained & 2) != 0;
  for (uint32_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.ReadLp(&k, kMax).ok() || !r.ReadLp(&v, kMax).ok()) {
      return InvalidArgumentError("stored message: user property does not parse");
    }
    m.user_properties.emplace_back(std::move(k), std::move(v));
  }
  if (!r.done()) return InvalidArgumentError("stored message: trailing bytes");
  return m;
}

void MqttClient::Resubscribe() {
  std::vector<std::pair<std::string, int>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    subs = subscriptions_;
  }
  for (const auto& [filter, qos] : subs) {
    try {
      client_->subscribe(filter, qos);
    } catch (const std::exception& e) {
      LogWarn("mqtt_resubscribe_failed").Kv("filter", filter).Kv("err", e.what());
    }
  }
}

Status MqttClient::Subscribe(const std::string& filter, int qos) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    subscriptions_.emplace_back(filter, qos);
  }
  try {
    auto tok = client_->subscribe(filter, qos);
    if (!tok->wait_for(std::chrono::seconds(10)))
      return UnavailableError("subscribe " + filter + ": no SUBACK");
  } catch (const std::exception& e) {
    return PahoError("subscribe " + filter, e);
  }
  return OkStatus();
}

Status MqttClient::Subscribe(const std::vector<std::string>& filters, int qos,
                             uint32_t timeout_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& f : filters) subscriptions_.emplace_back(f, qos);
  }
  try {
    auto tok = client_->subscribe(mqtt::string_collection::create(filters),
                                  mqtt::iasync_client::qos_collection(filters.size(), qos));
    // A resumed session's backlog arrives before the SUBACK: while messages are still being
    // delivered the broker is answering, however long a slow consumer takes to take them in.
    const auto idle = std::chrono::milliseconds(timeout_ms);
    auto deadline = std::chrono::steady_clock::now() + idle;
    uint64_t seen = delivered_.load(std::memory_order_relaxed);
    while (!tok->wait_for(std::chrono::milliseconds(std::min<uint32_t>(timeout_ms, 500)))) {
      const uint64_t now_seen = delivered_.load(std::memory_order_relaxed);
      if (now_seen != seen) {
        seen = now_seen;
        deadline = std::chrono::steady_clock::now() + idle;
      } else if (std::chrono::steady_clock::now() >= deadline) {
        return UnavailableError("subscribe " + std::to_string(filters.size()) +
                                " filters: no SUBACK and no message for " +
                                std::to_string(timeout_ms) + " ms");
      }
    }
  } catch (const std::exception& e) {
    return PahoError("subscribe " + std::to_string(filters.size()) + " filters", e);
  }
  return OkStatus();
}

namespace {
mqtt::message_ptr MakeMessage(const std::string& topic, const std::string& payload, int qos,
                              bool retained, const UserProperties& props) {
  auto msg = mqtt::make_message(topic, payload, qos, retained);
  if (!props.empty()) {
    mqtt::properties p;
    for (const auto& [k, v] : props) p.add(mqtt::property(mqtt::property::USER_PROPERTY, k, v));
    msg->set_properties(p);
  }
  return msg;
}
}  // namespace

Status MqttClient::Publish(const std::string& topic, const std::string& payload, int qos,
                           bool retained, const UserProperties& props) {
  try {
    client_->publish(MakeMessage(topic, payload, qos, retained, props));
  } catch (const std::exception& e) {
    return PahoError("publish " + topic, e);
  }
  return OkStatus();
}

StatusOr<PublishReceipt> MqttClient::PublishTracked(const std::string& topic,
                                                    const std::string& payload, int qos,
                                                    bool retained, const UserProperties& props) {
  PublishReceipt r;
  try {
    r.token_ = client_->publish(MakeMessage(topic, payload, qos, retained, props));
  } catch (const std::exception& e) {
    return PahoError("publish " + topic, e);
  }
  if (!r.token_) return UnavailableError("publish " + topic + ": no delivery token");
  return r;
}

PublishReceipt::State PublishReceipt::state() const {
  if (!token_) return State::kFailed;
  try {
    // wait_for takes the token's lock (is_complete does not) and throws on a failure.
    return token_->wait_for(std::chrono::milliseconds(0)) ? State::kDelivered : State::kPending;
  } catch (const std::exception&) {
    return State::kFailed;
  }
}

Status MqttClient::PublishAndWait(const std::string& topic, const std::string& payload, int qos,
                                  bool retained, const UserProperties& props, uint32_t timeout_ms) {
  try {
    auto tok = client_->publish(MakeMessage(topic, payload, qos, retained, props));
    if (!tok->wait_for(std::chrono::milliseconds(timeout_ms))) {
      return DeadlineExceededError("publish " + topic + ": no acknowledgement");
    }
  } catch (const std::exception& e) {
    return PahoError("publish " + topic, e);
  }
  return OkStatus();
}

bool MqttClient::connected() const {
  try {
    return client_ && client_->is_connected();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace provledger
