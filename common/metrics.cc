#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace provledger::metrics {

namespace {

uint64_t ToBits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

double FromBits(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}

void AddToBits(std::atomic<uint64_t>* bits, double d) {
  uint64_t old = bits->load(std::memory_order_relaxed);
  while (!bits->compare_exchange_weak(old, ToBits(FromBits(old) + d), std::memory_order_relaxed)) {
  }
}

[[noreturn]] void Bug(const std::string& what) {
  std::fprintf(stderr, "metrics: %s\n", what.c_str());
  std::abort();
}

const char* TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (with `extra` appended, e.g. le), or "" when there are no labels.
std::string LabelText(const std::vector<std::string>& names, const std::vector<std::string>& values,
                      const std::string& extra_name = "", const std::string& extra_value = "") {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name + "=\"" + EscapeLabelValue(extra_value) + "\"";
  }
  return out + "}";
}

}  // namespace

void Gauge::Set(double v) { bits_.store(ToBits(v), std::memory_order_relaxed); }
void Gauge::Add(double d) { AddToBits(&bits_, d); }
double Gauge::value() const { return FromBits(bits_.load(std::memory_order_relaxed)); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      Bug("histogram bounds must be finite and strictly ascending");
    }
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  // The first bound >= v: Prometheus buckets are "less than or equal".
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  AddToBits(&sum_bits_, v);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  // The count is the buckets' total, so that +Inf == _count in every scrape.
  s.count = total;
  s.sum = FromBits(sum_bits_.load(std::memory_order_relaxed));
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void SampleSink::Add(std::vector<std::string> label_values, double value) {
  samples_.emplace_back(std::move(label_values), value);
}

namespace {

// The exposition format's escapes: backslash and newline in both HELP texts and label values,
// the double quote only in a label value (it is the value's delimiter).
std::string Escape(std::string_view v, bool quoted) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"' && quoted) {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) { return Escape(v, /*quoted=*/true); }

std::string EscapeHelp(std::string_view v) { return Escape(v, /*quoted=*/false); }

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Shortest round-trip form: 3, 0.25, 1e+21.
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

bool ValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

Registry::Entry& Registry::Get(const std::string& name, MetricType type, const std::string& help,
                               const std::vector<std::string>& label_names,
                               const std::vector<double>& bounds, bool callback) {
  if (!ValidMetricName(name)) Bug("invalid metric name '" + name + "'");
  for (const auto& l : label_names) {
    if (!ValidLabelName(l) || (type == MetricType::kHistogram && l == "le")) {
      Bug("invalid label name '" + l + "' of " + name);
    }
  }
  if (callback && type == MetricType::kHistogram) Bug("callback histograms are not supported");
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    Entry& e = it->second;
    const bool same = e.type == type && e.help == help && e.label_names == label_names &&
                      e.bounds == bounds && static_cast<bool>(e.collect) == callback;
    if (!same) Bug("metric '" + name + "' registered twice, differently");
    return e;
  }
  Entry& e = entries_[name];
  e.type = type;
  e.help = help;
  e.label_names = label_names;
  e.bounds = bounds;
  if (callback) return e;
  switch (type) {
    case MetricType::kCounter:
      e.counters.reset(
          new Family<Counter>(label_names, [] { return std::make_unique<Counter>(); }));
      break;
    case MetricType::kGauge:
      e.gauges.reset(new Family<Gauge>(label_names, [] { return std::make_unique<Gauge>(); }));
      break;
    case MetricType::kHistogram:
      e.histograms.reset(new Family<Histogram>(
          label_names, [bounds] { return std::make_unique<Histogram>(bounds); }));
      break;
  }
  return e;
}

Counter& Registry::AddCounter(const std::string& name, const std::string& help) {
  return AddCounterFamily(name, help, {}).With({});
}

Family<Counter>& Registry::AddCounterFamily(const std::string& name, const std::string& help,
                                            std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  return *Get(name, MetricType::kCounter, help, label_names, {}, false).counters;
}

Gauge& Registry::AddGauge(const std::string& name, const std::string& help) {
  return AddGaugeFamily(name, help, {}).With({});
}

Family<Gauge>& Registry::AddGaugeFamily(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  return *Get(name, MetricType::kGauge, help, label_names, {}, false).gauges;
}

