#include "common/mqtt_client.h"

#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "common/bytes.h"
#include "common/ecdsa.h"
#include "common/log.h"
#include "common/suback_wait.h"

namespace provledger {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kKeepaliveS = 20;
constexpr int kMinBackoffMs = 250;
constexpr int kMaxBackoffMs = 5000;
// Packet identifiers are 16-bit: more unacknowledged publishes than this would reuse one.
constexpr size_t kMaxOutstanding = 65000;

std::string MosqError(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

// The reason codes >= 0x80 are refusals (MQTT v5 2.4).
bool IsRefusal(int reason) { return reason >= 0x80; }

UserProperties ReadUserProperties(const mosquitto_property* props) {
  UserProperties out;
  char* k = nullptr;
  char* v = nullptr;
  const mosquitto_property* p =
      mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &k, &v, false);
  while (p != nullptr) {
    out.emplace_back(k ? k : "", v ? v : "");
    free(k);
    free(v);
    k = v = nullptr;
    p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &k, &v, true);
  }
  return out;
}

}  // namespace

Status ParseBrokerUri(const std::string& uri, std::string* host, int* port, bool* tls) {
  std::string rest = uri;
  std::string scheme = "tcp";
  const size_t sep = uri.find("://");
  if (sep != std::string::npos) {
    scheme = uri.substr(0, sep);
    rest = uri.substr(sep + 3);
  }
  if (scheme == "tcp" || scheme == "mqtt") {
    *tls = false;
  } else if (scheme == "ssl" || scheme == "mqtts") {
    *tls = true;
  } else {
    return InvalidArgumentError("broker " + uri + ": scheme must be tcp, mqtt, ssl or mqtts");
  }
  *port = *tls ? 8883 : 1883;
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (!rest.empty() && rest[0] == '[') {  // [v6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) return InvalidArgumentError("broker " + uri + ": bad host");
    *host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return InvalidArgumentError("broker " + uri);
  } else {
    const size_t colon = rest.rfind(':');
    *host = rest.substr(0, colon);
    rest = colon == std::string::npos ? "" : rest.substr(colon);
  }
  if (!rest.empty()) {
    char* end = nullptr;
    const long p = std::strtol(rest.c_str() + 1, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) {
      return InvalidArgumentError("broker " + uri + ": bad port");
    }
    *port = static_cast<int>(p);
  }
  if (host->empty()) return InvalidArgumentError("broker " + uri + ": no host");
  return OkStatus();
}

namespace {

// libmosquitto connects with a blocking connect(): towards a host whose packets are dropped
// that takes the kernel's SYN retries (~2 min), with the network thread stuck. A non-blocking
// probe bounded by connect_timeout_ms (and by `stop`) first keeps that short.
Status ProbeTcp(const std::string& host, int port, uint32_t timeout_ms,
                const std::atomic<bool>& stop) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int g = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (g != 0) return UnavailableError("resolve " + host + ": " + gai_strerror(g));
  Status result = UnavailableError("connect " + host + ": no address");
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (addrinfo* a = res; a != nullptr && !stop.load(); a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int err = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    while (err == EINPROGRESS && !stop.load() && Clock::now() < deadline) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 100) > 0) {
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      }
    }
    close(fd);
    if (err == 0) {
      result = OkStatus();
      break;
    }
    result = UnavailableError("connect " + host + ":" + std::to_string(port) + ": " +
                              (err == EINPROGRESS ? "timed out" : std::strerror(err)));
  }
  freeaddrinfo(res);
  return result;
}

std::once_flag lib_init_once;
// Set once by InitLib (before any client exists, so before any OnMessage): whether the
// libmosquitto loaded at run time has the layout ReceivedDup reads.
std::atomic<bool> dup_layout_ok{false};

