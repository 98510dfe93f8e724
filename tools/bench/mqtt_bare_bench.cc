// mqtt_bare_bench: the ceiling for the bridge benchmark (docs/BENCHMARKS.md): simulated
// devices publishing QoS 1 readings to a bare Mosquitto with one plain subscriber, and no
// bridge or ledger behind it.
//
//   mqtt_bare_bench --broker=tcp://127.0.0.1:1883 [--devices=50] [--count=200] [--qos=1]
//                   [--payload_size=0] [--workers=4] [--topic_prefix=bench]
//                   [--no_user_props] [--timeout_ms=30000] [--rate=0] [--connections=1]
//                   [--window=0]
//
// Shaped like device_sim's load so the two compare: one MQTT connection for all devices
// (--connections=C: C publishing connections, as C device_sim processes would have),
// --workers publishing threads, each device publishing bursts of 32 readings in a row at
// full speed (--rate=R: one reading per device every 1/R s, for unloaded latency), the same
// default JSON payload, and (unless --no_user_props) four MQTT v5 user properties of the
// size a MACed reading carries. A second connection subscribes at the same QoS to the
// readings' topics and counts them; every payload begins with its send time (steady clock,
// ns), so the subscriber measures publish-to-receive latency. --window=W holds publishing
// while W messages are published but not yet received (0: never, as device_sim): flooding
// the client's queue with thousands of unsent messages costs it throughput.
//
// Prints one JSON line: {"devices","count","published","received","publish_rate","rate",
// "p50","p95","p99","max"} (rates in messages/s, latencies in ms).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "common/command_line.h"
#include "common/mqtt_client.h"

ABSL_FLAG(std::string, broker, "tcp://127.0.0.1:1883", "MQTT broker URI");
ABSL_FLAG(uint64_t, devices, 50, "simulated devices (topics)");
ABSL_FLAG(uint64_t, count, 200, "messages per device");
ABSL_FLAG(uint64_t, qos, 1, "QoS 0..2");
ABSL_FLAG(uint64_t, payload_size, 0, "extra payload bytes");
ABSL_FLAG(uint64_t, workers, 4, "publishing threads");
ABSL_FLAG(std::string, topic_prefix, "bench", "topic prefix");
ABSL_FLAG(bool, no_user_props, false, "publish without MQTT v5 user properties");
ABSL_FLAG(uint64_t, timeout_ms, 30000, "wait this long for every message");
ABSL_FLAG(uint64_t, rate, 0, "readings/s per device, 0 = full speed");
ABSL_FLAG(uint64_t, connections, 1, "publishing connections");
ABSL_FLAG(uint64_t, window, 0, "max published but not yet received; 0 = unbounded");

namespace provledger::bench {
namespace {

constexpr size_t kBurst = 32;  // readings in a row per device, as device_sim at --rate=0

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// {"t":<send ns>,"value":21.5,"n":<n>} padded (as device_sim pads) to `size` bytes.
std::string Payload(uint64_t n, uint64_t size) {
  const uint64_t tenths = 200 + n % 50;
  std::string p = "{\"t\":" + std::to_string(NowNs()) +
                  ",\"value\":" + std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) +
                  ",\"n\":" + std::to_string(n);
  const std::string pad_open = ",\"pad\":\"";
  const size_t min_padded = p.size() + pad_open.size() + 2;
  if (size >= min_padded) p += pad_open + std::string(size - min_padded, 'x') + "\"";
  return p + "}";
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

struct Receiver {
  std::mutex mu;
  std::vector<double> latencies_ms;  // guarded by mu
  std::atomic<uint64_t> received{0}, bad{0};
  std::atomic<uint64_t> last_ns{0};

