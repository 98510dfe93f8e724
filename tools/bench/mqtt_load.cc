// mqtt_load: an MQTT v5 load generator on libmosquitto, for measuring the bridge path and a
// bare broker with the same client (ops/bench.sh). D devices over C connections, each
// connection on libmosquitto's own network thread, publish N QoS 1 readings each, round
// robin over a connection's devices, speaking PROTOCOL.md sections 3-5 with the device side
// of device_protocol/ (the code tools/device_sim uses):
//
//   --mode=mac   a session key agreed per device first (section 4), then MACed readings;
//                a reading counts when the bridge's commit acknowledgement for it arrives
//   --mode=sig   device-signed readings (section 5), counted on the acknowledgement
//   --mode=bare  the same topics, payloads and (MAC-sized) user properties to a plain
//                broker; each connection subscribes its own devices' data topics and a
//                reading counts when the broker delivers it back (publish -> receive)
//
// Prints {"phase":"ready"} on stdout once connected and (mac) keyed, right before the first
// reading, then one JSON summary line: published, answered, answer rate over first publish
// to last answer, latency percentiles (publish -> ack / receive), errors by code, and this
// process's CPU seconds over the measured phase. Exit 0 when every reading was answered
// without error. --rate offers readings/s (all connections together) on a fixed schedule;
// --window caps the unanswered readings per connection; --duration_s caps the publishing
// time (then fewer than D x N readings are sent; "capped" says so).
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "common/ecdsa.h"
#include "common/log.h"
#include "common/status.h"
#include "device_protocol/key_agreement.h"
#include "device_protocol/message_auth.h"
#include "device_protocol/topics.h"
#include "tools/device_sim/ack_tracker.h"
#include "tools/device_sim/device_answers.h"
#include "tools/device_sim/device_keys.h"
#include "tools/device_sim/reading_builder.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "broker host");
ABSL_FLAG(uint64_t, port, 1883, "broker port");
ABSL_FLAG(std::string, mode, "mac", "mac | sig | bare (see the file comment)");
ABSL_FLAG(uint64_t, devices, 64, "simulated devices, spread over the connections");
ABSL_FLAG(uint64_t, count, 2000, "QoS 1 readings per device");
ABSL_FLAG(uint64_t, payload_size, 256, "reading payload bytes (JSON padded to this size)");
ABSL_FLAG(uint64_t, connections, 4, "MQTT connections, each on its own libmosquitto loop");
ABSL_FLAG(uint64_t, rate, 0, "readings/s offered, all connections together; 0 = flat out");
ABSL_FLAG(uint64_t, window, 1000, "most unanswered readings per connection; 0 = no limit");
ABSL_FLAG(uint64_t, duration_s, 0,
          "stop publishing after this many seconds even if --count is not reached (0 = never); "
          "the readings published are still waited for");
ABSL_FLAG(std::string, topic_prefix, "devices", "topic prefix (PROTOCOL.md section 2)");
ABSL_FLAG(std::string, device_prefix, "load", "device names are <device_prefix>-<i>");
ABSL_FLAG(std::string, item, "temp", "item of the readings");
ABSL_FLAG(std::string, keys_dir, "", "device keys <keys_dir>/<device>.key (made if missing)");
ABSL_FLAG(bool, do_register, false,
          "register the devices' keys on the ledger first (needs --nodes, --genesis, --admin_key)");
ABSL_FLAG(std::string, nodes, "", "validators H:P[,H:P...] (--do_register, --gateway_id)");
ABSL_FLAG(std::string, genesis, "", "genesis FILE (--do_register)");
ABSL_FLAG(std::string, admin_key, "", "admin key FILE (--do_register)");
ABSL_FLAG(uint64_t, register_wait_ms, 1500,
          "after registering new devices, wait this long (the bridge's registry refresh)");
ABSL_FLAG(std::string, gateway_id, "",
          "accept key replies of this gateway only (its key is looked up at --nodes)");
ABSL_FLAG(uint64_t, key_timeout_ms, 20000, "mac: time for all key agreements");
ABSL_FLAG(uint64_t, answer_timeout_ms, 60000, "give up this long after the last publish");