// libmosquitto hands on_message the `msg` member of its internal mosquitto_message_all and
// keeps the PUBLISH's DUP flag next to it; it has no accessor. The bridge needs DUP (a
// redelivered reading it already answered, mqtt-bridge/reading_pipeline.cc), so read it from
// the 2.0.x layout (lib/mosquitto_internal.h), and only when the library loaded at run time is
// 2.0 too (a newer shared library under a binary built on 2.0 may have moved it): otherwise
// report false.
#if LIBMOSQUITTO_MAJOR == 2 && LIBMOSQUITTO_MINOR == 0
constexpr bool kBuiltOnDupLayout = true;
struct Mosq20MessageAll {
  void* next;
  void* prev;
  void* properties;
  time_t timestamp;
  int state;
  bool dup;
  mosquitto_message msg;
  uint32_t expiry_interval;
};
bool ReceivedDup(const mosquitto_message* m) {
  if (!dup_layout_ok.load(std::memory_order_relaxed)) return false;
  const char* base = reinterpret_cast<const char*>(m) - offsetof(Mosq20MessageAll, msg);
  return reinterpret_cast<const Mosq20MessageAll*>(base)->dup;
}
#else
constexpr bool kBuiltOnDupLayout = false;
bool ReceivedDup(const mosquitto_message*) { return false; }
#endif

void InitLib() {
  mosquitto_lib_init();
  int major = 0, minor = 0, revision = 0;
  mosquitto_lib_version(&major, &minor, &revision);
  const bool ok = kBuiltOnDupLayout && MosquittoDupLayoutKnown(major, minor);
  dup_layout_ok.store(ok);
  if (!ok) {
    LogWarn("mqtt_dup_detection_off")
        .Kv("libmosquitto",
            std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(revision))
        .Kv("built_on",
            std::to_string(LIBMOSQUITTO_MAJOR) + "." + std::to_string(LIBMOSQUITTO_MINOR))
        .Kv("why",
            "DUP of received messages is read from libmosquitto 2.0's internal layout, so "
            "detection is off: every message reads duplicate=false, and a reading the broker "
            "redelivers after a bridge restart may be answered replay beside its first answer");
  }
}

}  // namespace

bool MosquittoDupLayoutKnown(int major, int minor) { return major == 2 && minor == 0; }

PublishReceipt::State PublishReceipt::state() const {
  if (!cell_) return State::kFailed;
  return static_cast<State>(cell_->state.load());
}

int PublishReceipt::reason_code() const { return cell_ ? cell_->reason.load() : 0; }

