#include "common/mqtt_consumer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

#include "common/ecdsa.h"
#include "common/log.h"
#include "common/suback_wait.h"

namespace provledger {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMinBackoffMs = 250;
constexpr int kMaxBackoffMs = 5000;
constexpr uint16_t kDefaultReceiveMaximum = 1024;
constexpr size_t kReadChunk = 64 << 10;

std::string SslError(const char* what) {
  std::string out = what;
  unsigned long e;
  bool first = true;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += first ? ": " : "; ";
    out += buf;
    first = false;
  }
  return out;
}

int MsLeft(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 1000));
}

// Waits until `fd` is ready for `events` or `deadline`; false on timeout.
bool WaitFd(int fd, short events, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, MsLeft(deadline));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the caller's call report the error
  }
  return false;
}

// A TCP connection to host:port within `deadline`, non-blocking, TCP_NODELAY (a PUBACK must
// not wait behind Nagle's algorithm).
StatusOr<int> ConnectTcp(const std::string& host, int port, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int g = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (g != 0) return UnavailableError("resolve " + host + ": " + gai_strerror(g));
  Status result = UnavailableError("connect " + host + ": no address");
  int fd = -1;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int err = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      if (WaitFd(fd, POLLOUT, deadline)) {
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      }
    }
    if (err == 0) break;
    close(fd);
    fd = -1;
    result = UnavailableError("connect " + host + ":" + std::to_string(port) + ": " +
                              (err == EINPROGRESS ? "timed out" : std::strerror(err)));
  }
  freeaddrinfo(res);
  if (fd < 0) return result;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// OpenSSL writes to the socket with write(): a peer gone away would raise SIGPIPE, whose
// default action ends the process. Ignored (as the rest of the tree assumes) unless the
// program installed a handler of its own.
void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      signal(SIGPIPE, SIG_IGN);
    }
  });
}

}  // namespace

StatusOr<std::unique_ptr<MqttConsumer>> MqttConsumer::Connect(const MqttOptions& options,
                                                              const MqttConsumerLimits& limits) {
  std::unique_ptr<MqttConsumer> c(new MqttConsumer());
  c->options_ = options;
  c->limits_ = limits;
  if (c->limits_.max_packet_size == 0 || c->limits_.max_packet_size > mqtt::kMaxRemainingLength) {
    c->limits_.max_packet_size = mqtt::kMaxRemainingLength;
  }
  if (c->limits_.keepalive_s == 0) c->limits_.keepalive_s = 20;
  PL_RETURN_IF_ERROR(ParseBrokerUri(options.uri, &c->host_, &c->port_, &c->tls_));
  const MqttSecurity& sec = options.security;
  if (c->tls_ && sec.ca_file.empty()) {
    return InvalidArgumentError("broker " + options.uri +
                                ": an ssl:// broker needs the CA of its certificate "
                                "(--broker_ca)");
  }
  if (!c->tls_ && (!sec.ca_file.empty() || !sec.cert_file.empty())) {
    return InvalidArgumentError("broker " + options.uri +
                                ": TLS files given for a plaintext URI (use ssl://)");
  }
  if (c->tls_) {
    ERR_clear_error();
    c->ssl_ctx_ = SSL_CTX_new(TLS_client_method());
    if (c->ssl_ctx_ == nullptr) return InternalError(SslError("SSL_CTX_new"));
    SSL_CTX_set_min_proto_version(c->ssl_ctx_, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ssl_ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
    SSL_CTX_set_verify(c->ssl_ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(c->ssl_ctx_, sec.ca_file.c_str(), nullptr) != 1) {
      return InvalidArgumentError("broker " + options.uri +
                                  ": TLS files: " + SslError(("CA " + sec.ca_file).c_str()));
    }
    if (!sec.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(c->ssl_ctx_, sec.cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(c->ssl_ctx_, sec.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(c->ssl_ctx_) != 1) {
        return InvalidArgumentError("broker " + options.uri + ": TLS files: " +
                                    SslError(("client certificate " + sec.cert_file).c_str()));
      }
    }
    IgnoreSigpipe();
  }
  c->client_id_ = options.client_id.empty() ? "pl-" + HexEncode(RandomBytes(6)) : options.client_id;
  c->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->wake_fd_ < 0) return InternalError(std::string("eventfd: ") + std::strerror(errno));
  Status first = c->OpenConnection();
  if (!first.ok()) {
    return UnavailableError("mqtt broker " + options.uri + ": " + first.message());
  }
  MqttConsumer* self = c.get();
  c->thread_ = std::thread([self] { self->Loop(); });
  return c;
}

MqttConsumer::~MqttConsumer() {
  Disconnect();
  if (fd_ >= 0) CloseConnection("destroyed");
  if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void MqttConsumer::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

long MqttConsumer::IoRead(char* buf, size_t n, std::string* why) {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    const int r = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(n, 1 << 30)));
    if (r > 0) return r;
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
    *why = err == SSL_ERROR_ZERO_RETURN ? "closed by the broker" : SslError("TLS read");
    if (err == SSL_ERROR_SYSCALL && errno != 0) *why += std::string(": ") + std::strerror(errno);
    return -1;
  }
  const ssize_t r = recv(fd_, buf, n, 0);
  if (r > 0) return r;
  if (r == 0) {
    *why = "closed by the broker";
    return -1;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  *why = std::string("read: ") + std::strerror(errno);
  return -1;
}