namespace provledger::bench {
namespace {

using device_protocol::Session;
using device_protocol::UserProperties;
using device_sim::AnswerKind;

double SteadyMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

enum class Mode { kMac, kSig, kBare };

struct Conn;

// One device; its fields are guarded by its connection's mutex once the run starts.
struct Device {
  std::string name;
  std::string data_topic;
  std::optional<PrivateKey> key;  // mac, sig
  std::optional<device_protocol::KeyAgreement> agreement;
  std::optional<Session> session;
  std::string key_error;
  uint64_t seq_base = 0;
  std::vector<double> sent_ms;    // by reading index; 0 = not yet published
  std::vector<uint8_t> answered;  // by reading index
  Conn* conn = nullptr;
};

struct Conn {
  size_t id = 0;
  mosquitto* mosq = nullptr;
  std::vector<size_t> devices;  // indices into Load::devices
  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
  int connect_rc = -1;
  int subacks_pending = 0;
  uint64_t published = 0;
  uint64_t answered = 0;
  uint64_t acked_recorded = 0, acked_skipped = 0, unmatched = 0;
  std::map<std::string, uint64_t> errors;
  std::vector<double> latency_ms;
  double first_publish_ms = 0, last_publish_ms = 0, last_answer_ms = 0;

  // Every return path frees the client, an early error's included (LeakSanitizer reported
  // the client of a refused connection).
  ~Conn() {
    if (mosq == nullptr) return;
    mosquitto_loop_stop(mosq, true);  // MOSQ_ERR_INVAL, harmless, when never started
    mosquitto_destroy(mosq);
  }
};

struct Load {
  Mode mode = Mode::kMac;
  std::string prefix, device_prefix, item;
  uint64_t count = 0, payload_size = 0, rate = 0, window = 0;
  double duration_ms = 0;            // 0: no cap
  std::atomic<bool> capped{false};   // a publisher stopped at duration_ms
  std::atomic<bool> stalled{false};  // a publisher gave up on a full window
  double answer_timeout_ms = 60000;
  device_protocol::GatewayTrust trust;
  std::vector<Device> devices;
  std::vector<std::unique_ptr<Conn>> conns;
  std::atomic<uint64_t> bad_messages{0};

  // Device index of `name` (<device_prefix>-<i>), or nullopt.
  std::optional<size_t> DeviceIndex(std::string_view name) const {
    const std::string want = device_prefix + "-";
    if (name.size() <= want.size() || name.substr(0, want.size()) != want) return std::nullopt;
    size_t i = 0;
    for (char c : name.substr(want.size())) {
      if (c < '0' || c > '9') return std::nullopt;
      i = i * 10 + static_cast<size_t>(c - '0');
    }
    if (i >= devices.size()) return std::nullopt;
    return i;
  }

  // Marks reading `seq` of `d` answered at `now` (conn mutex held); false if it was not
  // outstanding.
  bool Answer(Conn* c, Device* d, uint64_t seq, double now) {
    if (seq < d->seq_base || seq - d->seq_base >= count) return false;
    const uint64_t i = seq - d->seq_base;
    if (d->answered[i] || d->sent_ms[i] == 0) return false;
    d->answered[i] = 1;
    c->answered++;
    c->latency_ms.push_back(now - d->sent_ms[i]);
    c->last_answer_ms = now;
    return true;
  }