StatusOr<std::unique_ptr<MqttClient>> MqttClient::Connect(const MqttOptions& options,
                                                          MessageHandler on_message) {
  std::call_once(lib_init_once, InitLib);
  std::unique_ptr<MqttClient> c(new MqttClient());
  c->options_ = options;
  c->on_message_ = std::move(on_message);
  bool tls = false;
  PL_RETURN_IF_ERROR(ParseBrokerUri(options.uri, &c->host_, &c->port_, &tls));
  const MqttSecurity& sec = options.security;
  if (tls && sec.ca_file.empty()) {
    return InvalidArgumentError("broker " + options.uri +
                                ": an ssl:// broker needs the CA of its certificate "
                                "(--broker_ca)");
  }
  if (!tls && (!sec.ca_file.empty() || !sec.cert_file.empty())) {
    return InvalidArgumentError("broker " + options.uri +
                                ": TLS files given for a plaintext URI (use ssl://)");
  }
  const std::string id =
      options.client_id.empty() ? "pl-" + HexEncode(RandomBytes(6)) : options.client_id;
  c->mosq_ = mosquitto_new(id.c_str(), !options.persistent_session, c.get());
  if (c->mosq_ == nullptr) return InternalError("mosquitto_new failed");
  mosquitto_int_option(c->mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  // Without it a small publish after a quiet spell waits ~40 ms behind Nagle's algorithm.
  mosquitto_int_option(c->mosq_, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_int_option(c->mosq_, MOSQ_OPT_SEND_MAXIMUM, std::clamp(options.max_inflight, 1, 65535));
  mosquitto_int_option(c->mosq_, MOSQ_OPT_RECEIVE_MAXIMUM,
                       options.receive_maximum == 0 ? 65535 : options.receive_maximum);
  // Other threads' publishes are only queued; the network thread alone writes the socket.
  mosquitto_threaded_set(c->mosq_, true);
  if (tls) {
    int rc = mosquitto_tls_set(c->mosq_, sec.ca_file.c_str(), nullptr,
                               sec.cert_file.empty() ? nullptr : sec.cert_file.c_str(),
                               sec.key_file.empty() ? nullptr : sec.key_file.c_str(), nullptr);
    if (rc == MOSQ_ERR_SUCCESS)
      rc = mosquitto_tls_opts_set(c->mosq_, 1 /*SSL_VERIFY_PEER*/, nullptr, nullptr);
    // The certificate must name the host we connect to.
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_tls_insecure_set(c->mosq_, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      return InvalidArgumentError("broker " + options.uri + ": TLS files: " + MosqError(rc));
    }
  }
  if (!sec.username.empty()) {
    const int rc = mosquitto_username_pw_set(c->mosq_, sec.username.c_str(),
                                             sec.password.empty() ? nullptr : sec.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
      return InvalidArgumentError("broker username: " + MosqError(rc));
    }
  }
  if (options.persistent_session) {
    mosquitto_property_add_int32(&c->connect_props_, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                 options.session_expiry_s);
  }
  mosquitto_connect_v5_callback_set(c->mosq_, &MqttClient::OnConnect);
  mosquitto_disconnect_v5_callback_set(c->mosq_, &MqttClient::OnDisconnect);
  mosquitto_publish_v5_callback_set(c->mosq_, &MqttClient::OnPublish);
  mosquitto_subscribe_v5_callback_set(c->mosq_, &MqttClient::OnSubscribe);
  mosquitto_message_v5_callback_set(c->mosq_, &MqttClient::OnMessage);

  MqttClient* self = c.get();
  c->thread_ = std::thread([self] { self->Loop(); });
  std::unique_lock<std::mutex> lock(c->mu_);
  c->cv_.wait_for(lock, std::chrono::milliseconds(options.connect_timeout_ms),
                  [&] { return c->connected_.load() || c->attempts_failed_ > 0; });
  if (!c->connected_.load()) {
    const std::string why = c->last_error_.empty() ? "no CONNACK" : c->last_error_;
    lock.unlock();
    c->Disconnect(0);
    return UnavailableError("mqtt broker " + options.uri + ": " + why);
  }
  return c;
}

MqttClient::~MqttClient() {
  Disconnect();
  if (thread_.joinable()) {
    stop_ = true;
    thread_.join();
  }
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  mosquitto_property_free_all(&connect_props_);
}

bool MqttClient::TryConnect() {
  Status probe = ProbeTcp(host_, port_, options_.connect_timeout_ms, stop_);
  int rc = MOSQ_ERR_SUCCESS;
  if (probe.ok()) {
    rc = mosquitto_connect_bind_v5(mosq_, host_.c_str(), port_, kKeepaliveS, nullptr,
                                   connect_props_);
    if (rc == MOSQ_ERR_SUCCESS) return true;
  }
  const std::string why = probe.ok() ? MosqError(rc) : probe.message();
  int failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed = ++attempts_failed_;
    last_error_ = why;
  }
  cv_.notify_all();
  if (failed == 1 || failed % 20 == 0) {
    LogWarn("mqtt_connect_failed").Kv("uri", options_.uri).Kv("attempts", failed).Kv("err", why);
  }
  return false;
}

void MqttClient::Loop() {
  int backoff_ms = kMinBackoffMs;
  Clock::time_point next_attempt = Clock::now();
  bool attempting = false;  // a connection is open, no CONNACK yet
  while (!stop_.load()) {
    if (mosquitto_socket(mosq_) < 0) {
      if (attempting) {  // closed before its CONNACK (TLS handshake refused, CONNACK refused)
        attempting = false;
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++attempts_failed_;
          if (last_error_.empty()) last_error_ = "connection closed before CONNACK";
        }
        cv_.notify_all();
      }
      if (closing_.load()) break;
      const auto now = Clock::now();
      if (now < next_attempt) {
        std::this_thread::sleep_for(
            std::min(std::chrono::milliseconds(100),
                     std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt - now)));
        continue;
      }
      next_attempt = now + std::chrono::milliseconds(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
      if (!TryConnect()) continue;
      attempting = true;
    }
    const int rc = mosquitto_loop(mosq_, 100, 1);
    if (connected_.load()) {
      attempting = false;
      backoff_ms = kMinBackoffMs;
      next_attempt = Clock::now() + std::chrono::milliseconds(backoff_ms);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_error_ = MosqError(rc);
      }
      if (mosquitto_socket(mosq_) >= 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

void MqttClient::OnConnect(mosquitto*, void* obj, int rc, int flags, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  if (rc != 0) {  // libmosquitto closes the connection after a refused CONNACK
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->last_error_ =
          std::string("broker refused the connection: ") + mosquitto_reason_string(rc);
    }
    LogWarn("mqtt_connect_failed")
        .Kv("uri", self->options_.uri)
        .Kv("err", mosquitto_reason_string(rc));
    return;
  }
  const bool session_present = (flags & 1) != 0;
  if (self->reconnects_.fetch_add(1) > 0) {
    LogInfo("mqtt_reconnected").Kv("uri", self->options_.uri).Kv("session", session_present);
  }
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->attempts_failed_ = 0;
    self->last_error_.clear();
    self->connected_ = true;
    for (Subscription& s : self->subscriptions_) {
      if (!session_present) s.confirmed = false;  // the broker forgot our subscriptions
      if (!s.confirmed && !s.refused) self->SendSubscription(&s);
    }
  }
  self->cv_.notify_all();
}

void MqttClient::SendSubscription(Subscription* s) {
  std::vector<char*> filters;
  for (std::string& f : s->filters) filters.push_back(f.data());
  int mid = 0;
  const int rc = mosquitto_subscribe_multiple(mosq_, &mid, static_cast<int>(filters.size()),
                                              filters.data(), s->qos, 0, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    LogWarn("mqtt_resubscribe_failed")
        .Kv("filter", s->filters.empty() ? "" : s->filters[0])
        .Kv("filters", s->filters.size())
        .Kv("err", MosqError(rc));
    return;
  }
  s->mids.push_back(mid);
}

void MqttClient::OnDisconnect(mosquitto*, void* obj, int rc, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  const bool was = self->connected_.exchange(false);
  if (was && !self->closing_.load()) {
    LogWarn("mqtt_connection_lost")
        .Kv("uri", self->options_.uri)
        .Kv("cause", rc == 0 ? "disconnected" : MosqError(rc));
  }
  self->cv_.notify_all();
}

void MqttClient::OnPublish(mosquitto*, void* obj, int mid, int rc, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    auto it = self->pending_.find(mid);
    if (it == self->pending_.end()) {
      self->early_acks_[mid] = rc;  // acknowledged before Enqueue recorded it
    } else {
      it->second->reason = rc;
      it->second->state = static_cast<int>(IsRefusal(rc) ? PublishReceipt::State::kRefused
                                                         : PublishReceipt::State::kDelivered);
      self->pending_.erase(it);
    }
  }
  self->cv_.notify_all();
}