long MqttConsumer::IoWrite(const char* buf, size_t n, std::string* why) {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    const int r = SSL_write(ssl_, buf, static_cast<int>(std::min<size_t>(n, 1 << 30)));
    if (r > 0) return r;
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
    *why = SslError("TLS write");
    if (err == SSL_ERROR_SYSCALL && errno != 0) *why += std::string(": ") + std::strerror(errno);
    return -1;
  }
  const ssize_t r = send(fd_, buf, n, MSG_NOSIGNAL);
  if (r >= 0) return r;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  *why = std::string("write: ") + std::strerror(errno);
  return -1;
}

Status MqttConsumer::OpenConnection() {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.connect_timeout_ms);
  PL_ASSIGN_OR_RETURN(fd_, ConnectTcp(host_, port_, deadline));
  rx_.clear();
  tx_.clear();
  auto fail = [this](const std::string& why) {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    close(fd_);
    fd_ = -1;
    rx_.clear();
    tx_.clear();
    return UnavailableError(why);
  };
  if (tls_) {
    ERR_clear_error();
    ssl_ = SSL_new(ssl_ctx_);
    if (ssl_ == nullptr) return fail(SslError("SSL_new"));
    SSL_set_fd(ssl_, fd_);
    // The certificate must name the host we connect to (an address: its IP SAN).
    in6_addr a6;
    in_addr a4;
    if (inet_pton(AF_INET, host_.c_str(), &a4) == 1 ||
        inet_pton(AF_INET6, host_.c_str(), &a6) == 1) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host_.c_str()) != 1) {
        return fail(SslError("TLS: set the expected address"));
      }
    } else {
      SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(ssl_, host_.c_str()) != 1 ||
          SSL_set_tlsext_host_name(ssl_, host_.c_str()) != 1) {
        return fail(SslError("TLS: set the expected host name"));
      }
    }
    while (true) {
      ERR_clear_error();
      const int r = SSL_connect(ssl_);
      if (r == 1) break;
      const int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!WaitFd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
          return fail("TLS handshake timed out");
        }
        continue;
      }
      const long verify = SSL_get_verify_result(ssl_);
      std::string why = SslError("TLS handshake");
      if (verify != X509_V_OK)
        why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      return fail(why);
    }
  }
  mqtt::ConnectParams cp;
  cp.client_id = client_id_;
  cp.clean_start = !options_.persistent_session;
  cp.keepalive_s = limits_.keepalive_s;
  cp.session_expiry_s = options_.persistent_session ? options_.session_expiry_s : 0;
  cp.receive_maximum =
      options_.receive_maximum == 0 ? kDefaultReceiveMaximum : options_.receive_maximum;
  cp.maximum_packet_size =
      limits_.max_packet_size < mqtt::kMaxRemainingLength ? limits_.max_packet_size : 0;
  cp.username = options_.security.username;
  cp.password = options_.security.password;
  auto connect = mqtt::EncodeConnect(cp);
  if (!connect.ok()) return fail(connect.status().message());
  std::string why;
  for (size_t off = 0; off < connect->size();) {
    const long n = IoWrite(connect->data() + off, connect->size() - off, &why);
    if (n < 0) return fail("CONNECT: " + why);
    if (n == 0 && !WaitFd(fd_, POLLOUT, deadline)) return fail("CONNECT: timed out");
    off += static_cast<size_t>(n);
  }
  mqtt::Connack ack;
  while (true) {
    auto d = mqtt::DecodeServerPacket(rx_, limits_.max_packet_size);
    if (!d.ok()) return fail("CONNACK: " + d.status().message());
    if (d->consumed > 0) {
      const auto* c = std::get_if<mqtt::Connack>(&d->packet);
      if (c == nullptr) return fail("the broker's first packet is not a CONNACK");
      ack = *c;
      rx_.erase(0, d->consumed);
      break;
    }
    char buf[4096];
    const long n = IoRead(buf, sizeof buf, &why);
    if (n < 0) return fail("no CONNACK: " + why);
    if (n == 0 && (ssl_ == nullptr || SSL_pending(ssl_) == 0) && !WaitFd(fd_, POLLIN, deadline)) {
      return fail("no CONNACK within " + std::to_string(options_.connect_timeout_ms) + " ms");
    }
    rx_.append(buf, static_cast<size_t>(n));
  }
  if (ack.reason >= 0x80) {
    return fail("broker refused the connection: reason " + std::to_string(ack.reason) +
                (ack.reason_string.empty() ? "" : " (" + ack.reason_string + ")"));
  }
  keepalive_s_ = ack.server_keepalive_s >= 0 ? static_cast<uint16_t>(ack.server_keepalive_s)
                                             : limits_.keepalive_s;
  last_tx_ = Clock::now();
  ping_outstanding_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Subscription& s : subscriptions_) {
      if (!ack.session_present) s.confirmed = false;  // the broker forgot our subscriptions
      s.packet_id = 0;                                // sent again below if not confirmed
    }
    subscriptions_dirty_ = true;
    connected_ = true;
  }
  cv_.notify_all();
  if (connacks_.fetch_add(1) > 0) {
    LogInfo("mqtt_reconnected").Kv("uri", options_.uri).Kv("session", ack.session_present);
  }
  return OkStatus();
}