  void OnMessage(Conn* c, const mosquitto_message* m, const mosquitto_property* props) {
    const double now = SteadyMs();
    const std::string topic = m->topic ? m->topic : "";
    const std::string payload(static_cast<const char*>(m->payload),
                              static_cast<size_t>(m->payloadlen));
    if (mode == Mode::kBare) {
      StatusOr<device_protocol::DeviceTopic> t = device_protocol::ParseDeviceTopic(prefix, topic);
      std::optional<size_t> di = t.ok() ? DeviceIndex(t->device) : std::nullopt;
      std::optional<uint64_t> seq;
      char *k = nullptr, *v = nullptr;
      const mosquitto_property* p =
          mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &k, &v, false);
      while (p) {
        if (std::string_view(k) == "pl-seq") seq = std::strtoull(v, nullptr, 10);
        std::free(k);
        std::free(v);
        if (seq) break;
        p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &k, &v, true);
      }
      if (!di || !seq) {
        bad_messages.fetch_add(1);
        return;
      }
      std::lock_guard<std::mutex> lock(c->mu);
      if (!Answer(c, &devices[*di], *seq, now)) c->unmatched++;
      c->cv.notify_all();
      return;
    }
    StatusOr<device_sim::AnswerTopic> t = device_sim::ParseAnswerTopic(prefix, topic);
    std::optional<size_t> di = t.ok() ? DeviceIndex(t->device) : std::nullopt;
    if (!di) {
      bad_messages.fetch_add(1);
      return;
    }
    Device* d = &devices[*di];
    std::lock_guard<std::mutex> lock(c->mu);
    switch (t->kind) {
      case AnswerKind::kKeySuccess: {
        if (!d->agreement) break;
        StatusOr<Session> s = d->agreement->Finish(payload, trust);
        if (s.ok()) {
          d->session = std::move(s).value();
        } else {
          d->key_error = s.status().ToString();
        }
        d->agreement.reset();
        break;
      }
      case AnswerKind::kDatas:
      case AnswerKind::kSuccess: {
        StatusOr<device_sim::Ack> ack = device_sim::ParseAck(payload);
        if (!ack.ok()) {
          bad_messages.fetch_add(1);
          break;
        }
        if (ack->recorded) {
          for (uint64_t s : ack->seqs) {
            if (Answer(c, d, s, now)) {
              c->acked_recorded++;
            } else {
              c->unmatched++;
            }
          }
        } else if (Answer(c, d, ack->seq, now)) {
          c->acked_skipped++;
        } else {
          c->unmatched++;
        }
        break;
      }
      default: {  // key/fail, unauth, forbidden, data error
        StatusOr<device_sim::ErrorAnswer> e = device_sim::ParseErrorAnswer(payload);
        const std::string code = e.ok() ? e->code : "unparsable";
        if (e.ok() && e->nonce) {  // a key request's refusal
          if (d->agreement && *e->nonce == d->agreement->nonce()) {
            d->key_error = code;
            d->agreement.reset();
          }
          break;
        }
        c->errors[code]++;
        if (e.ok() && e->seq) Answer(c, d, *e->seq, now);
        break;
      }
    }
    c->cv.notify_all();
  }

  Status Publish(Conn* c, const std::string& topic, const std::string& payload,
                 const UserProperties& props) {
    mosquitto_property* list = nullptr;
    for (const auto& [k, v] : props) {
      mosquitto_property_add_string_pair(&list, MQTT_PROP_USER_PROPERTY, k.c_str(), v.c_str());
    }
    const int rc =
        mosquitto_publish_v5(c->mosq, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, false, list);
    mosquitto_property_free_all(&list);
    if (rc != MOSQ_ERR_SUCCESS) {
      return UnavailableError("publish " + topic + ": " + mosquitto_strerror(rc));
    }
    return OkStatus();
  }

  // Publishes this connection's readings: round robin over its devices, within the window,
  // on the --rate schedule.
  void Publisher(Conn* c, double start_ms) {
    const double period =
        rate > 0 ? 1000.0 * static_cast<double>(conns.size()) / static_cast<double>(rate) : 0;
    double due = start_ms + period * static_cast<double>(c->id) / static_cast<double>(conns.size());
    Session bare_session{"", RandomBytes(32), RandomBytes(8), 0};  // MAC-sized properties
    for (uint64_t i = 0; i < count; ++i) {
      if (duration_ms > 0 && SteadyMs() - start_ms >= duration_ms) {
        capped.store(true);
        return;
      }
      for (size_t di : c->devices) {
        Device* d = &devices[di];
        if (mode == Mode::kMac && !d->session) continue;  // its key agreement failed
        if (period > 0) {
          due += period;
          const double wait = due - SteadyMs();
          if (wait > 0)
            std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(wait));
        }
        const std::string payload = device_sim::GeneratePayload(i, payload_size);
        const device_protocol::MessageSpec spec{d->name, item, d->seq_base + i, NowMs()};
        UserProperties props;
        if (mode == Mode::kSig) {
          StatusOr<UserProperties> p = device_protocol::SigProperties(spec, payload, *d->key);
          if (!p.ok()) {
            std::lock_guard<std::mutex> lock(c->mu);
            c->errors["sign_failed"]++;
            continue;
          }
          props = std::move(p).value();
        } else {
          props = device_protocol::MacProperties(spec, payload,
                                                 mode == Mode::kMac ? *d->session : bare_session);
        }
        {
          std::unique_lock<std::mutex> lock(c->mu);
          if (window > 0) {
            // A full window with no answer for answer_timeout_ms: the other side is gone
            // (stop publishing; the summary counts the unanswered).
            uint64_t seen = c->answered;
            double since = SteadyMs();
            while (c->published - c->answered >= window) {
              c->cv.wait_for(lock, std::chrono::milliseconds(100));
              if (c->answered != seen) {
                seen = c->answered;
                since = SteadyMs();
              } else if (SteadyMs() - since > answer_timeout_ms) {
                stalled.store(true);
                return;
              }
            }
          }
          const double now = SteadyMs();
          d->sent_ms[i] = now;
          if (c->published == 0) c->first_publish_ms = now;
          c->last_publish_ms = now;
          c->published++;
        }
        Status s = Publish(c, d->data_topic, payload, props);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(c->mu);
          c->errors["publish_failed"]++;
        }
      }
    }
  }
};