void MqttClient::OnSubscribe(mosquitto*, void* obj, int mid, int count, const int* granted,
                             const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  bool refused = false;
  for (int i = 0; i < count; ++i) refused = refused || IsRefusal(granted[i]);
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    bool found = false;
    for (Subscription& s : self->subscriptions_) {
      if (std::find(s.mids.begin(), s.mids.end(), mid) == s.mids.end()) continue;
      s.mids.clear();
      (refused ? s.refused : s.confirmed) = true;
      found = true;
      break;
    }
    if (!found) self->early_subacks_[mid] = refused;
  }
  self->cv_.notify_all();
}

void MqttClient::OnMessage(mosquitto*, void* obj, const mosquitto_message* m,
                           const mosquitto_property* props) {
  auto* self = static_cast<MqttClient*>(obj);
  if (!self->on_message_ || self->closing_.load() || m == nullptr) return;
  MqttMessage msg;
  msg.topic = m->topic ? m->topic : "";
  if (m->payload != nullptr && m->payloadlen > 0) {
    msg.payload.assign(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen));
  }
  msg.qos = m->qos;
  msg.retained = m->retain;
  msg.duplicate = ReceivedDup(m);
  msg.user_properties = ReadUserProperties(props);
  try {
    self->on_message_(std::move(msg));
  } catch (const std::exception& e) {
    LogError("mqtt_handler_failed").Kv("err", e.what());
  } catch (...) {
    LogError("mqtt_handler_failed").Kv("err", "unknown exception");
  }
  self->delivered_.fetch_add(1, std::memory_order_relaxed);
}