void MqttConsumer::CloseConnection(const std::string& cause) {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ssl_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  rx_.clear();
  tx_.clear();
  const bool was = connected_.exchange(false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    out_.clear();  // PUBACKs of the lost connection: their messages come again
    if (options_.persistent_session) {
      // Not yet polled, so not yet the caller's: the session redelivers them.
      std::deque<Delivery> keep;
      for (Delivery& d : queue_) {
        if (d.ack == 0) {
          keep.push_back(std::move(d));
        }
      }
      queue_.swap(keep);
      queued_bytes_ = 0;
      for (const Delivery& d : queue_)
        queued_bytes_ += d.message.topic.size() + d.message.payload.size();
    }
    for (Subscription& s : subscriptions_) s.packet_id = 0;
  }
  cv_.notify_all();
  if (was && !stop_.load()) {
    LogWarn("mqtt_connection_lost").Kv("uri", options_.uri).Kv("cause", cause);
  }
}

bool MqttConsumer::HandlePacket(mqtt::ServerPacket&& p, std::string* why) {
  ping_outstanding_ = false;  // the broker is there
  if (auto* pub = std::get_if<mqtt::Publish>(&p)) {
    Delivery d;
    d.message = std::move(pub->message);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (d.message.qos > 0) d.ack = (generation_ << 16) | pub->packet_id;
      queued_bytes_ += d.message.topic.size() + d.message.payload.size();
      queue_.push_back(std::move(d));
    }
    received_.fetch_add(1, std::memory_order_relaxed);
    cv_.notify_all();
    return true;
  }
  if (auto* sub = std::get_if<mqtt::Suback>(&p)) {
    bool refused = false;
    for (uint8_t r : sub->reasons) refused = refused || r >= 0x80;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Subscription& s : subscriptions_) {
        if (s.packet_id != sub->packet_id) continue;
        s.packet_id = 0;
        (refused ? s.refused : s.confirmed) = true;
        break;
      }
    }
    cv_.notify_all();
    return true;
  }
  if (std::holds_alternative<mqtt::Pingresp>(p)) return true;
  if (auto* d = std::get_if<mqtt::Disconnect>(&p)) {
    *why = "the broker sent DISCONNECT, reason " + std::to_string(d->reason) +
           (d->reason_string.empty() ? "" : " (" + d->reason_string + ")");
    return false;
  }
  *why = "a second CONNACK";
  return false;
}