Histogram& Registry::AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds) {
  return AddHistogramFamily(name, help, {}, std::move(bounds)).With({});
}

Family<Histogram>& Registry::AddHistogramFamily(const std::string& name, const std::string& help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> bounds) {
  // Checked here too, so that a bad family aborts when registered, not at its first child.
  Histogram check(bounds);
  (void)check;
  std::lock_guard<std::mutex> lock(mu_);
  return *Get(name, MetricType::kHistogram, help, label_names, bounds, false).histograms;
}

void Registry::AddCallback(const std::string& name, const std::string& help, MetricType type,
                           std::vector<std::string> label_names,
                           std::function<void(SampleSink&)> collect) {
  if (!collect) Bug("empty callback for " + name);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it != entries_.end() && it->second.collect) {
    // A component started again replaces its callback (same name, type and labels).
    it->second.collect = std::move(collect);
    it->second.help = help;
    if (it->second.type != type || it->second.label_names != label_names) {
      Bug("metric '" + name + "' registered twice, differently");
    }
    return;
  }
  Entry& e = Get(name, type, help, label_names, {}, true);
  e.collect = std::move(collect);
}

void Registry::AddCallback(const std::string& name, const std::string& help, MetricType type,
                           std::function<double()> value) {
  AddCallback(name, help, type, {}, [value = std::move(value)](SampleSink& s) { s.Add(value()); });
}

void Registry::RemoveCallback(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it != entries_.end() && it->second.collect) entries_.erase(it);
}

std::string Registry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.reserve(4096);
  for (const auto& [name, e] : entries_) {
    out += "# HELP " + name + " " + EscapeHelp(e.help) + "\n";
    out += "# TYPE " + name + " " + TypeName(e.type) + "\n";
    if (e.collect) {
      SampleSink sink;
      e.collect(sink);
      std::sort(sink.samples_.begin(), sink.samples_.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [values, v] : sink.samples_) {
        if (values.size() != e.label_names.size()) continue;  // a callback's bug: left out
        out += name + LabelText(e.label_names, values) + " " + FormatValue(v) + "\n";
      }
      continue;
    }
    if (e.counters) {
      std::shared_lock<std::shared_mutex> fl(e.counters->mu_);
      for (const auto& [values, c] : e.counters->children_) {
        out += name + LabelText(e.label_names, values) + " " +
               FormatValue(static_cast<double>(c->value())) + "\n";
      }
    } else if (e.gauges) {
      std::shared_lock<std::shared_mutex> fl(e.gauges->mu_);
      for (const auto& [values, g] : e.gauges->children_) {
        out += name + LabelText(e.label_names, values) + " " + FormatValue(g->value()) + "\n";
      }
    } else if (e.histograms) {
      std::shared_lock<std::shared_mutex> fl(e.histograms->mu_);
      for (const auto& [values, h] : e.histograms->children_) {
        const Histogram::Snapshot s = h->Snap();
        for (size_t i = 0; i <= s.bounds.size(); ++i) {
          const std::string le = i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
          out += name + "_bucket" + LabelText(e.label_names, values, "le", le) + " " +
                 FormatValue(static_cast<double>(s.cumulative[i])) + "\n";
        }
        out += name + "_sum" + LabelText(e.label_names, values) + " " + FormatValue(s.sum) + "\n";
        out += name + "_count" + LabelText(e.label_names, values) + " " +
               FormatValue(static_cast<double>(s.count)) + "\n";
      }
    }
  }
  return out;
}

ScopedCallbacks::~ScopedCallbacks() {
  for (const auto& n : names_) registry_->RemoveCallback(n);
}

void ScopedCallbacks::Add(const std::string& name, const std::string& help, MetricType type,
                          std::function<double()> value) {
  registry_->AddCallback(name, help, type, std::move(value));
  names_.push_back(name);
}

void ScopedCallbacks::Add(const std::string& name, const std::string& help, MetricType type,
                          std::vector<std::string> label_names,
                          std::function<void(SampleSink&)> collect) {
  registry_->AddCallback(name, help, type, std::move(label_names), std::move(collect));
  names_.push_back(name);
}

Registry& DefaultRegistry() {
  static Registry* r = new Registry();  // never destroyed: threads may update at exit
  return *r;
}

}  // namespace provledger::metrics
