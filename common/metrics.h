// Metrics: counters, gauges and histograms in a registry rendered in the Prometheus text
// exposition format (version 0.0.4), which MetricsServer (common/metrics_server.h) serves.
//
// Hot paths hold a reference to their metric (a Counter&, a Histogram&, or one labelled
// child, both stable for the registry's life): updating it is a relaxed atomic add, never a
// lock. Values that live elsewhere already (a store's height, a queue's depth, a component's
// stats) are read when scraped, through callbacks, instead of being copied into gauges.
//
// Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
// and not starting "__"; "le" is reserved for histograms). They are constants in the code:
// an invalid name, or one registered again with another type, help or labels, is a bug and
// aborts the process with a message (as reading an error StatusOr does).
//
// Thread rules: everything may be called from any thread. Render() takes the registry's
// lock and each family's lock for reading; callbacks run under the registry's lock and must
// not register metrics.
#ifndef PROVLEDGER_COMMON_METRICS_H_
#define PROVLEDGER_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace provledger::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// A monotonically increasing count of events.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v);
  void Add(double d);
  double value() const;

 private:
  std::atomic<uint64_t> bits_{0};  // the double's bits (0 bits = 0.0)
};

// Observations counted in fixed buckets (upper bounds, ascending, +Inf implied), with their
// sum. Observe is lock-free: one bucket add, one count add, one CAS loop on the sum.
class Histogram {
 public:
  // `bounds` must be finite and strictly ascending (else the process aborts).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 counts, the last for +Inf
    double sum = 0;
    uint64_t count = 0;  // == cumulative.back(), taken from the buckets
  };
  Snapshot Snap() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<uint64_t> sum_bits_{0};
};

// Bucket bounds for latencies in seconds: 1 ms .. 60 s, roughly x2.5 apart.
std::vector<double> LatencyBuckets();

// The children of one metric name, one per combination of label values.
template <typename M>
class Family {
 public:
  // The child for `values` (as many as the family's label names, else the process aborts),
  // made on first use. The reference is stable: hot paths keep it.
  M& With(const std::vector<std::string>& values);

 private:
  friend class Registry;
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<M>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;  // guarded by mu_
};

// What a scrape-time callback reports: one sample per call of Add, its label values in the
// order of the callback's label names.
class SampleSink {
 public:
  void Add(std::vector<std::string> label_values, double value);
  // Convenience for a callback without labels.
  void Add(double value) { Add({}, value); }

 private:
  friend class Registry;
  std::vector<std::pair<std::vector<std::string>, double>> samples_;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Each returns the metric (or family) registered under `name`, registering it on the
  // first call; later calls with the same arguments return the same one.
  Counter& AddCounter(const std::string& name, const std::string& help);
  Family<Counter>& AddCounterFamily(const std::string& name, const std::string& help,
                                    std::vector<std::string> label_names);
  Gauge& AddGauge(const std::string& name, const std::string& help);
  Family<Gauge>& AddGaugeFamily(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names);
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds);
  Family<Histogram>& AddHistogramFamily(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds);

  // A counter or gauge (not a histogram) whose samples `collect` reports at each scrape.
  // Registering `name` again replaces the callback (a component started again). The
  // callback must stay valid until RemoveCallback(name) or the registry's end.
  void AddCallback(const std::string& name, const std::string& help, MetricType type,
                   std::vector<std::string> label_names, std::function<void(SampleSink&)> collect);
  // Shorthand: one unlabelled sample, `value()` at each scrape.
  void AddCallback(const std::string& name, const std::string& help, MetricType type,
                   std::function<double()> value);
  // Forgets callback `name` (nothing if there is none); returns once no scrape runs it.
  void RemoveCallback(const std::string& name);

  // Every family with its # HELP and # TYPE lines, in name order; samples in label order.
  std::string Render() const;

 private:
  struct Entry {
    MetricType type;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> bounds;  // histograms
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
    std::function<void(SampleSink&)> collect;  // callbacks
  };
  // Finds or makes entry `name`, aborting on a mismatch; mu_ held.
  Entry& Get(const std::string& name, MetricType type, const std::string& help,
             const std::vector<std::string>& label_names, const std::vector<double>& bounds,
             bool callback);

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
};

// Callbacks registered through it are removed when it is destroyed (waiting for a scrape
// that runs one): a component's scrape-time metrics go with the component.
class ScopedCallbacks {
 public:
  explicit ScopedCallbacks(Registry* registry) : registry_(registry) {}
  ~ScopedCallbacks();
  ScopedCallbacks(const ScopedCallbacks&) = delete;
  ScopedCallbacks& operator=(const ScopedCallbacks&) = delete;
  // As Registry::AddCallback.
  void Add(const std::string& name, const std::string& help, MetricType type,
           std::function<double()> value);
  void Add(const std::string& name, const std::string& help, MetricType type,
           std::vector<std::string> label_names, std::function<void(SampleSink&)> collect);

 private:
  Registry* registry_;
  std::vector<std::string> names_;
};

// The process's registry, which the binaries serve (--metrics_listen) and the components
// they are built from register their metrics in.
Registry& DefaultRegistry();

// Exposition-format helpers (exposed for tests): a label value with \, " and newline
// escaped; a HELP text with \ and newline escaped; a sample value (integers without a
// fraction, +Inf, -Inf, NaN).
std::string EscapeLabelValue(std::string_view v);
std::string EscapeHelp(std::string_view v);
std::string FormatValue(double v);
// True for a valid metric name / label name.
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

template <typename M>
M& Family<M>::With(const std::vector<std::string>& values) {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  if (values.size() != label_names_.size()) {
    std::fprintf(stderr, "metrics: %zu label values for %zu label names\n", values.size(),
                 label_names_.size());
    std::abort();
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto& slot = children_[values];
  if (!slot) slot = make_();
  return *slot;
}

}  // namespace provledger::metrics

#endif  // PROVLEDGER_COMMON_METRICS_H_