void OnConnect(mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
  Conn* c = static_cast<Conn*>(obj);
  std::lock_guard<std::mutex> lock(c->mu);
  c->connect_rc = rc;
  c->connected = rc == 0;
  c->cv.notify_all();
}

void OnSubscribe(mosquitto*, void* obj, int, int, const int*, const mosquitto_property*) {
  Conn* c = static_cast<Conn*>(obj);
  std::lock_guard<std::mutex> lock(c->mu);
  c->subacks_pending--;
  c->cv.notify_all();
}

Load* g_load = nullptr;

void OnMessage(mosquitto*, void* obj, const mosquitto_message* m, const mosquitto_property* p) {
  g_load->OnMessage(static_cast<Conn*>(obj), m, p);
}

// Waits on c->cv until pred() or `deadline_ms` (steady clock); returns pred().
template <typename Pred>
bool WaitUntil(Conn* c, double deadline_ms, Pred pred) {
  std::unique_lock<std::mutex> lock(c->mu);
  while (!pred()) {
    const double left = deadline_ms - SteadyMs();
    if (left <= 0) return false;
    c->cv.wait_for(lock, std::chrono::duration<double, std::milli>(std::min(left, 100.0)));
  }
  return true;
}

std::string Fixed3(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

void PrintUsage() {
  std::fputs("usage: mqtt_load [flags]   (--flagfile=FILE: flags from FILE)\n", stdout);
  PrintFlagHelp(stdout, {"host",         "port",           "mode",
                         "devices",      "count",          "payload_size",
                         "connections",  "rate",           "window",
                         "topic_prefix", "device_prefix",  "item",
                         "keys_dir",     "do_register",    "nodes",
                         "genesis",      "admin_key",      "register_wait_ms",
                         "gateway_id",   "key_timeout_ms", "answer_timeout_ms"});
}

StatusOr<bool> Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  if (cl.help) {
    PrintUsage();
    return true;
  }
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  Load L;
  g_load = &L;
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "mac") {
    L.mode = Mode::kMac;
  } else if (mode == "sig") {
    L.mode = Mode::kSig;
  } else if (mode == "bare") {
    L.mode = Mode::kBare;
  } else {
    return InvalidArgumentError("--mode must be mac, sig or bare");
  }
  L.prefix = absl::GetFlag(FLAGS_topic_prefix);
  L.device_prefix = absl::GetFlag(FLAGS_device_prefix);
  L.item = absl::GetFlag(FLAGS_item);
  L.count = absl::GetFlag(FLAGS_count);
  L.payload_size = absl::GetFlag(FLAGS_payload_size);
  L.rate = absl::GetFlag(FLAGS_rate);
  L.window = absl::GetFlag(FLAGS_window);
  L.duration_ms = 1000.0 * static_cast<double>(absl::GetFlag(FLAGS_duration_s));
  L.answer_timeout_ms = static_cast<double>(absl::GetFlag(FLAGS_answer_timeout_ms));
  const uint64_t ndev = absl::GetFlag(FLAGS_devices);
  const uint64_t nconn = std::min<uint64_t>(absl::GetFlag(FLAGS_connections), ndev);
  if (ndev == 0 || L.count == 0 || nconn == 0) {
    return InvalidArgumentError("--devices, --count and --connections must be above 0");
  }
  PL_RETURN_IF_ERROR(device_protocol::ValidateTopicPrefix(L.prefix));
  const std::vector<std::string> nodes = SplitFlagList(absl::GetFlag(FLAGS_nodes));

  // Devices, keys, registration.
  const uint64_t seq_base =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  L.devices.resize(ndev);
  std::vector<std::pair<std::string, Bytes>> pubkeys;
  for (uint64_t i = 0; i < ndev; ++i) {
    Device& d = L.devices[i];
    d.name = L.device_prefix + "-" + std::to_string(i);
    if (!device_protocol::IsValidName(d.name)) {
      return InvalidArgumentError("--device_prefix: invalid device name " + d.name);
    }
    d.data_topic = device_protocol::DeviceTopicString(
        L.prefix, device_protocol::DeviceTopic{d.name, device_protocol::TopicKind::kData, L.item});
    d.seq_base = seq_base;
    d.sent_ms.assign(L.count, 0);
    d.answered.assign(L.count, 0);
    if (L.mode != Mode::kBare) {
      if (absl::GetFlag(FLAGS_keys_dir).empty()) return InvalidArgumentError("--keys_dir is empty");
      PL_ASSIGN_OR_RETURN(PrivateKey k,
                          device_sim::LoadOrCreateDeviceKey(absl::GetFlag(FLAGS_keys_dir), d.name));
      pubkeys.emplace_back(d.name, k.PublicKey());
      d.key.emplace(std::move(k));
    }
  }
  if (absl::GetFlag(FLAGS_do_register) && L.mode != Mode::kBare) {
    PL_ASSIGN_OR_RETURN(std::string genesis, Require(FLAGS_genesis));
    PL_ASSIGN_OR_RETURN(std::string admin, Require(FLAGS_admin_key));
    if (nodes.empty()) return InvalidArgumentError("--do_register needs --nodes");
    PL_ASSIGN_OR_RETURN(device_sim::RegistrationReport rep,
                        device_sim::RegisterDevices(nodes, genesis, admin, pubkeys));
    std::fprintf(stderr, "mqtt_load: registered %zu devices, %zu already registered\n",
                 rep.registered, rep.skipped);
    if (rep.registered > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_register_wait_ms)));
    }
  }
  L.trust.gateway_id = absl::GetFlag(FLAGS_gateway_id);
  if (L.mode == Mode::kMac && !L.trust.gateway_id.empty() && !nodes.empty()) {
    PL_ASSIGN_OR_RETURN(Bytes gk, device_sim::LookupGatewayKey(nodes, L.trust.gateway_id));
    L.trust.gateway_pubkey = gk;
  }

  // Connections.
  mosquitto_lib_init();
  const std::string host = absl::GetFlag(FLAGS_host);
  const int port = static_cast<int>(absl::GetFlag(FLAGS_port));
  for (uint64_t k = 0; k < nconn; ++k) {
    auto c = std::make_unique<Conn>();
    c->id = k;
    for (uint64_t i = k; i < ndev; i += nconn) {
      c->devices.push_back(i);
      L.devices[i].conn = c.get();
    }
    const std::string id = "mqtt_load-" + std::to_string(getpid()) + "-" + std::to_string(k);
    c->mosq = mosquitto_new(id.c_str(), true, c.get());
    if (!c->mosq) return InternalError("mosquitto_new failed");
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(c->mosq, MOSQ_OPT_SEND_MAXIMUM, 1000);
    mosquitto_int_option(c->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, 1000);
    mosquitto_connect_v5_callback_set(c->mosq, OnConnect);
    mosquitto_subscribe_v5_callback_set(c->mosq, OnSubscribe);
    mosquitto_message_v5_callback_set(c->mosq, OnMessage);
    int rc = mosquitto_connect_bind_v5(c->mosq, host.c_str(), port, 60, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      return UnavailableError("connect to " + host + ":" + std::to_string(port) + ": " +
                              mosquitto_strerror(rc));
    }
    rc = mosquitto_loop_start(c->mosq);
    if (rc != MOSQ_ERR_SUCCESS)
      return InternalError(std::string("loop_start: ") + mosquitto_strerror(rc));
    L.conns.push_back(std::move(c));
  }
  const double setup_deadline = SteadyMs() + 20000;
  for (auto& c : L.conns) {
    Conn* cp = c.get();
    if (!WaitUntil(cp, setup_deadline, [cp] { return cp->connect_rc >= 0; }) || !cp->connected) {
      return UnavailableError("connection " + std::to_string(cp->id) +
                              " refused or timed out (rc " + std::to_string(cp->connect_rc) + ")");
    }
    std::vector<std::string> filters;
    for (size_t di : cp->devices) {
      const std::string& n = L.devices[di].name;
      if (L.mode == Mode::kBare) {
        filters.push_back(L.devices[di].data_topic);
        continue;
      }
      if (L.mode == Mode::kMac) {
        filters.push_back(device_protocol::KeySuccessTopic(L.prefix, n));
        filters.push_back(device_protocol::KeyFailTopic(L.prefix, n));
      }
      filters.push_back(device_protocol::UnauthTopic(L.prefix, n));
      filters.push_back(device_protocol::ForbiddenTopic(L.prefix, n));
      filters.push_back(device_protocol::DataDatasTopic(L.prefix, n, L.item));
      filters.push_back(device_protocol::DataSuccessTopic(L.prefix, n, L.item));
      filters.push_back(device_protocol::DataErrorTopic(L.prefix, n, L.item));
    }
    {
      std::lock_guard<std::mutex> lock(cp->mu);
      cp->subacks_pending = static_cast<int>(filters.size());
    }
    for (const std::string& f : filters) {
      const int rc = mosquitto_subscribe_v5(cp->mosq, nullptr, f.c_str(), 1, 0, nullptr);
      if (rc != MOSQ_ERR_SUCCESS)
        return UnavailableError("subscribe " + f + ": " + mosquitto_strerror(rc));
    }
  }
  for (auto& c : L.conns) {
    Conn* cp = c.get();
    if (!WaitUntil(cp, setup_deadline, [cp] { return cp->subacks_pending <= 0; })) {
      return UnavailableError("subscriptions not acknowledged in time");
    }
  }

  // mac: one session per device (section 4); a refusal while the bridge has not yet seen a
  // fresh registration (`unregistered`) is retried.
  uint64_t key_failures = 0;
  if (L.mode == Mode::kMac) {
    const double key_deadline =
        SteadyMs() + static_cast<double>(absl::GetFlag(FLAGS_key_timeout_ms));
    for (;;) {
      bool pending = false;
      for (auto& c : L.conns) {
        std::vector<std::pair<std::string, std::string>> requests;
        {
          std::lock_guard<std::mutex> lock(c->mu);
          for (size_t di : c->devices) {
            Device& d = L.devices[di];
            if (d.session) continue;
            if (d.agreement) {
              pending = true;
              continue;
            }
            if (!d.key_error.empty() && d.key_error != "unregistered") continue;
            StatusOr<device_protocol::KeyAgreement> a = device_protocol::KeyAgreement::Start(
                d.name, *d.key, NowMs(), [](size_t n) { return RandomBytes(n); });
            if (!a.ok()) return a.status();
            d.key_error.clear();
            d.agreement.emplace(std::move(a).value());
            requests.emplace_back(
                device_protocol::DeviceTopicString(
                    L.prefix,
                    device_protocol::DeviceTopic{d.name, device_protocol::TopicKind::kKey, ""}),
                d.agreement->request_json());
            pending = true;
          }
        }
        for (const auto& [topic, body] : requests)
          PL_RETURN_IF_ERROR(L.Publish(c.get(), topic, body, {}));
      }
      if (!pending || SteadyMs() > key_deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& c : L.conns) {
      std::lock_guard<std::mutex> lock(c->mu);
      for (size_t di : c->devices) {
        Device& d = L.devices[di];
        if (d.session) continue;
        ++key_failures;
        if (key_failures <= 3) {
          std::fprintf(stderr, "mqtt_load: %s: no session (%s)\n", d.name.c_str(),
                       d.key_error.empty() ? "no key reply" : d.key_error.c_str());
        }
      }
    }
  }

  // The measured phase.
  std::printf("{\"phase\":\"ready\"}\n");
  std::fflush(stdout);
  const double cpu0 = CpuSeconds();
  const double start = SteadyMs();
  {
    std::vector<std::thread> pubs;
    for (auto& c : L.conns) pubs.emplace_back([&L, &c, start] { L.Publisher(c.get(), start); });
    for (auto& t : pubs) t.join();
  }
  const double timeout = static_cast<double>(absl::GetFlag(FLAGS_answer_timeout_ms));
  for (auto& c : L.conns) {
    Conn* cp = c.get();
    WaitUntil(cp, cp->last_publish_ms + timeout, [cp] { return cp->answered >= cp->published; });
  }
  const double cpu1 = CpuSeconds();

  uint64_t published = 0, answered = 0, recorded = 0, skipped = 0, unmatched = 0;
  std::map<std::string, uint64_t> errors;
  std::vector<double> lat;
  double first = 0, last = 0;
  for (auto& c : L.conns) {
    std::lock_guard<std::mutex> lock(c->mu);
    published += c->published;
    answered += c->answered;
    recorded += c->acked_recorded;
    skipped += c->acked_skipped;
    unmatched += c->unmatched;
    for (const auto& [k, v] : c->errors) errors[k] += v;
    lat.insert(lat.end(), c->latency_ms.begin(), c->latency_ms.end());
    if (c->published > 0 && (first == 0 || c->first_publish_ms < first))
      first = c->first_publish_ms;
    last = std::max(last, c->last_answer_ms);
  }
  for (auto& c : L.conns) {
    mosquitto_disconnect(c->mosq);
    mosquitto_loop_stop(c->mosq, false);
    mosquitto_destroy(c->mosq);
    c->mosq = nullptr;
  }
  mosquitto_lib_cleanup();

  uint64_t error_total = 0;
  std::string errs = "{";
  for (const auto& [k, v] : errors) {
    if (errs.size() > 1) errs += ",";
    errs += "\"" + k + "\":" + std::to_string(v);
    error_total += v;
  }
  errs += "}";
  const device_sim::LatencyPercentiles p = device_sim::ComputePercentiles(lat);
  const double span_s = last > first ? (last - first) / 1000.0 : 0;
  const uint64_t expected = (ndev - key_failures) * L.count;
  const bool capped = L.capped.load();
  const bool ok = answered == published && (capped || published == expected) && error_total == 0 &&
                  key_failures == 0;
  std::printf(
      "{\"mode\":\"%s\",\"devices\":%llu,\"count\":%llu,\"payload_size\":%llu,"
      "\"connections\":%llu,\"offered_rate\":%llu,\"window\":%llu,\"published\":%llu,"
      "\"answered\":%llu,\"acked_recorded\":%llu,\"acked_skipped\":%llu,\"errors\":%s,"
      "\"key_failures\":%llu,\"unanswered\":%llu,\"unmatched\":%llu,\"bad_messages\":%llu,"
      "\"span_s\":%s,\"rate\":%s,\"latency_ms\":{\"p50\":%s,\"p95\":%s,\"p99\":%s,\"max\":%s},"
      "\"cpu_s\":%s,\"capped\":%s,\"stalled\":%s,\"ok\":%s}\n",
      mode.c_str(), static_cast<unsigned long long>(ndev), static_cast<unsigned long long>(L.count),
      static_cast<unsigned long long>(L.payload_size), static_cast<unsigned long long>(nconn),
      static_cast<unsigned long long>(L.rate), static_cast<unsigned long long>(L.window),
      static_cast<unsigned long long>(published), static_cast<unsigned long long>(answered),
      static_cast<unsigned long long>(recorded), static_cast<unsigned long long>(skipped),
      errs.c_str(), static_cast<unsigned long long>(key_failures),
      static_cast<unsigned long long>(published - std::min(published, answered)),
      static_cast<unsigned long long>(unmatched),
      static_cast<unsigned long long>(L.bad_messages.load()), Fixed3(span_s).c_str(),
      Fixed3(span_s > 0 ? static_cast<double>(answered) / span_s : 0).c_str(),
      Fixed3(p.p50).c_str(), Fixed3(p.p95).c_str(), Fixed3(p.p99).c_str(), Fixed3(p.max).c_str(),
      Fixed3(cpu1 - cpu0).c_str(), capped ? "true" : "false", L.stalled.load() ? "true" : "false",
      ok ? "true" : "false");
  std::fflush(stdout);
  return ok;
}

}  // namespace
}  // namespace provledger::bench

int main(int argc, char** argv) {
  provledger::StatusOr<bool> ok = provledger::bench::Run(argc, argv);
  if (!ok.ok()) {
    std::fprintf(stderr, "mqtt_load: %s\n", ok.status().ToString().c_str());
    return 2;
  }
  return *ok ? 0 : 1;
}