  void OnMessage(const MqttMessage& m) {
    const uint64_t now = NowNs();
    const char* p = m.payload.c_str();
    if (m.payload.compare(0, 5, "{\"t\":") != 0) {
      bad.fetch_add(1);
      return;
    }
    const uint64_t sent = std::strtoull(p + 5, nullptr, 10);
    {
      std::lock_guard<std::mutex> lock(mu);
      latencies_ms.push_back(static_cast<double>(now - sent) / 1e6);
    }
    last_ns.store(now);
    received.fetch_add(1);
  }
};

Status Run(int argc, char** argv) {
  PL_ASSIGN_OR_RETURN(CommandLine cl, SplitCommandLine(argc, argv, 1));
  if (cl.help) {
    std::puts("usage: mqtt_bare_bench [flags]   (--flagfile=FILE: flags from FILE)");
    PrintFlagHelp(stdout,
                  {"broker", "devices", "count", "qos", "payload_size", "workers", "topic_prefix",
                   "no_user_props", "timeout_ms", "rate", "connections", "window"});
    return OkStatus();
  }
  PL_RETURN_IF_ERROR(ApplyCommandLine(argv[0], cl));
  const std::string broker = absl::GetFlag(FLAGS_broker);
  const std::string prefix = absl::GetFlag(FLAGS_topic_prefix);
  uint64_t devices = absl::GetFlag(FLAGS_devices);
  uint64_t count = absl::GetFlag(FLAGS_count);
  uint64_t qos = absl::GetFlag(FLAGS_qos);
  uint64_t payload_size = absl::GetFlag(FLAGS_payload_size);
  uint64_t workers = absl::GetFlag(FLAGS_workers);
  uint64_t timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  uint64_t rate = absl::GetFlag(FLAGS_rate);
  uint64_t connections = absl::GetFlag(FLAGS_connections);
  uint64_t window = absl::GetFlag(FLAGS_window);
  if (devices == 0 || count == 0 || workers == 0 || connections == 0 || qos > 2) {
    return InvalidArgumentError(
        "--devices, --count, --workers and --connections must be above 0, --qos 0..2");
  }
  workers = std::max(std::min(workers, devices), connections);
  const uint64_t total = devices * count;

  Receiver rx;
  rx.latencies_ms.reserve(total);
  MqttOptions so;
  so.uri = broker;
  PL_ASSIGN_OR_RETURN(auto sub, MqttClient::Connect(so, [&rx](MqttMessage m) { rx.OnMessage(m); }));
  PL_RETURN_IF_ERROR(sub->Subscribe(prefix + "/+/data/+", static_cast<int>(qos)));

  MqttOptions po;
  po.uri = broker;
  std::vector<std::unique_ptr<MqttClient>> pubs;
  for (uint64_t c = 0; c < connections; ++c) {
    PL_ASSIGN_OR_RETURN(auto pub, MqttClient::Connect(po, nullptr));
    pubs.push_back(std::move(pub));
  }

  // Four user properties of a MACed reading's size (pl-seq, pl-ts, pl-kid, pl-mac).
  UserProperties props;
  if (!absl::GetFlag(FLAGS_no_user_props)) {
    props = {{"pl-seq", "1764000000000000"},
             {"pl-ts", "1764000000000"},
             {"pl-kid", std::string(16, 'a')},
             {"pl-mac", std::string(64, 'b')}};
  }
  std::vector<std::string> topics;
  for (uint64_t d = 0; d < devices; ++d) {
    topics.push_back(prefix + "/dev-" + std::to_string(d) + "/data/temp");
  }

  std::atomic<uint64_t> published{0}, failed{0};
  const uint64_t start_ns = NowNs();
  std::vector<std::thread> pool;
  for (uint64_t w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      MqttClient* pub = pubs[w % connections].get();
      std::vector<uint64_t> next;  // per owned device: readings sent
      std::vector<uint64_t> mine;
      for (uint64_t d = w; d < devices; d += workers) {
        mine.push_back(d);
        next.push_back(0);
      }
      bool more = true;
      while (more) {
        more = false;
        for (size_t i = 0; i < mine.size(); ++i) {
          const size_t burst = rate > 0 ? 1 : kBurst;
          for (size_t b = 0; b < burst && next[i] < count; ++b, ++next[i]) {
            while (window > 0 && published.load() >= rx.received.load() + window) {
              std::this_thread::sleep_for(std::chrono::microseconds(100));
            }
            Status s = pub->Publish(topics[mine[i]], Payload(next[i], payload_size),
                                    static_cast<int>(qos), false, props);
            if (s.ok()) {
              published.fetch_add(1);
            } else if (failed.fetch_add(1) < 5) {
              std::fprintf(stderr, "mqtt_bare_bench: %s\n", s.ToString().c_str());
            }
          }
          more = more || next[i] < count;
        }
        if (rate > 0 && more) {
          std::this_thread::sleep_for(std::chrono::microseconds(1000000 / rate));
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  const uint64_t pub_end_ns = NowNs();

  // Wait for every message, or until nothing arrived for timeout_ms.
  uint64_t seen = 0, seen_at = NowNs();
  while (rx.received.load() + rx.bad.load() < published.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const uint64_t r = rx.received.load();
    if (r != seen) {
      seen = r;
      seen_at = NowNs();
    } else if (NowNs() - seen_at > timeout_ms * 1000000) {
      std::fprintf(stderr, "mqtt_bare_bench: %" PRIu64 " of %" PRIu64 " messages never arrived\n",
                   published.load() - r, published.load());
      break;
    }
  }
  for (auto& p : pubs) p->Disconnect();
  sub->Disconnect();

  std::vector<double> lat;
  {
    std::lock_guard<std::mutex> lock(rx.mu);
    lat = rx.latencies_ms;
  }
  std::sort(lat.begin(), lat.end());
  const double pub_s = std::max<double>(static_cast<double>(pub_end_ns - start_ns), 1e6) / 1e9;
  const uint64_t last_rx = rx.last_ns.load();
  const double rx_s =
      std::max<double>(static_cast<double>(last_rx > start_ns ? last_rx - start_ns : 0), 1e6) / 1e9;
  std::printf("{\"devices\":%" PRIu64 ",\"count\":%" PRIu64 ",\"qos\":%" PRIu64
              ",\"payload_size\":%" PRIu64 ",\"published\":%" PRIu64 ",\"received\":%" PRIu64
              ",\"publish_rate\":%.1f,\"rate\":%.1f,"
              "\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,\"max\":%.3f}\n",
              devices, count, qos, payload_size, published.load(), rx.received.load(),
              static_cast<double>(published.load()) / pub_s,
              static_cast<double>(rx.received.load()) / rx_s, Percentile(lat, 0.50),
              Percentile(lat, 0.95), Percentile(lat, 0.99), lat.empty() ? 0.0 : lat.back());
  std::fflush(stdout);
  if (rx.received.load() < total) return UnavailableError("not every message arrived");
  return OkStatus();
}

}  // namespace
}  // namespace provledger::bench

int main(int argc, char** argv) {
  provledger::Status s = provledger::bench::Run(argc, argv);
  if (!s.ok()) {
    std::fprintf(stderr, "mqtt_bare_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