bool MqttConsumer::ReadAvailable(std::string* why) {
  // Bounded per call, so that writes (PUBACKs) are not starved by a fast sender.
  for (size_t total = 0; total < (1 << 20);) {
    const size_t old = rx_.size();
    rx_.resize(old + kReadChunk);
    const long n = IoRead(rx_.data() + old, kReadChunk, why);
    rx_.resize(old + static_cast<size_t>(std::max(n, 0L)));
    if (n < 0) return false;
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  size_t off = 0;
  while (off < rx_.size()) {
    auto d = mqtt::DecodeServerPacket(ByteView(rx_).substr(off), limits_.max_packet_size);
    if (!d.ok()) {
      *why = d.status().message();
      LogWarn("mqtt_protocol_error").Kv("uri", options_.uri).Kv("err", *why);
      return false;
    }
    if (d->consumed == 0) break;
    off += d->consumed;
    if (!HandlePacket(std::move(d->packet), why)) return false;
  }
  rx_.erase(0, off);
  return true;
}

bool MqttConsumer::WritePending(std::string* why) {
  size_t off = 0;
  while (off < tx_.size()) {
    const long n = IoWrite(tx_.data() + off, tx_.size() - off, why);
    if (n < 0) return false;
    if (n == 0) break;
    off += static_cast<size_t>(n);
  }
  if (off > 0) {
    tx_.erase(0, off);
    last_tx_ = Clock::now();
  }
  return true;
}

void MqttConsumer::Loop() {
  int backoff_ms = kMinBackoffMs;
  int failed = 0;
  while (!stop_.load()) {
    if (fd_ < 0) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return stop_.load(); });
      }
      if (stop_.load()) break;
      Status s = OpenConnection();
      if (s.ok()) {
        backoff_ms = kMinBackoffMs;
        failed = 0;
      } else {
        backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
        if (++failed == 1 || failed % 20 == 0) {
          LogWarn("mqtt_connect_failed")
              .Kv("uri", options_.uri)
              .Kv("attempts", failed)
              .Kv("err", s.message());
        }
        continue;
      }
    }
    bool paused;
    {
      std::lock_guard<std::mutex> lock(mu_);
      tx_ += out_;
      out_.clear();
      if (subscriptions_dirty_) {
        subscriptions_dirty_ = false;
        for (Subscription& s : subscriptions_) {
          if (s.confirmed || s.refused || s.packet_id != 0) continue;
          if (++next_packet_id_ == 0) next_packet_id_ = 1;
          auto bytes = mqtt::EncodeSubscribe(next_packet_id_, s.filters, s.qos);
          if (!bytes.ok()) {
            s.refused = true;  // never valid: Subscribe reports it
            continue;
          }
          s.packet_id = next_packet_id_;
          tx_ += *bytes;
        }
      }
      paused = queued_bytes_ >= limits_.max_queued_bytes;
    }
    const auto now = Clock::now();
    const auto half = std::chrono::milliseconds(keepalive_s_ * 500);
    if (keepalive_s_ > 0 && now - last_tx_ >= half && tx_.empty()) {
      tx_ += mqtt::EncodePingreq();
      if (!ping_outstanding_) ping_sent_ = now;
      ping_outstanding_ = true;
    }
    if (paused) ping_sent_ = now;  // its answer waits unread in the socket
    std::string why;
    if (keepalive_s_ > 0 && ping_outstanding_ &&
        now - ping_sent_ > std::chrono::seconds(keepalive_s_)) {
      CloseConnection("no PINGRESP within " + std::to_string(keepalive_s_) + " s");
      continue;
    }
    if (!tx_.empty() && !WritePending(&why)) {
      CloseConnection(why);
      continue;
    }
    const bool buffered = ssl_ != nullptr && SSL_pending(ssl_) > 0 && !paused;
    pollfd fds[2] = {
        {fd_, static_cast<short>((paused ? 0 : POLLIN) | (tx_.empty() ? 0 : POLLOUT)), 0},
        {wake_fd_, POLLIN, 0}};
    int timeout_ms = 500;
    if (keepalive_s_ > 0) {
      const auto until_ping =
          std::chrono::duration_cast<std::chrono::milliseconds>(last_tx_ + half - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<long long>(until_ping.count(), 1, 500));
    }
    const int n = poll(fds, 2, buffered ? 0 : timeout_ms);
    if (n < 0 && errno != EINTR) {
      CloseConnection(std::string("poll: ") + std::strerror(errno));
      continue;
    }
    if (paused && (fds[0].revents & (POLLERR | POLLHUP))) {
      // Not read while paused; the error is seen once Poll makes room.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof v);
    }
    if (!paused && (buffered || (fds[0].revents & (POLLIN | POLLERR | POLLHUP)))) {
      if (!ReadAvailable(&why)) {
        CloseConnection(why);
        continue;
      }
    }
  }
  if (fd_ >= 0) {
    // A clean end: the PUBACKs the caller gave, then DISCONNECT, written within a second.
    {
      std::lock_guard<std::mutex> lock(mu_);
      tx_ += out_;
      out_.clear();
    }
    tx_ += mqtt::EncodeDisconnect();
    const auto deadline = Clock::now() + std::chrono::seconds(1);
    std::string why;
    while (!tx_.empty() && WritePending(&why) && !tx_.empty() && Clock::now() < deadline) {
      WaitFd(fd_, POLLOUT, deadline);
    }
    if (ssl_ != nullptr) SSL_shutdown(ssl_);
    CloseConnection("disconnected");
  }
}