void MqttClient::Disconnect(uint32_t timeout_ms) {
  if (mosq_ == nullptr || closing_.load()) return;
  if (connected_.load()) (void)WaitForPublishes(timeout_ms);
  if (closing_.exchange(true)) return;
  if (mosquitto_disconnect_v5(mosq_, 0, nullptr) == MOSQ_ERR_SUCCESS) {
    // The network thread writes the DISCONNECT and closes the socket.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(1000), [&] { return !connected_.load(); });
  }
  stop_ = true;
  if (thread_.joinable()) thread_.join();  // no on_message runs or starts after this
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [mid, cell] : pending_)
      cell->state = static_cast<int>(PublishReceipt::State::kFailed);
    pending_.clear();
  }
  cv_.notify_all();
}

Status MqttClient::WaitForPublishes(uint32_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return pending_.empty(); })) {
    return OkStatus();
  }
  return DeadlineExceededError(std::to_string(pending_.size()) + " publishes not acknowledged");
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

Status MqttClient::Subscribe(const std::string& filter, int qos) {
  return Subscribe(std::vector<std::string>{filter}, qos, 10000);
}

Status MqttClient::Subscribe(const std::vector<std::string>& filters, int qos,
                             uint32_t timeout_ms) {
  if (closing_.load()) return UnavailableError("subscribe: the client is disconnected");
  if (filters.empty()) return OkStatus();
  size_t index;
  std::vector<std::string> copy = filters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = subscriptions_.size();
    subscriptions_.push_back(Subscription{filters, qos, {}, false, false});
  }
  // Sent here outside mu_ (this thread never calls libmosquitto holding it); while
  // disconnected the next CONNACK sends it.
  if (connected_.load()) {
    std::vector<char*> ptrs;
    ptrs.reserve(copy.size());
    for (std::string& f : copy) ptrs.push_back(f.data());
    int mid = 0;
    const int rc = mosquitto_subscribe_multiple(mosq_, &mid, static_cast<int>(ptrs.size()),
                                                ptrs.data(), qos, 0, nullptr);
    if (rc == MOSQ_ERR_SUCCESS) {
      std::lock_guard<std::mutex> lock(mu_);
      Subscription& s = subscriptions_[index];
      auto early = early_subacks_.find(mid);
      if (early != early_subacks_.end()) {
        (early->second ? s.refused : s.confirmed) = true;
        early_subacks_.erase(early);
      } else if (!s.confirmed) {
        s.mids.push_back(mid);
      }
    } else if (rc != MOSQ_ERR_NO_CONN) {
      return UnavailableError("subscribe " + filters[0] + ": " + MosqError(rc));
    }
  }
  const std::string what = DescribeSubscribe(filters);
  SubackWait wait(std::chrono::milliseconds(timeout_ms), delivered_.load(std::memory_order_relaxed),
                  Clock::now());
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    const Subscription& s = subscriptions_[index];
    if (s.confirmed) return OkStatus();
    if (s.refused) return PermissionDeniedError(what + ": refused by the broker");
    if (closing_.load()) return UnavailableError(what + ": the client is disconnected");
    PL_RETURN_IF_ERROR(wait.Check(what, delivered_.load(std::memory_order_relaxed), Clock::now()));
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

StatusOr<PublishReceipt> MqttClient::Enqueue(const std::string& topic, const std::string& payload,
                                             int qos, bool retained, const UserProperties& props) {
  if (closing_.load()) return UnavailableError("publish " + topic + ": the client is disconnected");
  if (qos > 0) {
    const size_t limit =
        std::min(kMaxOutstanding, static_cast<size_t>(std::max(options_.max_inflight, 1)) +
                                      static_cast<size_t>(std::max(options_.max_buffered, 0)));
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.size() >= limit) {
      return ResourceExhaustedError("publish " + topic + ": " + std::to_string(pending_.size()) +
                                    " publishes not yet acknowledged by the broker (limit " +
                                    std::to_string(limit) + ")");
    }
  }
  mosquitto_property* list = nullptr;
  for (const auto& [k, v] : props) {
    mosquitto_property_add_string_pair(&list, MQTT_PROP_USER_PROPERTY, k.c_str(), v.c_str());
  }
  int mid = 0;
  const int rc = mosquitto_publish_v5(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                      payload.data(), qos, retained, list);
  mosquitto_property_free_all(&list);
  // A QoS 1 publish is queued even when there is no connection: it leaves after the
  // reconnect (libmosquitto answers MOSQ_ERR_NO_CONN for it all the same).
  if (rc != MOSQ_ERR_SUCCESS && !(rc == MOSQ_ERR_NO_CONN && qos > 0)) {
    return UnavailableError("publish " + topic + ": " + MosqError(rc));
  }
  PublishReceipt r;
  r.cell_ = std::make_shared<PublishReceipt::Cell>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto early = early_acks_.find(mid);
    if (early != early_acks_.end()) {
      r.cell_->reason = early->second;
      r.cell_->state =
          static_cast<int>(IsRefusal(early->second) ? PublishReceipt::State::kRefused
                                                    : PublishReceipt::State::kDelivered);
      early_acks_.erase(early);
    } else {
      pending_[mid] = r.cell_;
    }
  }
  return r;
}

Status MqttClient::Publish(const std::string& topic, const std::string& payload, int qos,
                           bool retained, const UserProperties& props) {
  return Enqueue(topic, payload, qos, retained, props).status();
}

StatusOr<PublishReceipt> MqttClient::PublishTracked(const std::string& topic,
                                                    const std::string& payload, int qos,
                                                    bool retained, const UserProperties& props) {
  return Enqueue(topic, payload, qos, retained, props);
}

Status MqttClient::PublishAndWait(const std::string& topic, const std::string& payload, int qos,
                                  bool retained, const UserProperties& props, uint32_t timeout_ms) {
  PL_ASSIGN_OR_RETURN(PublishReceipt r, Enqueue(topic, payload, qos, retained, props));
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return r.state() != PublishReceipt::State::kPending; });
  switch (r.state()) {
    case PublishReceipt::State::kDelivered:
      return OkStatus();
    case PublishReceipt::State::kRefused:
      return PermissionDeniedError("publish " + topic + ": refused by the broker: " +
                                   mosquitto_reason_string(r.reason_code()));
    case PublishReceipt::State::kFailed:
      return UnavailableError("publish " + topic + ": the client disconnected");
    case PublishReceipt::State::kPending:
      break;
  }
  return DeadlineExceededError("publish " + topic + ": no acknowledgement");
}

}  // namespace provledger