Status MqttConsumer::Subscribe(const std::vector<std::string>& filters, int qos,
                               uint32_t timeout_ms) {
  if (filters.empty()) return OkStatus();
  if (qos < 0 || qos > 1) return InvalidArgumentError("subscribe at QoS 0 or 1");
  size_t index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_.load()) return UnavailableError("subscribe: the consumer is disconnected");
    index = subscriptions_.size();
    Subscription s;
    s.filters = filters;
    s.qos = qos;
    subscriptions_.push_back(std::move(s));
    subscriptions_dirty_ = true;
  }
  Wake();
  const std::string what = DescribeSubscribe(filters);
  SubackWait wait(std::chrono::milliseconds(timeout_ms), received_.load(std::memory_order_relaxed),
                  Clock::now());
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    const Subscription& s = subscriptions_[index];
    if (s.confirmed) return OkStatus();
    if (s.refused) return PermissionDeniedError(what + ": refused by the broker");
    if (stop_.load()) return UnavailableError(what + ": the consumer is disconnected");
    PL_RETURN_IF_ERROR(wait.Check(what, received_.load(std::memory_order_relaxed), Clock::now()));
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

size_t MqttConsumer::Poll(std::vector<Delivery>* out, size_t max_messages, size_t max_bytes,
                          std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || stop_.load(); });
  if (stop_.load()) return 0;
  const bool was_paused = queued_bytes_ >= limits_.max_queued_bytes;
  size_t n = 0, bytes = 0;
  while (!queue_.empty() && n < max_messages) {
    Delivery& d = queue_.front();
    const size_t size = d.message.topic.size() + d.message.payload.size();
    if (n > 0 && bytes + size > max_bytes) break;
    bytes += size;
    queued_bytes_ -= size;
    out->push_back(std::move(d));
    queue_.pop_front();
    ++n;
  }
  const bool resume = was_paused && queued_bytes_ < limits_.max_queued_bytes;
  lock.unlock();
  if (resume) Wake();
  return n;
}

void MqttConsumer::Acknowledge(const std::vector<uint64_t>& acks) {
  bool any = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t a : acks) {
      if (a == 0) continue;
      if ((a >> 16) != generation_) {
        stale_acks_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      out_ += mqtt::EncodePuback(static_cast<uint16_t>(a & 0xFFFF));
      any = true;
    }
  }
  if (any) Wake();
}

void MqttConsumer::Disconnect() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_.exchange(true)) return;
  }
  cv_.notify_all();
  if (wake_fd_ >= 0) Wake();
  if (thread_.joinable()) thread_.join();
  cv_.notify_all();
}

}  // namespace provledger
